//! Settings from the environment (names per `docs/CONVENTIONS.md`).

use aws_config::{BehaviorVersion, SdkConfig};
use rewards_core::AppId;
use std::time::Duration;

use crate::budget::{BudgetedHttpClient, CallBudget};

/// Function settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `ALIPAY_KEYS_SECRET_ID`.
    pub keys_secret_id: String,
    /// `ALIPAY_APP_ID`.
    pub app_id: AppId,
    /// `ALIPAY_GATEWAY_URL`.
    pub gateway_url: String,
    /// `PASS_CALLBACK_URL`.
    pub callback_url: String,
}

/// A missing or invalid variable (names the variable, never echoes secret values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not set or empty.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// Set but invalid.
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (for tests).
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let req = |k: &'static str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(k))
        };
        let url = |k: &'static str| -> Result<String, ConfigError> {
            let v = req(k)?;
            if v.starts_with("https://") || v.starts_with("http://") {
                Ok(v)
            } else {
                Err(ConfigError::Invalid(k, "must be an http(s) URL".into()))
            }
        };
        Ok(Config {
            table_name: req("TABLE_NAME")?,
            keys_secret_id: req("ALIPAY_KEYS_SECRET_ID")?,
            app_id: AppId::parse(&req("ALIPAY_APP_ID")?)
                .map_err(|e| ConfigError::Invalid("ALIPAY_APP_ID", e.to_string()))?,
            gateway_url: url("ALIPAY_GATEWAY_URL")?,
            callback_url: url("PASS_CALLBACK_URL")?,
        })
    }
}

/// The shared AWS config: behavior version latest, region/credentials/endpoint from the standard
/// chain (`AWS_ENDPOINT_URL` points it at moto locally), connect 2 s / attempt 5 s / operation 8 s
/// timeouts (the SDK has no operation timeout by default; 8 s fits in the 10 s function timeout).
/// Build it once per execution environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

/// [`sdk_config`] with every request also bounded by `budget` (what is left of the current
/// invocation), so a hanging DynamoDB or Secrets Manager ends in time for the function to answer.
pub async fn sdk_config_within(budget: CallBudget) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .http_client(BudgetedHttpClient::new(budget))
        .load()
        .await
}

pub(crate) fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_and_names_missing() {
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("TABLE_NAME", "t"),
            ("ALIPAY_KEYS_SECRET_ID", "s"),
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_GATEWAY_URL", "http://127.0.0.1:9999/gateway.do"),
            (
                "PASS_CALLBACK_URL",
                "https://x.example/alipay/pass-callback",
            ),
        ]);
        let c = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.app_id.as_str(), "2021000000000001");
        env.remove("TABLE_NAME");
        assert_eq!(
            Config::from_lookup(|k| env.get(k).map(|v| v.to_string())),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
        env.insert("TABLE_NAME", "t");
        env.insert("ALIPAY_APP_ID", "abc");
        assert!(matches!(
            Config::from_lookup(|k| env.get(k).map(|v| v.to_string())),
            Err(ConfigError::Invalid("ALIPAY_APP_ID", _))
        ));
    }
}
