//! alipay-notify: the app's 应用网关 address (`POST /alipay/notify`, public, no authorizer):
//! Alipay's signed messages. Authenticity rests on the signature alone, checked before anything
//! is read: a forged, tampered or unsigned body is answered 4xx and changes nothing.
//!
//! - the body is read as a form whatever the Content-Type says (Alipay sends a malformed one);
//! - the signature is verified with Alipay's key (certificate mode: the key of the certificate the
//!   message names in `alipay_cert_sn`), V1 and V2 as `alipay_protocol::notify` does;
//! - `msg_method=alipay.fund.trans.order.changed` advances the payout ledger
//!   ([`rewards_core::payout::TransferNotifications`]); any other message is acknowledged without
//!   acting (logged);
//! - the plain body `success` is answered only after the ledger write; a store failure is a 503, so
//!   Alipay delivers the message again (up to 8 times in about 25 hours, and the reconciler polls
//!   the order anyway).
use alipay_client::transfer::OrderChanged;
use alipay_client::NotificationError;
use alipay_protocol::NotifyParams;
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{body_bytes, metric, Problem};
use rewards_app::Alipay;
use rewards_core::payout::{NotifyOutcome, TransferNotifications};

/// The message this function acts on.
const ORDER_CHANGED: &str = "alipay.fund.trans.order.changed";

struct Ctx {
    alipay: Alipay,
    notifications: TransferNotifications,
    app_id: String,
}

/// The 7-byte acknowledgement Alipay waits for.
fn success() -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::Text("success".into()))
        .unwrap_or_else(|_| Problem::internal().into_response())
}

fn refused(status: u16, code: &str, detail: &str) -> Problem {
    metric("Rewards", "AlipayNotifications", 1.0, &[("Outcome", code)]);
    Problem::new(status, code, detail)
}

#[tracing::instrument(skip_all, fields(notifyId = tracing::field::Empty, msgMethod = tracing::field::Empty))]
async fn handle(ctx: &Ctx, req: Request) -> Result<Response<Body>, Problem> {
    let params = NotifyParams::parse_form(body_bytes(&req)?).map_err(|e| {
        tracing::warn!(error = %e, "notification body is not a form");
        refused(400, "invalid_notification", "the body is not a form")
    })?;
    let span = tracing::Span::current();
    span.record("notifyId", params.get("notify_id").unwrap_or(""));
    span.record("msgMethod", params.get("msg_method").unwrap_or(""));
    if let Err(e) = ctx.alipay.client.verify_notification(&params).await {
        tracing::warn!(error = %e, "notification refused");
        return Err(match e {
            NotificationError::UnknownCertificate(_) => refused(
                401,
                "unknown_certificate",
                "the notification names a certificate that cannot be verified",
            ),
            _ => refused(
                401,
                "invalid_signature",
                "the notification is not signed by Alipay",
            ),
        });
    }
    if params.get("app_id").is_some_and(|a| a != ctx.app_id) {
        tracing::warn!(
            appId = params.get("app_id").unwrap_or(""),
            "notification for another app"
        );
        return Err(refused(
            403,
            "wrong_app",
            "the notification is for another app",
        ));
    }
    let method = params.get("msg_method").unwrap_or("");
    if method != ORDER_CHANGED {
        tracing::info!(
            msgMethod = method,
            "notification acknowledged without acting"
        );
        metric(
            "Rewards",
            "AlipayNotifications",
            1.0,
            &[("Outcome", "ignored_message")],
        );
        return Ok(success());
    }
    let changed = OrderChanged::from_biz_content(params.get("biz_content").unwrap_or(""))
        .map_err(|e| {
            tracing::error!(error = %e, "signed order.changed notification whose biz_content is unreadable");
            refused(400, "invalid_biz_content", "biz_content is not readable")
        })?;
    let receipt = rewards_alipay::transfer::receipt(changed.to_state());
    match ctx.notifications.order_changed(&receipt).await {
        Ok(outcome) => {
            let name = match &outcome {
                NotifyOutcome::Recorded(e) => e.state.name(),
                NotifyOutcome::Unchanged(_) => "unchanged",
                NotifyOutcome::Ignored(why) => why,
            };
            tracing::info!(outcome = name, "order.changed applied");
            metric("Rewards", "AlipayNotifications", 1.0, &[("Outcome", name)]);
            Ok(success())
        }
        Err(e) => {
            tracing::error!(error = %e, "order.changed not recorded; Alipay will deliver it again");
            let p = Problem::from_domain(&e);
            metric(
                "Rewards",
                "AlipayNotifications",
                1.0,
                &[("Outcome", p.code.as_str())],
            );
            Err(p)
        }
    }
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
