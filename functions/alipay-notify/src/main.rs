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
use std::sync::Arc;

use alipay_client::transfer::OrderChanged;
use alipay_protocol::{AlipayPublicKey, NotifyError, NotifyParams, NotifyPolicy, NotifyRule};
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

/// Alipay's key for a message naming `cert_sn`: the configured key in public-key mode, the key of
/// that certificate in certificate mode (downloaded and chain-checked once when Alipay rotated). A
/// certificate that cannot be had is answered 401: a forged SN is the likely cause, and Alipay
/// delivers a genuine message again anyway.
async fn alipay_key(
    alipay: &Alipay,
    cert_sn: Option<&str>,
) -> Result<Arc<AlipayPublicKey>, Problem> {
    alipay.client.alipay_key_for(cert_sn).await.map_err(|e| {
        tracing::warn!(error = %e, "notification names a certificate that cannot be had");
        refused(
            401,
            "unknown_certificate",
            "the notification names a certificate that cannot be verified",
        )
    })
}

/// Verifies a message: V1 then V2 over every field, then (certificate mode) the same without
/// `alipay_cert_sn`, which some senders leave out of the signed content.
fn verify(params: &NotifyParams, key: &AlipayPublicKey) -> Result<NotifyRule, NotifyError> {
    let policy = NotifyPolicy::default();
    match params.verify(key, policy) {
        Err(NotifyError::BadSignature) if params.get("alipay_cert_sn").is_some() => {
            NotifyParams::from_pairs(params.iter().filter(|(k, _)| *k != "alipay_cert_sn"))?
                .verify(key, policy)
        }
        other => other,
    }
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
    let key = alipay_key(&ctx.alipay, params.get("alipay_cert_sn")).await?;
    if let Err(e) = verify(&params, &key) {
        tracing::warn!(error = %e, "notification refused: signature");
        return Err(refused(
            401,
            "invalid_signature",
            "the notification is not signed by Alipay",
        ));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alipay_protocol::sign::string_to_sign;
    use alipay_protocol::AppPrivateKey;

    const ALIPAY_PRIVATE: &str =
        include_str!("../../../tests/vectors/keys/alipay_private_pkcs1.pem");
    const ALIPAY_PUBLIC: &str = include_str!("../../../tests/vectors/keys/alipay_public_spki.pem");
    const APP_PRIVATE: &str = include_str!("../../../tests/vectors/keys/app_private_pkcs1.pem");

    fn form(fields: &[(&str, &str)], signer: &str, excluded: &[&str]) -> NotifyParams {
        let content = string_to_sign(fields.iter().copied(), excluded);
        let sign = AppPrivateKey::from_text(signer)
            .unwrap()
            .sign(content.as_bytes());
        let mut all: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.push(("sign".into(), sign));
        NotifyParams::from_pairs(all).unwrap()
    }

    const FIELDS: [(&str, &str); 5] = [
        ("notify_id", "n1"),
        ("msg_method", ORDER_CHANGED),
        ("app_id", "2021000000000001"),
        ("sign_type", "RSA2"),
        ("biz_content", r#"{"out_biz_no":"pe_1","status":"SUCCESS"}"#),
    ];

    #[test]
    fn only_alipays_signature_over_the_exact_fields_verifies() {
        let key = AlipayPublicKey::from_text(ALIPAY_PUBLIC).unwrap();
        assert_eq!(
            verify(&form(&FIELDS, ALIPAY_PRIVATE, &["sign"]), &key),
            Ok(NotifyRule::V2)
        );
        assert!(verify(&form(&FIELDS, APP_PRIVATE, &["sign"]), &key).is_err());
        // Tampered: the signature of other content.
        let mut other = FIELDS;
        other[4].1 = r#"{"out_biz_no":"pe_2","status":"SUCCESS"}"#;
        let signed_other = form(&other, ALIPAY_PRIVATE, &["sign"]);
        let tampered = NotifyParams::from_pairs(
            FIELDS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .chain([(
                    "sign".to_owned(),
                    signed_other.get("sign").unwrap().to_owned(),
                )]),
        )
        .unwrap();
        assert_eq!(verify(&tampered, &key), Err(NotifyError::BadSignature));
        let unsigned = NotifyParams::from_pairs(FIELDS.iter().copied()).unwrap();
        assert_eq!(verify(&unsigned, &key), Err(NotifyError::MissingSign));
    }

    #[test]
    fn a_certificate_sn_may_be_left_out_of_the_signed_content() {
        let key = AlipayPublicKey::from_text(ALIPAY_PUBLIC).unwrap();
        let mut fields = FIELDS.to_vec();
        fields.push(("alipay_cert_sn", "abc123"));
        let without_sn = form(&fields, ALIPAY_PRIVATE, &["sign", "alipay_cert_sn"]);
        assert!(verify(&without_sn, &key).is_ok());
        let with_sn = form(&fields, ALIPAY_PRIVATE, &["sign"]);
        assert!(verify(&with_sn, &key).is_ok());
    }
}
