//! Asynchronous notification verification (`notify_url` posts and 应用网关 messages).
//!
//! The body is form-decoded exactly once (a second decode breaks `passback_params` and literal `%`),
//! values are never trimmed, and the Content-Type header is not consulted (Alipay sends a malformed
//! one). Verification tries V1 (`sign` and `sign_type` excluded: payment notifications) and then V2
//! (only `sign` excluded: gateway messages). SHA-1 (`sign_type=RSA`) is refused unless the
//! configuration allows it: accepting it is a security downgrade and must be a deliberate choice.

use crate::keys::AlipayPublicKey;
use crate::sign::{string_to_sign, SignType};

/// Form fields of a notification, in the order received, each key once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyParams(Vec<(String, String)>);

/// Why a notification is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// A decoded value or key is not UTF-8 (only `charset=utf-8` is supported).
    #[error("notification field is not valid UTF-8")]
    NotUtf8,
    /// A field occurs twice: the signed set would be ambiguous.
    #[error("notification field `{0}` occurs more than once")]
    DuplicateField(String),
    /// No `sign` field.
    #[error("notification has no sign")]
    MissingSign,
    /// `sign_type` is not RSA2 or RSA.
    #[error("notification sign_type is not supported")]
    UnsupportedSignType,
    /// `sign_type=RSA` (SHA-1) while the policy does not allow it.
    #[error("notification uses sign_type=RSA (SHA-1), which this deployment does not accept")]
    Sha1NotAllowed,
    /// Neither V1 nor V2 verifies.
    #[error("notification signature does not verify")]
    BadSignature,
}

/// Which verification rule accepted a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyRule {
    /// `sign` and `sign_type` excluded (payment notifications, return_url).
    V1,
    /// Only `sign` excluded (应用网关 messages).
    V2,
}

/// What the deployment accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyPolicy {
    /// Accept `sign_type=RSA` (SHA1withRSA). Off by default.
    pub allow_sha1: bool,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a space, `%XX` a byte, and a
/// `%` not followed by two hex digits stays as it is.
fn decode_component(raw: &[u8]) -> Result<String, NotifyError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| NotifyError::NotUtf8)
}

impl NotifyParams {
    /// Decodes a form body once.
    ///
    /// # Errors
    /// [`NotifyError::NotUtf8`] or [`NotifyError::DuplicateField`].
    pub fn parse_form(body: &[u8]) -> Result<Self, NotifyError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for piece in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &[][..]),
            };
            let key = decode_component(k)?;
            if fields.iter().any(|(existing, _)| *existing == key) {
                return Err(NotifyError::DuplicateField(key));
            }
            fields.push((key, decode_component(v)?));
        }
        Ok(Self(fields))
    }

    /// Builds from already-decoded pairs (for example a framework's parsed form).
    ///
    /// # Errors
    /// [`NotifyError::DuplicateField`].
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, NotifyError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            let k = k.into();
            if fields.iter().any(|(existing, _)| *existing == k) {
                return Err(NotifyError::DuplicateField(k));
            }
            fields.push((k, v.into()));
        }
        Ok(Self(fields))
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All fields in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The string a rule signs.
    pub fn signed_content(&self, rule: NotifyRule) -> String {
        let excluded: &[&str] = match rule {
            NotifyRule::V1 => &["sign", "sign_type"],
            NotifyRule::V2 => &["sign"],
        };
        string_to_sign(self.iter(), excluded)
    }

    /// Verifies with V1, then V2.
    ///
    /// # Errors
    /// Every [`NotifyError`] but the parsing ones.
    pub fn verify(
        &self,
        key: &AlipayPublicKey,
        policy: NotifyPolicy,
    ) -> Result<NotifyRule, NotifyError> {
        let sign = self
            .get("sign")
            .filter(|s| !s.is_empty())
            .ok_or(NotifyError::MissingSign)?;
        let sign_type = match self.get("sign_type").filter(|s| !s.is_empty()) {
            None => SignType::Rsa2,
            Some(t) => t.parse().map_err(|_| NotifyError::UnsupportedSignType)?,
        };
        if sign_type == SignType::Rsa && !policy.allow_sha1 {
            return Err(NotifyError::Sha1NotAllowed);
        }
        for rule in [NotifyRule::V1, NotifyRule::V2] {
            if key.verify(sign_type, self.signed_content(rule).as_bytes(), sign) {
                return Ok(rule);
            }
        }
        Err(NotifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_keeps_odd_percent_signs_and_spaces() {
        let p = NotifyParams::parse_form(b"a=1+2&b=%2541&c=100%&d=x%zz&e=&f&g=%E4%B8%AD ").unwrap();
        assert_eq!(p.get("a"), Some("1 2"));
        assert_eq!(p.get("b"), Some("%41"));
        assert_eq!(p.get("c"), Some("100%"));
        assert_eq!(p.get("d"), Some("x%zz"));
        assert_eq!(p.get("e"), Some(""));
        assert_eq!(p.get("f"), Some(""));
        assert_eq!(p.get("g"), Some("中 "));
    }

    #[test]
    fn duplicates_and_bad_utf8_are_refused() {
        assert_eq!(
            NotifyParams::parse_form(b"a=1&a=2"),
            Err(NotifyError::DuplicateField("a".into()))
        );
        assert_eq!(
            NotifyParams::parse_form(b"a=%FF"),
            Err(NotifyError::NotUtf8)
        );
    }
}
