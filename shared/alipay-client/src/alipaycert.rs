//! `alipay.open.app.alipaycert.download` (certificate mode): Alipay's public-key certificate by SN.
//! The client calls it when an answer names a certificate it does not know yet; the key cache that
//! decides when, and checks what comes back, is [`crate::cert`].

use base64::Engine as _;
use serde::Deserialize;

use crate::api::{json, ApiRequest};
use crate::outcome::{Outcome, UnknownReason};

/// `alipay.open.app.alipaycert.download`: Alipay's public-key certificate with this SN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlipayCertDownload {
    /// The SN a response named.
    pub alipay_cert_sn: String,
}

/// The answer of [`AlipayCertDownload`].
#[derive(Debug, Deserialize)]
pub struct AlipayCertDownloadResponse {
    /// Base64 of the certificate's PEM text.
    #[serde(default)]
    pub alipay_cert_content: Option<String>,
}

impl ApiRequest for AlipayCertDownload {
    const METHOD: &'static str = "alipay.open.app.alipaycert.download";
    type Response = AlipayCertDownloadResponse;
    /// The certificate file (PEM bytes), not yet checked.
    type Output = Vec<u8>;

    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        json(&serde_json::json!({ "alipay_cert_sn": self.alipay_cert_sn }))
    }

    fn finish(response: Self::Response) -> Outcome<Self::Output> {
        let content = response.alipay_cert_content.unwrap_or_default();
        match base64::engine::general_purpose::STANDARD.decode(content.trim()) {
            Ok(pem) if !pem.is_empty() => Outcome::Success(pem),
            _ => Outcome::Unknown(UnknownReason::Unparsable(
                "alipay_cert_content is not base64 of a certificate".into(),
            )),
        }
    }
}
