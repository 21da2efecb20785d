//! Schedule slots: a plan id + slot date may create at most one campaign. The slot item is put
//! conditionally **before** `cash.create` and gets the crowd number after. `cash.create` has no
//! idempotency key, so when its outcome is unknown the slot is marked `UNKNOWN` and is never
//! created again automatically: [`CampaignService::reconcile_slot`] looks for the campaign by its
//! coupon name (scheduled campaigns carry the slot date in their name) with `list.query`, and a
//! person resolves what it cannot. A definite failure frees the slot (`FAILED` may be re-acquired).

use super::input::bad;
use super::*;

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
    pub total_money: AmountFen,
    /// Count.
    pub total_num: u32,
    /// Message.
    pub prize_msg: String,
    /// Campaign length in hours from the slot's creation.
    pub duration_hours: u32,
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

/// What the operator is told for a campaign recovered without its `pay_url`.
pub fn pay_instructions(crowd_no: &CrowdNo, coupon_name: &str) -> String {
    format!(
        "Alipay's answer to cash.create was lost, and Alipay returns the pay URL only in that answer. \
         Pay campaign {crowd_no} (\"{coupon_name}\") in the Alipay merchant portal (b.alipay.com: \
         营销中心 → 现金红包 → 活动列表), or close it (POST /campaigns/{crowd_no}/status CLOSED) and \
         create a new one."
    )
}

impl CampaignService {
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
                    SlotState::Failed { failure } => {
                        Err(CampaignError::Gateway(GatewayError::Rejected(failure)))
                    }
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
        let outcome = self.gateway.create_campaign(&new).await;
        let (state, result) = match outcome {
            GatewayOutcome::Success(created) => {
                let camp = self.record(&new, created, Some(format!("{}#{}", plan.plan_id, slot)));
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
                Err(CampaignError::Gateway(GatewayError::Rejected(f))),
            ),
            // cash.create has no idempotency key: a throttled create is held for a person exactly
            // as an unknown one (funding money is never guessed at).
            GatewayOutcome::Unknown(m) | GatewayOutcome::Throttled(m) => (
                SlotState::Unknown { detail: m.clone() },
                Err(CampaignError::Gateway(GatewayError::Unknown(m))),
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
            let page = self
                .gateway
                .list(&ListCampaignsRequest {
                    camp_status: None,
                    page_index,
                    page_size: 50,
                })
                .await
                .into_result()?;
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
                    .map_err(|e| CampaignError::Gateway(GatewayError::Unknown(e.to_string())))?;
                let detail = self.gateway.detail(&crowd_no).await.into_result()?;
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
                    send_amount: detail.send_amount,
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
}
