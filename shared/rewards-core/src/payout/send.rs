//! The send service: one attempt per (reason, business id) at a time, triggered on its rail, its
//! outcome recorded by compare-and-set (the rules are in the module docs of `payout`).

use crate::amount::AmountFen;
use crate::campaign::status::CampaignStatus;
use crate::ids::{CrowdNo, OutBizNo};
use crate::payout::config::SendConfig;
use crate::payout::entry::{PayoutEntry, PayoutState};
use crate::payout::error::SendError;
use crate::payout::input::SendRequest;
use crate::payout::ledger::{current_entry, record_proof, Ledger, Outcome, CAS_ROUNDS};
use crate::payout::rail::{AmountProblem, PayoutRail, RailName, TransferSettings};
use crate::payout::reason::{derive_out_biz_no, Reason};
use crate::payout::refusal::Refusal;
use crate::payout::store::PayoutStore;
use crate::ports::cash_gateway::{CashGateway, TriggerRequest, TriggerResult};
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::gateway::GatewayOutcome;
use crate::ports::store::{CasOutcome, StoreError};
use crate::ports::stores::CampaignStore;
use crate::ports::transfer_gateway::TransferGateway;
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// What a send produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The ledger entry (any state).
    pub entry: PayoutEntry,
    /// True when the answer is a recorded entry (no Alipay call made by this request).
    pub replayed: bool,
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

    pub(super) fn new_entry(
        &self,
        req: &SendRequest,
        rail: PayoutRail,
        attempt_no: u32,
    ) -> PayoutEntry {
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
    pub(super) fn unresolved(
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
    pub(super) async fn record(
        &self,
        held: PayoutEntry,
        outcome: Outcome,
    ) -> Result<PayoutEntry, SendError> {
        let done = self.ledger().moved_at(&held, outcome.state, outcome.at);
        match self.payouts.cas_payout(&done, &held.fence).await? {
            CasOutcome::Written => Ok(done),
            CasOutcome::Lost(cur) if matches!(done.state, PayoutState::Sent { .. }) => {
                record_proof(self.ledger(), &done.out_biz_no, done.state, cur).await
            }
            CasOutcome::Lost(cur) => Ok(cur.unwrap_or(held)),
        }
    }

    pub(super) fn ledger(&self) -> Ledger<'_> {
        Ledger {
            payouts: self.payouts.as_ref(),
            clock: self.clock.as_ref(),
            ids: self.ids.as_ref(),
        }
    }
}
