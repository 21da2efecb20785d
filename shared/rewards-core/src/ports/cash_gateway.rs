//! The cash campaign gateway: `alipay.marketing.campaign.cash.*`.

use super::gateway::GatewayOutcome;
use crate::amount::AmountFen;
use crate::campaign::input::NewCampaign;
use crate::campaign::status::CampaignStatus;
use crate::ids::{CrowdNo, OutBizNo, Recipient};
use async_trait::async_trait;

/// `cash.create` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignCreated {
    pub crowd_no: CrowdNo,
    /// `pay_url`, already URL-decoded by the gateway adapter (decoded exactly once, at the wire).
    pub pay_url: String,
    pub origin_crowd_no: Option<String>,
}

/// `cash.trigger` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRequest {
    pub crowd_no: CrowdNo,
    /// `user_id` or the open id.
    pub recipient: Recipient,
    pub out_biz_no: OutBizNo,
    /// `order_price` (unused by the core; unit unconfirmed upstream).
    pub order_price: Option<AmountFen>,
}

/// `cash.trigger` response (business part).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TriggerResult {
    /// `trigger_result == "true"`.
    pub trigger_result: bool,
    /// `prize_amount`.
    pub prize_amount: Option<AmountFen>,
    /// `repeat_trigger_flag == "true"` (a replay of an earlier result).
    pub repeat_trigger_flag: bool,
    pub biz_no: Option<String>,
    /// `out_biz_no` echoed.
    pub out_biz_no: Option<String>,
    /// `error_msg` (set when `trigger_result` is false), verbatim.
    pub error_msg: Option<String>,
    pub partner_id: Option<String>,
}

/// `cash.detail.query` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignDetail {
    pub crowd_no: String,
    pub coupon_name: Option<String>,
    pub prize_msg: Option<String>,
    pub prize_type: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// `total_amount`.
    pub total_amount: Option<AmountFen>,
    /// `send_amount`.
    pub send_amount: Option<AmountFen>,
    /// `total_count`.
    pub total_count: Option<String>,
    pub origin_crowd_no: Option<String>,
    pub camp_status: String,
}

/// `cash.list.query` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCampaignsRequest {
    /// `camp_status` (None = ALL).
    pub camp_status: Option<String>,
    /// `page_index` from 1.
    pub page_index: u32,
    pub page_size: u32,
}

/// One `camp_list` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSummary {
    pub crowd_no: String,
    pub origin_crowd_no: Option<String>,
    pub camp_status: String,
    pub coupon_name: String,
}

/// `cash.list.query` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignPage {
    pub camp_list: Vec<CampaignSummary>,
    pub page_index: u32,
    pub page_size: u32,
    pub total_size: u32,
}

/// The cash campaign APIs.
#[async_trait]
pub trait CashGateway: Send + Sync {
    /// `alipay.marketing.campaign.cash.create` with validated terms (no idempotency key upstream;
    /// the adapter writes amounts in yuan and times as [`crate::campaign::StartTime::as_sent`]).
    async fn create_campaign(&self, terms: &NewCampaign) -> GatewayOutcome<CampaignCreated>;
    /// `alipay.marketing.campaign.cash.trigger`.
    async fn trigger(&self, req: &TriggerRequest) -> GatewayOutcome<TriggerResult>;
    /// `alipay.marketing.campaign.cash.detail.query`.
    async fn detail(&self, crowd_no: &CrowdNo) -> GatewayOutcome<CampaignDetail>;
    /// `alipay.marketing.campaign.cash.list.query`.
    async fn list(&self, req: &ListCampaignsRequest) -> GatewayOutcome<CampaignPage>;
    /// `alipay.marketing.campaign.cash.status.modify` (`PAUSE | READY | CLOSED`).
    async fn modify_status(&self, crowd_no: &CrowdNo, status: CampaignStatus)
        -> GatewayOutcome<()>;
}
