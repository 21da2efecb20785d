//! Behaviour switches, set by tests through `POST /sim/settings`: how the simulated platform
//! behaves where the real one is not documented or may be stricter than we hope. Each switch has a
//! default that matches the first simulator; `DELETE /sim/faults` resets them all.

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// `"same_pass"` (default) or `"refuse"`: see [`RepeatedSerial`].
    pub repeated_serial: RepeatedSerial,
}

/// A partial update as posted: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    /// See [`Settings::repeated_serial`].
    pub repeated_serial: Option<RepeatedSerial>,
}

impl Settings {
    /// Applies the fields present in `patch`.
    pub fn apply(&mut self, patch: SettingsPatch) {
        let SettingsPatch { repeated_serial } = patch;
        if let Some(v) = repeated_serial {
            self.repeated_serial = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_switch_is_refused() {
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"noSuchSwitch":1}"#).is_err());
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
            serde_json::json!({"repeatedSerial": "refuse"})
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"repeatedSerial":"maybe"}"#).is_err());
    }
}
