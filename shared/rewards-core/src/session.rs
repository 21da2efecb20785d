//! Mini-program sign-in: an auth code from `my.getAuthCode` is exchanged with Alipay for the user's
//! identity, and a short-lived session token is issued for it. The code and Alipay's access token
//! are never logged or returned.

use crate::error::{domain_error, ErrorKind};
use crate::ports::{Clock, GatewayFailure, GatewayOutcome};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How long a session token lives unless the deployment says otherwise (`SessionTokenLifetime`).
pub const SESSION_TTL: Duration = Duration::from_secs(15 * 60);

/// The shortest and longest lifetimes a deployment may choose: under a minute a user signs in
/// again during one claim page; over a day a stolen token is worth too much.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(24 * 60 * 60);

/// A mini-program auth code: 1..=128 of `[A-Za-z0-9_-]`. Its text is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCode(String);

impl std::fmt::Debug for AuthCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthCode(…)")
    }
}

impl AuthCode {
    /// Checks the shape of a code (`None`: the caller sent none).
    ///
    /// # Errors
    /// [`SessionError::InvalidAuthCode`].
    pub fn parse(text: Option<&str>) -> Result<Self, SessionError> {
        text.filter(|c| {
            !c.is_empty()
                && c.len() <= 128
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .map(|c| AuthCode(c.to_string()))
        .ok_or(SessionError::InvalidAuthCode)
    }

    /// The code, for the gateway call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Who Alipay says the code belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlipayIdentity {
    /// The Alipay user id (`2088…`), when the app is granted it.
    pub user_id: Option<String>,
    /// The open id, for open-id apps.
    pub open_id: Option<String>,
}

/// `alipay.system.oauth.token` with `grant_type=authorization_code`.
#[async_trait]
pub trait AuthCodeGateway: Send + Sync {
    /// Exchanges the code for the identity (the access token is dropped, never kept).
    async fn exchange_auth_code(&self, code: &AuthCode) -> GatewayOutcome<AlipayIdentity>;
}

/// Signs session tokens.
pub trait SessionTokens: Send + Sync {
    /// A token for `subject`, valid from `now_secs` for `ttl_secs`.
    ///
    /// # Errors
    /// The subject cannot be put in a token.
    fn issue(&self, subject: &str, now_secs: u64, ttl_secs: u64) -> Result<String, String>;
}

/// A session issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSession {
    /// The signed token.
    pub token: String,
    /// When it expires (epoch seconds).
    pub expires_at: u64,
    /// The subject: the user id, or the open id for open-id-only apps.
    pub user_id: String,
}

/// Why no session was issued.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The code is missing or malformed.
    #[error("/authCode must be the code from my.getAuthCode")]
    InvalidAuthCode,
    /// Alipay refused the code (used, expired, another app's).
    #[error("Alipay refused the auth code; get a new one")]
    Refused(GatewayFailure),
    /// Alipay did not answer, or the call was not sent; retrying with a new code is safe.
    #[error("Alipay is unavailable; retry with a new auth code")]
    Unavailable(String),
    /// Alipay's answer names no user.
    #[error("Alipay returned neither user_id nor open_id")]
    NoIdentity,
    /// Alipay's user identity cannot be put in a token.
    #[error("Alipay returned an unusable user identity")]
    UnusableIdentity,
}

domain_error!(
    SessionError {
        SessionError::InvalidAuthCode => "invalid_auth_code", ErrorKind::BadInput;
        SessionError::Refused(_) => "auth_code_refused", ErrorKind::Unauthorized;
        SessionError::Unavailable(_) => "alipay_unavailable", ErrorKind::Unavailable;
        SessionError::NoIdentity | SessionError::UnusableIdentity =>
            "no_user_identity", ErrorKind::BadGateway;
    }
);

/// Exchanges auth codes and issues session tokens.
pub struct SessionService {
    gateway: Arc<dyn AuthCodeGateway>,
    tokens: Arc<dyn SessionTokens>,
    clock: Arc<dyn Clock>,
    lifetime: Duration,
}

impl SessionService {
    /// A service over `alipay.system.oauth.token` (`gateway`) and the token signer, issuing tokens
    /// that live `lifetime` (clamped into [`SESSION_TTL_RANGE`]).
    pub fn new(
        gateway: Arc<dyn AuthCodeGateway>,
        tokens: Arc<dyn SessionTokens>,
        clock: Arc<dyn Clock>,
        lifetime: Duration,
    ) -> Self {
        let lifetime = lifetime.clamp(*SESSION_TTL_RANGE.start(), *SESSION_TTL_RANGE.end());
        SessionService {
            gateway,
            tokens,
            clock,
            lifetime,
        }
    }

    /// Exchanges the code and issues a token for the user (passes are keyed by the Alipay user id;
    /// open-id-only apps get their open id as the subject).
    ///
    /// # Errors
    /// [`SessionError`].
    #[tracing::instrument(skip_all)]
    pub async fn sign_in(&self, code: &AuthCode) -> Result<IssuedSession, SessionError> {
        let identity = match self.gateway.exchange_auth_code(code).await {
            GatewayOutcome::Success(identity) => identity,
            GatewayOutcome::Failed(f) => {
                tracing::info!(code = %f.code, sub_code = ?f.sub_code, "auth code refused");
                return Err(SessionError::Refused(f));
            }
            GatewayOutcome::Unknown(reason) | GatewayOutcome::Throttled(reason) => {
                tracing::warn!(%reason, "oauth token outcome unknown or not sent");
                return Err(SessionError::Unavailable(reason));
            }
        };
        let subject = identity
            .user_id
            .or(identity.open_id)
            .ok_or(SessionError::NoIdentity)?;
        let now = u64::try_from(self.clock.now().millis() / 1000).unwrap_or(0);
        let ttl = self.lifetime.as_secs();
        let token = self
            .tokens
            .issue(&subject, now, ttl)
            .map_err(|_| SessionError::UnusableIdentity)?;
        Ok(IssuedSession {
            token,
            expires_at: now + ttl,
            user_id: subject,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::DomainError;
    use crate::time::Timestamp;

    struct Fixed(GatewayOutcome<AlipayIdentity>);
    #[async_trait]
    impl AuthCodeGateway for Fixed {
        async fn exchange_auth_code(&self, code: &AuthCode) -> GatewayOutcome<AlipayIdentity> {
            assert_eq!(code.expose(), "code_1");
            self.0.clone()
        }
    }
    struct Plain;
    impl SessionTokens for Plain {
        fn issue(&self, subject: &str, now: u64, ttl: u64) -> Result<String, String> {
            if subject.contains('.') {
                return Err("no dots".into());
            }
            Ok(format!("{subject}.{now}.{ttl}"))
        }
    }
    struct At;
    #[async_trait]
    impl Clock for At {
        fn now(&self) -> Timestamp {
            Timestamp(1_000_500)
        }
        async fn sleep(&self, _: Duration) {}
    }

    async fn sign_in(
        answer: GatewayOutcome<AlipayIdentity>,
    ) -> Result<IssuedSession, SessionError> {
        let svc = SessionService::new(
            Arc::new(Fixed(answer)),
            Arc::new(Plain),
            Arc::new(At),
            SESSION_TTL,
        );
        svc.sign_in(&AuthCode::parse(Some("code_1")).unwrap()).await
    }

    fn identity(user: Option<&str>, open: Option<&str>) -> GatewayOutcome<AlipayIdentity> {
        GatewayOutcome::Success(AlipayIdentity {
            user_id: user.map(Into::into),
            open_id: open.map(Into::into),
        })
    }

    #[test]
    fn auth_codes_are_checked_and_never_printed() {
        for bad in [
            None,
            Some(""),
            Some("a b"),
            Some("ü"),
            Some(&*"x".repeat(129)),
        ] {
            assert_eq!(
                AuthCode::parse(bad).unwrap_err().code(),
                "invalid_auth_code"
            );
        }
        let code = AuthCode::parse(Some("Ab_9-")).unwrap();
        assert!(!format!("{code:?}").contains("Ab_9"));
    }

    #[tokio::test]
    async fn the_user_id_is_the_subject_else_the_open_id() {
        let s = sign_in(identity(Some("2088001"), Some("o1")))
            .await
            .unwrap();
        assert_eq!(s.user_id, "2088001");
        assert_eq!(s.token, "2088001.1000.900");
        assert_eq!(s.expires_at, 1000 + 15 * 60);
        let s = sign_in(identity(None, Some("o1"))).await.unwrap();
        assert_eq!(s.user_id, "o1");
    }

    #[tokio::test]
    async fn the_deployment_chooses_the_lifetime_within_its_bounds() {
        for (asked, lives) in [(3_600, 3_600), (1, 60), (10 * 24 * 3_600, 24 * 3_600)] {
            let svc = SessionService::new(
                Arc::new(Fixed(identity(Some("2088000000000001"), None))),
                Arc::new(Plain),
                Arc::new(At),
                Duration::from_secs(asked),
            );
            let s = svc
                .sign_in(&AuthCode::parse(Some("code_1")).unwrap())
                .await
                .unwrap();
            assert_eq!(s.expires_at, 1000 + lives, "asked {asked} s");
            assert!(s.token.ends_with(&format!(".{lives}")), "{}", s.token);
        }
    }

    #[tokio::test]
    async fn refusals_and_unknown_outcomes_have_stable_codes() {
        let kind_and_code = |e: SessionError| (e.kind().http_status(), e.code());
        let refused = GatewayOutcome::Failed(GatewayFailure {
            code: "40002".into(),
            sub_code: Some("isv.code-invalid".into()),
            sub_msg: None,
            error_msg: None,
        });
        let cases = [
            (refused, (401, "auth_code_refused")),
            (
                GatewayOutcome::Unknown("timeout".into()),
                (503, "alipay_unavailable"),
            ),
            (identity(None, None), (502, "no_user_identity")),
            (identity(Some("a.b"), None), (502, "no_user_identity")),
        ];
        for (answer, expected) in cases {
            assert_eq!(kind_and_code(sign_in(answer).await.unwrap_err()), expected);
        }
    }
}
