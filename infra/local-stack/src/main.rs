//! `local-stack`: runs the functions of `template.yaml` under a local Lambda Runtime API behind a local
//! HTTP API. Prints `local-stack listening on http://127.0.0.1:<port>` when ready; stops every function
//! process on SIGINT or SIGTERM.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use local_stack::{start, Options};

const USAGE: &str = "\
usage: local-stack [--template template.yaml] [--bin-dir target/debug] [--port 3000]
                   [--param Name=Value]... [--env NAME=VALUE]...

Environment: API_PORT (default 3000, 0 = ephemeral), LOCAL_TEMPLATE, LOCAL_BIN_DIR, LOCAL_IAM=off (skip the
SigV4 header check on AWS_IAM routes), LOCAL_DEFAULT_CONCURRENCY (10), LOCAL_QUEUE_MS (10000). Variables of
the template's function environments (TABLE_NAME, ALIPAY_*, PASS_CALLBACK_URL, ...) and AWS_ENDPOINT_URL,
AWS_REGION, AWS credentials, RUST_LOG set here override the template's values. A --param value of @api is the
front's own URL (PublicBaseUrl defaults to it).";

fn parse_args(mut opts: Options) -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--template" => opts.template = PathBuf::from(value("--template")?),
            "--bin-dir" => opts.bin_dir = PathBuf::from(value("--bin-dir")?),
            "--port" => {
                opts.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port needs a number".to_string())?
            }
            "--param" | "--env" => {
                let kv = value(&a)?;
                let (k, v) = kv.split_once('=').ok_or(format!("{a} needs NAME=VALUE"))?;
                if a == "--param" {
                    opts.parameters.insert(k.to_string(), v.to_string());
                } else {
                    opts.env.push((k.to_string(), v.to_string()));
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_args(Options::from_env()) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("local-stack: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let running = match start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    for r in &running.stack.routes {
        eprintln!(
            "[local-stack] route {:<40} -> {} ({:?})",
            r.route_key(),
            r.function,
            r.auth
        );
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "local-stack listening on {}", running.url());
    let _ = out.flush();
    shutdown_signal().await;
    eprintln!("[local-stack] stopping");
    running.shutdown().await;
    ExitCode::SUCCESS
}
