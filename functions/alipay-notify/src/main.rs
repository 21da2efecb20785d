//! alipay-notify: the app's 应用网关 address (`POST /alipay/notify`, public, no authorizer):
//! Alipay's signed messages, read and verified by [`rewards_alipay::notification`] (a forged,
//! tampered or unsigned body is answered 4xx and changes nothing).
//!
//! `alipay.fund.trans.order.changed` advances the payout ledger
//! ([`rewards_core::payout::TransferNotifications`]); any other message is acknowledged without
//! acting. The plain body `success` is answered only after the ledger write; a store failure is a
//! 503, so Alipay delivers the message again (up to 8 times in about 25 hours, and the reconciler
//! polls the order anyway).
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{body_bytes, metric, Problem};
use rewards_alipay::notification::{self, Notification};
use rewards_app::Alipay;
use rewards_core::payout::TransferNotifications;

struct Ctx {
    alipay: Alipay,
    notifications: TransferNotifications,
    app_id: String,
}

/// Counts every message by what became of it.
fn count(outcome: &str) {
    metric(
        "Rewards",
        "AlipayNotifications",
        1.0,
        &[("Outcome", outcome)],
    );
}

/// The 7-byte acknowledgement Alipay waits for.
fn success() -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::Text("success".into()))
        .unwrap_or_else(|_| Problem::internal().into_response())
}

#[tracing::instrument(skip_all, fields(notifyId = tracing::field::Empty, msgMethod = tracing::field::Empty))]
async fn handle(ctx: &Ctx, req: Request) -> Result<Response<Body>, Problem> {
    let result = async {
        let params = notification::parse_form(body_bytes(&req)?)?;
        let span = tracing::Span::current();
        span.record("notifyId", params.get("notify_id").unwrap_or(""));
        span.record("msgMethod", params.get("msg_method").unwrap_or(""));
        let outcome = match notification::verify(&ctx.alipay.client, &ctx.app_id, &params).await? {
            Notification::OrderChanged(receipt) => {
                let applied = ctx.notifications.order_changed(&receipt).await.map_err(|e| {
                    tracing::error!(error = %e, "order.changed not recorded; Alipay will deliver it again");
                    Problem::from_domain(&e)
                })?;
                tracing::info!(outcome = applied.name(), "order.changed applied");
                applied.name()
            }
            Notification::Other => "ignored_message",
        };
        count(outcome);
        Ok(success())
    }
    .await;
    result.inspect_err(|p: &Problem| count(&p.code))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    rewards_app::serve_http(
        |app| async move {
            Ok(Ctx {
                notifications: app.transfer_notifications(),
                app_id: app.config.app_id.as_str().to_owned(),
                alipay: app.alipay().await?,
            })
        },
        handle,
    )
    .await
}
