//! `camp_status` and `prize_type` as Alipay spells them.

use serde::{Deserialize, Serialize};

/// `camp_status`, spelled as Alipay's SDK models spell it. A state Alipay may add later is kept
/// verbatim ([`CampaignStatus::Unrecognised`]), logged, and never sent to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CampaignStatus {
    /// Created, not paid.
    Created,
    Paid,
    /// Running (usable).
    Ready,
    Pause,
    Closed,
    /// Settled (`SETTLED`).
    Settled,
    /// A state this service does not know, verbatim.
    Unrecognised(String),
}

impl CampaignStatus {
    /// The Alipay string.
    pub fn as_str(&self) -> &str {
        match self {
            CampaignStatus::Created => "CREATED",
            CampaignStatus::Paid => "PAID",
            CampaignStatus::Ready => "READY",
            CampaignStatus::Pause => "PAUSE",
            CampaignStatus::Closed => "CLOSED",
            CampaignStatus::Settled => "SETTLED",
            CampaignStatus::Unrecognised(text) => text,
        }
    }

    /// Parses Alipay's string; an unknown one is kept as [`CampaignStatus::Unrecognised`]. `SETTLE`
    /// (how records written before the SDK spelling was adopted say it) reads as `SETTLED`.
    pub fn parse(s: &str) -> Self {
        match s {
            "CREATED" => CampaignStatus::Created,
            "PAID" => CampaignStatus::Paid,
            "READY" => CampaignStatus::Ready,
            "PAUSE" => CampaignStatus::Pause,
            "CLOSED" => CampaignStatus::Closed,
            "SETTLED" | "SETTLE" => CampaignStatus::Settled,
            other => CampaignStatus::Unrecognised(other.to_owned()),
        }
    }
}

impl From<String> for CampaignStatus {
    fn from(s: String) -> Self {
        CampaignStatus::parse(&s)
    }
}

impl From<CampaignStatus> for String {
    fn from(s: CampaignStatus) -> String {
        s.as_str().to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrizeType {
    /// Every envelope is `total_money / total_num`.
    Fixed,
    /// Random amounts around the average.
    Random,
}

impl PrizeType {
    /// The Alipay string.
    pub fn as_str(self) -> &'static str {
        match self {
            PrizeType::Fixed => "fixed",
            PrizeType::Random => "random",
        }
    }
}
