//! `rewardsctl` end to end: the built binary, run as an operator runs it, against the test stack
//! (moto, the Alipay simulator, the function binaries under local-stack). Every command is checked
//! for its output and its exit code (0 done, 1 refused, 2 usage, 3 unavailable).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::Command;

use integration_tests::{new_user_id, root, stack, TestApp, KEYS_SECRET};
use serde_json::{json, Value};

/// Tests that trigger envelopes share the simulator's fault list: one at a time.
static CASH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let path = target.join("debug/rewardsctl");
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The lines of `text` (this run's stdout or stderr); asserts there are `n`.
    fn lines_of<'a>(&self, text: &'a str, n: usize) -> Vec<&'a str> {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), n, "{self:?}");
        lines
    }

    /// Asserts that this run's stdout says `text`.
    fn assert_says(&self, text: &str) {
        assert!(self.stdout.contains(text), "{text:?}: {self:?}");
    }

    /// Asserts that `line` (of this run's output) starts with `prefix`.
    fn assert_starts(&self, line: &str, prefix: &str) {
        assert!(line.starts_with(prefix), "{prefix:?}: {self:?}");
    }
}

/// Runs `rewardsctl ARGS` against the test stack, with credentials from the environment (the
/// standard chain's first provider).
fn ctl(args: &[&str]) -> Run {
    let api = stack().api.clone();
    ctl_env(args, &[("REWARDS_API", api.as_str())])
}

fn ctl_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("REWARDS_API")
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTOPERATOR")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(args: &[&str]) -> Run {
    let r = ctl(args);
    assert_eq!(r.code, 0, "rewardsctl {args:?}: {r:?}");
    r
}

fn refused(args: &[&str], code: &str) -> Run {
    let r = ctl(args);
    assert_eq!(r.code, 1, "rewardsctl {args:?}: {r:?}");
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains(&format!("[{code}] — ")),
        "rewardsctl {args:?} should say [{code}] and what to do: {r:?}"
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r:?}");
    r
}

/// `envelope send` to one recipient of a campaign; callers add flags after these.
fn envelope_send<'a>(
    reason: &'a str,
    business: &'a str,
    user: &'a str,
    crowd: &'a str,
) -> Vec<&'a str> {
    vec![
        "envelope",
        "send",
        "--reason",
        reason,
        "--business-id",
        business,
        "--user-id",
        user,
        "--crowd-no",
        crowd,
    ]
}

/// The same command with `--json` first.
fn json_args(args: Vec<&str>) -> Vec<&str> {
    [vec!["--json"], args].concat()
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("rewardsctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn seed_text() -> String {
    std::fs::read_to_string(root().join("infra/local-stack/fixtures/pass.json")).unwrap()
}

/// The seed template with the test stack's callback URL and a title of its own.
fn seed_for_stack(title: &str) -> String {
    seed_text()
        .replace(
            "http://127.0.0.1:3000/alipay/pass-callback",
            &format!("{}/alipay/pass-callback", stack().api),
        )
        .replace("新人专享券", title)
}

// ------------------------------------------------------------------ template validate (offline)

#[test]
fn validate_accepts_the_seed_template_offline() {
    let seed = root().join("infra/local-stack/fixtures/pass.json");
    let seed = seed.to_str().unwrap();
    // Offline: the endpoint is only where the callback URL comes from; nothing listens there.
    let r = ctl_env(
        &["template", "validate", seed],
        &[("REWARDS_API", "http://127.0.0.1:3000")],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("✓ {seed} is a valid template (variables: activeTime, expireTime, serialNumber)\n")
    );
    let r = ctl_env(
        &[
            "template",
            "validate",
            seed,
            "--callback-url",
            "http://127.0.0.1:3000/alipay/pass-callback",
            "--json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["valid"], true);
}

#[test]
fn validate_reports_every_problem_with_its_line_column_and_fix() {
    let broken = seed_text()
        .replace("    \"title\": \"新人专享券\",\n", "")
        .replace(
            "\"startDate\": \"$activeTime$\"",
            "\"startDate\": \"2024/01/01\"",
        )
        .replace("\"$serialNumber$\"", "\"SN-$serialNumber$\"")
        .replace("\"https://example.com/pass/logo.png\"", "42");
    let file = temp_file("broken.json", &broken);
    let r = ctl_env(
        &[
            "template",
            "validate",
            &file,
            "--callback-url",
            "http://127.0.0.1:3000/alipay/pass-callback",
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{file}:2:11: /logo wrong_type: must be a string; fix: change \"logo\" to the type named").as_str(),
            format!("{file}:4:19: /evoucherInfo/title required: is required; fix: add \"title\" to this object").as_str(),
            format!("{file}:7:18: /evoucherInfo/startDate bad_date: must be `yyyy-MM-dd HH:mm:ss` or a $variable$; fix: write \"yyyy-MM-dd HH:mm:ss\" (Beijing time) or a $variable$ such as \"$activeTime$\"").as_str(),
            format!("{file}:50:21: /fileInfo/serialNumber not_a_variable: must be a $variable$ (it is unique per pass), e.g. $serialNumber$; fix: write exactly one variable, e.g. \"$serialNumber$\"").as_str(),
            format!("✗ {file}: 4 problem(s)").as_str(),
        ]
    );
    // The same, for scripts.
    let r = ctl_env(&["--json", "template", "validate", &file], &[]);
    assert_eq!(r.code, 1);
    let doc = r.json();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["issues"][1]["pointer"], "/evoucherInfo/title");
    assert_eq!(
        doc["issues"][1]["tplPointer"],
        "/content/evoucherInfo/title"
    );
    assert_eq!(doc["issues"][1]["line"], 4);
    assert_eq!(doc["issues"][1]["column"], 19);

    // Not JSON: where the parser stopped.
    let file = temp_file("syntax.json", "{\n  \"logo\": \"x\",\n}\n");
    let r = ctl_env(&["template", "validate", &file], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .starts_with(&format!("{file}:3:1: (document) not_json: not valid JSON")),
        "{r:?}"
    );
    // Another deployment's callback URL.
    let r = ctl_env(
        &[
            "template",
            "validate",
            &root()
                .join("infra/local-stack/fixtures/pass.json")
                .to_string_lossy(),
            "--callback-url",
            "https://rewards.example.com/alipay/pass-callback",
        ],
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains(":38:21: /merchant/mcallbackUrl callback_mismatch: "),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("fix: set it to \"https://rewards.example.com/alipay/pass-callback\""),
        "{r:?}"
    );
    // A missing file is a refusal with what to do.
    let r = ctl_env(&["template", "validate", "/nonexistent/pass.json"], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: cannot read /nonexistent/pass.json"),
        "{r:?}"
    );
}

/// The pass templates among the project's protocol vectors (tests/vectors/sign_cases.json): SDK
/// samples with variables of their own, which the server refuses until they have rules.
#[test]
fn validate_runs_the_projects_template_vectors() {
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/vectors/sign_cases.json")).unwrap(),
    )
    .unwrap();
    let cases = cases
        .as_array()
        .cloned()
        .or_else(|| cases["cases"].as_array().cloned())
        .unwrap();
    let templates: Vec<(String, Value)> = cases
        .iter()
        .filter(|c| c["method"] == "alipay.pass.template.add")
        .map(|c| {
            let tpl = &c["biz_content"]["tpl_content"];
            let tpl = match tpl {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                v => v.clone(),
            };
            (c["id"].as_str().unwrap().to_owned(), tpl)
        })
        .collect();
    assert!(templates.len() >= 2, "{templates:?}");
    for (id, tpl) in templates {
        let callback = tpl["content"]["merchant"]["mcallbackUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let file = temp_file(
            &format!("{id}.json"),
            &serde_json::to_string_pretty(&tpl).unwrap(),
        );
        let r = ctl_env(
            &[
                "--json",
                "template",
                "validate",
                &file,
                "--callback-url",
                &callback,
            ],
            &[],
        );
        assert_eq!(r.code, 1, "{id}: {r:?}");
        let issues = r.json()["issues"].as_array().cloned().unwrap();
        let codes: Vec<(String, String)> = issues
            .iter()
            .map(|i| {
                (
                    i["pointer"].as_str().unwrap().into(),
                    i["code"].as_str().unwrap().into(),
                )
            })
            .collect();
        // `$title$` and `$code$` have no default rule; every issue has a place in the file.
        assert!(
            codes.contains(&("/paramRules/title".into(), "missing_rule".into())),
            "{id}: {codes:?}"
        );
        assert!(
            codes.contains(&("/paramRules/code".into(), "missing_rule".into())),
            "{id}: {codes:?}"
        );
        assert!(
            issues.iter().all(|i| i["line"].is_u64()),
            "{id}: {issues:?}"
        );
        if id == "pass_template_add_string" {
            assert!(
                codes.contains(&("/strip".into(), "wrong_type".into())),
                "{codes:?}"
            );
        }
        // With rules for its variables (and no null image) it is valid.
        let mut fixed = tpl.clone();
        fixed.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        fixed["paramRules"] =
            json!({"title": {"kind": "fixed", "value": "券"}, "code": {"kind": "serial"}});
        let file = temp_file(&format!("{id}-fixed.json"), &fixed.to_string());
        let r = ctl_env(
            &["template", "validate", &file, "--callback-url", &callback],
            &[],
        );
        assert_eq!(r.code, 0, "{id}: {r:?}");
    }
}

// ------------------------------------------------------------------ templates and passes

#[tokio::test]
async fn templates_are_created_listed_shown_and_updated() {
    let title = format!("CLI券{}", new_user_id());
    let file = temp_file("create.json", &seed_for_stack(&title));
    let r = ok(&["template", "create", &file]);
    let id = r
        .stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("created template ")
        .unwrap()
        .to_owned();
    assert!(
        r.stdout.contains(&format!("title       {title}\n")),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("variables   activeTime, expireTime, serialNumber\n"),
        "{r:?}"
    );

    let r = ok(&["template", "list"]);
    assert!(r.stdout.starts_with("TEMPLATE ID"), "{r:?}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains(&title)),
        "{r:?}"
    );
    let r = ok(&["template", "show", &id]);
    assert!(r.stdout.contains(&format!("templateId  {id}\n")), "{r:?}");
    let r = ok(&["--json", "template", "show", &id]);
    assert_eq!(r.json()["templateId"], id.as_str());

    let file = temp_file("update.json", &seed_for_stack(&format!("{title}-2")));
    let r = ok(&["template", "update", &id, &file]);
    assert!(
        r.stdout.starts_with(&format!("updated template {id}\n")),
        "{r:?}"
    );

    // The server refuses another deployment's callback; its issues are shown at their lines in the
    // file, then the one-line error with the problem's code.
    let other = temp_file("other-callback.json", &seed_text());
    let r = ctl(&["template", "create", &other]);
    assert_eq!(r.code, 1, "{r:?}");
    let lines = r.lines_of(&r.stderr, 2);
    let issue = format!("{other}:38:21: /merchant/mcallbackUrl callback_mismatch: ");
    r.assert_starts(lines[0], &issue);
    assert!(
        lines[1].starts_with("error: the pass template is invalid")
            && lines[1].contains("[invalid_template] — "),
        "{r:?}"
    );
    refused(
        &["template", "show", "no-such-template"],
        "template_not_found",
    );
}

#[tokio::test]
async fn passes_are_shown_used_and_closed() {
    let app = TestApp::new();
    let template = app.create_template("CLI pass").await;
    let user = new_user_id();
    let claim = app.claim(&template, &user).await;
    assert_eq!(claim.status, 200, "{claim:?}");
    let pass_id = claim.body["body"]["passId"].as_str().unwrap().to_owned();

    let r = ok(&["pass", "show", &pass_id]);
    assert!(r.stdout.contains("status        ACTIVE\n"), "{r:?}");
    assert!(
        r.stdout.contains(&format!("userId        {user}\n")),
        "{r:?}"
    );
    let r = ok(&["pass", "use", &pass_id]);
    assert!(r.stdout.contains("status        USED\n"), "{r:?}");
    let r = ok(&["--json", "pass", "close", &pass_id]);
    assert_eq!(r.json()["status"], "CLOSED");
    refused(&["pass", "use", &pass_id], "pass_status_conflict");
    refused(&["pass", "show", "P-no-such-pass"], "pass_not_found");
}

// ------------------------------------------------------------------ campaigns

fn create_campaign(name: &str) -> String {
    let r = ok(&[
        "campaign",
        "create",
        "--name",
        name,
        "--total",
        "20.00",
        "--count",
        "10",
        "--frequency",
        "L5",
    ]);
    r.stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("created campaign ")
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn campaigns_are_created_paid_paused_resumed_and_closed() {
    let app = TestApp::new();
    let r = ok(&[
        "campaign",
        "create",
        "--name",
        "CLI campaign",
        "--total",
        "20.00",
        "--count",
        "10",
    ]);
    let crowd = r
        .stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("created campaign ")
        .unwrap()
        .to_owned();
    assert!(r.stdout.contains("status     CREATED\n"), "{r:?}");
    assert!(r.stdout.contains("total      20.00 yuan\n"), "{r:?}");
    assert!(
        r.stdout.contains(&format!("/sim/campaigns/{crowd}/pay")),
        "the pay URL: {r:?}"
    );
    assert!(
        r.stdout.contains("scan this code with the Alipay app"),
        "{r:?}"
    );
    let qr_rows = r
        .stdout
        .lines()
        .filter(|l| l.contains('▀') || l.contains('▄') || l.contains('█'))
        .count();
    assert!(qr_rows > 10, "a QR code in the terminal: {}", r.stdout);

    let r = ok(&["campaign", "show", &crowd]);
    assert!(
        r.stdout.contains("status     CREATED\n") && r.stdout.contains('▀'),
        "{r:?}"
    );
    let r = ok(&["campaign", "show", &crowd, "--no-qr"]);
    assert!(!r.stdout.contains('▀'), "{r:?}");
    let r = ok(&["campaign", "list"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with(&crowd) && l.contains("CREATED")),
        "{r:?}"
    );

    // The operator pays (the simulator's cashier), then the campaign is READY and has no QR code.
    let paid = app
        .sim_post(&format!("/sim/campaigns/{crowd}/pay"), &json!({}))
        .await;
    assert_eq!(paid.status, 200, "{paid:?}");
    let r = ok(&["campaign", "show", &crowd]);
    assert!(
        r.stdout.contains("status     READY\n") && !r.stdout.contains('▀'),
        "{r:?}"
    );

    assert_eq!(
        ok(&["campaign", "pause", &crowd]).stdout,
        format!("campaign {crowd} is now PAUSE\n")
    );
    assert_eq!(
        ok(&["campaign", "resume", &crowd]).stdout,
        format!("campaign {crowd} is now READY\n")
    );
    assert_eq!(
        ok(&["campaign", "close", &crowd]).stdout,
        format!("campaign {crowd} is now CLOSED\n")
    );
    let r = refused(&["campaign", "resume", &crowd], "alipay_rejected");
    assert!(r.stderr.contains("活动已结束"), "Alipay's reason: {r:?}");

    // From a JSON file, for scripts.
    let body = json!({"couponName": "from file", "prizeType": "random", "totalMoney": "30.00", "totalNum": 10,
        "prizeMsg": "hi", "startTime": "NowTime", "endTime": integration_tests::beijing_in_days(3),
        "merchantLink": "https://www.alipay.com"});
    let file = temp_file("campaign.json", &body.to_string());
    let r = ok(&["--json", "campaign", "create", "--file", &file]);
    assert_eq!(r.json()["prizeType"], "random");
    assert_eq!(r.json()["status"], "CREATED");
    // The server's limits: an average below 0.20 yuan.
    refused(
        &[
            "campaign", "create", "--name", "tiny", "--total", "1.00", "--count", "10",
        ],
        "invalid_campaign",
    );
    refused(&["campaign", "show", "no-such-crowd"], "campaign_not_found");
}

// ------------------------------------------------------------------ envelopes and payouts

#[tokio::test]
async fn envelopes_are_sent_shown_and_refused_with_their_codes() {
    let _cash = CASH.lock().await;
    let app = TestApp::new();
    let crowd = create_campaign("CLI envelopes");
    let user = new_user_id();
    let business = format!("order-{}", new_user_id());
    // Not paid yet: refused before anything is written.
    refused(
        &envelope_send("points_exchange", &business, &user, &crowd),
        "campaign_not_paid",
    );
    app.sim_post(&format!("/sim/campaigns/{crowd}/pay"), &json!({}))
        .await;
    let key = format!("k-{business}");
    let mut send = envelope_send("points_exchange", &business, &user, &crowd);
    send.extend(["--idempotency-key", &key]);
    let r = ok(&send);
    assert!(r.stdout.starts_with("SENT 2.00 yuan\n"), "{r:?}");
    let out_biz_no = format!("pe_{}", business.replace('-', "_"));
    let out_biz_no = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("outBizNo    ").map(str::to_owned))
        .unwrap_or(out_biz_no);
    // Sent once: the same business id answers the same entry.
    let r = ok(&json_args(envelope_send(
        "points_exchange",
        &business,
        &user,
        &crowd,
    )));
    assert_eq!(r.json()["state"], "SENT");
    assert_eq!(r.json()["outBizNo"], out_biz_no.as_str());
    let r = ok(&["envelope", "show", &out_biz_no]);
    assert!(r.stdout.contains(&format!("recipient   {user}\n")), "{r:?}");
    let r = ok(&["envelope", "list", "--user", &user]);
    assert!(
        r.stdout.contains(&out_biz_no) && r.stdout.ends_with("1 entry\n"),
        "{r:?}"
    );
    refused(
        &["envelope", "show", "pe_no_such_entry"],
        "payout_not_found",
    );
    // Usage errors are exit 2 (clap): no recipient.
    let r = ctl(&[
        "envelope",
        "send",
        "--reason",
        "referral",
        "--business-id",
        "x",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[tokio::test]
async fn payouts_are_listed_across_pages_as_table_csv_and_json_and_retried() {
    let _cash = CASH.lock().await;
    let app = TestApp::new();
    let crowd = create_campaign("CLI payouts");
    app.sim_post(&format!("/sim/campaigns/{crowd}/pay"), &json!({}))
        .await;
    for i in 0..4 {
        ok(&envelope_send(
            "referral",
            &format!("ref-{crowd}-{i}"),
            &new_user_id(),
            &crowd,
        ));
    }
    // One whose outcome is unknown: the platform says it does not know.
    app.sim_clear_faults().await;
    let fault = app
        .sim_fault_once("alipay.marketing.campaign.cash.trigger", "unknown_error")
        .await;
    assert_eq!(fault.status, 201, "{fault:?}");
    let r = ok(&json_args(envelope_send(
        "referral",
        &format!("ref-{crowd}-u"),
        &new_user_id(),
        &crowd,
    )));
    app.sim_clear_faults().await;
    assert_eq!(r.json()["state"], "UNKNOWN", "{r:?}");
    let unknown = r.json()["outBizNo"].as_str().unwrap().to_owned();

    // Every page, with a progress line on stderr.
    fn paged_list<'a>(crowd: &'a str, progress: &'a str) -> Vec<&'a str> {
        vec![
            "payouts",
            "list",
            "--campaign",
            crowd,
            "--page-size",
            "2",
            "--progress",
            progress,
        ]
    }
    let r = ok(&paged_list(&crowd, "always"));
    assert!(r.stdout.starts_with("OUT BIZ NO"), "{r:?}");
    assert!(r.stdout.ends_with("5 entries\n"), "{r:?}");
    assert!(r.stderr.contains("fetched 5 entries (3 pages)"), "{r:?}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with(&unknown) && l.contains("UNKNOWN")),
        "{r:?}"
    );
    let r = ok(&json_args(paged_list(&crowd, "never")));
    assert_eq!(r.json()["payouts"].as_array().unwrap().len(), 5);
    assert_eq!(r.json()["pages"], 3);
    assert_eq!(r.stderr, "");
    let r = ok(&["payouts", "list", "--campaign", &crowd, "--csv"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "outBizNo,state,amountYuan,reason,businessId,crowdNo,recipient,attempts,createdAt,note"
    );
    assert_eq!(lines.len(), 6, "{r:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(",SENT,2.00,referral,"))
            .count(),
        4,
        "{r:?}"
    );
    let r = ok(&[
        "payouts",
        "list",
        "--campaign",
        &crowd,
        "--state",
        "UNKNOWN",
    ]);
    assert!(r.stdout.ends_with("1 entry\n"), "{r:?}");
    let today = integration_tests::beijing_in_days(0)[..10].to_owned();
    let r = ok(&[
        "--json",
        "payouts",
        "list",
        "--campaign",
        &crowd,
        "--day",
        &today,
        "--reason",
        "referral",
    ]);
    assert_eq!(r.json()["payouts"].as_array().unwrap().len(), 5);

    // Probed now with the same outBizNo: paid once. While that probe's call is in flight (slowed
    // at the simulator), another retry probes nothing and says so.
    let slow = json!({"api": "alipay.marketing.campaign.cash.trigger", "kind": "latency",
                      "latencyMs": 5000, "count": 1});
    assert_eq!(app.sim_post("/sim/faults", &slow).await.status, 201);
    let probe = {
        let unknown = unknown.clone();
        tokio::task::spawn_blocking(move || ctl(&["payouts", "retry", &unknown]))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get(&format!("/envelopes/{unknown}")).await.body["state"] != "PENDING" {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let busy = refused(&["payouts", "retry", &unknown], "payout_busy");
    assert!(busy.stderr.contains("a call is in flight"), "{busy:?}");
    let r = probe.await.unwrap();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("SENT 2.00 yuan\n"), "{r:?}");
    assert!(
        r.stdout.contains(&format!("outBizNo    {unknown}\n")),
        "{r:?}"
    );
    refused(&["payouts", "retry", &unknown], "payout_final");
    let paid = app.payouts().await;
    assert_eq!(
        paid.iter()
            .filter(|p| p["out_biz_no"] == unknown.as_str())
            .count(),
        1
    );
    // Bad filters are the server's 400s, and clap's own checks are usage errors.
    refused(&["payouts", "list", "--day", "2024-13-45"], "invalid_day");
    assert_eq!(ctl(&["payouts", "list", "--state", "LOST"]).code, 2);
}

// ------------------------------------------------------------------ doctor

async fn put_secret(name: &str, value: &Value) {
    let sdk = stack_harness::sdk_config(&stack().moto).await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let _ = client
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await;
}

fn key(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/vectors/keys").join(name)).unwrap()
}

fn cert(name: &str) -> String {
    String::from_utf8(alipay_protocol::fixtures::cert(name).unwrap()).unwrap()
}

/// `rewardsctl doctor` with one option.
fn doctor(option: &str, value: &str) -> Run {
    ctl(&["doctor", option, value])
}

#[tokio::test]
async fn doctor_passes_on_the_local_stack_and_names_each_fault() {
    let r = ok(&["doctor"]);
    let lines = r.lines_of(&r.stdout, 7);
    let keys = format!("✓ keys secret: {KEYS_SECRET} parses as the functions read it");
    r.assert_starts(lines[0], &keys);
    r.assert_starts(lines[1], "✓ key pair: app key ");
    assert_eq!(
        lines[2],
        "– certificates: none configured (public-key mode)"
    );
    r.assert_starts(
        lines[3],
        "✓ table: rewards-test ACTIVE, keys pk/sk, indexes gsi1",
    );
    assert!(
        lines[4].starts_with("✓ gateway: ")
            && lines[4].contains("accepted our signature for app 2021000000000001"),
        "{r:?}"
    );
    assert!(
        lines[4].contains("40004 CAMPAIGN_NOT_EXIST"),
        "the signed business error: {r:?}"
    );
    let api = format!("✓ API: {} answers (signed GET /templates: 200", stack().api);
    r.assert_starts(lines[5], &api);
    assert_eq!(lines[6], "all checks passed");
    let r = ok(&["--json", "doctor"]);
    assert_eq!(r.json()["ok"], true);

    // Swapped keys, and the app's own public key where Alipay's belongs.
    put_secret("doctor/swapped", &json!({"app_private_key": key("alipay_public_spki.pem"), "alipay_public_key": key("app_private_pkcs8.pem")})).await;
    let r = doctor("--keys-secret", "doctor/swapped");
    assert_eq!(r.code, 1, "{r:?}");
    let first = r.stdout.lines().next().unwrap();
    let unusable = "✗ keys secret: doctor/swapped: the secret's app_private_key is not usable";
    r.assert_starts(first, unusable);
    r.assert_says("✗ key pair: swapped: app_private_key holds a public key and alipay_public_key a private key — fix: exchange the two fields' values");
    r.assert_says("– gateway: no usable keys to sign with");
    assert!(r.stdout.ends_with("2 check(s) failed\n"), "{r:?}");
    put_secret("doctor/own", &json!({"app_private_key": key("app_private_pkcs8.pem"), "alipay_public_key": key("app_public_spki.pem")})).await;
    let r = doctor("--keys-secret", "doctor/own");
    assert_eq!(r.code, 1);
    r.assert_says("✗ key pair: mismatched: alipay_public_key is the app's own public key");
    let r = doctor("--keys-secret", "doctor/none");
    let unreadable = "✗ keys secret: cannot read doctor/none: no such secret — fix: ";
    r.assert_starts(&r.stdout, unreadable);

    // Certificates in the secret (certificate mode): they chain, are valid, carry their SNs, and hold
    // the secret's keys.
    put_secret(
        "doctor/certs",
        &json!({
            "app_private_key": key("app_private_pkcs8.pem"),
            "app_cert": cert("app_cert.pem") + &cert("class1.pem"),
            "alipay_cert": cert("alipay_cert.pem") + &cert("class2.pem"),
            "alipay_root_cert": cert("root_bundle.pem"),
        }),
    )
    .await;
    let r = ok(&["doctor", "--keys-secret", "doctor/certs"]);
    r.assert_says("✓ root certificate: 3 certificate(s), alipay_root_cert_sn 06f5d2231192cb03e9d578bb3584a245_564859791f94d1b87f8a1cc5af04ea49");
    r.assert_says("✓ app certificate: SN 14a1633ce57ff42aa17ea8a8727ae669, valid until 2036-11-20, chains CN=2021000000000001");
    r.assert_says("✓ Alipay certificate: SN b4ed4b2b1f7aa41304375408a050bc7d");
    // A secret that mixes the modes is refused as the functions refuse it, naming the fields.
    put_secret("doctor/mixed", &json!({
        "app_private_key": key("app_private_pkcs8.pem"), "alipay_public_key": key("alipay_public_spki.pem"),
        "alipay_cert": cert("alipay_cert.pem") + &cert("class2.pem"),
    })).await;
    let r = doctor("--keys-secret", "doctor/mixed");
    r.assert_says("✗ keys secret: doctor/mixed: the secret mixes public-key mode (alipay_public_key) and certificate mode (alipay_cert)");
    // Files on the command line win; a certificate without its intermediate does not chain.
    let app_cert = temp_file("app_cert.pem", &cert("app_cert.pem"));
    let r = ctl(&[
        "doctor",
        "--keys-secret",
        "doctor/certs",
        "--app-cert",
        &app_cert,
    ]);
    assert_eq!(r.code, 1);
    r.assert_says(
        "✗ app certificate: SN 14a1633ce57ff42aa17ea8a8727ae669 does not chain to the root bundle",
    );

    // The table, the gateway's app id and an unreachable gateway.
    let r = doctor("--table", "no-such-table");
    r.assert_says("✗ table: no-such-table does not exist — fix: ");
    let r = doctor("--app-id", "2021999999999999");
    assert!(
        r.stdout.contains("✗ gateway: ") && r.stdout.contains("does not know app 2021999999999999"),
        "{r:?}"
    );
    let r = doctor("--gateway", "http://127.0.0.1:9/gateway.do");
    r.assert_says("✗ gateway: cannot reach http://127.0.0.1:9/gateway.do");
    assert_eq!(r.code, 1);
}

// ------------------------------------------------------------------ reaching the API

#[test]
fn an_unreachable_api_is_exit_3_with_what_to_do() {
    let r = ctl_env(
        &["template", "list"],
        &[("REWARDS_API", "http://127.0.0.1:9")],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: cannot reach http://127.0.0.1:9: "),
        "{r:?}"
    );
    assert!(
        r.stderr
            .trim_end()
            .ends_with("— start the stack (make dev) or check --endpoint / --stack"),
        "{r:?}"
    );
    let r = ctl_env(
        &[
            "--json",
            "template",
            "list",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(r.code, 3);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("cannot reach"));
}
