//! Behaviour switches, set by tests through `POST /sim/settings`: how the simulated platform
//! behaves where the real one is not documented or may be stricter than we hope. Each switch has a
//! default that matches the first simulator; `DELETE /sim/faults` resets them all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What `alipay.pass.instance.add` answers when a template's serial number was already issued to
/// the **same** user (to another user it is always `SERIAL_NUMBER_REPEAT`). The platform does not
/// document it, so both answers must be survivable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatedSerial {
    /// The earlier pass, as a success (a replay; checked before the token, so a retry with a spent
    /// or another token succeeds). The default.
    #[default]
    SamePass,
    /// `success=false` with `errorCode` `SERIAL_NUMBER_REPEAT` (the pass stays issued; the caller
    /// learns nothing about it but that the serial is taken).
    Refuse,
}

/// The switches (`GET /sim/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// When `cash.trigger` replays a known `out_biz_no` (`triggerReplay`).
    pub trigger_replay: TriggerReplay,
    /// `"same_pass"` (default) or `"refuse"`: see [`RepeatedSerial`].
    pub repeated_serial: RepeatedSerial,
    /// Transfer rail: the payer's balance in fen (`payerBalanceFen`); null (default) = unlimited.
    /// Each paid transfer lowers it; a transfer above it is `BALANCE_IS_NOT_ENOUGH`.
    pub payer_balance_fen: Option<i64>,
    /// Transfer rail: how many times an order.changed notification is posted until the receiver
    /// answers `success` (`notifyAttempts`, default 3).
    pub notify_attempts: u32,
    /// A launch: at most this many executed calls of an API (by method name) in any one-second
    /// window; the others are answered `40005 Call Limited` and not executed (`qpsLimits`, default
    /// none). See [`crate::calls`].
    pub qps_limits: BTreeMap<String, u32>,
    /// Every gateway answer waits this long first (`latencyMs`, the real round trip; default 0).
    pub latency_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            trigger_replay: TriggerReplay::default(),
            repeated_serial: RepeatedSerial::default(),
            payer_balance_fen: None,
            notify_attempts: DEFAULT_NOTIFY_ATTEMPTS,
            qps_limits: BTreeMap::new(),
            latency_ms: 0,
        }
    }
}

/// See [`Settings::notify_attempts`].
pub const DEFAULT_NOTIFY_ATTEMPTS: u32 = 3;

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// A partial update as posted: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    /// `triggerReplay`.
    pub trigger_replay: Option<TriggerReplay>,
    /// See [`Settings::repeated_serial`].
    pub repeated_serial: Option<RepeatedSerial>,
    /// Certificate mode: `true` rotates Alipay's certificate now (a new key and a new certificate
    /// sign every answer from then on). An action, not a switch: nothing to reset.
    pub rotate_alipay_cert: Option<bool>,
    /// See [`Settings::payer_balance_fen`] (`null` sets it back to unlimited).
    #[serde(default, deserialize_with = "present")]
    pub payer_balance_fen: Option<Option<i64>>,
    /// See [`Settings::notify_attempts`].
    pub notify_attempts: Option<u32>,
    /// See [`Settings::qps_limits`]: replaces every limit (`{}` clears them).
    pub qps_limits: Option<BTreeMap<String, u32>>,
    /// See [`Settings::latency_ms`].
    pub latency_ms: Option<u64>,
}

impl Settings {
    /// Applies the fields present in `patch`.
    pub fn apply(&mut self, patch: SettingsPatch) {
        let SettingsPatch {
            trigger_replay,
            repeated_serial,
            rotate_alipay_cert: _,
            payer_balance_fen,
            notify_attempts,
            qps_limits,
            latency_ms,
        } = patch;
        if let Some(v) = qps_limits {
            self.qps_limits = v;
        }
        if let Some(v) = latency_ms {
            self.latency_ms = v;
        }
        if let Some(v) = payer_balance_fen {
            self.payer_balance_fen = v;
        }
        if let Some(v) = notify_attempts {
            self.notify_attempts = v;
        }
        if let Some(v) = trigger_replay {
            self.trigger_replay = v;
        }
        if let Some(v) = repeated_serial {
            self.repeated_serial = v;
        }
    }
}

/// Where `cash.trigger` looks up a known `out_biz_no` among its checks. The platform does not say,
/// and the order decides whether a retry of a paid request can be refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerReplay {
    /// A known `out_biz_no` is replayed before the campaign is checked: a retry always learns the
    /// earlier payout, even after the campaign was paused, closed or ran out.
    #[default]
    BeforeChecks,
    /// The campaign is checked first (paused, closed, unpaid, not started, ended, budget used up):
    /// a paused campaign refuses even an `out_biz_no` it already paid.
    AfterChecks,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_switch_is_refused() {
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"noSuchSwitch":1}"#).is_err());
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"triggerReplay":"never"}"#).is_err());
    }

    #[test]
    fn trigger_replay_defaults_to_before_checks_and_is_patched() {
        let mut s = Settings::default();
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"triggerReplay": "before_checks", "repeatedSerial": "same_pass", "payerBalanceFen": null, "notifyAttempts": 3, "qpsLimits": {}, "latencyMs": 0})
        );
        s.apply(serde_json::from_str(r#"{"triggerReplay":"after_checks"}"#).unwrap());
        assert_eq!(s.trigger_replay, TriggerReplay::AfterChecks);
        s.apply(SettingsPatch::default());
        assert_eq!(s.trigger_replay, TriggerReplay::AfterChecks);
    }

    #[test]
    fn repeated_serial_is_switched_and_defaults_to_the_same_pass() {
        let mut s = Settings::default();
        assert_eq!(s.repeated_serial, RepeatedSerial::SamePass);
        s.apply(serde_json::from_str(r#"{"repeatedSerial":"refuse"}"#).unwrap());
        assert_eq!(s.repeated_serial, RepeatedSerial::Refuse);
        s.apply(serde_json::from_str("{}").unwrap());
        assert_eq!(s.repeated_serial, RepeatedSerial::Refuse);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"triggerReplay": "before_checks", "repeatedSerial": "refuse", "payerBalanceFen": null, "notifyAttempts": 3, "qpsLimits": {}, "latencyMs": 0})
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"repeatedSerial":"maybe"}"#).is_err());
    }

    #[test]
    fn payer_balance_is_set_and_cleared() {
        let mut s = Settings::default();
        s.apply(serde_json::from_str(r#"{"payerBalanceFen":500,"notifyAttempts":1}"#).unwrap());
        assert_eq!((s.payer_balance_fen, s.notify_attempts), (Some(500), 1));
        s.apply(serde_json::from_str("{}").unwrap());
        assert_eq!(s.payer_balance_fen, Some(500));
        s.apply(serde_json::from_str(r#"{"payerBalanceFen":null}"#).unwrap());
        assert_eq!(s.payer_balance_fen, None);
    }

    #[test]
    fn qps_limits_are_replaced_whole_and_cleared_by_an_empty_map() {
        let mut s = Settings::default();
        s.apply(
            serde_json::from_str(
                r#"{"qpsLimits":{"alipay.marketing.campaign.cash.trigger":5,"alipay.pass.instance.add":2},"latencyMs":150}"#,
            )
            .unwrap(),
        );
        assert_eq!(s.qps_limits.len(), 2);
        assert_eq!(s.latency_ms, 150);
        s.apply(serde_json::from_str(r#"{"qpsLimits":{"alipay.pass.instance.add":1}}"#).unwrap());
        assert_eq!(
            s.qps_limits.into_iter().collect::<Vec<_>>(),
            [("alipay.pass.instance.add".to_string(), 1)]
        );
        let mut s = Settings::default();
        s.apply(serde_json::from_str(r#"{"qpsLimits":{"x":1}}"#).unwrap());
        s.apply(serde_json::from_str(r#"{"qpsLimits":{}}"#).unwrap());
        assert!(s.qps_limits.is_empty());
        s.apply(serde_json::from_str("{}").unwrap());
        assert_eq!(s.latency_ms, 0);
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"qpsLimits":{"x":-1}}"#).is_err());
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"latencyMs":"slow"}"#).is_err());
    }
}
