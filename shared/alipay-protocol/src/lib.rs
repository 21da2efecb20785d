//! # alipay-protocol
//!
//! The Alipay OpenAPI 2.0 gateway protocol, byte for byte as the official SDKs speak it, with no I/O:
//!
//! - [`keys`]: the app private key and Alipay's public key from PEM or base64, PKCS#1/PKCS#8/SPKI.
//! - [`request`]: the string to sign, RSA2 signatures, the wire form and the client order string.
//! - [`response`]: the signed span of a sync response, cut as the Java SDK does, then verified.
//! - [`notify`]: notification form parsing and V1/V2 verification.
//! - [`cert`]: certificate-mode serial numbers; [`aes`]: `encrypt_type=AES` content encryption.
//!
//! ```
//! use alipay_protocol::{keys::{AppPrivateKey, AlipayPublicKey}, request::*, response::ResponseVerifier,
//!     time::GatewayTimestamp};
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys/");
//! # let app_pem = std::fs::read_to_string(format!("{dir}app_private_pkcs1.pem")).unwrap();
//! # let alipay_pem = std::fs::read_to_string(format!("{dir}alipay_public_spki.pem")).unwrap();
//! let key = AppPrivateKey::from_text(&app_pem)?;            // parse once, keep for the process
//! let app = AppConfig { app_id: "2021000000000001".into(), cert_mode: None };
//! let request = UnsignedRequest {
//!     method: "alipay.trade.query",
//!     biz_content: Some(r#"{"out_trade_no":"20240102000001"}"#),
//!     ..Default::default()
//! };
//! let signed = sign_request(&app, &key, None, &request,
//!     GatewayTimestamp::parse("2024-01-02 03:04:05")?)?;
//! assert!(signed.string_to_sign().starts_with("app_id=2021000000000001&biz_content="));
//! // POST signed.form_body() to signed.url("https://openapi.alipay.com/gateway.do"), then:
//! let verifier = ResponseVerifier::new(AlipayPublicKey::from_text(&alipay_pem)?);
//! # let body = "{\"alipay_trade_query_response\":{\"code\":\"10000\"}}";
//! let outcome = verifier.verify(body, "alipay.trade.query"); // Err(Unsigned{..}) here: no sign
//! assert!(outcome.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod aes;
pub mod cert;
#[cfg(feature = "test-fixtures")]
pub mod fixtures;
pub mod keys;
pub mod notify;
pub mod request;
pub mod response;
pub mod sign;
pub mod time;

/// Standard base64 with padding, as every Alipay SDK writes signatures.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub use keys::{AlipayPublicKey, AppPrivateKey, KeyError};
pub use notify::{NotifyError, NotifyParams, NotifyPolicy, NotifyRule};
pub use request::{sign_request, AppConfig, SignedRequest, UnsignedRequest};
pub use response::{ResponseError, ResponseVerifier, VerifiedResponse};
pub use sign::SignType;
pub use time::GatewayTimestamp;
