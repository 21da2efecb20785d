//! A campaign's records: the stored campaign and its schedule slot.

use super::input::SendFrequency;
use super::status::{CampaignStatus, PrizeType};
use crate::amount::AmountFen;
use crate::ids::CrowdNo;
use crate::ports::gateway::GatewayFailure;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// A stored campaign (`CAMP#{crowdNo}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub crowd_no: CrowdNo,
    pub coupon_name: String,
    pub prize_type: PrizeType,
    pub total_money: AmountFen,
    pub total_num: u32,
    pub prize_msg: String,
    /// `start_time` as sent (Beijing time or `NowTime`).
    pub start_time: String,
    /// `end_time` (Beijing time).
    pub end_time: String,
    pub merchant_link: String,
    /// `send_freqency`.
    pub send_frequency: Option<SendFrequency>,
    /// The decoded `pay_url` (the operator pays here; valid 24 h). None when Alipay's create answer
    /// was lost: neither `list.query` nor `detail.query` returns it.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub pay_url: Option<String>,
    /// How to pay a campaign that has no `pay_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_instructions: Option<String>,
    /// Status (refreshed with `detail.query`).
    pub status: CampaignStatus,
    pub origin_crowd_no: Option<String>,
    /// `send_amount` from the last refresh.
    pub send_amount: Option<AmountFen>,
    /// The schedule slot that created it, if any (`plan#slot`).
    pub slot: Option<String>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// Schedule slot state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SlotState {
    /// `cash.create` is being called (lease in the record).
    Creating,
    /// Created: the campaign.
    Created {
        /// The campaign.
        crowd_no: CrowdNo,
    },
    /// Definite failure: the slot may be acquired again.
    Failed {
        /// Alipay's failure.
        failure: GatewayFailure,
    },
    /// Outcome unknown: never re-created automatically; reconcile by coupon name or by hand.
    Unknown {
        /// Diagnostic.
        detail: String,
    },
}

/// A schedule slot (`SLOT#{plan}#{slot}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotRecord {
    pub plan_id: String,
    /// Slot (Beijing date `yyyy-MM-dd`, or any `[A-Za-z0-9_-]` label).
    pub slot: String,
    /// The coupon name used for this slot's campaign (reconciliation key).
    pub coupon_name: String,
    #[serde(flatten)]
    pub state: SlotState,
    /// Fence token.
    pub fence: String,
    /// Until when a `CREATING` holder is alive.
    pub lease_until: Timestamp,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}
