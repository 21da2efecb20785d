//! `dev-stack` (run by `make dev` through `scripts/dev.sh`): the whole system on fixed loopback ports,
//! until Ctrl-C or SIGTERM. Environment: `API_PORT` (3000), `SIM_PORT` (9999), `MOTO_PORT` (5000),
//! `ALIPAY_APP_ID`, `TABLE_NAME` (rewards-local), `ALIPAY_KEYS_SECRET_ID`, `SESSION_KEY_SECRET_ID`,
//! `DEFAULT_PASS_LOGO_URL`, `RUST_LOG` (info), `LOCAL_BIN_DIR` (target/debug), `CERT_MODE` (`1`:
//! the simulator and the keys secret in certificate mode); the local-stack variables of
//! docs/local-stack.md.

use std::process::ExitCode;

use stack_harness::{root, Error, StackOptions};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn port(name: &str, default: u16) -> Result<u16, Error> {
    let port = match var(name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a port number, got {v:?}"))?,
        None => default,
    };
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        return Err(format!("port {port} is in use (set {name} to another port)").into());
    }
    Ok(port)
}

fn options() -> Result<StackOptions, Error> {
    let mut opts = StackOptions::new(
        &var("TABLE_NAME").unwrap_or_else(|| "rewards-local".into()),
        "debug",
    );
    if let Some(dir) = var("LOCAL_BIN_DIR") {
        opts.bin_dir = dir.into();
    }
    opts.api_port = port("API_PORT", 3000)?;
    opts.sim_port = port("SIM_PORT", 9999)?;
    opts.moto.port = Some(port("MOTO_PORT", 5000)?);
    let run_dir = root().join(".local/dev");
    std::fs::create_dir_all(&run_dir)?;
    opts.moto.log = Some(run_dir.join("moto.log"));
    if let Some(id) = var("ALIPAY_APP_ID") {
        opts.app_id = id;
    }
    if let Some(id) = var("ALIPAY_KEYS_SECRET_ID") {
        opts.names.keys_secret = id;
    }
    if let Some(id) = var("SESSION_KEY_SECRET_ID") {
        opts.names.session_secret = id;
    }
    opts.parameters.insert(
        "DefaultPassLogoUrl".into(),
        var("DEFAULT_PASS_LOGO_URL")
            .unwrap_or_else(|| "https://example.com/pass/default-logo.png".into()),
    );
    opts.rust_log = var("RUST_LOG").unwrap_or_else(|| "info".into());
    opts.cert_mode = match var("CERT_MODE").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => return Err(format!("CERT_MODE must be 1 or 0, got {other:?}").into()),
    };
    Ok(opts)
}

/// The seed pass template with this run's callback URL, written to `.local/dev/pass.json`.
fn write_pass_json(api: &str) -> Result<(), Error> {
    let fixture = root().join("infra/local-stack/fixtures/pass.json");
    let text = std::fs::read_to_string(&fixture)?.replace(
        "http://127.0.0.1:3000/alipay/pass-callback",
        &format!("{api}/alipay/pass-callback"),
    );
    std::fs::write(root().join(".local/dev/pass.json"), text)?;
    Ok(())
}

fn usage(opts: &StackOptions, api: &str, gateway: &str, sim: &str, moto: &str) -> String {
    let user = "2088000000000001";
    let names = &opts.names;
    format!(
        r#"
  local HTTP API   {api}        (routes and auth from template.yaml; GET {api}/_local/functions)
  Alipay simulator {gateway}
  moto             {moto}   (table {table}, secrets {keys}, {session}; log .local/dev/moto.log)
  keys             {mode}

Try (operator routes are AWS_IAM: rewardsctl signs them with SigV4; locally the signature is not verified):

  target/debug/rewardsctl doctor            # keys, table, gateway and API of this stack
  # 1. check and create the seed pass template (this run's callback URL)
  target/debug/rewardsctl template validate .local/dev/pass.json --endpoint {api}
  target/debug/rewardsctl template create .local/dev/pass.json --endpoint {api}

  # 2. let the simulator's claim component claim it for a user (it calls the template's mcallbackUrl)
  curl -sS -H 'content-type: application/json' -d '{{"templateId":"<templateId from 1>","userId":"{user}"}}' \
       {sim}/sim/claim

  # 3. read the user's passIds as the mini-program does: an auth code (the simulator plays my.getAuthCode),
  #    a session token for it, then the passes (a Lambda-authorizer route)
  curl -sS -H 'content-type: application/json' -d '{{"userId":"{user}"}}' {sim}/sim/auth-codes
  curl -sS -H 'content-type: application/json' -d '{{"authCode":"<code>"}}' {api}/session
  curl -sS -H 'Authorization: Bearer <token>' {api}/users/{user}/passes
  #    or look one pass up as the backend (IAM)
  target/debug/rewardsctl pass show <passId from 2> --endpoint {api}

  # cash: a campaign (pay URL + QR code), paid by the simulator's cashier, an envelope, the ledger
  target/debug/rewardsctl campaign create --name 周末红包 --total 20.00 --count 10 --endpoint {api}
  curl -sS -X POST {sim}/sim/campaigns/<crowdNo>/pay
  target/debug/rewardsctl envelope send --reason points_exchange --business-id order-1 --user-id {user} --crowd-no <crowdNo> --endpoint {api}
  target/debug/rewardsctl payouts list --endpoint {api}

  # fire the schedules by hand
  curl -sS --data @infra/local-stack/events/campaign-schedule.json {api}/_local/invoke/campaign-creator
  curl -sS --data @infra/local-stack/events/reconciler-schedule.json {api}/_local/invoke/reconciler

Ctrl-C stops everything.
"#,
        table = names.table,
        keys = names.keys_secret,
        mode = if opts.cert_mode {
            format!("certificate mode: the simulator's certificates are in the keys secret ({sim}/sim/certs; rotate: curl -sS -d '{{\"rotateAlipayCert\":true}}' {sim}/sim/settings)")
        } else {
            "public-key mode (CERT_MODE=1 make dev for certificate mode)".to_string()
        },
        session = names.session_secret,
    )
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run() -> Result<(), Error> {
    let opts = options()?;
    let missing = opts.missing_functions()?;
    if !missing.is_empty() {
        eprintln!(
            "[dev] warning: not built yet, skipped (their routes answer 502): {}",
            missing.join(" ")
        );
    }
    eprintln!(
        "[dev] starting moto on 127.0.0.1:{}, the simulator on 127.0.0.1:{}, local-stack on 127.0.0.1:{}",
        opts.moto.port.unwrap_or_default(),
        opts.sim_port,
        opts.api_port
    );
    let stack = stack_harness::start(&opts).await?;
    for r in &stack.api.stack.routes {
        eprintln!(
            "[local-stack] route {:<40} -> {} ({:?})",
            r.route_key(),
            r.function,
            r.auth
        );
    }
    let api = stack.api.url();
    write_pass_json(&api)?;
    eprintln!(
        "{}",
        usage(
            &opts,
            &api,
            &stack.sim.url,
            &stack.sim.base_url,
            &stack.moto.endpoint
        )
    );
    shutdown_signal().await;
    eprintln!("[dev] stopping local-stack, the simulator and moto");
    stack.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[dev] error: {e}");
            ExitCode::FAILURE
        }
    }
}
