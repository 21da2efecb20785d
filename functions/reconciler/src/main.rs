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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time kept back at the end of an invocation: one more probe (two Alipay calls at most, which the
/// lease covers), the count for the metrics and the pass sweep.
fn reserve(reconciler: &Reconciler) -> Duration {
    reconciler.service.config.lease + Duration::from_secs(10)
}

async fn handle(
    reconciler: &Reconciler,
    sweeper: &ClaimSweeper,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    // The invocation's deadline (ms since the epoch): no probe starts that could outlive it, so a
    // hanging Alipay cannot kill the run before it publishes the unresolved counts.
    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
    let reserve = reserve(reconciler);
    let report = reconciler
        .run_while(|| {
            deadline
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > reserve)
        })
        .await?;
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
        "deferred": report.deferred,
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
