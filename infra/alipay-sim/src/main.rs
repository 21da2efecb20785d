//! `alipay-sim`: the gateway simulator binary.
//!
//! Listens on `127.0.0.1:$SIM_PORT` (default 9999; 0 = ephemeral) and prints exactly one first
//! stdout line, `alipay-sim listening on http://127.0.0.1:<port>/gateway.do`. Environment:
//! `SIM_PORT`, `SIM_APP_ID`, `SIM_APP_PUBLIC_KEY_FILE`, `SIM_ALIPAY_PRIVATE_KEY_FILE`.

use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match alipay_sim::SimConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("alipay-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sim = match alipay_sim::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("alipay-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "alipay-sim listening on {}", sim.url)
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    wait_for_signal().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
