//! reconciler (scheduled, every 5 minutes): every due unresolved payout (UNKNOWN, stuck PENDING,
//! NEEDS_ATTENTION) is re-triggered with its **same** `out_biz_no` until the outcome is known, with
//! capped backoff; past the retry budget it is NEEDS_ATTENTION and probed at the cap, never re-sent
//! under a new number. Each run publishes `UnresolvedPayouts` and `PayoutsNeedingAttention` (the
//! alarm in template.yaml watches the latter). Then pass issuances whose outcome was lost are looked
//! up by serial: stored if Alipay holds them, dropped if not.
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use rewards_app::App;
use rewards_core::claim::ClaimSweeper;
use rewards_core::payout::Reconciler;
use serde_json::{json, Value};

async fn handle(
    reconciler: &Reconciler,
    sweeper: &ClaimSweeper,
    _event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let report = reconciler.run_once().await?;
    lambda_http_kit::metric("Rewards", "ReconciledPayouts", report.examined as f64, &[]);
    lambda_http_kit::metric(
        "Rewards",
        "UnresolvedPayouts",
        report.open.unresolved as f64,
        &[],
    );
    lambda_http_kit::metric(
        "Rewards",
        "PayoutsNeedingAttention",
        report.open.needs_attention as f64,
        &[],
    );
    tracing::info!(?report, "reconciliation pass done");
    let passes = sweeper.run_once().await?;
    tracing::info!(?passes, "pass issuance sweep done");
    Ok(json!({
        "examined": report.examined,
        "sent": report.sent,
        "failed": report.failed,
        "unresolved": report.unresolved,
        "needsAttention": report.needs_attention,
        "errors": report.errors,
        "openUnresolved": report.open.unresolved,
        "openNeedsAttention": report.open.needs_attention,
        "passes": passes,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http_kit::init_logging();
    let app = App::load().await?;
    let alipay = app.alipay().await?;
    let reconciler = app.reconciler(&alipay);
    let sweeper = app.claim_sweeper(&alipay);
    run(service_fn(|event| handle(&reconciler, &sweeper, event))).await
}
