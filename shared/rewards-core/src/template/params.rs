//! Parameter rules: how each `$var$` is filled at claim time, and `$var$` scanning.

use crate::ids::{AppId, SerialNumber, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How to fill one `$var$` at claim time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ParamRule {
    /// The claim time, Beijing `yyyy-MM-dd HH:mm:ss`.
    Now,
    /// The claim time plus `hours`, Beijing time.
    NowPlus {
        /// Hours to add (1..=8784).
        hours: u32,
    },
    /// The claim's serial number (deterministic from template, user, token).
    Serial,
    /// A fixed text.
    Fixed {
        /// The text.
        value: String,
    },
    /// The claiming user's id.
    UserId,
    /// The app id (the pass channel).
    AppId,
}

/// The default rule for well-known variables: `activeTime`=Now, `expireTime`=Now+48h,
/// `serialNumber`=Serial, `channelID`=AppId.
pub fn default_rule(var: &str) -> Option<ParamRule> {
    match var {
        "activeTime" => Some(ParamRule::Now),
        "expireTime" => Some(ParamRule::NowPlus { hours: 48 }),
        "serialNumber" => Some(ParamRule::Serial),
        "channelID" => Some(ParamRule::AppId),
        _ => None,
    }
}

/// Collects `$name$` variables in a string (`name` = `[A-Za-z_][A-Za-z0-9_]{0,63}`).
pub fn variables_in(text: &str, out: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len()
                && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_')
                && j - start < 64
            {
                j += 1;
            }
            let valid_start =
                start < bytes.len() && (bytes[start].is_ascii_alphabetic() || bytes[start] == b'_');
            if j > start && valid_start && j < bytes.len() && bytes[j] == b'$' {
                out.insert(text[start..j].to_owned());
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
}

/// The variable name when `text` is exactly one `$var$`.
pub fn whole_variable(text: &str) -> Option<String> {
    let inner = text.strip_prefix('$')?.strip_suffix('$')?;
    let mut set = BTreeSet::new();
    variables_in(text, &mut set);
    (set.len() == 1 && set.contains(inner)).then(|| inner.to_owned())
}

/// What the rules need at claim time.
#[derive(Debug, Clone)]
pub struct FillContext<'a> {
    /// Claim time.
    pub now: Timestamp,
    /// The claiming user.
    pub user: &'a UserId,
    pub app_id: &'a AppId,
    /// The claim's serial.
    pub serial: &'a SerialNumber,
}

/// Fills every variable by its rule.
pub fn fill_params(
    rules: &BTreeMap<String, ParamRule>,
    ctx: &FillContext<'_>,
) -> BTreeMap<String, String> {
    rules
        .iter()
        .map(|(name, rule)| {
            let v = match rule {
                ParamRule::Now => ctx.now.to_beijing(),
                ParamRule::NowPlus { hours } => ctx.now.plus_hours(i64::from(*hours)).to_beijing(),
                ParamRule::Serial => ctx.serial.to_string(),
                ParamRule::Fixed { value } => value.clone(),
                ParamRule::UserId => ctx.user.to_string(),
                ParamRule::AppId => ctx.app_id.to_string(),
            };
            (name.clone(), v)
        })
        .collect()
}
