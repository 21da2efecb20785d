//! Cash campaigns (`cash.create`, `detail.query`, `list.query`, `status.modify`) and schedule slots
//! ([`slot`]).

use crate::amount::AmountFen;
use crate::error::GatewayError;
use crate::ids::CrowdNo;
use crate::ports::{
    CampaignStore, CashGateway, Clock, GatewayFailure, GatewayOutcome, IdGenerator, Inserted,
    ListCampaignsRequest,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

mod error;
pub(crate) mod input;
pub(crate) mod record;
mod schedule;
pub mod slot;
pub(crate) mod status;

pub use error::CampaignError;
pub use input::{NewCampaign, NewCampaignInput, SendFrequency, StartTime};
pub use record::{Campaign, SlotRecord, SlotState};
pub use schedule::{BadScheduleEvent, ScheduleEvent};
pub use slot::{pay_instructions, SchedulePlan, SlotOutcome};
pub use status::{CampaignStatus, PrizeType};

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
