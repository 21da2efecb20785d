//! The payout ledger (the money path): `cash.trigger` at most once per (reason, business id).
//!
//! ## States
//! - `PENDING`: written **before** calling Alipay, with a fence token and a lease (`lease_until`).
//! - `SENT { amount, biz_no, repeat_trigger_flag }`: Alipay paid. Final.
//! - `FAILED { refusal }`: Alipay definitely refused and no call for this out_biz_no can have been
//!   accepted. Final for this number; frees the business id.
//! - `UNKNOWN { next_retry_at, last_error, last_refusal? }`: the outcome is not known; bound to its
//!   crowd_no and out_biz_no until resolved. `last_refusal` is set when Alipay refused a call that
//!   followed an unknown outcome: such a refusal proves nothing about the earlier call.
//! - `NEEDS_ATTENTION { next_retry_at, last_error, last_refusal? }`: the retry budget is spent; still
//!   probed at the backoff cap with the same number, and listed for a person.
//!
//! ## Rules
//! - `out_biz_no` is derived from (reason, business id, attempt number) by [`derive_out_biz_no`].
//! - **A verified SENT answer is never discarded.** Whatever the entry's state or fence when it
//!   arrives (PENDING, UNKNOWN, FAILED, NEEDS_ATTENTION), proof of payment wins: it is recorded (a
//!   compare-and-set loop on whatever fence is current) and the caller that received it is answered
//!   with it.
//! - **A refusal frees a business id only when no earlier call could have been accepted**, that is on
//!   the entry's first call ([`PayoutEntry::attempts`] = 1). Every later call exists only because an
//!   earlier one had an unknown outcome (timeout, 5xx, lost answer) or was still in flight when its
//!   lease was taken over, and Alipay may check the campaign before replaying a known out_biz_no, or
//!   pay a request after our client gave up on it. Such a refusal leaves the entry unresolved with
//!   `last_refusal`, and it is probed again with the same number.
//! - A `BIZ#{reason}#{businessId}` pointer names the current attempt. Only `FAILED` frees the
//!   business id: a later send with another campaign, another recipient (a corrected one) or
//!   `retryFailed` starts attempt n+1 with a new out_biz_no. Unresolved entries never get a new number.
//! - A repeat of `FAILED` answers the recorded entry; a repeat of `SENT` does when it asks for the
//!   recorded terms (a field it leaves out counts as recorded), and is refused with
//!   [`SendError::ConflictingRepeat`] naming the differing fields when it asks for another rail,
//!   campaign or amount: nothing is paid, and the caller is not told its terms were honoured. A
//!   repeat that finds an unresolved entry past its lease / `next_retry_at` re-triggers with the
//!   **same** out_biz_no and the stored terms (Alipay replays the earlier result); before that it
//!   answers the entry.
//! - Every backoff is counted from the outcome: the clock read after the attempt's last gateway
//!   answer is the entry's `updated_at` and the start of its backoff, so `next_retry_at` never lies
//!   before `updated_at`, however long the calls took.
//! - The operator's retry ([`SendService::probe_now`]) answers a probe only when it took the entry
//!   over itself; otherwise it answers what the entry is (`payout_final`, `payout_busy`).
//! - Every state change is a compare-and-set on the fence token read before it.
//! - The [`Reconciler`] does the same for every due unresolved entry, with capped exponential
//!   backoff; past `max_attempts` calls the entry is `NEEDS_ATTENTION` and is probed at the cap.
//! - Our own calls for one out_biz_no never overlap: the lease must exceed the Alipay client's total
//!   timeout plus [`LEASE_MARGIN`] ([`SendConfig::check`]), so a lease is only taken over once the
//!   holder's call has ended.

use crate::amount::AmountFen;
use crate::campaign::CampaignStatus;
use crate::error::{DomainError, ErrorKind};
use crate::hash::sha256_parts;
use crate::ids::{BusinessId, CrowdNo, IdError, OpenId, OutBizNo, UserId};
use crate::ports::{
    CampaignStore, CasOutcome, CashGateway, Clock, GatewayOutcome, IdGenerator, PayoutStore,
    StoreError, TransferGateway, TriggerRequest, TriggerResult,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

mod listing;
mod notify;
mod rail;
mod throttle;
mod transfer;
mod view;
pub use listing::{
    beijing_day, ListInput, ListRequest, PayoutCursor, PayoutFilter, PayoutPage, PayoutStateName,
    UnresolvedCounts,
};
pub use notify::{NotifyOutcome, TransferNotifications};
pub use rail::{
    AmountProblem, BadTransferSettings, PayoutRail, RailName, TransferSettings, TransferTerms,
    ORDER_CLOSED, ORDER_FAILED, ORDER_REFUNDED,
};
pub use view::PayoutView;

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

pub use crate::ids::Recipient;

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

/// A definite refusal by Alipay, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// The most specific text Alipay gave (`error_msg`, `sub_msg` or the code), verbatim. Named
    /// `failureReason` because the entry flattens its state next to its own `reason` (the business
    /// reason).
    pub failure_reason: String,
    /// Gateway `code`.
    pub code: Option<String>,
    /// Gateway `sub_code`.
    pub sub_code: Option<String>,
}

impl Refusal {
    /// The stable code callers see for this refusal. Alipay's sub_codes are matched first; its
    /// texts (which callers never see) only where it gives no sub_code.
    pub fn stable_code(&self) -> &'static str {
        let has = |needle: &str| self.failure_reason.contains(needle);
        match self.sub_code.as_deref() {
            Some("CAMPAIGN_NOT_EXIST") => "campaign_not_ready",
            Some("CAMPAIGN_PAUSED") => "campaign_paused",
            Some("CAMPAIGN_CLOSED") => "campaign_closed",
            Some("CAMPAIGN_NOT_STARTED") => "campaign_not_started",
            _ if has("现金活动不存在") => "campaign_not_ready",
            _ if has("已领完") || has("余额不足") || has("预算") => "budget_exhausted",
            _ if has("次数限制") || has("领取上限") => "user_limit_reached",
            _ if has("已结束") || has("关闭") => "campaign_closed",
            _ if self.code.as_deref() == Some("NOT_SENT") => "envelope_not_sent",
            _ => "envelope_refused",
        }
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
    #[serde(default, skip_serializing_if = "throttle::is_zero")]
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

/// The JSON body of `POST /envelopes` (untrusted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendInput {
    /// `points_exchange` | `referral`.
    pub reason: Option<String>,
    pub business_id: Option<String>,
    /// Alipay user id (wins over `openId`).
    pub user_id: Option<String>,
    pub open_id: Option<String>,
    /// Campaign; default from the reason mapping.
    pub crowd_no: Option<String>,
    /// Send again after a definite failure on the same campaign.
    pub retry_failed: Option<bool>,
    /// `campaign` | `transfer`; default from the reason mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rail: Option<String>,
    /// Transfer rail: the amount in yuan (`"1.00"`); default from the reason mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// A validated send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub reason: Reason,
    pub business_id: BusinessId,
    pub recipient: Recipient,
    /// Campaign (None → reason mapping).
    pub crowd_no: Option<CrowdNo>,
    /// After a FAILED attempt, send again even on the same campaign.
    pub retry_failed: bool,
    /// The rail (None → reason mapping, else campaign).
    pub rail: Option<RailName>,
    /// Transfer rail: the amount (None → reason mapping).
    pub amount: Option<AmountFen>,
}

fn bad(field: &'static str, source: Option<IdError>) -> SendError {
    SendError::BadInput { field, source }
}

impl SendInput {
    /// Parses every field into domain types.
    ///
    /// # Errors
    /// [`SendError::BadInput`] naming the field.
    pub fn validate(&self) -> Result<SendRequest, SendError> {
        let reason = self
            .reason
            .as_deref()
            .and_then(Reason::parse)
            .ok_or(bad("reason", None))?;
        let business_id =
            BusinessId::parse(self.business_id.as_deref().ok_or(bad("businessId", None))?)
                .map_err(|e| bad("businessId", Some(e)))?;
        let recipient = match (&self.user_id, &self.open_id) {
            (Some(u), _) => {
                Recipient::UserId(UserId::parse(u).map_err(|e| bad("userId", Some(e)))?)
            }
            (None, Some(o)) => {
                Recipient::OpenId(OpenId::parse(o).map_err(|e| bad("openId", Some(e)))?)
            }
            (None, None) => return Err(bad("userId", None)),
        };
        let crowd_no = match &self.crowd_no {
            Some(c) => Some(CrowdNo::parse(c).map_err(|e| bad("crowdNo", Some(e)))?),
            None => None,
        };
        let rail = match &self.rail {
            Some(r) => Some(RailName::parse(r).ok_or(bad("rail", None))?),
            None => None,
        };
        let amount = match &self.amount {
            Some(a) => Some(parse_amount(a)?),
            None => None,
        };
        Ok(SendRequest {
            reason,
            business_id,
            recipient,
            crowd_no,
            retry_failed: self.retry_failed.unwrap_or(false),
            rail,
            amount,
        })
    }
}

/// A positive yuan amount with at most two decimals (`"1.00"`, `"0.5"`, `"3"`).
fn parse_amount(text: &str) -> Result<AmountFen, SendError> {
    match AmountFen::parse_yuan(text) {
        Ok(a) if a.fen() > 0 && text == text.trim() => Ok(a),
        _ => Err(bad("amount", None)),
    }
}

/// What a send produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The ledger entry (any state).
    pub entry: PayoutEntry,
    /// True when the answer is a recorded entry (no Alipay call made by this request).
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A field is missing or invalid.
    #[error("{field} is missing or invalid")]
    BadInput {
        field: &'static str,
        /// Details.
        #[source]
        source: Option<IdError>,
    },
    /// No crowd_no given and no campaign mapped to the reason.
    #[error("no campaign is configured for this reason")]
    NoCampaign,
    /// Unknown campaign.
    #[error("unknown campaign")]
    CampaignNotFound,
    /// The campaign is not paid yet (pay through its pay_url).
    #[error("the campaign is not paid yet; pay it through its pay_url first")]
    CampaignNotPaid,
    /// The campaign is paused.
    #[error("the campaign is paused")]
    CampaignPaused,
    /// The campaign is closed or settled.
    #[error("the campaign is closed")]
    CampaignClosed,
    /// Alipay reported a campaign state we do not know; nothing is sent until a person looks.
    #[error("the campaign is in a state this service does not know ({0})")]
    CampaignStateUnrecognised(String),
    /// The business id already belongs to another recipient.
    #[error("this business id was already used for another recipient")]
    BusinessIdConflict,
    /// Could not check the campaign with Alipay.
    #[error("Alipay is unavailable: {0}")]
    GatewayUnknown(String),
    /// Another request changed the entry concurrently too many times; retry.
    #[error("the payout is busy; retry")]
    Busy,
    /// A call for the entry is in flight (PENDING within its lease): the operator's retry probes
    /// nothing; the call's outcome is known by the end of the lease.
    #[error("a call for this payout is in flight; retry after its lease")]
    CallInFlight {
        /// What is left of the lease.
        retry_after: Duration,
    },
    /// The entry is SENT or FAILED: there is nothing to probe.
    #[error("the payout is already {}; there is nothing to retry", .0.state.name())]
    PayoutFinal(Box<PayoutEntry>),
    /// A repeat of a paid business id asks for other terms than were paid; nothing new is paid.
    #[error(
        "this business id was already paid with other terms ({}); nothing new was paid",
        .fields.join(", ")
    )]
    ConflictingRepeat {
        /// The request's fields that differ from the recorded entry.
        fields: Vec<&'static str>,
        /// The recorded (SENT) entry.
        entry: Box<PayoutEntry>,
    },
    /// Store failure.
    #[error("store failure")]
    Store(#[from] StoreError),
    /// No such payout.
    #[error("unknown payout")]
    NotFound,
    /// The transfer rail was asked for but is not configured here.
    #[error("the transfer rail is not configured")]
    TransferNotConfigured,
    /// A transfer without an amount, and no default amount for its reason.
    #[error("a transfer needs an amount (no default amount is configured for this reason)")]
    AmountRequired,
    /// The amount is outside the product's limits or above the per-payout cap.
    #[error("the amount is not allowed: {0}")]
    AmountNotAllowed(&'static str),
    /// A field that belongs to the other rail (`crowdNo` on a transfer, `amount` on a campaign
    /// envelope, whose amount the campaign fixes).
    #[error("{0} does not apply to the {1} rail")]
    NotForRail(&'static str, &'static str),
}

impl DomainError for SendError {
    fn code(&self) -> &'static str {
        match self {
            SendError::BadInput { field, .. } => match *field {
                "reason" => "invalid_reason",
                "businessId" => "invalid_business_id",
                "userId" => "invalid_user_id",
                "openId" => "invalid_open_id",
                "crowdNo" => "invalid_crowd_no",
                "state" => "invalid_state",
                "day" => "invalid_day",
                "cursor" => "invalid_cursor",
                "limit" => "invalid_limit",
                "rail" => "invalid_rail",
                "amount" => "invalid_amount",
                _ => "invalid_parameter",
            },
            SendError::NoCampaign => "no_campaign_for_reason",
            SendError::CampaignNotFound => "campaign_not_found",
            SendError::CampaignNotPaid => "campaign_not_paid",
            SendError::CampaignPaused => "campaign_paused",
            SendError::CampaignClosed => "campaign_closed",
            SendError::CampaignStateUnrecognised(_) => "campaign_state_unrecognised",
            SendError::BusinessIdConflict => "business_id_conflict",
            SendError::GatewayUnknown(_) => "alipay_unavailable",
            SendError::Busy | SendError::CallInFlight { .. } => "payout_busy",
            SendError::PayoutFinal(_) => "payout_final",
            SendError::ConflictingRepeat { .. } => "conflicting_repeat",
            SendError::Store(e) => e.code(),
            SendError::NotFound => "payout_not_found",
            SendError::TransferNotConfigured => "transfer_rail_not_configured",
            SendError::AmountRequired => "amount_required",
            SendError::AmountNotAllowed(code) => code,
            SendError::NotForRail("crowdNo", _) => "crowd_no_not_for_transfer",
            SendError::NotForRail(..) => "amount_not_for_campaign",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            SendError::BadInput { .. } | SendError::AmountRequired | SendError::NotForRail(..) => {
                ErrorKind::BadInput
            }
            SendError::TransferNotConfigured | SendError::AmountNotAllowed(_) => {
                ErrorKind::Unprocessable
            }
            SendError::CampaignNotFound | SendError::NotFound => ErrorKind::NotFound,
            SendError::NoCampaign
            | SendError::CampaignNotPaid
            | SendError::CampaignPaused
            | SendError::CampaignClosed
            | SendError::CampaignStateUnrecognised(_)
            | SendError::BusinessIdConflict => ErrorKind::Unprocessable,
            SendError::Busy
            | SendError::CallInFlight { .. }
            | SendError::PayoutFinal(_)
            | SendError::ConflictingRepeat { .. } => ErrorKind::Conflict,
            SendError::GatewayUnknown(_) => ErrorKind::Unavailable,
            SendError::Store(e) => e.kind(),
        }
    }
    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        let view = |e: &PayoutEntry| serde_json::to_value(e.view()).unwrap_or_default();
        match self {
            SendError::PayoutFinal(entry) => vec![("entry", view(entry))],
            SendError::ConflictingRepeat { fields, entry } => {
                vec![
                    ("fields", serde_json::json!(fields)),
                    ("entry", view(entry)),
                ]
            }
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::CallInFlight { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// How much longer than the Alipay client's total timeout a PENDING lease must be: room for the
/// process to start the call late and for clock skew between execution environments.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// A [`SendConfig`] that would let two of our own calls for one out_biz_no overlap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the payout lease ({lease_ms} ms, PAYOUT_LEASE_MS) must exceed the Alipay client timeout \
     ({timeout_ms} ms, ALIPAY_TIMEOUT_MS) plus {margin_ms} ms, or a lease could be taken over while \
     its call is still in flight and the same out_biz_no would be sent twice at once"
)]
pub struct LeaseTooShort {
    /// The configured lease.
    pub lease_ms: u128,
    /// The Alipay client's total timeout.
    pub timeout_ms: u128,
    /// [`LEASE_MARGIN`].
    pub margin_ms: u128,
}

/// Timing and budget of the money path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendConfig {
    /// PENDING lease (default 30 s; must exceed a trigger call with its timeouts, see [`Self::check`]).
    pub lease: Duration,
    /// First backoff after an unknown outcome (default 30 s).
    pub backoff_base: Duration,
    /// Backoff cap (default 1 h); entries past their budget are probed at this interval.
    pub backoff_cap: Duration,
    /// Trigger calls per out_biz_no before NEEDS_ATTENTION (default 10).
    pub max_attempts: u32,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            max_attempts: 10,
        }
    }
}

impl SendConfig {
    /// Backoff after `attempts` calls: `base * 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let d = self.backoff_base.saturating_mul(1u32 << exp);
        d.min(self.backoff_cap)
    }

    /// Refuses a lease that does not exceed `alipay_timeout` + [`LEASE_MARGIN`].
    ///
    /// # Errors
    /// [`LeaseTooShort`], whose text names both settings.
    pub fn check(&self, alipay_timeout: Duration) -> Result<(), LeaseTooShort> {
        if self.lease > alipay_timeout.saturating_add(LEASE_MARGIN) {
            Ok(())
        } else {
            Err(LeaseTooShort {
                lease_ms: self.lease.as_millis(),
                timeout_ms: alipay_timeout.as_millis(),
                margin_ms: LEASE_MARGIN.as_millis(),
            })
        }
    }
}

/// The send trigger service.
pub struct SendService {
    /// Ledger.
    pub payouts: Arc<dyn PayoutStore>,
    /// Campaigns (status check).
    pub campaigns: Arc<dyn CampaignStore>,
    /// Cash gateway.
    pub gateway: Arc<dyn CashGateway>,
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
    /// Timing.
    pub config: SendConfig,
    /// Default campaign per reason.
    pub reason_campaigns: BTreeMap<Reason, CrowdNo>,
    /// Default rail per reason (absent: campaign).
    pub reason_rails: BTreeMap<Reason, RailName>,
    /// The transfer rail (None: not configured; transfer requests are refused).
    pub transfer: Option<TransferRail>,
}

/// The transfer rail's gateway and settings.
#[derive(Clone)]
pub struct TransferRail {
    /// uni.transfer and common.query.
    pub gateway: Arc<dyn TransferGateway>,
    /// What every new transfer carries.
    pub settings: TransferSettings,
}

/// How many compare-and-set rounds a request tries before answering `payout_busy`.
const CAS_ROUNDS: usize = 5;

/// The parts of the ledger a state change needs (shared by the send path and the notifications).
#[derive(Clone, Copy)]
struct Ledger<'a> {
    payouts: &'a dyn PayoutStore,
    clock: &'a dyn Clock,
    ids: &'a dyn IdGenerator,
}

impl Ledger<'_> {
    /// `cur` moved to `state`: a fresh fence (what the next compare-and-set checks) and this instant.
    fn moved_to(self, cur: &PayoutEntry, state: PayoutState) -> PayoutEntry {
        self.moved_at(cur, state, self.clock.now())
    }

    /// `cur` moved to `state` at `at`, with a fresh fence.
    fn moved_at(self, cur: &PayoutEntry, state: PayoutState, at: Timestamp) -> PayoutEntry {
        PayoutEntry {
            state,
            fence: self.ids.fence_token(),
            updated_at: at,
            ..cur.clone()
        }
    }
}

/// What an attempt's calls led to, and when that was known: the clock read after the attempt's
/// last gateway answer. It is the entry's `updatedAt` and the start of any backoff, so a
/// `nextRetryAt` never lies before the answer it follows (however long the calls took).
struct Outcome {
    state: PayoutState,
    at: Timestamp,
}

/// A takeover's result: we hold the entry (PENDING under our fence and lease), or another writer
/// changed it first and this is the entry now.
enum Takeover {
    Held(PayoutEntry),
    Lost(PayoutEntry),
}

/// The request's terms that differ from a paid entry's: `rail`, `crowdNo`, `amount`. A field the
/// request leaves out is the recorded one (a repeat without an amount, whose rail needs none or
/// takes the reason's, is exact). Another recipient is not a term: it is `business_id_conflict`.
fn differing_terms(req: &SendRequest, paid: &PayoutEntry) -> Vec<&'static str> {
    let recorded_amount = match (&paid.rail, &paid.state) {
        (PayoutRail::Transfer(terms), _) => Some(terms.amount_fen),
        (PayoutRail::Campaign { .. }, PayoutState::Sent { amount_fen, .. }) => *amount_fen,
        (PayoutRail::Campaign { .. }, _) => None,
    };
    let mut fields = Vec::new();
    if req.rail.is_some_and(|r| r != paid.rail.name()) {
        fields.push("rail");
    }
    if req
        .crowd_no
        .as_ref()
        .is_some_and(|c| paid.rail.crowd_no() != Some(c))
    {
        fields.push("crowdNo");
    }
    if req.amount.is_some_and(|a| recorded_amount != Some(a)) {
        fields.push("amount");
    }
    fields
}

/// The entry after a lost compare-and-set: as the store answered, or read again when it answered
/// none (the entry exists: a read that misses it is transient, as an emulator's read racing a
/// write can be; strongly consistent DynamoDB never does).
async fn current_entry(
    ledger: Ledger<'_>,
    out_biz_no: &OutBizNo,
    current: Option<PayoutEntry>,
) -> Result<PayoutEntry, SendError> {
    if let Some(cur) = current {
        return Ok(cur);
    }
    tracing::warn!("the entry read back empty after a lost compare-and-set; reading it again");
    ledger
        .payouts
        .get_payout(out_biz_no)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a payout entry vanished".into()).into())
}

/// Records a verified SENT over whatever the entry holds now (compare-and-set on its current
/// fence, a few rounds): proof of payment is never thrown away.
async fn record_proof(
    ledger: Ledger<'_>,
    out_biz_no: &OutBizNo,
    sent: PayoutState,
    mut current: Option<PayoutEntry>,
) -> Result<PayoutEntry, SendError> {
    for _ in 0..CAS_ROUNDS {
        let cur = current_entry(ledger, out_biz_no, current).await?;
        if matches!(cur.state, PayoutState::Sent { .. }) {
            return Ok(cur);
        }
        if matches!(cur.state, PayoutState::Failed { .. }) {
            tracing::error!(
                "Alipay paid an out_biz_no recorded as FAILED; recording the payment (check for a second attempt of this business id)"
            );
        } else {
            tracing::warn!(
                state = cur.state.name(),
                "proof of payment arrived after the entry moved on; recording it"
            );
        }
        let paid = ledger.moved_to(&cur, sent.clone());
        match ledger.payouts.cas_payout(&paid, &cur.fence).await? {
            CasOutcome::Written => return Ok(paid),
            CasOutcome::Lost(next) => current = next,
        }
    }
    Err(SendError::Busy)
}

impl SendService {
    /// The rail a new attempt of `req` would use: the request's, else the reason's, else campaign.
    /// Every amount check happens here, before anything is written.
    fn resolve_rail(&self, req: &SendRequest) -> Result<PayoutRail, SendError> {
        let name = req
            .rail
            .or_else(|| self.reason_rails.get(&req.reason).copied())
            .unwrap_or(RailName::Campaign);
        match name {
            RailName::Campaign => {
                if req.amount.is_some() {
                    return Err(SendError::NotForRail("amount", "campaign"));
                }
                let crowd_no = match &req.crowd_no {
                    Some(c) => c.clone(),
                    None => self
                        .reason_campaigns
                        .get(&req.reason)
                        .cloned()
                        .ok_or(SendError::NoCampaign)?,
                };
                Ok(PayoutRail::Campaign { crowd_no })
            }
            RailName::Transfer => {
                if req.crowd_no.is_some() {
                    return Err(SendError::NotForRail("crowdNo", "transfer"));
                }
                let rail = self
                    .transfer
                    .as_ref()
                    .ok_or(SendError::TransferNotConfigured)?;
                let amount = req
                    .amount
                    .or_else(|| rail.settings.default_amounts.get(&req.reason).copied())
                    .ok_or(SendError::AmountRequired)?;
                rail.settings.check_amount(amount).map_err(|p| {
                    SendError::AmountNotAllowed(match p {
                        AmountProblem::BelowProductMinimum => "amount_below_minimum",
                        AmountProblem::AboveProductMaximum => "amount_above_maximum",
                        AmountProblem::AboveCap => "amount_above_cap",
                    })
                })?;
                Ok(PayoutRail::Transfer(rail.settings.terms(amount)))
            }
        }
    }

    /// Checks what must hold before a new attempt on `rail` is written (a usable campaign).
    async fn check_rail(&self, rail: &PayoutRail) -> Result<(), SendError> {
        match rail {
            PayoutRail::Campaign { crowd_no } => self.check_campaign(crowd_no).await,
            PayoutRail::Transfer(_) => Ok(()),
        }
    }

    /// Checks that the campaign is usable (READY); a CREATED/PAID one is refreshed first.
    async fn check_campaign(&self, crowd_no: &CrowdNo) -> Result<(), SendError> {
        let mut camp = self
            .campaigns
            .get_campaign(crowd_no)
            .await?
            .ok_or(SendError::CampaignNotFound)?;
        if matches!(camp.status, CampaignStatus::Created | CampaignStatus::Paid) {
            match self.gateway.detail(crowd_no).await {
                GatewayOutcome::Success(d) => {
                    let s = CampaignStatus::parse(&d.camp_status);
                    if s != camp.status {
                        camp.status = s;
                        camp.updated_at = self.clock.now();
                        self.campaigns.put_campaign(&camp).await?;
                    }
                }
                GatewayOutcome::Failed(_) => {}
                GatewayOutcome::Unknown(m) | GatewayOutcome::Throttled(m) => {
                    return Err(SendError::GatewayUnknown(m))
                }
            }
        }
        match camp.status {
            CampaignStatus::Ready => Ok(()),
            CampaignStatus::Created | CampaignStatus::Paid => Err(SendError::CampaignNotPaid),
            CampaignStatus::Pause => Err(SendError::CampaignPaused),
            CampaignStatus::Closed | CampaignStatus::Settled => Err(SendError::CampaignClosed),
            CampaignStatus::Unrecognised(text) => {
                tracing::warn!(crowdNo = %crowd_no, campStatus = %text, "campaign in an unrecognised state: not sending");
                Err(SendError::CampaignStateUnrecognised(text))
            }
        }
    }

    fn new_entry(&self, req: &SendRequest, rail: PayoutRail, attempt_no: u32) -> PayoutEntry {
        let now = self.clock.now();
        let out_biz_no = derive_out_biz_no(req.reason, &req.business_id, attempt_no);
        PayoutEntry {
            out_biz_no,
            reason: req.reason,
            business_id: req.business_id.clone(),
            attempt_no,
            rail,
            recipient: req.recipient.clone(),
            state: PayoutState::Pending,
            fence: self.ids.fence_token(),
            lease_until: now.plus(self.config.lease),
            attempts: 1,
            throttled_calls: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Sends (at most once per (reason, business id)). See the module docs for the rules.
    ///
    /// # Errors
    /// [`SendError`]; an unknown Alipay outcome is **not** an error: it is an `UNKNOWN` entry.
    pub async fn send(&self, req: &SendRequest) -> Result<SendResult, SendError> {
        let span = tracing::info_span!(
            "send",
            reason = req.reason.as_str(),
            businessId = %req.business_id,
        );
        self.send_in_span(req).instrument(span).await
    }

    async fn send_in_span(&self, req: &SendRequest) -> Result<SendResult, SendError> {
        for _ in 0..CAS_ROUNDS {
            let Some(pointer) = self
                .payouts
                .get_pointer(req.reason, &req.business_id)
                .await?
            else {
                let rail = self.resolve_rail(req)?;
                self.check_rail(&rail).await?;
                let entry = self.new_entry(req, rail, 1);
                if self.payouts.start_attempt(&entry, None).await? {
                    return Ok(SendResult {
                        entry: self.call(entry).await?,
                        replayed: false,
                    });
                }
                continue;
            };
            let entry = self
                .payouts
                .get_payout(&pointer.out_biz_no)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "pointer names missing payout {}",
                        pointer.out_biz_no
                    ))
                })?;
            let replay = |entry| {
                Ok(SendResult {
                    entry,
                    replayed: true,
                })
            };
            match &entry.state {
                PayoutState::Failed { .. } => {
                    // The failure freed the business id: a corrected recipient, another campaign or
                    // rail (or other transfer terms) or an explicit retry starts the next attempt;
                    // anything else is a repeat.
                    let other_recipient = entry.recipient != req.recipient;
                    let rail = match self.resolve_rail(req) {
                        Ok(r) => r,
                        Err(_) if !other_recipient => return replay(entry),
                        Err(e) => return Err(e),
                    };
                    if !(req.retry_failed || other_recipient || rail != entry.rail) {
                        return replay(entry);
                    }
                    self.check_rail(&rail).await?;
                    let next = self.new_entry(req, rail, pointer.attempt_no.saturating_add(1));
                    if self
                        .payouts
                        .start_attempt(&next, Some(pointer.attempt_no))
                        .await?
                    {
                        return Ok(SendResult {
                            entry: self.call(next).await?,
                            replayed: false,
                        });
                    }
                    continue;
                }
                _ if entry.recipient != req.recipient => return Err(SendError::BusinessIdConflict),
                PayoutState::Sent { .. } => {
                    // Paid: an exact repeat answers the payment; other terms are not honoured,
                    // and the caller must not believe they were.
                    let fields = differing_terms(req, &entry);
                    if fields.is_empty() {
                        return replay(entry);
                    }
                    return Err(SendError::ConflictingRepeat {
                        fields,
                        entry: Box::new(entry),
                    });
                }
                PayoutState::Pending
                | PayoutState::Unknown { .. }
                | PayoutState::NeedsAttention { .. } => {
                    if entry.due_at().is_some_and(|d| d <= self.clock.now()) {
                        return self.retrigger(entry).await;
                    }
                    return replay(entry);
                }
            }
        }
        Err(SendError::Busy)
    }

    /// Takes over a due unresolved entry and triggers again with the **same** out_biz_no. Used by
    /// repeats and the reconciler: when another writer changed the entry first, its entry now is
    /// the answer (`replayed`).
    ///
    /// # Errors
    /// Store errors.
    pub async fn retrigger(&self, entry: PayoutEntry) -> Result<SendResult, SendError> {
        match self.take_over(&entry).await? {
            Takeover::Held(held) => Ok(SendResult {
                entry: self.call(held).await?,
                replayed: false,
            }),
            Takeover::Lost(current) => Ok(SendResult {
                entry: current,
                replayed: true,
            }),
        }
    }

    /// PENDING under a fresh fence and lease, one more call counted: a compare-and-set on the
    /// fence `entry` was read with. The takeover itself logs nothing; the call runs in the
    /// entry's span.
    async fn take_over(&self, entry: &PayoutEntry) -> Result<Takeover, SendError> {
        let now = self.clock.now();
        let taken = PayoutEntry {
            state: PayoutState::Pending,
            fence: self.ids.fence_token(),
            lease_until: now.plus(self.config.lease),
            attempts: entry.attempts.saturating_add(1),
            updated_at: now,
            ..entry.clone()
        };
        match self.payouts.cas_payout(&taken, &entry.fence).await? {
            CasOutcome::Written => Ok(Takeover::Held(taken)),
            CasOutcome::Lost(current) => Ok(Takeover::Lost(
                current_entry(self.ledger(), &entry.out_biz_no, current).await?,
            )),
        }
    }

    /// The operator's retry: re-arms an unresolved entry and probes it now with the same
    /// out_biz_no (never a new one). Only a retry that took the entry over answers a probe; one
    /// that finds another writer ahead answers what the entry is then.
    ///
    /// # Errors
    /// [`SendError::NotFound`], [`SendError::PayoutFinal`] (with the entry) for SENT/FAILED,
    /// [`SendError::CallInFlight`] while a call is in flight (PENDING within its lease, with what
    /// is left of it), [`SendError::Busy`] when the entry kept changing, store errors.
    #[tracing::instrument(skip_all, fields(out_biz_no = %out_biz_no))]
    pub async fn probe_now(&self, out_biz_no: &OutBizNo) -> Result<SendResult, SendError> {
        let mut entry = self.get(out_biz_no).await?;
        for _ in 0..CAS_ROUNDS {
            let now = self.clock.now();
            match &entry.state {
                PayoutState::Sent { .. } | PayoutState::Failed { .. } => {
                    return Err(SendError::PayoutFinal(Box::new(entry)))
                }
                PayoutState::Pending if entry.lease_until > now => {
                    let left = entry.lease_until.millis().saturating_sub(now.millis());
                    return Err(SendError::CallInFlight {
                        retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
                    });
                }
                _ => {}
            }
            match self.take_over(&entry).await? {
                Takeover::Held(held) => {
                    tracing::info!(outBizNo = %held.out_biz_no, state = entry.state.name(), "operator retry: probing now");
                    return Ok(SendResult {
                        entry: self.call(held).await?,
                        replayed: false,
                    });
                }
                // Another retry, repeat or reconciler run was first: look at the entry again.
                Takeover::Lost(current) => entry = current,
            }
        }
        Err(SendError::Busy)
    }

    /// Calls Alipay for a PENDING entry we hold, on its rail, then records the outcome (CAS on
    /// our fence).
    async fn call(&self, held: PayoutEntry) -> Result<PayoutEntry, SendError> {
        let span = held.span();
        async move {
            let crowd_no = match &held.rail {
                PayoutRail::Campaign { crowd_no } => crowd_no.clone(),
                PayoutRail::Transfer(terms) => {
                    let terms = terms.clone();
                    let mut held = held;
                    let outcome = self.transfer_outcome(&mut held, &terms).await;
                    return self.record(held, outcome).await;
                }
            };
            let req = TriggerRequest {
                crowd_no,
                recipient: held.recipient.clone(),
                out_biz_no: held.out_biz_no.clone(),
                order_price: None,
            };
            tracing::info!(attempts = held.attempts, "calling cash.trigger");
            let answer = self.gateway.trigger(&req).await;
            let at = self.clock.now();
            let held = held.after_call(matches!(answer, GatewayOutcome::Throttled(_)));
            let state = self.outcome_state(&held, answer, at);
            self.record(held, Outcome { state, at }).await
        }
        .instrument(span)
        .await
    }

    /// The state cash.trigger's answer, known at `now`, leads to for the entry that made the call.
    fn outcome_state(
        &self,
        held: &PayoutEntry,
        outcome: GatewayOutcome<TriggerResult>,
        now: Timestamp,
    ) -> PayoutState {
        let refusal = match outcome {
            GatewayOutcome::Success(r) if r.trigger_result => {
                let biz_no = r.biz_no.unwrap_or_default();
                tracing::Span::current().record("bizNo", biz_no.as_str());
                tracing::info!(
                    bizNo = %biz_no,
                    prizeFen = r.prize_amount.map_or(-1, AmountFen::fen),
                    repeatTriggerFlag = r.repeat_trigger_flag,
                    "cash.trigger paid"
                );
                return PayoutState::Sent {
                    amount_fen: r.prize_amount,
                    biz_no: Some(biz_no).filter(|b| !b.is_empty()),
                    repeat_trigger_flag: r.repeat_trigger_flag,
                    order_id: None,
                    pay_fund_order_id: None,
                };
            }
            GatewayOutcome::Success(r) => Refusal {
                failure_reason: r
                    .error_msg
                    .unwrap_or_else(|| "trigger_result=false".to_owned()),
                code: None,
                sub_code: None,
            },
            GatewayOutcome::Failed(f) => Refusal {
                failure_reason: f.reason(),
                code: Some(f.code),
                sub_code: f.sub_code,
            },
            GatewayOutcome::Unknown(m) => {
                tracing::warn!(error = %m, "cash.trigger outcome unknown");
                return self.unresolved(held, now, m, None);
            }
            // Not executed now: unresolved with the same out_biz_no, exactly as unknown.
            GatewayOutcome::Throttled(m) => {
                tracing::warn!(error = %m, "cash.trigger throttled");
                return self.unresolved(held, now, m, None);
            }
        };
        if held.earlier_call_may_have_been_accepted() {
            tracing::warn!(
                failureReason = %refusal.failure_reason,
                subCode = refusal.sub_code.as_deref().unwrap_or(""),
                "cash.trigger refused after an unknown outcome: the business id stays bound"
            );
            let last_error = format!(
                "refused after an unknown outcome: {}",
                refusal.failure_reason
            );
            self.unresolved(held, now, last_error, Some(refusal))
        } else {
            tracing::info!(
                failureReason = %refusal.failure_reason,
                subCode = refusal.sub_code.as_deref().unwrap_or(""),
                "cash.trigger refused"
            );
            PayoutState::Failed { refusal }
        }
    }

    /// UNKNOWN with backoff, or NEEDS_ATTENTION probed at the cap once the budget is spent; both
    /// counted from `now`, the moment the outcome was known.
    fn unresolved(
        &self,
        held: &PayoutEntry,
        now: Timestamp,
        last_error: String,
        last_refusal: Option<Refusal>,
    ) -> PayoutState {
        if held.counted_attempts() >= self.config.max_attempts {
            tracing::error!(attempts = held.attempts, error = %last_error, "payout needs attention");
            PayoutState::NeedsAttention {
                next_retry_at: now.plus(self.config.backoff_cap),
                last_error,
                last_refusal,
            }
        } else {
            PayoutState::Unknown {
                next_retry_at: now.plus(self.config.backoff(held.attempts)),
                last_error,
                last_refusal,
            }
        }
    }

    /// Writes the outcome of our call, as of when it was known. If our lease was taken over
    /// meanwhile, the other holder's record is the truth, except for proof of payment, which
    /// always wins.
    async fn record(&self, held: PayoutEntry, outcome: Outcome) -> Result<PayoutEntry, SendError> {
        let done = self.ledger().moved_at(&held, outcome.state, outcome.at);
        match self.payouts.cas_payout(&done, &held.fence).await? {
            CasOutcome::Written => Ok(done),
            CasOutcome::Lost(cur) if matches!(done.state, PayoutState::Sent { .. }) => {
                record_proof(self.ledger(), &done.out_biz_no, done.state, cur).await
            }
            CasOutcome::Lost(cur) => Ok(cur.unwrap_or(held)),
        }
    }

    fn ledger(&self) -> Ledger<'_> {
        Ledger {
            payouts: self.payouts.as_ref(),
            clock: self.clock.as_ref(),
            ids: self.ids.as_ref(),
        }
    }

    /// One entry.
    ///
    /// # Errors
    /// [`SendError::NotFound`] or a store error.
    pub async fn get(&self, out_biz_no: &OutBizNo) -> Result<PayoutEntry, SendError> {
        self.payouts
            .get_payout(out_biz_no)
            .await?
            .ok_or(SendError::NotFound)
    }

    /// Every attempt of a business id, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn by_business_id(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Vec<PayoutEntry>, SendError> {
        let Some(ptr) = self.payouts.get_pointer(reason, business_id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for n in 1..=ptr.attempt_no {
            if let Some(e) = self
                .payouts
                .get_payout(&derive_out_biz_no(reason, business_id, n))
                .await?
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// A recipient's payouts, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, SendError> {
        Ok(self.payouts.list_by_recipient(who, limit).await?)
    }

    /// The operator's listing, newest first, one page.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list(&self, request: &ListRequest) -> Result<PayoutPage, SendError> {
        Ok(self.payouts.list_payouts(request).await?)
    }
}

/// What one reconciler run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Due entries examined.
    pub examined: usize,
    /// Now SENT.
    pub sent: usize,
    /// Now FAILED.
    pub failed: usize,
    /// Still UNKNOWN (or PENDING under another holder).
    pub unresolved: usize,
    /// NEEDS_ATTENTION after this run's probe.
    pub needs_attention: usize,
    /// Errors (store) while working on an entry.
    pub errors: usize,
    /// Due entries left for the next run because the run's time was up.
    pub deferred: usize,
    /// After the run: every unresolved entry in the ledger (due or not), for the metric.
    pub open: UnresolvedCounts,
}

/// The scheduled reconciler: every due unresolved entry is re-triggered with the same out_biz_no;
/// entries past the budget are NEEDS_ATTENTION and probed at the backoff cap; never a new number.
pub struct Reconciler {
    /// The send service (shares its retrigger rule).
    pub service: Arc<SendService>,
    /// Entries per run.
    pub batch: usize,
}

impl Reconciler {
    /// One pass over the due entries, then a count of every unresolved one.
    ///
    /// # Errors
    /// A store error listing or counting the entries (per-entry errors are counted, not returned).
    pub async fn run_once(&self) -> Result<ReconcileReport, StoreError> {
        self.run_while(|| true).await
    }

    /// [`Self::run_once`], starting another entry only while `may_start()` says there is time for
    /// one more (a probe takes up to two Alipay calls); the rest are counted as deferred and left
    /// for the next run. The count of unresolved entries is taken either way, so the metric is
    /// published even when Alipay hangs and a run cannot get through its batch.
    ///
    /// # Errors
    /// As [`Self::run_once`].
    pub async fn run_while(
        &self,
        may_start: impl Fn() -> bool,
    ) -> Result<ReconcileReport, StoreError> {
        let now = self.service.clock.now();
        let due = self.service.payouts.list_due(now, self.batch).await?;
        let mut report = ReconcileReport {
            examined: due.len(),
            ..Default::default()
        };
        for entry in due {
            if entry.due_at().is_none_or(|d| d > now) {
                continue;
            }
            if !may_start() {
                report.deferred += 1;
                continue;
            }
            match self.service.retrigger(entry).await {
                Ok(r) => match r.entry.state {
                    PayoutState::Sent { .. } => report.sent += 1,
                    PayoutState::Failed { .. } => report.failed += 1,
                    PayoutState::NeedsAttention { .. } => report.needs_attention += 1,
                    PayoutState::Pending | PayoutState::Unknown { .. } => report.unresolved += 1,
                },
                Err(_) => report.errors += 1,
            }
        }
        report.open = self.service.payouts.unresolved_counts().await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod transfer_tests;

#[cfg(test)]
mod fakes;

#[cfg(test)]
mod timing_tests;

#[cfg(test)]
mod retry_race_tests;

#[cfg(test)]
mod repeat_terms_tests;
