//! Synchronous response verification.
//!
//! The signature covers the exact characters of the `<method>_response` value as they appear in the
//! body, so the span is cut from the raw text with the Java SDK's scanner (never re-serialised), checked
//! for a second copy of the root name after it (an injected, unsigned duplicate), verified, and only
//! then parsed.

use serde::de::DeserializeOwned;

use crate::aes::AesKey;
use crate::keys::AlipayPublicKey;
use crate::sign::SignType;

/// Which root node the signed span was found under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `<method with . replaced by _>_response`.
    Method,
    /// `error_response`: a gateway-level error.
    Error,
}

/// The span of the body that the platform signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedSpan<'a> {
    /// Which root it was found under.
    pub root: Root,
    /// The exact text: a JSON object, or for AES a JSON string literal including its quotes.
    pub content: &'a str,
    /// True when the value is a quoted string (AES ciphertext).
    pub encrypted: bool,
}

/// Why a response is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The body is empty.
    #[error("response body is empty")]
    EmptyBody,
    /// Neither `<method>_response` nor `error_response` occurs in the body.
    #[error("response has neither `{0}` nor `error_response`")]
    RootNotFound(String),
    /// The root name occurs again after the signed span: an unsigned copy was appended.
    #[error("response repeats `{0}` after the signed span (possible injection)")]
    DuplicateRoot(String),
    /// The body is not JSON, or its signed span is not what it should be.
    #[error("response body is not valid JSON")]
    NotJson,
    /// No signature (absent or empty). For an error response the fields are reported here, unverified:
    /// a caller must not treat them as the platform's word.
    #[error(
        "response is not signed (code {code:?}, sub_code {sub_code:?}); treated as unverified"
    )]
    Unsigned {
        /// Where the unsigned object was found.
        root: Root,
        /// `code` as found, unverified.
        code: Option<String>,
        /// `msg` as found, unverified.
        msg: Option<String>,
        /// `sub_code` as found, unverified.
        sub_code: Option<String>,
        /// `sub_msg` as found, unverified.
        sub_msg: Option<String>,
    },
    /// The signature does not verify with the configured Alipay public key.
    #[error("response signature does not verify")]
    BadSignature,
    /// Certificate mode: the response's `alipay_cert_sn` is missing or names another certificate.
    #[error("response alipay_cert_sn {got:?} does not match the configured Alipay certificate")]
    CertSnMismatch {
        /// What the response carried.
        got: Option<String>,
    },
    /// AES: the ciphertext did not decrypt, or no AES key is configured.
    #[error("encrypted response could not be decrypted")]
    Decrypt,
}

/// The root node name for an API method: `alipay.pass.instance.add` → `alipay_pass_instance_add_response`.
pub fn root_name(method: &str) -> String {
    let mut name = method.replace('.', "_");
    name.push_str("_response");
    name
}

/// Cuts the signed span out of `body` as the Java SDK does.
///
/// # Errors
/// [`ResponseError::EmptyBody`], [`ResponseError::RootNotFound`] or [`ResponseError::DuplicateRoot`].
pub fn extract_signed_span<'a>(
    body: &'a str,
    method: &str,
) -> Result<SignedSpan<'a>, ResponseError> {
    if body.trim().is_empty() {
        return Err(ResponseError::EmptyBody);
    }
    let method_root = root_name(method);
    let (root, name, name_at) = match body.find(&method_root) {
        Some(at) => (Root::Method, method_root.as_str(), at),
        None => match body.find("error_response") {
            Some(at) => (Root::Error, "error_response", at),
            None => return Err(ResponseError::RootNotFound(method_root)),
        },
    };
    let bytes = body.as_bytes();
    // Skip the closing quote of the name and the colon, then any whitespace, up to `{` or `"`.
    let mut begin = name_at + name.len() + 2;
    while begin < bytes.len() && bytes[begin] != b'{' && bytes[begin] != b'"' {
        begin += 1;
    }
    if begin >= bytes.len() {
        return Err(ResponseError::NotJson);
    }
    let encrypted = bytes[begin] == b'"';
    let end = if encrypted {
        // Base64 has no quotes: the value ends at the next quote, inclusive.
        bytes[begin + 1..]
            .iter()
            .position(|&b| b == b'"')
            .map_or(bytes.len(), |p| begin + 1 + p + 1)
    } else {
        object_end(bytes, begin)
    };
    if body[end..].contains(name) {
        return Err(ResponseError::DuplicateRoot(name.to_string()));
    }
    Ok(SignedSpan {
        root,
        content: &body[begin..end],
        encrypted,
    })
}

/// Index one past the brace that closes the object opening at `begin`; the body's end if none does.
/// A quote toggles "inside a string" only when preceded by an even number of backslashes.
fn object_end(bytes: &[u8], begin: usize) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut backslashes = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(begin) {
        match b {
            b'\\' => {
                backslashes += 1;
                continue;
            }
            b'"' if backslashes % 2 == 0 => in_string = !in_string,
            b'{' if !in_string => depth += 1,
            b'}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        backslashes = 0;
    }
    bytes.len()
}

/// The top-level `alipay_cert_sn` of a response body (certificate mode), if it has a non-empty one.
/// Unverified: it only says which certificate's key the signature must verify with.
pub fn alipay_cert_sn(body: &str) -> Option<String> {
    serde_json::from_str::<Envelope>(body)
        .ok()
        .and_then(|e| e.alipay_cert_sn)
        .filter(|sn| !sn.is_empty())
}

/// How responses of one app are verified.
#[derive(Debug, Clone)]
pub struct ResponseVerifier {
    key: AlipayPublicKey,
    expected_cert_sn: Option<String>,
    aes: Option<AesKey>,
}

/// A response whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse {
    /// Which root the content came from.
    pub root: Root,
    /// The verified JSON object text (decrypted when the response was encrypted).
    pub content: String,
    /// `alipay_cert_sn`, when the response carried one.
    pub alipay_cert_sn: Option<String>,
}

impl VerifiedResponse {
    /// Parses the verified content.
    ///
    /// # Errors
    /// The `serde_json` error when the content does not fit `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.content)
    }
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    sign: Option<String>,
    #[serde(default)]
    alipay_cert_sn: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct ErrorFields {
    code: Option<String>,
    msg: Option<String>,
    sub_code: Option<String>,
    sub_msg: Option<String>,
}

impl ResponseVerifier {
    /// Public-key mode.
    pub fn new(key: AlipayPublicKey) -> Self {
        Self {
            key,
            expected_cert_sn: None,
            aes: None,
        }
    }

    /// Certificate mode: responses must carry this `alipay_cert_sn` (the SN of the Alipay public-key
    /// certificate whose key is `key`).
    pub fn with_cert_sn(mut self, alipay_cert_sn: impl Into<String>) -> Self {
        self.expected_cert_sn = Some(alipay_cert_sn.into());
        self
    }

    /// Decrypts AES-encrypted responses with this key.
    pub fn with_aes(mut self, aes: AesKey) -> Self {
        self.aes = Some(aes);
        self
    }

    /// Extracts, verifies, decrypts if needed. Parse the result only after this succeeds.
    ///
    /// # Errors
    /// Every [`ResponseError`]; an unsigned error response is [`ResponseError::Unsigned`].
    pub fn verify(&self, body: &str, method: &str) -> Result<VerifiedResponse, ResponseError> {
        let span = extract_signed_span(body, method)?;
        let envelope: Envelope = serde_json::from_str(body).map_err(|_| ResponseError::NotJson)?;
        let sign = envelope.sign.filter(|s| !s.is_empty());
        let Some(sign) = sign else {
            let fields: ErrorFields = if span.encrypted {
                ErrorFields::default()
            } else {
                serde_json::from_str(span.content).unwrap_or_default()
            };
            return Err(ResponseError::Unsigned {
                root: span.root,
                code: fields.code,
                msg: fields.msg,
                sub_code: fields.sub_code,
                sub_msg: fields.sub_msg,
            });
        };
        if let Some(expected) = &self.expected_cert_sn {
            if envelope.alipay_cert_sn.as_deref() != Some(expected.as_str()) {
                return Err(ResponseError::CertSnMismatch {
                    got: envelope.alipay_cert_sn,
                });
            }
        }
        let ok = self.key.verify(SignType::Rsa2, span.content.as_bytes(), &sign)
            // Java retries once with `\/` unescaped: some gateways sign before escaping slashes.
            || (span.content.contains("\\/")
                && self.key.verify(
                    SignType::Rsa2,
                    span.content.replace("\\/", "/").as_bytes(),
                    &sign,
                ));
        if !ok {
            return Err(ResponseError::BadSignature);
        }
        let content = if span.encrypted {
            let cipher: String =
                serde_json::from_str(span.content).map_err(|_| ResponseError::NotJson)?;
            let aes = self.aes.as_ref().ok_or(ResponseError::Decrypt)?;
            aes.decrypt(&cipher).map_err(|_| ResponseError::Decrypt)?
        } else {
            span.content.to_string()
        };
        Ok(VerifiedResponse {
            root: span.root,
            content,
            alipay_cert_sn: envelope.alipay_cert_sn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(body: &str) -> Result<&str, ResponseError> {
        extract_signed_span(body, "a.b").map(|s| s.content)
    }

    #[test]
    fn the_scanner_handles_nesting_strings_and_escapes() {
        assert_eq!(
            span(r#"{"a_b_response":{"x":{"y":[1,{"z":2}]}},"sign":"s"}"#),
            Ok(r#"{"x":{"y":[1,{"z":2}]}}"#)
        );
        assert_eq!(
            span(r#"{"a_b_response":{"x":"}{"},"sign":"s"}"#),
            Ok(r#"{"x":"}{"}"#)
        );
        assert_eq!(
            span(r#"{"a_b_response":{"x":"\"}"},"sign":"s"}"#),
            Ok(r#"{"x":"\"}"}"#)
        );
        assert_eq!(
            span(r#"{"a_b_response":{"x":"\\"},"sign":"s"}"#),
            Ok(r#"{"x":"\\"}"#)
        );
        assert_eq!(
            span(r#"{"a_b_response":{"x":"\\\"}"},"sign":"s"}"#),
            Ok(r#"{"x":"\\\"}"}"#)
        );
        assert_eq!(
            span("{\"a_b_response\" :\n {\"x\" : 1}\n,\"sign\":\"s\"}"),
            Ok("{\"x\" : 1}")
        );
        assert_eq!(
            span(r#"{"a_b_response":"QUJD","sign":"s"}"#),
            Ok(r#""QUJD""#)
        );
        assert_eq!(
            span(r#"{"error_response":{"code":"40002"},"sign":"s"}"#),
            Ok(r#"{"code":"40002"}"#)
        );
    }

    #[test]
    fn a_repeated_root_is_rejected() {
        assert_eq!(
            span(r#"{"a_b_response":{"x":1},"sign":"s","a_b_response":{"x":2}}"#),
            Err(ResponseError::DuplicateRoot("a_b_response".into()))
        );
    }

    #[test]
    fn empty_and_rootless_bodies_are_errors() {
        assert_eq!(span("  "), Err(ResponseError::EmptyBody));
        assert_eq!(
            span("{}"),
            Err(ResponseError::RootNotFound("a_b_response".into()))
        );
        assert_eq!(span(r#"{"a_b_response""#), Err(ResponseError::NotJson));
    }
}
