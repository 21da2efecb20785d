//! The ledger's records: an entry's state, the entry (`PAYOUT#{outBizNo}`) and the business id's
//! pointer to its current attempt (`BIZ#{reason}#{businessId}`).

use crate::amount::AmountFen;
use crate::ids::{BusinessId, CrowdNo, OutBizNo, Recipient};
use crate::payout::rail::PayoutRail;
use crate::payout::reason::Reason;
use crate::payout::refusal::Refusal;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A ledger state without its data (filters, metrics, index attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutStateName {
    /// A call is (or was) in flight.
    Pending,
    /// Paid.
    Sent,
    /// Definitely refused; frees the business id.
    Failed,
    /// Outcome not known yet.
    Unknown,
    /// Retry budget spent; still probed.
    NeedsAttention,
}

impl PayoutStateName {
    /// Every state, in ledger order.
    pub const ALL: [PayoutStateName; 5] = [
        PayoutStateName::Pending,
        PayoutStateName::Sent,
        PayoutStateName::Failed,
        PayoutStateName::Unknown,
        PayoutStateName::NeedsAttention,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStateName::Pending => "PENDING",
            PayoutStateName::Sent => "SENT",
            PayoutStateName::Failed => "FAILED",
            PayoutStateName::Unknown => "UNKNOWN",
            PayoutStateName::NeedsAttention => "NEEDS_ATTENTION",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The ledger state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// Serialized as `{"state":"SENT","amountFen","bizNo","repeatTriggerFlag"}` etc.: camelCase fields
/// like every other API and record field (docs/domain.md).
#[serde(
    tag = "state",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum PayoutState {
    /// Written before the call; the holder has the lease.
    Pending,
    /// Paid.
    Sent {
        /// `prize_amount` in fen (None if Alipay's answer carried none).
        amount_fen: Option<AmountFen>,
        /// Alipay's `biz_no`.
        biz_no: Option<String>,
        /// Alipay replayed an earlier result.
        repeat_trigger_flag: bool,
        /// Transfer rail: Alipay's `order_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_id: Option<String>,
        /// Transfer rail: Alipay's `pay_fund_order_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pay_fund_order_id: Option<String>,
    },
    /// Definitely refused on the first call: no call for this out_biz_no was accepted.
    Failed {
        /// What Alipay said.
        #[serde(flatten)]
        refusal: Refusal,
    },
    /// Outcome unknown.
    Unknown {
        /// When the reconciler (or a repeat) may try again.
        next_retry_at: Timestamp,
        /// Diagnostic.
        last_error: String,
        /// A refusal that followed an unknown outcome (it does not free the business id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_refusal: Option<Refusal>,
    },
    /// Retry budget spent: listed for a person, and still probed at the backoff cap.
    NeedsAttention {
        /// When the next probe is due.
        #[serde(default)]
        next_retry_at: Timestamp,
        /// Diagnostic.
        last_error: String,
        /// A refusal that followed an unknown outcome.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_refusal: Option<Refusal>,
    },
}

impl PayoutState {
    /// `PENDING`, `SENT`, `FAILED`, `UNKNOWN`, `NEEDS_ATTENTION`.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The state without its data.
    pub fn kind(&self) -> PayoutStateName {
        match self {
            PayoutState::Pending => PayoutStateName::Pending,
            PayoutState::Sent { .. } => PayoutStateName::Sent,
            PayoutState::Failed { .. } => PayoutStateName::Failed,
            PayoutState::Unknown { .. } => PayoutStateName::Unknown,
            PayoutState::NeedsAttention { .. } => PayoutStateName::NeedsAttention,
        }
    }

    /// SENT or FAILED: nothing will change it (but a late proof of payment, see the module docs).
    pub fn is_final(&self) -> bool {
        matches!(self, PayoutState::Sent { .. } | PayoutState::Failed { .. })
    }
}

/// A ledger entry (`PAYOUT#{outBizNo}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutEntry {
    /// The provider idempotency key.
    pub out_biz_no: OutBizNo,
    pub reason: Reason,
    pub business_id: BusinessId,
    /// 1 for the first attempt; +1 after each definite failure that was sent again.
    pub attempt_no: u32,
    /// How it pays: the campaign or the transfer terms (bound for the life of the entry).
    /// Stored flattened; entries written before the transfer rail read as campaign.
    #[serde(flatten)]
    pub rail: PayoutRail,
    pub recipient: Recipient,
    #[serde(flatten)]
    pub state: PayoutState,
    /// Fence token of the last writer; every change is conditional on it.
    pub fence: String,
    /// Until when a PENDING holder is alive.
    pub lease_until: Timestamp,
    /// Alipay calls started for this out_biz_no (`cash.trigger`; `uni.transfer` or the query that
    /// precedes a re-send).
    pub attempts: u32,
    /// Of those, the calls Alipay's rate limit answered (not executed): they never count toward
    /// the retry budget ([`PayoutEntry::counted_attempts`]).
    #[serde(default, skip_serializing_if = "super::throttle::is_zero")]
    pub throttled_calls: u32,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl PayoutEntry {
    /// The business id's pointer to this attempt, as the store writes it when the attempt starts
    /// (derived, so the two can never disagree).
    pub fn pointer(&self) -> BizPointer {
        BizPointer {
            reason: self.reason,
            business_id: self.business_id.clone(),
            attempt_no: self.attempt_no,
            out_biz_no: self.out_biz_no.clone(),
            updated_at: self.updated_at,
        }
    }

    /// When this entry needs work again: PENDING → its lease end, UNKNOWN / NEEDS_ATTENTION →
    /// `next_retry_at`; final states → None. The store keeps a due marker in step with this, so the
    /// due markers are exactly the unresolved entries.
    pub fn due_at(&self) -> Option<Timestamp> {
        match &self.state {
            PayoutState::Pending => Some(self.lease_until),
            PayoutState::Unknown { next_retry_at, .. }
            | PayoutState::NeedsAttention { next_retry_at, .. } => Some(*next_retry_at),
            PayoutState::Sent { .. } | PayoutState::Failed { .. } => None,
        }
    }

    /// True when a call for this out_biz_no other than the current one may have been accepted by
    /// Alipay: every call after the first exists only because an earlier outcome was unknown or its
    /// lease was taken over while it was in flight.
    pub fn earlier_call_may_have_been_accepted(&self) -> bool {
        self.attempts > 1
    }

    /// A span carrying the ids every log line of the money path needs.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "payout",
            outBizNo = %self.out_biz_no,
            rail = self.rail.name().as_str(),
            crowdNo = self.rail.crowd_no().map(CrowdNo::as_str),
            reason = self.reason.as_str(),
            businessId = %self.business_id,
            attemptNo = self.attempt_no,
            bizNo = tracing::field::Empty,
        )
    }
}

/// The business id's pointer to its current attempt (`BIZ#{reason}#{businessId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BizPointer {
    pub reason: Reason,
    pub business_id: BusinessId,
    /// Current attempt.
    pub attempt_no: u32,
    /// Its out_biz_no.
    pub out_biz_no: OutBizNo,
    /// Last changed.
    pub updated_at: Timestamp,
}
