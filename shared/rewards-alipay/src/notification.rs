//! The messages Alipay posts to the app's notify address (应用网关), read and verified.
//!
//! Authenticity rests on the signature alone, checked before anything is read: a forged, tampered
//! or unsigned body is refused and nothing acts on it. Which message the ledger acts on, and how
//! each refusal is answered, is decided here once; the function maps the result to HTTP.

use alipay_client::transfer::OrderChanged;
use alipay_client::{AlipayClient, NotificationError};
use alipay_protocol::NotifyParams;
use rewards_core::error::{DomainError, ErrorKind};
use rewards_core::ports::TransferReceipt;

use crate::transfer::receipt;

/// The message the ledger acts on.
pub const ORDER_CHANGED: &str = "alipay.fund.trans.order.changed";

/// A verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `alipay.fund.trans.order.changed`: the order as Alipay reports it.
    OrderChanged(TransferReceipt),
    /// Any other signed message: acknowledged, not acted on.
    Other,
}

/// Why a message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationRefusal {
    /// The body is not a form.
    #[error("the body is not a form")]
    NotAForm,
    /// It names a certificate that cannot be had or is not trusted.
    #[error("the notification names a certificate that cannot be verified")]
    UnknownCertificate,
    /// Unsigned, or the signature does not verify.
    #[error("the notification is not signed by Alipay")]
    BadSignature,
    /// Signed by Alipay for another app.
    #[error("the notification is for another app")]
    WrongApp,
    /// A signed order.changed whose `biz_content` cannot be read (logged as an error: Alipay
    /// changed its format, or a bug).
    #[error("biz_content is not readable")]
    UnreadableBizContent,
}

impl DomainError for NotificationRefusal {
    fn code(&self) -> &'static str {
        match self {
            NotificationRefusal::NotAForm => "invalid_notification",
            NotificationRefusal::UnknownCertificate => "unknown_certificate",
            NotificationRefusal::BadSignature => "invalid_signature",
            NotificationRefusal::WrongApp => "wrong_app",
            NotificationRefusal::UnreadableBizContent => "invalid_biz_content",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            NotificationRefusal::NotAForm | NotificationRefusal::UnreadableBizContent => {
                ErrorKind::BadInput
            }
            NotificationRefusal::UnknownCertificate | NotificationRefusal::BadSignature => {
                ErrorKind::Unauthorized
            }
            NotificationRefusal::WrongApp => ErrorKind::Forbidden,
        }
    }
}

/// The body as a form, whatever the Content-Type says (Alipay sends a malformed one).
///
/// # Errors
/// [`NotificationRefusal::NotAForm`].
pub fn parse_form(body: &[u8]) -> Result<NotifyParams, NotificationRefusal> {
    NotifyParams::parse_form(body).map_err(|e| {
        tracing::warn!(error = %e, "notification body is not a form");
        NotificationRefusal::NotAForm
    })
}

/// Verifies `params` (V1 and V2; in certificate mode with the certificate the message names), checks
/// it is for `app_id`, and reads the message the ledger acts on.
///
/// # Errors
/// [`NotificationRefusal`], logged with its cause (never the message's text).
pub async fn verify(
    client: &AlipayClient,
    app_id: &str,
    params: &NotifyParams,
) -> Result<Notification, NotificationRefusal> {
    client.verify_notification(params).await.map_err(|e| {
        tracing::warn!(error = %e, "notification refused");
        match e {
            NotificationError::UnknownCertificate(_) => NotificationRefusal::UnknownCertificate,
            _ => NotificationRefusal::BadSignature,
        }
    })?;
    if let Some(other) = params.get("app_id").filter(|a| *a != app_id) {
        tracing::warn!(appId = other, "notification for another app");
        return Err(NotificationRefusal::WrongApp);
    }
    let method = params.get("msg_method").unwrap_or("");
    if method != ORDER_CHANGED {
        tracing::info!(
            msgMethod = method,
            "notification acknowledged without acting"
        );
        return Ok(Notification::Other);
    }
    let changed = OrderChanged::from_biz_content(params.get("biz_content").unwrap_or(""))
        .map_err(|e| {
            tracing::error!(error = %e, "signed order.changed notification whose biz_content is unreadable");
            NotificationRefusal::UnreadableBizContent
        })?;
    Ok(Notification::OrderChanged(receipt(changed.to_state())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_code_and_status() {
        let seen: Vec<_> = [
            NotificationRefusal::NotAForm,
            NotificationRefusal::UnknownCertificate,
            NotificationRefusal::BadSignature,
            NotificationRefusal::WrongApp,
            NotificationRefusal::UnreadableBizContent,
        ]
        .iter()
        .map(|r| (r.code(), r.kind().http_status()))
        .collect();
        assert_eq!(
            seen,
            [
                ("invalid_notification", 400),
                ("unknown_certificate", 401),
                ("invalid_signature", 401),
                ("wrong_app", 403),
                ("invalid_biz_content", 400),
            ]
        );
    }

    #[test]
    fn a_body_that_is_not_a_form_is_refused() {
        assert_eq!(
            parse_form(b"a=1&a=2").err(),
            Some(NotificationRefusal::NotAForm)
        );
    }
}
