//! Short-lived session tokens for the mini-program's routes: `POST /session` issues one after an
//! Alipay `authCode` exchange, the `authorizer` function checks it.
//!
//! Format: `v1.<subject>.<expiry epoch seconds>.<base64url HMAC-SHA256 of the first three parts>`.
//! The subject is the Alipay user id (or the open id for open-id-only apps), which never contains a
//! dot. Verification is constant time; the key lives in Secrets Manager beside the RSA keys.

use aws_lc_rs::hmac;
use base64::Engine as _;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The HMAC key. Never shown by `Debug`.
pub struct SessionKey(hmac::Key);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// Why a token is refused (deliberately coarse: callers learn nothing useful).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not of the token's shape.
    #[error("malformed session token")]
    Malformed,
    /// The MAC does not verify.
    #[error("invalid session token")]
    BadMac,
    /// Past its expiry.
    #[error("expired session token")]
    Expired,
    /// The key is not base64 of at least 32 bytes.
    #[error("session key must be base64 of at least 32 bytes")]
    BadKey,
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user the token was issued to.
    pub subject: String,
    /// Expiry, epoch seconds.
    pub expires_at: u64,
}

impl SessionKey {
    /// Loads the key from base64 (at least 32 bytes).
    ///
    /// # Errors
    /// [`SessionError::BadKey`].
    pub fn from_base64(text: &str) -> Result<Self, SessionError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| SessionError::BadKey)?;
        if raw.len() < 32 {
            return Err(SessionError::BadKey);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &raw)))
    }

    /// Issues a token for `subject` valid until `now + ttl_secs`.
    ///
    /// # Errors
    /// [`SessionError::Malformed`] when the subject is empty or contains a dot.
    pub fn issue(&self, subject: &str, now: u64, ttl_secs: u64) -> Result<String, SessionError> {
        if subject.is_empty() || subject.contains('.') {
            return Err(SessionError::Malformed);
        }
        let body = format!("v1.{subject}.{}", now + ttl_secs);
        let tag = hmac::sign(&self.0, body.as_bytes());
        Ok(format!("{body}.{}", B64URL.encode(tag.as_ref())))
    }

    /// Verifies a token at `now`.
    ///
    /// # Errors
    /// [`SessionError`].
    pub fn verify(&self, token: &str, now: u64) -> Result<Session, SessionError> {
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        let (body, mac) = token.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let mut parts = body.split('.');
        let (Some("v1"), Some(subject), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SessionError::Malformed);
        };
        let mac = B64URL.decode(mac).map_err(|_| SessionError::Malformed)?;
        hmac::verify(&self.0, body.as_bytes(), &mac).map_err(|_| SessionError::BadMac)?;
        let expires_at: u64 = exp.parse().map_err(|_| SessionError::Malformed)?;
        if expires_at <= now {
            return Err(SessionError::Expired);
        }
        Ok(Session {
            subject: subject.to_string(),
            expires_at,
        })
    }
}

impl rewards_core::session::SessionTokens for SessionKey {
    fn issue(&self, subject: &str, now_secs: u64, ttl_secs: u64) -> Result<String, String> {
        SessionKey::issue(self, subject, now_secs, ttl_secs).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> SessionKey {
        SessionKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
            .unwrap()
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let token = key().issue("2088000000000001", 1000, 900).unwrap();
        let s = key().verify(&format!("Bearer {token}"), 1500).unwrap();
        assert_eq!(s.subject, "2088000000000001");
        assert_eq!(key().verify(&token, 1900), Err(SessionError::Expired));
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let token = key().issue("2088000000000001", 1000, 900).unwrap();
        let forged = token.replace("2088000000000001", "2088000000000002");
        assert_eq!(key().verify(&forged, 1001), Err(SessionError::BadMac));
        let other =
            SessionKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32]))
                .unwrap();
        assert_eq!(other.verify(&token, 1001), Err(SessionError::BadMac));
        for junk in ["", "v1", "v1.a.b", "v2.a.1.x", "v1.a.b.c.d"] {
            assert!(key().verify(junk, 0).is_err(), "{junk}");
        }
        assert_eq!(
            SessionKey::from_base64("c2hvcnQ=").unwrap_err(),
            SessionError::BadKey
        );
    }
}
