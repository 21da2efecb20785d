//! Configuration: the environment variables read beyond `rewards_aws::Config` (reason maps, the
//! transfer rail's settings, claim and send timing), parsed and checked when the app loads (the Alipay
//! timeout when its client is built).

use std::time::Duration;

use alipay_client::DEFAULT_TIMEOUT;
use rewards_core::claim::ClaimConfig;
use rewards_core::payout::{RailName, Reason, SendConfig, TransferSettings};
use rewards_core::ports::{SceneReportInfo, TransferProduct};
use rewards_core::session::{SESSION_TTL, SESSION_TTL_RANGE};
use rewards_core::{AmountFen, CrowdNo};
use std::collections::BTreeMap;

/// Why a function could not start. Never carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Configuration (environment) is missing or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The keys could not be loaded.
    #[error("keys: {0}")]
    Keys(String),
    /// The Alipay client could not be built.
    #[error("alipay client: {0}")]
    Client(String),
}

/// `reason=value` pairs of an environment variable, each value parsed by `parse`.
pub(crate) fn reason_map<T>(
    name: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<BTreeMap<Reason, T>, StartupError> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (reason, value) = pair.split_once('=').ok_or_else(|| {
            StartupError::Config(format!("{name} entry `{pair}` is not reason=value"))
        })?;
        let reason = Reason::parse(reason.trim())
            .ok_or_else(|| StartupError::Config(format!("{name}: unknown reason `{reason}`")))?;
        let value = parse(value.trim()).ok_or_else(|| {
            StartupError::Config(format!("{name}: `{}` is not valid", value.trim()))
        })?;
        out.insert(reason, value);
    }
    Ok(out)
}

pub(crate) fn env_text(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The session token lifetime: `SESSION_TTL_SECONDS` (template parameter `SessionTokenLifetime`), else
/// [`SESSION_TTL`]. A value outside [`SESSION_TTL_RANGE`] stops the function at start rather than
/// issuing tokens of a lifetime nobody chose.
pub(crate) fn session_lifetime(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Duration, StartupError> {
    let Some(text) = env("SESSION_TTL_SECONDS") else {
        return Ok(SESSION_TTL);
    };
    text.parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .filter(|d| SESSION_TTL_RANGE.contains(d))
        .ok_or_else(|| {
            StartupError::Config(format!(
                "SESSION_TTL_SECONDS must be whole seconds from {} to {}",
                SESSION_TTL_RANGE.start().as_secs(),
                SESSION_TTL_RANGE.end().as_secs()
            ))
        })
}

/// The transfer rail's settings from the environment, checked (None: `TRANSFER_PRODUCT_CODE` unset).
pub(crate) fn transfer_settings(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<TransferSettings>, StartupError> {
    let Some(product) = env("TRANSFER_PRODUCT_CODE") else {
        return Ok(None);
    };
    let product = TransferProduct::parse(&product).ok_or_else(|| {
        StartupError::Config(
            "TRANSFER_PRODUCT_CODE must be STD_RED_PACKET or TRANS_ACCOUNT_NO_PWD".into(),
        )
    })?;
    let required = |name: &str| {
        env(name).ok_or_else(|| {
            StartupError::Config(format!(
                "{name} is required when TRANSFER_PRODUCT_CODE is set"
            ))
        })
    };
    let yuan = |text: &str| AmountFen::parse_yuan(text).ok().filter(|a| a.fen() > 0);
    let settings = TransferSettings {
        product,
        order_title: required("TRANSFER_ORDER_TITLE")?,
        scene_name: env("TRANSFER_SCENE_NAME").unwrap_or_else(|| "现金营销".to_owned()),
        scene_report_infos: SceneReportInfo::cash_marketing(
            required("TRANSFER_ACTIVITY_NAME")?,
            required("TRANSFER_REWARD_DESCRIPTION")?,
        ),
        notify_url: env("ALIPAY_NOTIFY_URL"),
        max_per_payout: match env("TRANSFER_MAX_AMOUNT") {
            Some(t) => yuan(&t).ok_or_else(|| {
                StartupError::Config("TRANSFER_MAX_AMOUNT must be a positive yuan amount".into())
            })?,
            None => DEFAULT_TRANSFER_CAP,
        },
        default_amounts: reason_map(
            "TRANSFER_REASON_AMOUNTS",
            &env("TRANSFER_REASON_AMOUNTS").unwrap_or_default(),
            yuan,
        )?,
    };
    settings
        .check()
        .map_err(|e| StartupError::Config(e.to_string()))?;
    Ok(Some(settings))
}

/// The per-payout cap when `TRANSFER_MAX_AMOUNT` is unset: 200 yuan.
pub const DEFAULT_TRANSFER_CAP: AmountFen = AmountFen::from_fen_const(20_000);

/// The rail per reason; a reason mapped to `transfer` needs the transfer rail configured.
pub(crate) fn reason_rails(
    text: &str,
    transfer: Option<&TransferSettings>,
) -> Result<BTreeMap<Reason, RailName>, StartupError> {
    let rails = reason_map("REASON_RAILS", text, RailName::parse)?;
    if transfer.is_none() && rails.values().any(|r| *r == RailName::Transfer) {
        return Err(StartupError::Config(
            "REASON_RAILS maps a reason to transfer but TRANSFER_PRODUCT_CODE is not set".into(),
        ));
    }
    Ok(rails)
}

pub(crate) fn reason_campaigns(text: &str) -> Result<BTreeMap<Reason, CrowdNo>, StartupError> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (reason, crowd) = pair.split_once('=').ok_or_else(|| {
            StartupError::Config(format!(
                "REASON_CAMPAIGNS entry `{pair}` is not reason=crowdNo"
            ))
        })?;
        let reason = Reason::parse(reason.trim()).ok_or_else(|| {
            StartupError::Config(format!("REASON_CAMPAIGNS: unknown reason `{reason}`"))
        })?;
        let crowd = CrowdNo::parse(crowd.trim())
            .map_err(|e| StartupError::Config(format!("REASON_CAMPAIGNS: {e}")))?;
        out.insert(reason, crowd);
    }
    Ok(out)
}

/// An optional duration in milliseconds from the environment (unset or empty = `None`).
pub(crate) fn env_duration_ms(name: &str) -> Result<Option<Duration>, StartupError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| {
                StartupError::Config(format!("{name} must be a positive number of milliseconds"))
            }),
        _ => Ok(None),
    }
}

/// [`ClaimConfig::default`] with the `CLAIM_*` overrides.
pub(crate) fn claim_config() -> Result<ClaimConfig, StartupError> {
    let mut c = ClaimConfig::default();
    if let Ok(v) = std::env::var("CLAIM_TEMPLATE_FAILURE_LIMIT") {
        if !v.trim().is_empty() {
            c.template_budget.limit =
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        StartupError::Config(
                            "CLAIM_TEMPLATE_FAILURE_LIMIT must be a positive number".into(),
                        )
                    })?;
        }
    }
    if let Some(d) = env_duration_ms("CLAIM_RECHECK_MS")? {
        c.recheck = d;
    }
    Ok(c)
}

/// [`SendConfig::default`] with the `PAYOUT_*_MS` overrides. With the transfer rail on, one hold
/// of the lease may make two Alipay calls in a row (common.query, then uni.transfer with the same
/// number), so the lease must cover both.
pub(crate) fn send_config(transfer_rail: bool) -> Result<SendConfig, StartupError> {
    let d = SendConfig::default();
    let calls = if transfer_rail { 2 } else { 1 };
    checked_send_config(
        SendConfig {
            lease: env_duration_ms("PAYOUT_LEASE_MS")?.unwrap_or(d.lease),
            backoff_base: env_duration_ms("PAYOUT_BACKOFF_MS")?.unwrap_or(d.backoff_base),
            backoff_cap: env_duration_ms("PAYOUT_BACKOFF_CAP_MS")?.unwrap_or(d.backoff_cap),
            max_attempts: d.max_attempts,
        },
        alipay_timeout()?.saturating_mul(calls),
    )
    .map_err(|e| match e {
        StartupError::Config(m) if transfer_rail => StartupError::Config(format!(
            "{m} (with the transfer rail on, twice the timeout: a probe may query, then send)"
        )),
        other => other,
    })
}

pub(crate) fn alipay_timeout() -> Result<Duration, StartupError> {
    Ok(env_duration_ms("ALIPAY_TIMEOUT_MS")?.unwrap_or(DEFAULT_TIMEOUT))
}

/// A configuration that would let our own calls for one out_biz_no overlap never serves.
pub(crate) fn checked_send_config(
    config: SendConfig,
    alipay_timeout: Duration,
) -> Result<SendConfig, StartupError> {
    config.check(alipay_timeout).map_err(|e| {
        tracing::error!(error = %e, "refusing to start: payout configuration");
        StartupError::Config(e.to_string())
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_shorter_than_a_call_refuses_to_start() {
        let short = SendConfig {
            lease: Duration::from_secs(2),
            ..SendConfig::default()
        };
        let err = checked_send_config(short, Duration::from_secs(6)).unwrap_err();
        assert!(err.to_string().contains("PAYOUT_LEASE_MS"), "{err}");
        assert!(checked_send_config(SendConfig::default(), DEFAULT_TIMEOUT).is_ok());
    }

    #[test]
    fn the_session_lifetime_is_the_parameter_or_fifteen_minutes() {
        assert_eq!(session_lifetime(env(&[])).unwrap(), SESSION_TTL);
        let hour = [("SESSION_TTL_SECONDS", "3600")];
        assert_eq!(
            session_lifetime(env(&hour)).unwrap(),
            Duration::from_secs(3600)
        );
        for bad in ["59", "86401", "15m", "-1"] {
            let e = session_lifetime(env(&[("SESSION_TTL_SECONDS", bad)])).unwrap_err();
            assert!(e.to_string().contains("SESSION_TTL_SECONDS"), "{bad}: {e}");
        }
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const TRANSFER_ENV: [(&str, &str); 5] = [
        ("TRANSFER_PRODUCT_CODE", "STD_RED_PACKET"),
        ("TRANSFER_ORDER_TITLE", "积分兑换红包"),
        ("TRANSFER_ACTIVITY_NAME", "积分兑换"),
        ("TRANSFER_REWARD_DESCRIPTION", "积分兑换现金红包"),
        ("TRANSFER_REASON_AMOUNTS", "referral=0.50"),
    ];

    #[test]
    fn the_transfer_rail_is_configured_and_checked_at_init() {
        assert_eq!(transfer_settings(env(&[])).unwrap(), None);
        let s = transfer_settings(env(&TRANSFER_ENV)).unwrap().unwrap();
        assert_eq!(s.scene_name, "现金营销");
        assert_eq!(s.max_per_payout, DEFAULT_TRANSFER_CAP);
        assert_eq!(
            s.default_amounts.get(&Reason::Referral).map(|a| a.fen()),
            Some(50)
        );
        let mut missing = TRANSFER_ENV.to_vec();
        missing.retain(|(k, _)| *k != "TRANSFER_ACTIVITY_NAME");
        let err = transfer_settings(env(&missing)).unwrap_err().to_string();
        assert!(err.contains("TRANSFER_ACTIVITY_NAME"), "{err}");
        let mut over_cap = TRANSFER_ENV.to_vec();
        over_cap.push(("TRANSFER_MAX_AMOUNT", "0.20"));
        over_cap[4] = ("TRANSFER_REASON_AMOUNTS", "referral=0.50");
        assert!(transfer_settings(env(&over_cap)).is_err());
        let mut bad_product = TRANSFER_ENV.to_vec();
        bad_product[0] = ("TRANSFER_PRODUCT_CODE", "FAST_MONEY");
        assert!(transfer_settings(env(&bad_product)).is_err());
        assert!(reason_rails("points_exchange=transfer", None).is_err());
        assert!(reason_rails("points_exchange=wire", Some(&s)).is_err());
        assert_eq!(
            reason_rails("points_exchange=transfer", Some(&s))
                .unwrap()
                .get(&Reason::PointsExchange),
            Some(&RailName::Transfer)
        );
    }
}
