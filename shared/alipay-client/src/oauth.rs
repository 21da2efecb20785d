//! `alipay.system.oauth.token`: no `biz_content`; `grant_type` and `code`/`refresh_token` are
//! top-level parameters.

use serde::Deserialize;

use crate::api::ApiRequest;
use crate::outcome::{Outcome, UnknownReason};

/// The grant.
#[derive(Clone, PartialEq, Eq)]
pub enum Grant {
    /// `grant_type=authorization_code` with `code`.
    AuthorizationCode(String),
    /// `grant_type=refresh_token` with `refresh_token`.
    RefreshToken(String),
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes and tokens are credentials.
        match self {
            Grant::AuthorizationCode(_) => f.write_str("AuthorizationCode(<redacted>)"),
            Grant::RefreshToken(_) => f.write_str("RefreshToken(<redacted>)"),
        }
    }
}

/// `alipay.system.oauth.token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthToken {
    /// The grant.
    pub grant: Grant,
}

/// The token answer. `user_id` is absent for apps on the open_id standard.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct OauthTokenInfo {
    /// `user_id` (2088…), when the app still gets user ids.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub user_id: Option<String>,
    /// `open_id`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub open_id: Option<String>,
    /// `union_id`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub union_id: Option<String>,
    /// `access_token` (a credential: never logged).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub access_token: Option<String>,
    /// `expires_in` (seconds).
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub expires_in: Option<u64>,
    /// `refresh_token` (a credential: never logged).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub refresh_token: Option<String>,
    /// `re_expires_in` (seconds).
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub re_expires_in: Option<u64>,
    /// `auth_start`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub auth_start: Option<String>,
    /// `auth_token_type` (`permanent` when non-expiring).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub auth_token_type: Option<String>,
}

impl std::fmt::Debug for OauthTokenInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthTokenInfo")
            .field("user_id", &self.user_id)
            .field("open_id", &self.open_id)
            .field("union_id", &self.union_id)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("re_expires_in", &self.re_expires_in)
            .finish_non_exhaustive()
    }
}

impl ApiRequest for OauthToken {
    const METHOD: &'static str = "alipay.system.oauth.token";
    type Response = OauthTokenInfo;
    type Output = OauthTokenInfo;
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        Ok(None)
    }
    fn params(&self) -> Vec<(&'static str, String)> {
        match &self.grant {
            Grant::AuthorizationCode(code) => vec![
                ("grant_type", "authorization_code".into()),
                ("code", code.clone()),
            ],
            Grant::RefreshToken(token) => vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", token.clone()),
            ],
        }
    }
    fn finish(info: OauthTokenInfo) -> Outcome<OauthTokenInfo> {
        if info.user_id.is_none() && info.open_id.is_none() {
            return Outcome::Unknown(UnknownReason::Unparsable(
                "token answer has neither user_id nor open_id".into(),
            ));
        }
        Outcome::Success(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_is_top_level_and_redacted() {
        let req = OauthToken {
            grant: Grant::AuthorizationCode("secret-code".into()),
        };
        assert_eq!(req.biz_content().unwrap(), None);
        assert_eq!(
            req.params(),
            vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", "secret-code".to_string())
            ]
        );
        assert!(!format!("{req:?}").contains("secret-code"));
        let info: OauthTokenInfo =
            serde_json::from_str(r#"{"open_id":"o1","access_token":"tok","expires_in":1296000}"#)
                .unwrap();
        assert_eq!(info.expires_in, Some(1_296_000));
        assert!(!format!("{info:?}").contains("tok\""));
    }
}
