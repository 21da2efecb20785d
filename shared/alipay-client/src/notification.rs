//! Verifying what Alipay sends on its own (notify_url and 应用网关 messages) with the keys that
//! verify its answers: the configured key, or in certificate mode the key of the certificate the
//! message names (downloaded and chain-checked once after a rotation).

use alipay_protocol::{AlipayPublicKey, NotifyError, NotifyParams, NotifyPolicy, NotifyRule};

use crate::{AlipayClient, AlipayKeyError};

/// Why a message is not taken as Alipay's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// It names a certificate that cannot be had or is not trusted (a forged SN is the likely
    /// cause; Alipay delivers a genuine message again anyway).
    #[error("the message's certificate: {0}")]
    UnknownCertificate(#[source] AlipayKeyError),
    /// Unsigned, or the signature does not verify over its fields.
    #[error("the message's signature: {0}")]
    Signature(#[source] NotifyError),
}

impl AlipayClient {
    /// Verifies a message: V1 then V2 over every field (`alipay_protocol::notify`), then, when it
    /// names a certificate, the same without `alipay_cert_sn`, which some senders leave out of the
    /// signed content.
    ///
    /// # Errors
    /// [`NotificationError`].
    pub async fn verify_notification(
        &self,
        params: &NotifyParams,
    ) -> Result<NotifyRule, NotificationError> {
        let key = self
            .alipay_key_for(params.get("alipay_cert_sn"))
            .await
            .map_err(NotificationError::UnknownCertificate)?;
        verify_with(params, &key).map_err(NotificationError::Signature)
    }
}

fn verify_with(params: &NotifyParams, key: &AlipayPublicKey) -> Result<NotifyRule, NotifyError> {
    let policy = NotifyPolicy::default();
    match params.verify(key, policy) {
        Err(NotifyError::BadSignature) if params.get("alipay_cert_sn").is_some() => {
            NotifyParams::from_pairs(params.iter().filter(|(k, _)| *k != "alipay_cert_sn"))?
                .verify(key, policy)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alipay_protocol::sign::string_to_sign;
    use alipay_protocol::AlipayPublicKey;
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
        ("msg_method", "alipay.fund.trans.order.changed"),
        ("app_id", "2021000000000001"),
        ("sign_type", "RSA2"),
        ("biz_content", r#"{"out_biz_no":"pe_1","status":"SUCCESS"}"#),
    ];

    #[test]
    fn only_alipays_signature_over_the_exact_fields_verifies() {
        let key = AlipayPublicKey::from_text(ALIPAY_PUBLIC).unwrap();
        assert_eq!(
            verify_with(&form(&FIELDS, ALIPAY_PRIVATE, &["sign"]), &key),
            Ok(NotifyRule::V2)
        );
        assert!(verify_with(&form(&FIELDS, APP_PRIVATE, &["sign"]), &key).is_err());
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
        assert_eq!(verify_with(&tampered, &key), Err(NotifyError::BadSignature));
        let unsigned = NotifyParams::from_pairs(FIELDS.iter().copied()).unwrap();
        assert_eq!(verify_with(&unsigned, &key), Err(NotifyError::MissingSign));
    }

    #[test]
    fn a_certificate_sn_may_be_left_out_of_the_signed_content() {
        let key = AlipayPublicKey::from_text(ALIPAY_PUBLIC).unwrap();
        let mut fields = FIELDS.to_vec();
        fields.push(("alipay_cert_sn", "abc123"));
        let without_sn = form(&fields, ALIPAY_PRIVATE, &["sign", "alipay_cert_sn"]);
        assert!(verify_with(&without_sn, &key).is_ok());
        let with_sn = form(&fields, ALIPAY_PRIVATE, &["sign"]);
        assert!(verify_with(&with_sn, &key).is_ok());
    }
}
