//! Behaviour switches, set by tests through `POST /sim/settings`: how the simulated platform
//! behaves where the real one is not documented or may be stricter than we hope. Each switch has a
//! default that matches the first simulator; `DELETE /sim/faults` resets them all.

use serde::{Deserialize, Serialize};

/// The switches (`GET /sim/settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {}

/// A partial update as posted: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {}

impl Settings {
    /// Applies the fields present in `patch`.
    pub fn apply(&mut self, patch: SettingsPatch) {
        let SettingsPatch {} = patch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_switch_is_refused() {
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"noSuchSwitch":1}"#).is_err());
    }
}
