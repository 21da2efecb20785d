//! The business reason of a payout, and the out_biz_no rule that binds (reason, business id,
//! attempt) to one number.

use crate::hash::sha256_parts;
use crate::ids::{BusinessId, OutBizNo};
use serde::{Deserialize, Serialize};

/// The business reason of a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Points exchange (`pe`).
    PointsExchange,
    /// Referral (`rf`).
    Referral,
}

impl Reason {
    /// `points_exchange` | `referral`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PointsExchange => "points_exchange",
            Reason::Referral => "referral",
        }
    }

    /// Parses `points_exchange` | `referral`.
    pub fn parse(s: &str) -> Option<Reason> {
        match s {
            "points_exchange" => Some(Reason::PointsExchange),
            "referral" => Some(Reason::Referral),
            _ => None,
        }
    }

    /// The out_biz_no prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Reason::PointsExchange => "pe",
            Reason::Referral => "rf",
        }
    }
}

/// The out_biz_no for (reason, business id, attempt):
/// - attempt 1: `{prefix}_{businessId}`; attempt n ≥ 2: `{prefix}{n}_{businessId}`;
/// - when the business id has characters outside `[A-Za-z0-9_]` or is too long:
///   `{prefix}[n]h_{40 hex of SHA-256}`.
///
/// The attempt number sits in the prefix (not a `_2` suffix) so the mapping is injective: `pe_a_2`
/// can only be business id `a_2` attempt 1, never business id `a` attempt 2.
pub fn derive_out_biz_no(reason: Reason, business_id: &BusinessId, attempt: u32) -> OutBizNo {
    let n = if attempt <= 1 {
        String::new()
    } else {
        attempt.to_string()
    };
    let prefix = format!("{}{}", reason.prefix(), n);
    let id = business_id.as_str();
    let plain = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain && prefix.len() + 1 + id.len() <= 64 {
        OutBizNo::from_valid(format!("{prefix}_{id}"))
    } else {
        let h = sha256_parts(&["out-biz-no/v1", reason.as_str(), id]);
        OutBizNo::from_valid(format!("{prefix}h_{}", &h[..40]))
    }
}
