//! The payout ledger (the money path): `cash.trigger` exactly once per business id.
//!
//! ## States
//! - `PENDING`: written **before** calling Alipay, with a fence token and a lease (`lease_until`).
//! - `SENT { amount, biz_no, repeat_trigger_flag }`: Alipay paid.
//! - `FAILED { reason (verbatim), code, sub_code }`: Alipay definitely refused.
//! - `UNKNOWN { next_retry_at, last_error }`: the outcome is not known; bound to its crowd_no and
//!   out_biz_no until resolved.
//! - `NEEDS_ATTENTION { last_error }`: the retry budget is spent; a person decides. Never re-sent
//!   under a new number.
//!
//! ## Rules
//! - `out_biz_no` is derived from (reason, business id, attempt number) by [`derive_out_biz_no`].
//! - A `BIZ#{reason}#{businessId}` pointer names the current attempt. Only a definite failure
//!   (`FAILED`) frees the business id: a later send with another campaign (or `retryFailed`) starts
//!   attempt n+1 with a new out_biz_no. `PENDING`/`UNKNOWN` never get a new number.
//! - A repeat of `SENT`/`FAILED`/`NEEDS_ATTENTION` answers the recorded entry.
//! - A repeat that finds `PENDING` past its lease or `UNKNOWN` past `next_retry_at` re-triggers with
//!   the **same** out_biz_no (Alipay replays the earlier result); before that it answers the entry.
//! - Every state change is a compare-and-set on the fence token read before it.
//! - The [`Reconciler`] does the same for every due `PENDING`/`UNKNOWN` entry, with capped
//!   exponential backoff, and after `max_attempts` trigger calls marks it `NEEDS_ATTENTION`.

use crate::amount::AmountFen;
use crate::campaign::CampaignStatus;
use crate::error::{DomainError, ErrorKind};
use crate::hash::sha256_parts;
use crate::ids::{BusinessId, CrowdNo, IdError, OpenId, OutBizNo, UserId};
use crate::ports::{
    CampaignStore, CasOutcome, CashGateway, Clock, GatewayOutcome, IdGenerator, PayoutStore,
    StoreError, TriggerRequest,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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

/// Who receives the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recipient {
    /// An Alipay user id (`user_id`).
    UserId(UserId),
    /// An open id.
    OpenId(OpenId),
}

impl Recipient {
    /// `USER#{id}` or `OPENID#{id}` (index key).
    pub fn index_key(&self) -> String {
        match self {
            Recipient::UserId(u) => format!("USER#{u}"),
            Recipient::OpenId(o) => format!("OPENID#{o}"),
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
        /// `prize_amount` in fen (None if Alipay's text did not parse).
        amount_fen: Option<AmountFen>,
        /// Alipay's `biz_no`.
        biz_no: Option<String>,
        /// Alipay replayed an earlier result.
        repeat_trigger_flag: bool,
    },
    /// Definitely refused.
    Failed {
        /// The reason, verbatim. `failureReason` on the wire: the entry flattens its state next to
        /// its own `reason` (the business reason), and two `reason` keys made a FAILED entry
        /// unreadable.
        #[serde(rename = "failureReason")]
        reason: String,
        /// Gateway code.
        code: Option<String>,
        /// Gateway sub_code.
        sub_code: Option<String>,
    },
    /// Outcome unknown.
    Unknown {
        /// When the reconciler (or a repeat) may try again.
        next_retry_at: Timestamp,
        /// Diagnostic.
        last_error: String,
    },
    /// Retry budget spent; a person decides.
    NeedsAttention {
        /// Diagnostic.
        last_error: String,
    },
}

impl PayoutState {
    /// `PENDING`, `SENT`, `FAILED`, `UNKNOWN`, `NEEDS_ATTENTION`.
    pub fn name(&self) -> &'static str {
        match self {
            PayoutState::Pending => "PENDING",
            PayoutState::Sent { .. } => "SENT",
            PayoutState::Failed { .. } => "FAILED",
            PayoutState::Unknown { .. } => "UNKNOWN",
            PayoutState::NeedsAttention { .. } => "NEEDS_ATTENTION",
        }
    }
}

/// A ledger entry (`PAYOUT#{outBizNo}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutEntry {
    /// The provider idempotency key.
    pub out_biz_no: OutBizNo,
    /// Reason.
    pub reason: Reason,
    /// Business id.
    pub business_id: BusinessId,
    /// 1 for the first attempt; +1 after each definite failure that was sent again.
    pub attempt_no: u32,
    /// The campaign (bound for the life of the entry).
    pub crowd_no: CrowdNo,
    /// Recipient.
    pub recipient: Recipient,
    /// State.
    #[serde(flatten)]
    pub state: PayoutState,
    /// Fence token of the last writer; every change is conditional on it.
    pub fence: String,
    /// Until when a PENDING holder is alive.
    pub lease_until: Timestamp,
    /// `cash.trigger` calls started for this out_biz_no.
    pub attempts: u32,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl PayoutEntry {
    /// When this entry needs work again: PENDING → its lease end, UNKNOWN → `next_retry_at`;
    /// final states → None. The store keeps a due marker in step with this.
    pub fn due_at(&self) -> Option<Timestamp> {
        match &self.state {
            PayoutState::Pending => Some(self.lease_until),
            PayoutState::Unknown { next_retry_at, .. } => Some(*next_retry_at),
            _ => None,
        }
    }
}

/// The business id's pointer to its current attempt (`BIZ#{reason}#{businessId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BizPointer {
    /// Reason.
    pub reason: Reason,
    /// Business id.
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
    /// Business id.
    pub business_id: Option<String>,
    /// Alipay user id (wins over `openId`).
    pub user_id: Option<String>,
    /// Open id.
    pub open_id: Option<String>,
    /// Campaign; default from the reason mapping.
    pub crowd_no: Option<String>,
    /// Send again after a definite failure on the same campaign.
    pub retry_failed: Option<bool>,
}

/// A validated send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// Reason.
    pub reason: Reason,
    /// Business id.
    pub business_id: BusinessId,
    /// Recipient.
    pub recipient: Recipient,
    /// Campaign (None → reason mapping).
    pub crowd_no: Option<CrowdNo>,
    /// After a FAILED attempt, send again even on the same campaign.
    pub retry_failed: bool,
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
        Ok(SendRequest {
            reason,
            business_id,
            recipient,
            crowd_no,
            retry_failed: self.retry_failed.unwrap_or(false),
        })
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

/// Send errors.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A field is missing or invalid.
    #[error("{field} is missing or invalid")]
    BadInput {
        /// The field.
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
    /// The business id already belongs to another recipient.
    #[error("this business id was already used for another recipient")]
    BusinessIdConflict,
    /// Could not check the campaign with Alipay.
    #[error("Alipay is unavailable: {0}")]
    GatewayUnknown(String),
    /// Another request changed the entry concurrently too many times; retry.
    #[error("the payout is busy; retry")]
    Busy,
    /// Store failure.
    #[error("store failure")]
    Store(#[from] StoreError),
    /// No such payout.
    #[error("unknown payout")]
    NotFound,
}

impl DomainError for SendError {
    fn code(&self) -> &'static str {
        match self {
            SendError::BadInput { field, .. } => match *field {
                "reason" => "invalid_reason",
                "businessId" => "invalid_business_id",
                "userId" => "invalid_user_id",
                "openId" => "invalid_open_id",
                _ => "invalid_crowd_no",
            },
            SendError::NoCampaign => "no_campaign_for_reason",
            SendError::CampaignNotFound => "campaign_not_found",
            SendError::CampaignNotPaid => "campaign_not_paid",
            SendError::CampaignPaused => "campaign_paused",
            SendError::CampaignClosed => "campaign_closed",
            SendError::BusinessIdConflict => "business_id_conflict",
            SendError::GatewayUnknown(_) => "alipay_unavailable",
            SendError::Busy => "payout_busy",
            SendError::Store(StoreError::Unavailable(_)) => "store_unavailable",
            SendError::Store(StoreError::Corrupt(_)) => "store_corrupt",
            SendError::NotFound => "payout_not_found",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            SendError::BadInput { .. } => ErrorKind::BadInput,
            SendError::CampaignNotFound | SendError::NotFound => ErrorKind::NotFound,
            SendError::NoCampaign
            | SendError::CampaignNotPaid
            | SendError::CampaignPaused
            | SendError::CampaignClosed
            | SendError::BusinessIdConflict => ErrorKind::Unprocessable,
            SendError::Busy => ErrorKind::Conflict,
            SendError::GatewayUnknown(_) | SendError::Store(StoreError::Unavailable(_)) => {
                ErrorKind::Unavailable
            }
            SendError::Store(StoreError::Corrupt(_)) => ErrorKind::Internal,
        }
    }
}

/// Timing and budget of the money path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendConfig {
    /// PENDING lease (default 30 s; longer than a trigger call with its timeouts).
    pub lease: Duration,
    /// First backoff after an unknown outcome (default 30 s).
    pub backoff_base: Duration,
    /// Backoff cap (default 1 h).
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
}

/// The send trigger service.
pub struct SendService {
    /// Ledger.
    pub payouts: Arc<dyn PayoutStore>,
    /// Campaigns (status check).
    pub campaigns: Arc<dyn CampaignStore>,
    /// Cash gateway.
    pub gateway: Arc<dyn CashGateway>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
    /// Timing.
    pub config: SendConfig,
    /// Default campaign per reason.
    pub reason_campaigns: BTreeMap<Reason, CrowdNo>,
}

impl SendService {
    fn resolve_crowd(&self, req: &SendRequest) -> Result<CrowdNo, SendError> {
        match &req.crowd_no {
            Some(c) => Ok(c.clone()),
            None => self
                .reason_campaigns
                .get(&req.reason)
                .cloned()
                .ok_or(SendError::NoCampaign),
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
                    if let Some(s) = CampaignStatus::parse(&d.camp_status) {
                        if s != camp.status {
                            camp.status = s;
                            camp.updated_at = self.clock.now();
                            self.campaigns.put_campaign(&camp).await?;
                        }
                    }
                }
                GatewayOutcome::Failed(_) => {}
                GatewayOutcome::Unknown(m) => return Err(SendError::GatewayUnknown(m)),
            }
        }
        match camp.status {
            CampaignStatus::Ready => Ok(()),
            CampaignStatus::Created | CampaignStatus::Paid => Err(SendError::CampaignNotPaid),
            CampaignStatus::Pause => Err(SendError::CampaignPaused),
            CampaignStatus::Closed | CampaignStatus::Settle => Err(SendError::CampaignClosed),
        }
    }

    fn new_entry(
        &self,
        req: &SendRequest,
        crowd_no: CrowdNo,
        attempt_no: u32,
    ) -> (BizPointer, PayoutEntry) {
        let now = self.clock.now();
        let out_biz_no = derive_out_biz_no(req.reason, &req.business_id, attempt_no);
        let pointer = BizPointer {
            reason: req.reason,
            business_id: req.business_id.clone(),
            attempt_no,
            out_biz_no: out_biz_no.clone(),
            updated_at: now,
        };
        let entry = PayoutEntry {
            out_biz_no,
            reason: req.reason,
            business_id: req.business_id.clone(),
            attempt_no,
            crowd_no,
            recipient: req.recipient.clone(),
            state: PayoutState::Pending,
            fence: self.ids.fence_token(),
            lease_until: now.plus(self.config.lease),
            attempts: 1,
            created_at: now,
            updated_at: now,
        };
        (pointer, entry)
    }

    /// Sends (at most once per business id). See the module docs for the rules.
    ///
    /// # Errors
    /// [`SendError`]; an unknown Alipay outcome is **not** an error: it is an `UNKNOWN` entry.
    pub async fn send(&self, req: &SendRequest) -> Result<SendResult, SendError> {
        for _ in 0..5 {
            let Some(pointer) = self
                .payouts
                .get_pointer(req.reason, &req.business_id)
                .await?
            else {
                let crowd = self.resolve_crowd(req)?;
                self.check_campaign(&crowd).await?;
                let (ptr, entry) = self.new_entry(req, crowd, 1);
                if self.payouts.start_attempt(&ptr, None, &entry).await? {
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
            if entry.recipient != req.recipient {
                return Err(SendError::BusinessIdConflict);
            }
            let now = self.clock.now();
            match &entry.state {
                PayoutState::Sent { .. } | PayoutState::NeedsAttention { .. } => {
                    return Ok(SendResult {
                        entry,
                        replayed: true,
                    })
                }
                PayoutState::Failed { .. } => {
                    let crowd = match self.resolve_crowd(req) {
                        Ok(c) => c,
                        Err(_) => {
                            return Ok(SendResult {
                                entry,
                                replayed: true,
                            })
                        }
                    };
                    if !(req.retry_failed || crowd != entry.crowd_no) {
                        return Ok(SendResult {
                            entry,
                            replayed: true,
                        });
                    }
                    self.check_campaign(&crowd).await?;
                    let (ptr, next) =
                        self.new_entry(req, crowd, pointer.attempt_no.saturating_add(1));
                    if self
                        .payouts
                        .start_attempt(&ptr, Some(pointer.attempt_no), &next)
                        .await?
                    {
                        return Ok(SendResult {
                            entry: self.call(next).await?,
                            replayed: false,
                        });
                    }
                    continue;
                }
                PayoutState::Pending | PayoutState::Unknown { .. } => {
                    if entry.due_at().is_some_and(|d| d <= now) {
                        return self.retrigger(entry).await;
                    }
                    return Ok(SendResult {
                        entry,
                        replayed: true,
                    });
                }
            }
        }
        Err(SendError::Busy)
    }

    /// Takes over a due PENDING/UNKNOWN entry and triggers again with the **same** out_biz_no; past
    /// the budget, marks it NEEDS_ATTENTION instead. Used by repeats and by the reconciler.
    ///
    /// # Errors
    /// Store errors.
    pub async fn retrigger(&self, entry: PayoutEntry) -> Result<SendResult, SendError> {
        let now = self.clock.now();
        if entry.attempts >= self.config.max_attempts {
            let last_error = match &entry.state {
                PayoutState::Unknown { last_error, .. } => last_error.clone(),
                _ => "lease expired without an outcome".to_owned(),
            };
            let flagged = PayoutEntry {
                state: PayoutState::NeedsAttention { last_error },
                fence: self.ids.fence_token(),
                updated_at: now,
                ..entry.clone()
            };
            return match self.payouts.cas_payout(&flagged, &entry.fence).await? {
                CasOutcome::Written => Ok(SendResult {
                    entry: flagged,
                    replayed: false,
                }),
                CasOutcome::Lost(cur) => Ok(SendResult {
                    entry: cur.unwrap_or(entry),
                    replayed: true,
                }),
            };
        }
        let taken = PayoutEntry {
            state: PayoutState::Pending,
            fence: self.ids.fence_token(),
            lease_until: now.plus(self.config.lease),
            attempts: entry.attempts.saturating_add(1),
            updated_at: now,
            ..entry.clone()
        };
        match self.payouts.cas_payout(&taken, &entry.fence).await? {
            CasOutcome::Written => Ok(SendResult {
                entry: self.call(taken).await?,
                replayed: false,
            }),
            CasOutcome::Lost(cur) => Ok(SendResult {
                entry: cur.unwrap_or(entry),
                replayed: true,
            }),
        }
    }

    /// Calls trigger for a PENDING entry we hold, then records the outcome (CAS on our fence).
    async fn call(&self, held: PayoutEntry) -> Result<PayoutEntry, SendError> {
        let req = TriggerRequest {
            crowd_no: held.crowd_no.clone(),
            recipient: held.recipient.clone(),
            out_biz_no: held.out_biz_no.clone(),
            order_price: None,
        };
        let outcome = self.gateway.trigger(&req).await;
        let now = self.clock.now();
        let state = match outcome {
            GatewayOutcome::Success(r) if r.trigger_result => PayoutState::Sent {
                amount_fen: r
                    .prize_amount
                    .as_deref()
                    .and_then(|a| AmountFen::parse_yuan(a).ok()),
                biz_no: r.biz_no,
                repeat_trigger_flag: r.repeat_trigger_flag,
            },
            GatewayOutcome::Success(r) => PayoutState::Failed {
                reason: r
                    .error_msg
                    .unwrap_or_else(|| "trigger_result=false".to_owned()),
                code: None,
                sub_code: None,
            },
            GatewayOutcome::Failed(f) => PayoutState::Failed {
                reason: f.reason(),
                code: Some(f.code),
                sub_code: f.sub_code,
            },
            GatewayOutcome::Unknown(m) if held.attempts >= self.config.max_attempts => {
                PayoutState::NeedsAttention { last_error: m }
            }
            GatewayOutcome::Unknown(m) => PayoutState::Unknown {
                next_retry_at: now.plus(self.config.backoff(held.attempts)),
                last_error: m,
            },
        };
        let done = PayoutEntry {
            state,
            fence: self.ids.fence_token(),
            updated_at: now,
            ..held.clone()
        };
        match self.payouts.cas_payout(&done, &held.fence).await? {
            CasOutcome::Written => Ok(done),
            // Our lease was taken over; the other holder's record is the truth.
            CasOutcome::Lost(cur) => Ok(cur.unwrap_or(held)),
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
    /// Flagged NEEDS_ATTENTION.
    pub needs_attention: usize,
    /// Errors (store) while working on an entry.
    pub errors: usize,
}

/// The scheduled reconciler: every due UNKNOWN / stale PENDING entry is re-triggered with the same
/// out_biz_no; past the budget it is flagged NEEDS_ATTENTION; never a new number.
pub struct Reconciler {
    /// The send service (shares its retrigger rule).
    pub service: Arc<SendService>,
    /// Entries per run.
    pub batch: usize,
}

impl Reconciler {
    /// One pass over the due entries.
    ///
    /// # Errors
    /// A store error listing the due entries (per-entry errors are counted, not returned).
    pub async fn run_once(&self) -> Result<ReconcileReport, StoreError> {
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
            match self.service.retrigger(entry).await {
                Ok(r) => match r.entry.state {
                    PayoutState::Sent { .. } => report.sent += 1,
                    PayoutState::Failed { .. } => report.failed += 1,
                    PayoutState::NeedsAttention { .. } => report.needs_attention += 1,
                    _ => report.unresolved += 1,
                },
                Err(_) => report.errors += 1,
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
