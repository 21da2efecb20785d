//! Cash campaigns (`cash.create`, `detail.query`, `list.query`, `status.modify`) and schedule slots
//! ([`slot`]).

use crate::amount::AmountFen;
use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::ids::CrowdNo;
use crate::ports::{
    CampaignStore, CashGateway, Clock, GatewayFailure, GatewayOutcome, IdGenerator, Inserted,
    ListCampaignsRequest, StoreError,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

mod input;
mod schedule;
pub mod slot;
mod status;

pub use input::{NewCampaign, NewCampaignInput, SendFrequency, StartTime};
pub use schedule::{BadScheduleEvent, ScheduleEvent};
pub use slot::{pay_instructions, SchedulePlan, SlotOutcome, SlotRecord, SlotState};
pub use status::{CampaignStatus, PrizeType};

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
    /// Alipay refused, or its outcome is unknown.
    #[error("{}", .0.describe("Alipay refused"))]
    Gateway(GatewayError),
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

domain_error!(
    CampaignError {
        CampaignError::BadInput { .. } => "invalid_campaign", ErrorKind::BadInput;
        CampaignError::BadStatus(_) => "invalid_status", ErrorKind::BadInput;
        CampaignError::NotFound => "campaign_not_found", ErrorKind::NotFound;
        CampaignError::SlotInProgress => "slot_in_progress", ErrorKind::Conflict;
        CampaignError::SlotUnknown => "slot_needs_reconciliation", ErrorKind::Conflict;
    }
    gateway: Gateway;
    store: Store;
);

/// Creates, reads, refreshes and changes campaigns; runs schedule slots.
pub struct CampaignService {
    pub store: Arc<dyn CampaignStore>,
    pub gateway: Arc<dyn CashGateway>,
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
}

impl CampaignService {
    fn record(
        &self,
        c: &NewCampaign,
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
            start_time: c.start.as_sent(),
            end_time: c.end.to_beijing(),
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
    #[tracing::instrument(skip_all, fields(coupon_name = %c.coupon_name))]
    pub async fn create(&self, c: &NewCampaign) -> Result<Campaign, CampaignError> {
        let created = self.gateway.create_campaign(c).await.into_result()?;
        let camp = self.record(c, created, None);
        self.store.put_campaign(&camp).await?;
        Ok(camp)
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
    #[tracing::instrument(skip_all, fields(crowd_no = %crowd_no))]
    pub async fn refresh(&self, crowd_no: &CrowdNo) -> Result<Campaign, CampaignError> {
        let mut camp = self.get(crowd_no).await?;
        let detail = self.gateway.detail(crowd_no).await.into_result()?;
        let status = CampaignStatus::parse(&detail.camp_status);
        if let CampaignStatus::Unrecognised(text) = &status {
            tracing::warn!(crowdNo = %crowd_no, campStatus = %text, "Alipay reported an unrecognised campaign state; kept as is");
        }
        if matches!(status, CampaignStatus::Ready | CampaignStatus::Paid) {
            camp.pay_instructions = None;
        }
        camp.status = status;
        if let Some(a) = detail.send_amount {
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
    #[tracing::instrument(skip_all, fields(crowd_no = %crowd_no, target = target.as_str()))]
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
        self.gateway
            .modify_status(crowd_no, target.clone())
            .await
            .into_result()?;
        camp.status = target;
        camp.updated_at = self.clock.now();
        self.store.put_campaign(&camp).await?;
        Ok(camp)
    }
}

#[cfg(test)]
mod tests;
