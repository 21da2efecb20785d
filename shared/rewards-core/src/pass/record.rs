//! The stored pass and its status.

use crate::ids::{PassId, SerialNumber, TemplateId, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A pass's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PassStatus {
    /// Issued, usable.
    Active,
    /// Used (verified).
    Used,
    /// Closed (withdrawn).
    Closed,
}

impl PassStatus {
    /// `ACTIVE`, `USED`, `CLOSED` (Alipay's `status` for the last two).
    pub fn as_str(self) -> &'static str {
        match self {
            PassStatus::Active => "ACTIVE",
            PassStatus::Used => "USED",
            PassStatus::Closed => "CLOSED",
        }
    }

    /// Parses a requested target status (`USED` or `CLOSED` only).
    pub fn parse_target(s: &str) -> Option<PassStatus> {
        match s {
            "USED" => Some(PassStatus::Used),
            "CLOSED" => Some(PassStatus::Closed),
            _ => None,
        }
    }
}

/// A stored pass (`PASS#{passId}` and `USER#{userId}`/`PASS#{createdAt}#{passId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassRecord {
    /// Alipay's pass id.
    pub pass_id: PassId,
    /// The holder.
    pub user_id: UserId,
    pub template_id: TemplateId,
    /// The serial (`fileInfo.serialNumber` value).
    pub serial_number: SerialNumber,
    pub status: PassStatus,
    /// The filled `$var$` values (dates among them).
    pub params: BTreeMap<String, String>,
    /// Issued.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}
