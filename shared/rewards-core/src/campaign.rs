//! Cash campaigns (`cash.create`, `detail.query`, `list.query`, `status.modify`) and schedule slots.
//!
//! Schedule slots: a plan id + slot date may create at most one campaign. The slot item is put
//! conditionally **before** `cash.create` and gets the crowd number after. `cash.create` has no
//! idempotency key, so when its outcome is unknown the slot is marked `UNKNOWN` and is never
//! created again automatically: [`CampaignService::reconcile_slot`] looks for the campaign by its
//! coupon name (scheduled campaigns carry the slot date in their name) with `list.query`, and a
//! person resolves what it cannot. A definite failure frees the slot (`FAILED` may be re-acquired).

use crate::amount::AmountFen;
use crate::error::{DomainError, ErrorKind};
use crate::ids::CrowdNo;
use crate::ports::{
    CampaignStore, CashGateway, Clock, CreateCampaignRequest, GatewayFailure, GatewayOutcome,
    IdGenerator, Inserted, ListCampaignsRequest, PrizeType, StoreError,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `camp_status`, spelled as Alipay's SDK models spell it. A state Alipay may add later is kept
/// verbatim ([`CampaignStatus::Unrecognised`]), logged, and never sent to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CampaignStatus {
    /// Created, not paid.
    Created,
    /// Paid.
    Paid,
    /// Running (usable).
    Ready,
    /// Paused.
    Pause,
    /// Closed.
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

fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// What the operator is told for a campaign recovered without its `pay_url`.
pub fn pay_instructions(crowd_no: &CrowdNo, coupon_name: &str) -> String {
    format!(
        "Alipay's answer to cash.create was lost, and Alipay returns the pay URL only in that answer. \
         Pay campaign {crowd_no} (\"{coupon_name}\") in the Alipay merchant portal (b.alipay.com: \
         营销中心 → 现金红包 → 活动列表), or close it (POST /campaigns/{crowd_no}/status CLOSED) and \
         create a new one."
    )
}

/// A validated `send_freqency`: at most one of `D<n>`/`W<n>`/`M<n>` and a mandatory `L<n>` (≤100),
/// period limit ≤ lifetime limit, joined with `|`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SendFrequency(String);

impl SendFrequency {
    /// Parses e.g. `L1`, `D1|L5`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.len() > 32 {
            return Err("too long");
        }
        let mut period: Option<u32> = None;
        let mut life: Option<u32> = None;
        for part in s.split('|') {
            let (kind, num) = part.split_at(part.len().min(1));
            if num.is_empty() || num.len() > 3 || !num.bytes().all(|b| b.is_ascii_digit()) {
                return Err("each part is D<n>, W<n>, M<n> or L<n>");
            }
            let n: u32 = num.parse().map_err(|_| "bad number")?;
            if n == 0 {
                return Err("limits must be at least 1");
            }
            match kind {
                "D" | "W" | "M" if period.is_none() => period = Some(n),
                "D" | "W" | "M" => return Err("at most one of D, W, M"),
                "L" if life.is_none() => life = Some(n),
                _ => return Err("each part is D<n>, W<n>, M<n> or L<n> (L once)"),
            }
        }
        let life = life.ok_or("L<n> is required")?;
        if life > 100 {
            return Err("L is at most 100");
        }
        if period.is_some_and(|p| p > life) {
            return Err("the D/W/M limit must not exceed L");
        }
        Ok(SendFrequency(s.to_owned()))
    }

    /// The lifetime limit `L<n>`.
    pub fn lifetime_limit(&self) -> u32 {
        self.0
            .split('|')
            .find_map(|p| p.strip_prefix('L').and_then(|n| n.parse().ok()))
            .unwrap_or(1)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SendFrequency {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, &'static str> {
        SendFrequency::parse(&s)
    }
}

impl From<SendFrequency> for String {
    fn from(s: SendFrequency) -> String {
        s.0
    }
}

/// When a campaign starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTime {
    /// Alipay's `NowTime`.
    Now,
    /// A Beijing time.
    At(Timestamp),
}

/// A validated campaign creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// `coupon_name` (1–64 chars).
    pub coupon_name: String,
    /// `prize_type`.
    pub prize_type: PrizeType,
    /// `total_money`.
    pub total_money: AmountFen,
    /// `total_num`.
    pub total_num: u32,
    /// `prize_msg`.
    pub prize_msg: String,
    /// Start.
    pub start: StartTime,
    /// End.
    pub end: Timestamp,
    /// `merchant_link`.
    pub merchant_link: String,
    /// `send_freqency`.
    pub send_frequency: Option<SendFrequency>,
}

/// The JSON body of `POST /campaigns` (untrusted).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCampaignInput {
    /// `couponName`.
    pub coupon_name: Option<String>,
    /// `prizeType`: `fixed` | `random`.
    pub prize_type: Option<String>,
    /// `totalMoney`: yuan string.
    pub total_money: Option<String>,
    /// `totalNum`.
    pub total_num: Option<u64>,
    /// `prizeMsg`.
    pub prize_msg: Option<String>,
    /// `startTime`: Beijing time or `NowTime`.
    pub start_time: Option<String>,
    /// `endTime`: Beijing time.
    pub end_time: Option<String>,
    /// `merchantLink`.
    pub merchant_link: Option<String>,
    /// `sendFrequency`.
    pub send_frequency: Option<String>,
}

fn bad(field: &'static str, reason: impl Into<String>) -> CampaignError {
    CampaignError::BadInput {
        field,
        reason: reason.into(),
    }
}

fn text(field: &'static str, v: Option<&String>, max: usize) -> Result<String, CampaignError> {
    let v = v
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(field, "is required"))?;
    if v.chars().count() > max {
        return Err(bad(field, format!("at most {max} characters")));
    }
    Ok(v.to_owned())
}

impl NewCampaignInput {
    /// Validates against Alipay's documented limits: money 1.00–10000000.00, count 1–10000000,
    /// each envelope 0.20–200.00 on average (exact division for `fixed`), start later than now or
    /// `NowTime`, end after start and within 6 months, `send_freqency` grammar.
    ///
    /// # Errors
    /// [`CampaignError::BadInput`] naming the field.
    pub fn validate(&self, now: Timestamp) -> Result<NewCampaign, CampaignError> {
        let coupon_name = text("couponName", self.coupon_name.as_ref(), 64)?;
        let prize_type = match self.prize_type.as_deref() {
            Some("fixed") => PrizeType::Fixed,
            Some("random") => PrizeType::Random,
            _ => return Err(bad("prizeType", "must be fixed or random")),
        };
        let total_money = AmountFen::parse_yuan(self.total_money.as_deref().unwrap_or(""))
            .map_err(|e| bad("totalMoney", e.to_string()))?;
        if !(100..=1_000_000_000).contains(&total_money.fen()) {
            return Err(bad("totalMoney", "must be 1.00 to 10000000.00"));
        }
        let total_num = self
            .total_num
            .ok_or_else(|| bad("totalNum", "is required"))?;
        if !(1..=10_000_000).contains(&total_num) {
            return Err(bad("totalNum", "must be 1 to 10000000"));
        }
        let total_num = u32::try_from(total_num).map_err(|_| bad("totalNum", "too large"))?;
        let each = total_money.fen() / i64::from(total_num);
        if prize_type == PrizeType::Fixed && total_money.fen() % i64::from(total_num) != 0 {
            return Err(bad(
                "totalNum",
                "a fixed campaign needs totalMoney divisible into totalNum equal envelopes",
            ));
        }
        if !(20..=20_000).contains(&each) {
            return Err(bad(
                "totalMoney",
                "each envelope must be 0.20 to 200.00 on average",
            ));
        }
        let prize_msg = text("prizeMsg", self.prize_msg.as_ref(), 128)?;
        let start = match self.start_time.as_deref() {
            None | Some("NowTime") => StartTime::Now,
            Some(s) => {
                let t = Timestamp::parse_beijing(s).map_err(|e| bad("startTime", e.to_string()))?;
                if t <= now {
                    return Err(bad("startTime", "must be later than now (or NowTime)"));
                }
                StartTime::At(t)
            }
        };
        let end = Timestamp::parse_beijing(self.end_time.as_deref().unwrap_or(""))
            .map_err(|e| bad("endTime", e.to_string()))?;
        let start_at = match start {
            StartTime::Now => now,
            StartTime::At(t) => t,
        };
        if end <= start_at {
            return Err(bad("endTime", "must be after the start"));
        }
        if end.millis() - start_at.millis() > 183 * 24 * 3_600_000 {
            return Err(bad("endTime", "a campaign lasts at most 6 months"));
        }
        let merchant_link = text("merchantLink", self.merchant_link.as_ref(), 512)?;
        if !(merchant_link.starts_with("https://") || merchant_link.starts_with("http://")) {
            return Err(bad("merchantLink", "must be an http(s) URL"));
        }
        let send_frequency = match self.send_frequency.as_deref() {
            None | Some("") => None,
            Some(s) => Some(SendFrequency::parse(s).map_err(|e| bad("sendFrequency", e))?),
        };
        Ok(NewCampaign {
            coupon_name,
            prize_type,
            total_money,
            total_num,
            prize_msg,
            start,
            end,
            merchant_link,
            send_frequency,
        })
    }
}

/// A stored campaign (`CAMP#{crowdNo}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    /// `crowd_no`.
    pub crowd_no: CrowdNo,
    /// `coupon_name`.
    pub coupon_name: String,
    /// `prize_type`.
    pub prize_type: PrizeType,
    /// `total_money`.
    pub total_money: AmountFen,
    /// `total_num`.
    pub total_num: u32,
    /// `prize_msg`.
    pub prize_msg: String,
    /// `start_time` as sent (Beijing time or `NowTime`).
    pub start_time: String,
    /// `end_time` (Beijing time).
    pub end_time: String,
    /// `merchant_link`.
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
    /// `origin_crowd_no`.
    pub origin_crowd_no: Option<String>,
    /// `send_amount` from the last refresh.
    pub send_amount: Option<AmountFen>,
    /// The schedule slot that created it, if any (`plan#slot`).
    pub slot: Option<String>,
    /// Created.
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
    /// Plan id.
    pub plan_id: String,
    /// Slot (Beijing date `yyyy-MM-dd`, or any `[A-Za-z0-9_-]` label).
    pub slot: String,
    /// The coupon name used for this slot's campaign (reconciliation key).
    pub coupon_name: String,
    /// State.
    #[serde(flatten)]
    pub state: SlotState,
    /// Fence token.
    pub fence: String,
    /// Until when a `CREATING` holder is alive.
    pub lease_until: Timestamp,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A scheduled plan ("every Monday, 500 envelopes of 2.00").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePlan {
    /// Plan id (`[A-Za-z0-9_-]`, ≤ 64).
    pub plan_id: String,
    /// Base coupon name; the slot date is appended.
    pub coupon_name: String,
    /// `fixed` | `random`.
    pub prize_type: PrizeType,
    /// Total money.
    pub total_money: AmountFen,
    /// Count.
    pub total_num: u32,
    /// Message.
    pub prize_msg: String,
    /// Campaign length in hours from the slot's creation.
    pub duration_hours: u32,
    /// Merchant link.
    pub merchant_link: String,
    /// Per-user limits.
    pub send_frequency: Option<SendFrequency>,
}

/// What a slot event produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotOutcome {
    /// This call created the campaign.
    Created(Campaign),
    /// An earlier delivery created it.
    AlreadyCreated(Campaign),
}

/// Campaign errors.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// A field is invalid.
    #[error("{field}: {reason}")]
    BadInput {
        /// The field (camelCase).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such campaign.
    #[error("unknown campaign")]
    NotFound,
    /// Alipay refused.
    #[error("Alipay refused: {}", .0.reason())]
    Rejected(GatewayFailure),
    /// Outcome unknown.
    #[error("the Alipay outcome is unknown: {0}")]
    GatewayUnknown(String),
    /// Another delivery of the same slot is creating it right now.
    #[error("this schedule slot is being created")]
    SlotInProgress,
    /// The slot's create outcome is unknown: needs reconciliation, never re-created automatically.
    #[error("this schedule slot's campaign creation has an unknown outcome; reconcile it")]
    SlotUnknown,
    /// Status change not allowed.
    #[error("status change to {0} is not allowed (PAUSE, READY or CLOSED)")]
    BadStatus(String),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for CampaignError {
    fn code(&self) -> &'static str {
        match self {
            CampaignError::BadInput { .. } => "invalid_campaign",
            CampaignError::NotFound => "campaign_not_found",
            CampaignError::Rejected(_) => "alipay_rejected",
            CampaignError::GatewayUnknown(_) => "alipay_unavailable",
            CampaignError::SlotInProgress => "slot_in_progress",
            CampaignError::SlotUnknown => "slot_needs_reconciliation",
            CampaignError::BadStatus(_) => "invalid_status",
            CampaignError::Store(StoreError::Unavailable(_)) => "store_unavailable",
            CampaignError::Store(StoreError::Corrupt(_)) => "store_corrupt",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            CampaignError::BadInput { .. } | CampaignError::BadStatus(_) => ErrorKind::BadInput,
            CampaignError::NotFound => ErrorKind::NotFound,
            CampaignError::Rejected(_) => ErrorKind::Unprocessable,
            CampaignError::SlotInProgress | CampaignError::SlotUnknown => ErrorKind::Conflict,
            CampaignError::GatewayUnknown(_) | CampaignError::Store(StoreError::Unavailable(_)) => {
                ErrorKind::Unavailable
            }
            CampaignError::Store(StoreError::Corrupt(_)) => ErrorKind::Internal,
        }
    }
}

/// Creates, reads, refreshes and changes campaigns; runs schedule slots.
pub struct CampaignService {
    /// Store.
    pub store: Arc<dyn CampaignStore>,
    /// Gateway.
    pub gateway: Arc<dyn CashGateway>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
}

impl CampaignService {
    fn request(c: &NewCampaign) -> CreateCampaignRequest {
        CreateCampaignRequest {
            coupon_name: c.coupon_name.clone(),
            prize_type: c.prize_type,
            total_money: c.total_money,
            total_num: c.total_num,
            prize_msg: c.prize_msg.clone(),
            start_time: match c.start {
                StartTime::Now => "NowTime".to_owned(),
                StartTime::At(t) => t.to_beijing(),
            },
            end_time: c.end.to_beijing(),
            merchant_link: c.merchant_link.clone(),
            send_freqency: c.send_frequency.as_ref().map(|f| f.as_str().to_owned()),
        }
    }

    fn record(
        &self,
        c: &NewCampaign,
        req: &CreateCampaignRequest,
        created: crate::ports::CampaignCreated,
        slot: Option<String>,
    ) -> Campaign {
        let now = self.clock.now();
        Campaign {
            crowd_no: created.crowd_no,
            coupon_name: c.coupon_name.clone(),
            prize_type: c.prize_type,
            total_money: c.total_money,
            total_num: c.total_num,
            prize_msg: c.prize_msg.clone(),
            start_time: req.start_time.clone(),
            end_time: req.end_time.clone(),
            merchant_link: c.merchant_link.clone(),
            send_frequency: c.send_frequency.clone(),
            pay_url: Some(created.pay_url.clone()),
            pay_instructions: None,
            status: CampaignStatus::Created,
            origin_crowd_no: created.origin_crowd_no,
            send_amount: None,
            slot,
            created_at: now,
            updated_at: now,
        }
    }

    /// Creates a campaign from an HTTP call (validated input): `cash.create`, then store.
    ///
    /// # Errors
    /// [`CampaignError`].
    pub async fn create(&self, c: &NewCampaign) -> Result<Campaign, CampaignError> {
        let req = Self::request(c);
        let created = match self.gateway.create_campaign(&req).await {
            GatewayOutcome::Success(r) => r,
            GatewayOutcome::Failed(f) => return Err(CampaignError::Rejected(f)),
            GatewayOutcome::Unknown(m) => return Err(CampaignError::GatewayUnknown(m)),
        };
        let camp = self.record(c, &req, created, None);
        self.store.put_campaign(&camp).await?;
        Ok(camp)
    }

    /// Runs one schedule slot: at most one campaign per (plan, slot), even when delivered twice.
    ///
    /// # Errors
    /// [`CampaignError::SlotInProgress`], [`CampaignError::SlotUnknown`], gateway and store errors.
    pub async fn create_for_slot(
        &self,
        plan: &SchedulePlan,
        slot: &str,
    ) -> Result<SlotOutcome, CampaignError> {
        let ok_label = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !ok_label(&plan.plan_id) {
            return Err(bad("planId", "must be 1-64 of [A-Za-z0-9_-]"));
        }
        if !ok_label(slot) {
            return Err(bad("slot", "must be 1-64 of [A-Za-z0-9_-]"));
        }
        let now = self.clock.now();
        let coupon_name = format!("{} {}", plan.coupon_name, slot);
        let rec = SlotRecord {
            plan_id: plan.plan_id.clone(),
            slot: slot.to_owned(),
            coupon_name: coupon_name.clone(),
            state: SlotState::Creating,
            fence: self.ids.fence_token(),
            lease_until: now.plus(std::time::Duration::from_secs(60)),
            created_at: now,
            updated_at: now,
        };
        match self.store.acquire_slot(&rec).await? {
            Inserted::Inserted => {}
            Inserted::Exists(existing) => {
                return match existing.state {
                    SlotState::Created { crowd_no } => {
                        let camp = self
                            .store
                            .get_campaign(&crowd_no)
                            .await?
                            .ok_or(CampaignError::NotFound)?;
                        Ok(SlotOutcome::AlreadyCreated(camp))
                    }
                    SlotState::Creating if existing.lease_until > now => {
                        Err(CampaignError::SlotInProgress)
                    }
                    // A CREATING holder that died mid-call: its outcome is unknown too.
                    SlotState::Creating | SlotState::Unknown { .. } => {
                        Err(CampaignError::SlotUnknown)
                    }
                    SlotState::Failed { failure } => Err(CampaignError::Rejected(failure)),
                };
            }
        }
        let new = NewCampaign {
            coupon_name,
            prize_type: plan.prize_type,
            total_money: plan.total_money,
            total_num: plan.total_num,
            prize_msg: plan.prize_msg.clone(),
            start: StartTime::Now,
            end: now.plus_hours(i64::from(plan.duration_hours.max(1))),
            merchant_link: plan.merchant_link.clone(),
            send_frequency: plan.send_frequency.clone(),
        };
        let req = Self::request(&new);
        let outcome = self.gateway.create_campaign(&req).await;
        let (state, result) = match outcome {
            GatewayOutcome::Success(created) => {
                let camp = self.record(
                    &new,
                    &req,
                    created,
                    Some(format!("{}#{}", plan.plan_id, slot)),
                );
                self.store.put_campaign(&camp).await?;
                (
                    SlotState::Created {
                        crowd_no: camp.crowd_no.clone(),
                    },
                    Ok(SlotOutcome::Created(camp)),
                )
            }
            GatewayOutcome::Failed(f) => (
                SlotState::Failed { failure: f.clone() },
                Err(CampaignError::Rejected(f)),
            ),
            GatewayOutcome::Unknown(m) => (
                SlotState::Unknown { detail: m.clone() },
                Err(CampaignError::GatewayUnknown(m)),
            ),
        };
        let done = SlotRecord {
            state,
            fence: self.ids.fence_token(),
            updated_at: self.clock.now(),
            ..rec.clone()
        };
        self.store.replace_slot(&done, &rec.fence).await?;
        result
    }

    /// Resolves an `UNKNOWN` (or dead `CREATING`) slot with `list.query`: exactly one campaign with
    /// the slot's coupon name → recorded (refreshed with `detail.query`) and the slot marked
    /// created; none → the slot is marked `FAILED` so the next delivery creates it; several → left
    /// for a person ([`CampaignError::SlotUnknown`]).
    ///
    /// # Errors
    /// [`CampaignError`].
    pub async fn reconcile_slot(
        &self,
        plan: &SchedulePlan,
        slot: &str,
    ) -> Result<Option<Campaign>, CampaignError> {
        let existing = self
            .store
            .get_slot(&plan.plan_id, slot)
            .await?
            .ok_or(CampaignError::NotFound)?;
        let now = self.clock.now();
        match &existing.state {
            SlotState::Created { crowd_no } => {
                return self.store.get_campaign(crowd_no).await.map_err(Into::into)
            }
            SlotState::Failed { .. } => return Ok(None),
            SlotState::Creating if existing.lease_until > now => {
                return Err(CampaignError::SlotInProgress)
            }
            _ => {}
        }
        let mut matches = Vec::new();
        for page_index in 1..=50u32 {
            let page = match self
                .gateway
                .list(&ListCampaignsRequest {
                    camp_status: None,
                    page_index,
                    page_size: 50,
                })
                .await
            {
                GatewayOutcome::Success(p) => p,
                GatewayOutcome::Failed(f) => return Err(CampaignError::Rejected(f)),
                GatewayOutcome::Unknown(m) => return Err(CampaignError::GatewayUnknown(m)),
            };
            let n = page.camp_list.len();
            matches.extend(
                page.camp_list
                    .into_iter()
                    .filter(|c| c.coupon_name == existing.coupon_name),
            );
            if n < 50 || u64::from(page_index) * 50 >= u64::from(page.total_size) {
                break;
            }
        }
        match matches.as_slice() {
            [] => {
                let freed = SlotRecord {
                    state: SlotState::Failed {
                        failure: GatewayFailure {
                            code: "NOT_FOUND_BY_RECONCILIATION".into(),
                            error_msg: Some("no campaign with this slot's coupon name".into()),
                            ..Default::default()
                        },
                    },
                    fence: self.ids.fence_token(),
                    updated_at: now,
                    ..existing.clone()
                };
                self.store.replace_slot(&freed, &existing.fence).await?;
                Ok(None)
            }
            [one] => {
                let crowd_no = CrowdNo::parse(&one.crowd_no)
                    .map_err(|e| CampaignError::GatewayUnknown(e.to_string()))?;
                let detail = match self.gateway.detail(&crowd_no).await {
                    GatewayOutcome::Success(d) => d,
                    GatewayOutcome::Failed(f) => return Err(CampaignError::Rejected(f)),
                    GatewayOutcome::Unknown(m) => return Err(CampaignError::GatewayUnknown(m)),
                };
                let status = CampaignStatus::parse(&detail.camp_status);
                tracing::warn!(
                    crowdNo = %crowd_no,
                    slot = %slot,
                    campStatus = status.as_str(),
                    "slot campaign recovered without its pay URL; the operator must pay it in the merchant portal"
                );
                let camp = Campaign {
                    crowd_no: crowd_no.clone(),
                    coupon_name: existing.coupon_name.clone(),
                    prize_type: plan.prize_type,
                    total_money: plan.total_money,
                    total_num: plan.total_num,
                    prize_msg: plan.prize_msg.clone(),
                    start_time: detail.start_time.unwrap_or_default(),
                    end_time: detail.end_time.unwrap_or_default(),
                    merchant_link: plan.merchant_link.clone(),
                    send_frequency: plan.send_frequency.clone(),
                    pay_url: None,
                    pay_instructions: (!matches!(
                        status,
                        CampaignStatus::Ready | CampaignStatus::Paid
                    ))
                    .then(|| pay_instructions(&crowd_no, &existing.coupon_name)),
                    status,
                    origin_crowd_no: one.origin_crowd_no.clone(),
                    send_amount: detail
                        .send_amount
                        .as_deref()
                        .and_then(|s| AmountFen::parse_yuan(s).ok()),
                    slot: Some(format!("{}#{}", plan.plan_id, slot)),
                    created_at: now,
                    updated_at: now,
                };
                self.store.put_campaign(&camp).await?;
                let done = SlotRecord {
                    state: SlotState::Created { crowd_no },
                    fence: self.ids.fence_token(),
                    updated_at: now,
                    ..existing.clone()
                };
                self.store.replace_slot(&done, &existing.fence).await?;
                Ok(Some(camp))
            }
            _ => Err(CampaignError::SlotUnknown),
        }
    }

    /// One campaign from the store.
    ///
    /// # Errors
    /// [`CampaignError::NotFound`] or a store error.
    pub async fn get(&self, crowd_no: &CrowdNo) -> Result<Campaign, CampaignError> {
        self.store
            .get_campaign(crowd_no)
            .await?
            .ok_or(CampaignError::NotFound)
    }

    /// Campaigns, newest first.
    ///
    /// # Errors
    /// A store error.
    pub async fn list(&self, limit: usize) -> Result<Vec<Campaign>, CampaignError> {
        Ok(self.store.list_campaigns(limit).await?)
    }

    /// Refreshes status and sent amount with `detail.query` and stores them.
    ///
    /// # Errors
    /// [`CampaignError`].
    pub async fn refresh(&self, crowd_no: &CrowdNo) -> Result<Campaign, CampaignError> {
        let mut camp = self.get(crowd_no).await?;
        let detail = match self.gateway.detail(crowd_no).await {
            GatewayOutcome::Success(d) => d,
            GatewayOutcome::Failed(f) => return Err(CampaignError::Rejected(f)),
            GatewayOutcome::Unknown(m) => return Err(CampaignError::GatewayUnknown(m)),
        };
        let status = CampaignStatus::parse(&detail.camp_status);
        if let CampaignStatus::Unrecognised(text) = &status {
            tracing::warn!(crowdNo = %crowd_no, campStatus = %text, "Alipay reported an unrecognised campaign state; kept as is");
        }
        if matches!(status, CampaignStatus::Ready | CampaignStatus::Paid) {
            camp.pay_instructions = None;
        }
        camp.status = status;
        if let Some(a) = detail
            .send_amount
            .as_deref()
            .and_then(|s| AmountFen::parse_yuan(s).ok())
        {
            camp.send_amount = Some(a);
        }
        camp.updated_at = self.clock.now();
        self.store.put_campaign(&camp).await?;
        Ok(camp)
    }

    /// `status.modify` to PAUSE, READY or CLOSED, then the store.
    ///
    /// # Errors
    /// [`CampaignError`].
    pub async fn set_status(
        &self,
        crowd_no: &CrowdNo,
        target: CampaignStatus,
    ) -> Result<Campaign, CampaignError> {
        if !matches!(
            target,
            CampaignStatus::Pause | CampaignStatus::Ready | CampaignStatus::Closed
        ) {
            return Err(CampaignError::BadStatus(target.as_str().to_owned()));
        }
        let mut camp = self.get(crowd_no).await?;
        match self.gateway.modify_status(crowd_no, target.clone()).await {
            GatewayOutcome::Success(()) => {}
            GatewayOutcome::Failed(f) => return Err(CampaignError::Rejected(f)),
            GatewayOutcome::Unknown(m) => return Err(CampaignError::GatewayUnknown(m)),
        }
        camp.status = target;
        camp.updated_at = self.clock.now();
        self.store.put_campaign(&camp).await?;
        Ok(camp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn frequency_grammar() {
        for ok in ["L1", "D1|L5", "W2|L2", "L100", "M3|L10"] {
            assert!(SendFrequency::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "D1", "D1|W1|L5", "L101", "D6|L5", "L0", "X1|L1", "L1|L2", "L", "D1|L5|",
        ] {
            assert!(SendFrequency::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SendFrequency::parse("D1|L5").unwrap().lifetime_limit(), 5);
    }

    fn input() -> NewCampaignInput {
        NewCampaignInput {
            coupon_name: Some("周一红包".into()),
            prize_type: Some("fixed".into()),
            total_money: Some("20.00".into()),
            total_num: Some(10),
            prize_msg: Some("恭喜".into()),
            start_time: Some("NowTime".into()),
            end_time: Some("2024-03-01 00:00:00".into()),
            merchant_link: Some("https://example.com".into()),
            send_frequency: Some("D1|L5".into()),
        }
    }

    #[test]
    fn input_validation() {
        let now = Timestamp::parse_beijing("2024-01-01 00:00:00").unwrap();
        assert!(input().validate(now).is_ok());
        let mut i = input();
        i.total_money = Some("0.50".into());
        assert!(matches!(
            i.validate(now),
            Err(CampaignError::BadInput {
                field: "totalMoney",
                ..
            })
        ));
        let mut i = input();
        i.total_num = Some(3);
        assert!(matches!(
            i.validate(now),
            Err(CampaignError::BadInput {
                field: "totalNum",
                ..
            })
        ));
        let mut i = input();
        i.end_time = Some("2024-09-01 00:00:00".into());
        assert!(matches!(
            i.validate(now),
            Err(CampaignError::BadInput {
                field: "endTime",
                ..
            })
        ));
        let mut i = input();
        i.prize_type = Some("other".into());
        assert!(matches!(
            i.validate(now),
            Err(CampaignError::BadInput {
                field: "prizeType",
                ..
            })
        ));
    }

    fn plan() -> SchedulePlan {
        SchedulePlan {
            plan_id: "monday".into(),
            coupon_name: "周一红包".into(),
            prize_type: PrizeType::Fixed,
            total_money: AmountFen::from_fen(100_000).unwrap(),
            total_num: 500,
            prize_msg: "恭喜".into(),
            duration_hours: 24,
            merchant_link: "https://example.com".into(),
            send_frequency: None,
        }
    }

    #[tokio::test]
    async fn slot_delivered_twice_creates_one_campaign() {
        let w = World::new();
        let svc = w.campaign_service();
        let a = svc.create_for_slot(&plan(), "2024-06-03").await.unwrap();
        let b = svc.create_for_slot(&plan(), "2024-06-03").await.unwrap();
        let (SlotOutcome::Created(a), SlotOutcome::AlreadyCreated(b)) = (a, b) else {
            panic!()
        };
        assert_eq!(a.crowd_no, b.crowd_no);
        assert_eq!(w.cash_gw.campaigns_created(), 1);
        assert!(a
            .pay_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")));
        assert_eq!(a.coupon_name, "周一红包 2024-06-03");
    }

    #[tokio::test]
    async fn unknown_slot_is_never_recreated_and_reconciles_by_name() {
        let w = World::new();
        let svc = w.campaign_service();
        w.cash_gw.fail_next_create(GwFault::UnknownAfter);
        assert_eq!(
            svc.create_for_slot(&plan(), "2024-06-03")
                .await
                .unwrap_err()
                .code(),
            "alipay_unavailable"
        );
        assert_eq!(
            svc.create_for_slot(&plan(), "2024-06-03")
                .await
                .unwrap_err()
                .code(),
            "slot_needs_reconciliation"
        );
        assert_eq!(w.cash_gw.campaigns_created(), 1);
        let camp = svc
            .reconcile_slot(&plan(), "2024-06-03")
            .await
            .unwrap()
            .unwrap();
        let again = svc.create_for_slot(&plan(), "2024-06-03").await.unwrap();
        assert_eq!(again, SlotOutcome::AlreadyCreated(camp));
        assert_eq!(w.cash_gw.campaigns_created(), 1);
    }

    #[tokio::test]
    async fn unknown_before_send_reconciles_to_free_slot() {
        let w = World::new();
        let svc = w.campaign_service();
        w.cash_gw.fail_next_create(GwFault::UnknownBefore);
        assert!(svc.create_for_slot(&plan(), "s1").await.is_err());
        assert_eq!(svc.reconcile_slot(&plan(), "s1").await.unwrap(), None);
        assert!(matches!(
            svc.create_for_slot(&plan(), "s1").await.unwrap(),
            SlotOutcome::Created(_)
        ));
        assert_eq!(w.cash_gw.campaigns_created(), 1);
    }

    #[tokio::test]
    async fn status_and_refresh() {
        let w = World::new();
        let svc = w.campaign_service();
        let c = svc
            .create(&input().validate(w.clock.now()).unwrap())
            .await
            .unwrap();
        assert_eq!(c.status, CampaignStatus::Created);
        w.cash_gw.set_status(c.crowd_no.as_str(), "READY");
        assert_eq!(
            svc.refresh(&c.crowd_no).await.unwrap().status,
            CampaignStatus::Ready
        );
        assert_eq!(
            svc.set_status(&c.crowd_no, CampaignStatus::Pause)
                .await
                .unwrap()
                .status,
            CampaignStatus::Pause
        );
        assert_eq!(
            svc.set_status(&c.crowd_no, CampaignStatus::Created)
                .await
                .unwrap_err()
                .code(),
            "invalid_status"
        );
        assert_eq!(svc.list(10).await.unwrap().len(), 1);
    }
}
