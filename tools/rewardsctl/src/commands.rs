//! Each command: build the request, call the API, print a table (or the JSON).

use crate::api::{self, segment, Api};
use crate::doctor;
use crate::error::{CliError, EXIT_REFUSED};
use crate::output::{
    self, as_is, beijing, fields, list_table, stamps, table, text, yuan, yuan_amount,
};
use crate::target::{self, Deployment};
use crate::validate::{self, FileCheck};
use crate::{
    CampaignCmd, CampaignCreate, Cli, Command, DoctorArgs, EnvelopeCmd, EnvelopeSend, PassCmd,
    PayoutsCmd, PayoutsList, Progress, Reason, State, TemplateCmd,
};
use rewards_core::template::{TemplateIssue, TemplatePolicy};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};

/// Where and how the CLI talks, resolved once per run.
struct Ctx {
    cli_json: bool,
    region: Option<String>,
    profile: Option<String>,
    stack: Option<String>,
    endpoint: String,
}

impl Ctx {
    async fn sdk(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        loader.load().await
    }

    /// The deployment: from the stack when given, else the endpoint alone.
    async fn deployment(&self, sdk: &aws_config::SdkConfig) -> Result<Deployment, CliError> {
        match &self.stack {
            Some(name) => target::from_stack(sdk, name).await,
            None => Ok(Deployment {
                api: self.endpoint.clone(),
                ..Deployment::default()
            }),
        }
    }

    async fn api(&self) -> Result<(Api, Deployment), CliError> {
        let sdk = self.sdk().await;
        let deployment = self.deployment(&sdk).await?;
        let credentials = api::credentials(&sdk, &deployment.api).await?;
        let region = target::signing_region(self.region.as_deref(), &sdk, &deployment.api);
        Ok((Api::new(&deployment.api, credentials, region)?, deployment))
    }

    fn print(&self, json_value: &Value, human: impl FnOnce() -> String) {
        let out = if self.cli_json {
            output::json(json_value) + "\n"
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// Runs the command; the exit code on success (0, or 1 when a check or validation failed).
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let ctx = Ctx {
        cli_json: cli.json,
        region: cli.region.clone(),
        profile: cli.profile.clone(),
        stack: cli.stack.clone(),
        endpoint: cli
            .endpoint
            .clone()
            .unwrap_or_else(|| target::DEFAULT_ENDPOINT.to_owned())
            .trim_end_matches('/')
            .to_owned(),
    };
    match cli.command {
        Command::Template(TemplateCmd::Validate {
            file,
            callback_url,
            default_logo,
        }) => template_validate(&ctx, &file, callback_url, default_logo).await,
        Command::Template(TemplateCmd::Create { file }) => template_write(&ctx, None, &file).await,
        Command::Template(TemplateCmd::Update { id, file }) => {
            template_write(&ctx, Some(&id), &file).await
        }
        Command::Template(TemplateCmd::List) => template_list(&ctx).await,
        Command::Template(TemplateCmd::Show { id }) => template_show(&ctx, &id).await,
        Command::Pass(cmd) => pass(&ctx, cmd).await,
        Command::Campaign(cmd) => campaign(&ctx, cmd).await,
        Command::Envelope(cmd) => envelope(&ctx, cmd).await,
        Command::Payouts(PayoutsCmd::List(args)) => payouts_list(&ctx, args).await,
        Command::Payouts(PayoutsCmd::Retry { out_biz_no }) => {
            let (api, _) = ctx.api().await?;
            let r = api
                .post(
                    &format!("/payouts/{}/retry", segment(&out_biz_no)),
                    &json!({}),
                )
                .await?;
            ctx.print(&r.body, || entry_view(&r.body));
            Ok(0)
        }
        Command::Doctor(args) => doctor_cmd(&ctx, args).await,
    }
}

fn read_file(path: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::refused(format!("cannot read {path}: {e}"), "check the file path"))
}

// ------------------------------------------------------------------ templates

async fn template_validate(
    ctx: &Ctx,
    file: &str,
    callback_url: Option<String>,
    default_logo: Option<String>,
) -> Result<u8, CliError> {
    let text = read_file(file)?;
    let callback_url = match callback_url {
        Some(u) => u,
        None if ctx.stack.is_some() => {
            let sdk = ctx.sdk().await;
            let d = ctx.deployment(&sdk).await?;
            d.callback_url.ok_or_else(|| {
                CliError::refused(
                    "the stack has no PassCallbackUrl output",
                    "pass --callback-url URL",
                )
            })?
        }
        None => format!("{}/alipay/pass-callback", ctx.endpoint),
    };
    let policy = TemplatePolicy {
        callback_url,
        default_logo: default_logo.filter(|l| !l.is_empty()),
    };
    let (issues, variables) = match validate::check_text(&text, &policy) {
        FileCheck::Unreadable(one) => (vec![one], Vec::new()),
        FileCheck::Checked { body, issues } => {
            let mut vars = std::collections::BTreeSet::new();
            rewards_core::template::variables_in(&body.tpl_content.to_string(), &mut vars);
            (issues, vars.into_iter().collect::<Vec<_>>())
        }
    };
    let valid = issues.is_empty();
    let doc = json!({"file": file, "valid": valid, "callbackUrl": policy.callback_url,
                     "variables": variables, "issues": issues});
    ctx.print(&doc, || {
        if valid {
            format!(
                "✓ {file} is a valid template (variables: {})\n",
                if variables.is_empty() {
                    "none".to_owned()
                } else {
                    variables.join(", ")
                }
            )
        } else {
            let mut out: String = issues
                .iter()
                .map(|i| validate::render(file, i) + "\n")
                .collect();
            out.push_str(&format!("✗ {file}: {} problem(s)\n", issues.len()));
            out
        }
    });
    Ok(if valid { 0 } else { EXIT_REFUSED })
}

async fn template_write(ctx: &Ctx, id: Option<&str>, file: &str) -> Result<u8, CliError> {
    let source = read_file(file)?;
    let body: Value = serde_json::from_str(&source).map_err(|e| {
        CliError::refused(
            format!("{file}:{}:{}: not valid JSON: {e}", e.line(), e.column()),
            "correct the JSON syntax (rewardsctl template validate FILE)",
        )
    })?;
    let (api, _) = ctx.api().await?;
    let result = match id {
        None => api.post("/templates", &body).await,
        Some(id) => api.put(&format!("/templates/{}", segment(id)), &body).await,
    };
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            // The server's issues, shown at their lines in the file.
            if e.code.as_deref() == Some("invalid_template") && !ctx.cli_json {
                if let Ok(issues) =
                    serde_json::from_value::<Vec<TemplateIssue>>(e.body["errors"].clone())
                {
                    if let Ok(split) = rewards_core::template_body::split_template_body(body) {
                        let spans = crate::spans::Spans::of(&source);
                        for i in validate::locate(&split, &spans, &issues, None) {
                            eprintln!("{}", validate::render(file, &i));
                        }
                    }
                }
            }
            return Err(e);
        }
    };
    let verb = if id.is_some() { "updated" } else { "created" };
    ctx.print(&r.body, || {
        let t = &r.body["template"];
        format!(
            "{verb} template {}\n{}",
            text(r.body.get("templateId")),
            template_fields(t)
        )
    });
    Ok(0)
}

fn template_fields(t: &Value) -> String {
    let vars: Vec<String> = t["tplParams"]
        .as_array()
        .map(|a| a.iter().map(|v| text(Some(v))).collect())
        .unwrap_or_default();
    let mut view = vec![
        ("templateId", text(t.get("templateId"))),
        (
            "title",
            text(t.pointer("/tplContent/content/evoucherInfo/title")),
        ),
        ("variables", vars.join(", ")),
        (
            "callback",
            text(t.pointer("/tplContent/content/merchant/mcallbackUrl")),
        ),
        ("uniqueId", text(t.get("uniqueId"))),
    ];
    view.extend(stamps(t));
    fields(&view)
}

async fn template_list(ctx: &Ctx) -> Result<u8, CliError> {
    let (api, _) = ctx.api().await?;
    let r = api.get("/templates").await?;
    ctx.print(&r.body, || {
        list_table(
            &["TEMPLATE ID", "TITLE", "VARIABLES", "UPDATED"],
            &r.body["templates"],
            |t| {
                vec![
                    text(t.get("templateId")),
                    text(t.pointer("/tplContent/content/evoucherInfo/title")),
                    t["tplParams"]
                        .as_array()
                        .map(|v| v.len())
                        .unwrap_or(0)
                        .to_string(),
                    beijing(t.get("updatedAt")),
                ]
            },
        )
    });
    Ok(0)
}

async fn template_show(ctx: &Ctx, id: &str) -> Result<u8, CliError> {
    let (api, _) = ctx.api().await?;
    let r = api.get(&format!("/templates/{}", segment(id))).await?;
    ctx.print(&r.body, || template_fields(&r.body));
    Ok(0)
}

// ------------------------------------------------------------------ passes

fn pass_view(p: &Value) -> String {
    let mut view = as_is(
        p,
        &["passId", "status", "userId", "templateId", "serialNumber"],
    );
    view.extend(stamps(p));
    fields(&view)
}

async fn pass(ctx: &Ctx, cmd: PassCmd) -> Result<u8, CliError> {
    let (api, _) = ctx.api().await?;
    let (pass_id, status) = match &cmd {
        PassCmd::Show { pass_id } => (pass_id, None),
        PassCmd::Use { pass_id } => (pass_id, Some("USED")),
        PassCmd::Close { pass_id } => (pass_id, Some("CLOSED")),
    };
    let r = match status {
        None => api.get(&format!("/passes/{}", segment(pass_id))).await?,
        Some(s) => {
            api.post(
                &format!("/passes/{}/status", segment(pass_id)),
                &json!({ "status": s }),
            )
            .await?
        }
    };
    ctx.print(&r.body, || pass_view(&r.body));
    Ok(0)
}

// ------------------------------------------------------------------ campaigns

/// Beijing time `days` from now, `yyyy-MM-dd HH:mm:ss`.
fn beijing_in_days(days: u32) -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        + time::Duration::days(i64::from(days));
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

fn campaign_body(args: &CampaignCreate) -> Result<Value, CliError> {
    if let Some(file) = &args.file {
        let text = read_file(file)?;
        return serde_json::from_str(&text).map_err(|e| {
            CliError::refused(
                format!("{file}:{}:{}: not valid JSON: {e}", e.line(), e.column()),
                "correct the JSON syntax",
            )
        });
    }
    let mut body = json!({
        "couponName": args.name,
        "prizeType": match args.prize_type { crate::PrizeType::Fixed => "fixed", crate::PrizeType::Random => "random" },
        "totalMoney": args.total,
        "totalNum": args.count,
        "prizeMsg": args.message,
        "startTime": args.start,
        "endTime": args.end.clone().unwrap_or_else(|| beijing_in_days(args.days)),
        "merchantLink": args.link,
    });
    if let Some(f) = &args.frequency {
        body["sendFrequency"] = json!(f);
    }
    Ok(body)
}

fn campaign_view(c: &Value, qr: bool) -> String {
    let mut pairs = vec![
        ("crowdNo", text(c.get("crowdNo"))),
        ("name", text(c.get("couponName"))),
        ("status", text(c.get("status"))),
        ("prizeType", text(c.get("prizeType"))),
        ("total", format!("{} yuan", yuan(c.get("totalMoney")))),
        ("envelopes", text(c.get("totalNum"))),
        ("paid out", yuan_amount(c.get("sendAmount"))),
        ("start", text(c.get("startTime"))),
        ("end", text(c.get("endTime"))),
        ("frequency", text(c.get("sendFrequency"))),
        ("payUrl", text(c.get("payUrl"))),
    ];
    if let Some(Value::String(i)) = c.get("payInstructions") {
        pairs.push(("payInstructions", i.clone()));
    }
    let mut out = fields(&pairs);
    let unpaid = c.get("status").and_then(Value::as_str) == Some("CREATED");
    if let (true, Some(Value::String(url))) = (unpaid, c.get("payUrl")) {
        out.push_str(
            "\nNot paid yet: open the pay URL, or scan this code with the Alipay app to pay:\n",
        );
        if qr {
            if let Some(code) = output::qr(url) {
                out.push_str(&code);
                out.push('\n');
            }
        }
    }
    out
}

async fn campaign(ctx: &Ctx, cmd: CampaignCmd) -> Result<u8, CliError> {
    let (api, _) = ctx.api().await?;
    match cmd {
        CampaignCmd::Create(args) => {
            let body = campaign_body(&args)?;
            let r = api.post("/campaigns", &body).await?;
            ctx.print(&r.body, || {
                format!(
                    "created campaign {}\n{}",
                    text(r.body.get("crowdNo")),
                    campaign_view(&r.body, !args.no_qr)
                )
            });
        }
        CampaignCmd::List => {
            let r = api.get("/campaigns").await?;
            ctx.print(&r.body, || {
                list_table(
                    &[
                        "CROWD NO",
                        "NAME",
                        "STATUS",
                        "TOTAL (YUAN)",
                        "ENVELOPES",
                        "ENDS",
                    ],
                    &r.body["campaigns"],
                    |c| {
                        vec![
                            text(c.get("crowdNo")),
                            text(c.get("couponName")),
                            text(c.get("status")),
                            yuan(c.get("totalMoney")),
                            text(c.get("totalNum")),
                            text(c.get("endTime")),
                        ]
                    },
                )
            });
        }
        CampaignCmd::Show { crowd_no, no_qr } => {
            let r = api
                .get(&format!("/campaigns/{}", segment(&crowd_no)))
                .await?;
            ctx.print(&r.body, || campaign_view(&r.body, !no_qr));
        }
        CampaignCmd::Pause { crowd_no } => {
            return campaign_status(ctx, &api, &crowd_no, "PAUSE").await
        }
        CampaignCmd::Resume { crowd_no } => {
            return campaign_status(ctx, &api, &crowd_no, "READY").await
        }
        CampaignCmd::Close { crowd_no } => {
            return campaign_status(ctx, &api, &crowd_no, "CLOSED").await
        }
    }
    Ok(0)
}

async fn campaign_status(
    ctx: &Ctx,
    api: &Api,
    crowd_no: &str,
    status: &str,
) -> Result<u8, CliError> {
    let r = api
        .post(
            &format!("/campaigns/{}/status", segment(crowd_no)),
            &json!({ "status": status }),
        )
        .await?;
    ctx.print(&r.body, || {
        format!(
            "campaign {} is now {}\n",
            text(r.body.get("crowdNo")),
            text(r.body.get("status"))
        )
    });
    Ok(0)
}

// ------------------------------------------------------------------ envelopes and payouts

fn recipient(e: &Value) -> String {
    match (
        e.pointer("/recipient/userId"),
        e.pointer("/recipient/openId"),
    ) {
        (Some(u), _) => text(Some(u)),
        (None, Some(o)) => format!("open:{}", text(Some(o))),
        _ => "-".into(),
    }
}

/// What an operator needs from an entry's outcome: amount, reason, or why it is unresolved.
fn note(e: &Value) -> String {
    match e.get("state").and_then(Value::as_str) {
        Some("SENT") if e.get("orderId").is_some() => format!("orderId {}", text(e.get("orderId"))),
        Some("SENT") => format!(
            "bizNo {}{}",
            text(e.get("bizNo")),
            if e.get("repeatTriggerFlag") == Some(&Value::Bool(true)) {
                " (replayed)"
            } else {
                ""
            }
        ),
        Some("FAILED") => text(e.get("failureReason")),
        Some("UNKNOWN") | Some("NEEDS_ATTENTION") => {
            let mut s = text(e.get("lastError"));
            if let Some(r) = e.pointer("/lastRefusal/failureReason") {
                s.push_str(&format!("; last refusal: {}", text(Some(r))));
            }
            s
        }
        _ => String::new(),
    }
}

/// The campaign of a campaign-rail entry, `transfer` for a transfer-rail one.
fn campaign_or_rail(e: &Value) -> String {
    match e.get("crowdNo") {
        Some(c) => text(Some(c)),
        None if e.get("rail").and_then(Value::as_str) == Some("transfer") => "transfer".into(),
        None => "-".into(),
    }
}

fn entry_view(e: &Value) -> String {
    let state = e.get("state").and_then(Value::as_str).unwrap_or("?");
    let headline = match state {
        "SENT" => format!("SENT {} yuan\n", yuan(e.get("amountFen"))),
        "FAILED" => "FAILED: Alipay refused it\n".into(),
        "PENDING" | "UNKNOWN" => format!(
            "{state}: the outcome is not known yet; it is resolved with the same outBizNo (rewardsctl payouts retry {} probes it now)\n",
            text(e.get("outBizNo"))
        ),
        "NEEDS_ATTENTION" => format!(
            "NEEDS_ATTENTION: the retry budget is spent; still probed hourly (rewardsctl payouts retry {} probes it now)\n",
            text(e.get("outBizNo"))
        ),
        other => format!("{other}\n"),
    };
    let mut view = vec![
        ("outBizNo", text(e.get("outBizNo"))),
        ("state", state.to_owned()),
        ("amount", yuan_amount(e.get("amountFen"))),
        ("reason", text(e.get("reason"))),
        ("businessId", text(e.get("businessId"))),
        ("crowdNo", campaign_or_rail(e)),
        ("recipient", recipient(e)),
        ("attempts", text(e.get("attempts"))),
        ("note", note(e)),
    ];
    view.extend(stamps(e));
    headline + &fields(&view)
}

fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::PointsExchange => "points_exchange",
        Reason::Referral => "referral",
    }
}

async fn envelope(ctx: &Ctx, cmd: EnvelopeCmd) -> Result<u8, CliError> {
    let (api, _) = ctx.api().await?;
    match cmd {
        EnvelopeCmd::Send(EnvelopeSend {
            reason,
            business_id,
            user_id,
            open_id,
            crowd_no,
            idempotency_key,
            retry_failed,
            rail,
            amount,
        }) => {
            let mut body = json!({"reason": reason_name(reason), "businessId": business_id});
            if let Some(u) = user_id {
                body["userId"] = json!(u);
            }
            if let Some(o) = open_id {
                body["openId"] = json!(o);
            }
            if let Some(c) = crowd_no {
                body["crowdNo"] = json!(c);
            }
            if retry_failed {
                body["retryFailed"] = json!(true);
            }
            if let Some(r) = rail {
                body["rail"] = json!(r);
            }
            if let Some(a) = amount {
                body["amount"] = json!(a);
            }
            let headers: Vec<(&str, &str)> = idempotency_key
                .as_deref()
                .map(|k| vec![("idempotency-key", k)])
                .unwrap_or_default();
            let r = api
                .call("POST", "/envelopes", Some(&body), &headers)
                .await?;
            ctx.print(&r.body, || entry_view(&r.body));
        }
        EnvelopeCmd::Show { out_biz_no } => {
            let r = api
                .get(&format!("/envelopes/{}", segment(&out_biz_no)))
                .await?;
            ctx.print(&r.body, || entry_view(&r.body));
        }
        EnvelopeCmd::List { user } => {
            let r = api
                .get(&format!("/users/{}/envelopes", segment(&user)))
                .await?;
            let entries: Vec<Value> = r.body["envelopes"].as_array().cloned().unwrap_or_default();
            ctx.print(&r.body, || payout_table(&entries));
        }
    }
    Ok(0)
}

const PAYOUT_COLUMNS: [&str; 10] = [
    "outBizNo",
    "state",
    "amountYuan",
    "reason",
    "businessId",
    "crowdNo",
    "recipient",
    "attempts",
    "createdAt",
    "note",
];

fn payout_row(e: &Value) -> Vec<String> {
    vec![
        text(e.get("outBizNo")),
        text(e.get("state")),
        match e.get("amountFen") {
            Some(Value::Number(_)) => yuan(e.get("amountFen")),
            _ => String::new(),
        },
        text(e.get("reason")),
        text(e.get("businessId")),
        campaign_or_rail(e),
        recipient(e),
        text(e.get("attempts")),
        beijing(e.get("createdAt")),
        note(e),
    ]
}

fn payout_table(entries: &[Value]) -> String {
    let rows: Vec<Vec<String>> = entries.iter().map(payout_row).collect();
    let headers = [
        "OUT BIZ NO",
        "STATE",
        "YUAN",
        "REASON",
        "BUSINESS ID",
        "CAMPAIGN",
        "RECIPIENT",
        "CALLS",
        "CREATED (BEIJING)",
        "NOTE",
    ];
    table(&headers, &rows)
        + &format!(
            "{} entr{}\n",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        )
}

async fn payouts_list(ctx: &Ctx, args: PayoutsList) -> Result<u8, CliError> {
    let (api, _) = ctx.api().await?;
    let mut query = vec![format!("limit={}", args.page_size)];
    if let Some(s) = args.state {
        let name = match s {
            State::Pending => "PENDING",
            State::Sent => "SENT",
            State::Failed => "FAILED",
            State::Unknown => "UNKNOWN",
            State::NeedsAttention => "NEEDS_ATTENTION",
        };
        query.push(format!("state={name}"));
    }
    if let Some(c) = &args.campaign {
        query.push(format!("crowdNo={}", api::query_value(c)));
    }
    if let Some(r) = args.reason {
        query.push(format!("reason={}", reason_name(r)));
    }
    if let Some(d) = &args.day {
        query.push(format!("day={}", api::query_value(d)));
    }
    let show_progress = match args.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => std::io::stderr().is_terminal(),
    };
    let mut entries: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0usize;
    loop {
        let mut q = query.clone();
        if let Some(c) = &cursor {
            q.push(format!("cursor={}", api::query_value(c)));
        }
        let r = api.get(&format!("/payouts?{}", q.join("&"))).await?;
        pages += 1;
        entries.extend(r.body["payouts"].as_array().cloned().unwrap_or_default());
        cursor = r.body["nextCursor"].as_str().map(str::to_owned);
        // A listing of more than one page is a long one: say how far it got.
        if show_progress && (pages > 1 || cursor.is_some()) {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\rfetched {} entries ({} page{})…",
                entries.len(),
                pages,
                if pages == 1 { "" } else { "s" }
            );
            let _ = err.flush();
        }
        if cursor.is_none() {
            break;
        }
    }
    if show_progress && pages > 1 {
        eprintln!();
    }
    if ctx.cli_json {
        ctx.print(&json!({"payouts": entries, "pages": pages}), String::new);
    } else if args.csv {
        let mut out = PAYOUT_COLUMNS.join(",") + "\n";
        for e in &entries {
            let mut row = payout_row(e);
            row[8] = text(e.get("createdAt"));
            out.push_str(
                &row.iter()
                    .map(|f| output::csv_field(f))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
    } else {
        ctx.print(&Value::Null, || payout_table(&entries));
    }
    Ok(0)
}

// ------------------------------------------------------------------ doctor

async fn doctor_cmd(ctx: &Ctx, args: DoctorArgs) -> Result<u8, CliError> {
    let sdk = ctx.sdk().await;
    let mut deployment = ctx.deployment(&sdk).await?;
    // A local stack reports its functions' environment; then AWS calls go to its moto.
    if ctx.stack.is_none() {
        if let Some(env) = target::local_environment(&deployment.api).await {
            deployment = target::with_local(deployment, &env);
        }
    }
    deployment.keys_secret = args.keys_secret.or(deployment.keys_secret);
    deployment.table = args.table.or(deployment.table);
    deployment.app_id = args.app_id.or(deployment.app_id);
    deployment.gateway = args.gateway.or(deployment.gateway);
    let aws = match (&deployment.aws_endpoint, ctx.stack.is_none()) {
        (Some(endpoint), true) => {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(aws_config::Region::new(
                    ctx.region.clone().unwrap_or_else(|| "us-east-1".into()),
                ));
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                // The emulator accepts any credentials; a machine without AWS configuration has none.
                loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "rewardsctl-local",
                ));
            }
            loader.load().await
        }
        _ => sdk.clone(),
    };
    let credentials = api::credentials(&sdk, &deployment.api).await?;
    let region = target::signing_region(ctx.region.as_deref(), &sdk, &deployment.api);
    let api = Api::new(&deployment.api, credentials, region)?;
    let inputs = doctor::Inputs {
        deployment: &deployment,
        sdk: &aws,
        api: &api,
        certs: doctor::CertFiles {
            app: args.app_cert,
            alipay: args.alipay_cert,
            root: args.root_cert,
        },
    };
    let checks = doctor::run(&inputs).await;
    let failed = checks.iter().filter(|c| c.failed_()).count();
    let doc = json!({"ok": failed == 0, "checks": checks});
    ctx.print(&doc, || {
        let mut out: String = checks.iter().map(|c| c.line() + "\n").collect();
        out.push_str(&if failed == 0 {
            "all checks passed\n".to_owned()
        } else {
            format!("{failed} check(s) failed\n")
        });
        out
    });
    Ok(if failed == 0 { 0 } else { EXIT_REFUSED })
}
