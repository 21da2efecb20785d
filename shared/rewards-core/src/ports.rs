//! Ports: the traits the core calls. Store ports are one per aggregate and narrow; gateway ports
//! mirror the Alipay APIs with core-owned request and response types close to the Alipay fields.
//!
//! All traits use `async-trait` so that services can hold them as `Arc<dyn Port>`.

use crate::amount::AmountFen;
use crate::campaign::{Campaign, CampaignStatus, NewCampaign, SlotRecord};
use crate::claim::ClaimAccount;
use crate::idempotency::{IdemBegin, IdemKey, IdemRecord};
use crate::ids::{AppId, CrowdNo, OutBizNo, PassId, SerialNumber, TemplateId, UserId, UserToken};
use crate::pass::{PassRecord, PassStatus};
use crate::payout::{
    BizPointer, ListRequest, PayoutEntry, PayoutPage, Reason, Recipient, UnresolvedCounts,
};
use crate::template::TemplateRecord;
use crate::time::Timestamp;
use crate::BusinessId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Gateway outcome
// ---------------------------------------------------------------------------------------------

/// A definite business failure reported by Alipay (the call was processed and refused).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GatewayFailure {
    /// Gateway `code` (e.g. `40004`).
    pub code: String,
    /// Gateway `sub_code` (e.g. `ACQ.xxx`), when given.
    pub sub_code: Option<String>,
    /// Gateway `sub_msg`, verbatim.
    pub sub_msg: Option<String>,
    /// A business-level error text (e.g. trigger's `error_msg`, pass `result.errorMsg`), verbatim.
    pub error_msg: Option<String>,
}

impl GatewayFailure {
    /// The most specific human text: `error_msg`, else `sub_msg`, else the code.
    pub fn reason(&self) -> String {
        self.error_msg
            .clone()
            .or_else(|| self.sub_msg.clone())
            .unwrap_or_else(|| self.code.clone())
    }
}

/// The three-way outcome of a gateway call. `Unknown` means the request may or may not have been
/// processed (timeout, connection reset after send, 5xx, `isp.unknow-error`, `*SYSTEM_ERROR`,
/// unverifiable or unparsable answer): the caller must retry with the same idempotency key, never
/// treat it as a failure.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayOutcome<T> {
    /// Processed and succeeded.
    Success(T),
    /// Processed and definitely refused.
    Failed(GatewayFailure),
    /// Not known; the string is a diagnostic (no secrets).
    Unknown(String),
}

// ---------------------------------------------------------------------------------------------
// Pass gateway
// ---------------------------------------------------------------------------------------------

/// `alipay.pass.template.add` input.
#[derive(Debug, Clone, PartialEq)]
pub struct AddTemplateRequest {
    /// Deterministic `unique_id` (hash of the content).
    pub unique_id: String,
    /// The validated `tpl_content` object (`{logo, icon?, strip?, content}`).
    pub tpl_content: serde_json::Value,
}

/// `alipay.pass.template.update` input.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateTemplateRequest {
    /// The template id.
    pub tpl_id: TemplateId,
    /// The validated `tpl_content` object.
    pub tpl_content: serde_json::Value,
}

/// The `result` of template.add / template.update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateResult {
    pub tpl_id: TemplateId,
    /// `tpl_params`: the `$var$` names Alipay found.
    pub tpl_params: Vec<String>,
}

/// `alipay.pass.instance.add` input (always `recognition_type` 2: user id + user token).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuePassRequest {
    pub tpl_id: TemplateId,
    /// `tpl_params`: values for every `$var$`.
    pub tpl_params: BTreeMap<String, String>,
    /// `recognition_info.user_id`.
    pub user_id: UserId,
    /// `recognition_info.user_token`.
    pub user_token: UserToken,
}

/// The `result` of instance.add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassIssued {
    pub pass_id: PassId,
    /// `serialNumber` as echoed by Alipay, when present.
    pub serial_number: Option<SerialNumber>,
}

/// `alipay.pass.instance.update` input.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePassRequest {
    pub serial_number: SerialNumber,
    /// `channel_id` (the app id).
    pub channel_id: AppId,
    /// The pass's user: `user_id`, or `open_id` for open-id apps (required of newly onboarded
    /// merchants; an update without it may be refused).
    pub holder: Recipient,
    /// `status`: `USED` or `CLOSED`.
    pub status: Option<PassStatus>,
    /// New `$var$` values, if any.
    pub tpl_params: Option<BTreeMap<String, String>>,
}

/// Asks Alipay whether it holds a pass with this serial (after an issuance whose outcome was lost):
/// an `alipay.pass.instance.update` that sets the parameters the pass was issued with, so nothing
/// visible changes, and whose answer names the pass.
#[derive(Debug, Clone, PartialEq)]
pub struct FindPassRequest {
    pub serial_number: SerialNumber,
    /// `channel_id` (the app id).
    pub channel_id: AppId,
    /// The user the serial was issued for.
    pub user_id: UserId,
    /// The `tpl_params` the pass was issued with (sent again unchanged).
    pub tpl_params: BTreeMap<String, String>,
}

/// What Alipay holds for a serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassLookup {
    /// The pass exists; its id when Alipay's answer names it.
    Found {
        /// `passId`, if reported.
        pass_id: Option<PassId>,
    },
    /// Alipay says no pass has this serial (a definite answer).
    NotFound,
}

/// The pass APIs.
#[async_trait]
pub trait PassGateway: Send + Sync {
    /// `alipay.pass.template.add`.
    async fn add_template(&self, req: &AddTemplateRequest) -> GatewayOutcome<TemplateResult>;
    /// `alipay.pass.template.update`.
    async fn update_template(&self, req: &UpdateTemplateRequest) -> GatewayOutcome<TemplateResult>;
    /// `alipay.pass.instance.add`.
    async fn issue_pass(&self, req: &IssuePassRequest) -> GatewayOutcome<PassIssued>;
    /// `alipay.pass.instance.update`.
    async fn update_pass(&self, req: &UpdatePassRequest) -> GatewayOutcome<()>;
    /// Whether Alipay holds a pass with this serial (see [`FindPassRequest`]).
    async fn find_pass(&self, req: &FindPassRequest) -> GatewayOutcome<PassLookup>;
}

// ---------------------------------------------------------------------------------------------
// Cash gateway
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrizeType {
    /// Every envelope is `total_money / total_num`.
    Fixed,
    /// Random amounts around the average.
    Random,
}

impl PrizeType {
    /// The Alipay string.
    pub fn as_str(self) -> &'static str {
        match self {
            PrizeType::Fixed => "fixed",
            PrizeType::Random => "random",
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Transfer rail (`alipay.fund.trans.uni.transfer` + `alipay.fund.trans.common.query`)
// ---------------------------------------------------------------------------------------------

/// `product_code` of a transfer. Both use `biz_scene=DIRECT_TRANSFER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransferProduct {
    /// `STD_RED_PACKET` (收发现金红包; sent with `business_params {"sub_biz_scene":"REDPACKET"}`),
    /// 0.01 yuan to 100,000,000 yuan per order.
    #[serde(rename = "STD_RED_PACKET")]
    StdRedPacket,
    /// `TRANS_ACCOUNT_NO_PWD` (单笔无密转账到支付宝账户), 0.10 yuan to 100,000,000 yuan per order.
    #[serde(rename = "TRANS_ACCOUNT_NO_PWD")]
    TransAccountNoPwd,
}

impl TransferProduct {
    /// The `product_code` text.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferProduct::StdRedPacket => "STD_RED_PACKET",
            TransferProduct::TransAccountNoPwd => "TRANS_ACCOUNT_NO_PWD",
        }
    }

    /// Parses a `product_code` text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STD_RED_PACKET" => Some(TransferProduct::StdRedPacket),
            "TRANS_ACCOUNT_NO_PWD" => Some(TransferProduct::TransAccountNoPwd),
            _ => None,
        }
    }

    /// The smallest amount Alipay accepts for one order of this product.
    pub fn min_amount(self) -> AmountFen {
        const ONE_FEN: AmountFen = AmountFen::from_fen_const(1);
        const TEN_FEN: AmountFen = AmountFen::from_fen_const(10);
        match self {
            TransferProduct::StdRedPacket => ONE_FEN,
            TransferProduct::TransAccountNoPwd => TEN_FEN,
        }
    }

    /// The largest amount Alipay accepts for one order of this product (100,000,000 yuan).
    pub fn max_amount(self) -> AmountFen {
        const HUNDRED_MILLION_YUAN: AmountFen = AmountFen::from_fen_const(10_000_000_000);
        HUNDRED_MILLION_YUAN
    }
}

/// One `transfer_scene_report_infos` entry (`info_type`, `info_content`), e.g. `活动名称` / `奖励说明`
/// for the scene `现金营销`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SceneReportInfo {
    /// `info_type`.
    pub info_type: String,
    /// `info_content`.
    pub info_content: String,
}

impl SceneReportInfo {
    /// The two infos the scene `现金营销` (cash marketing) must report: `活动名称`, the activity's
    /// name, and `奖励说明`, what the reward is for.
    pub fn cash_marketing(activity: impl Into<String>, reward: impl Into<String>) -> Vec<Self> {
        let info = |info_type: &str, info_content: String| SceneReportInfo {
            info_type: info_type.to_owned(),
            info_content,
        };
        vec![
            info("活动名称", activity.into()),
            info("奖励说明", reward.into()),
        ]
    }
}

/// Everything one transfer order carries. A re-send of an out_biz_no must carry exactly the same
/// values (Alipay answers `PAYMENT_INFO_INCONSISTENCY` otherwise), so the ledger stores them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOrder {
    /// The idempotency key.
    pub out_biz_no: OutBizNo,
    /// `trans_amount` (the adapter writes yuan with two decimals).
    pub amount: AmountFen,
    /// `product_code`.
    pub product: TransferProduct,
    /// `payee_info`: `ALIPAY_USER_ID` or `ALIPAY_OPEN_ID`.
    pub payee: Recipient,
    /// `order_title` (shown on the payee's bill).
    pub order_title: String,
    /// `transfer_scene_name`, e.g. `现金营销`.
    pub scene_name: String,
    /// `transfer_scene_report_infos`.
    pub scene_report_infos: Vec<SceneReportInfo>,
    /// `notify_url` for `alipay.fund.trans.order.changed` (None: not sent).
    pub notify_url: Option<String>,
}

/// A transfer order's `status` as uni.transfer, common.query and the order.changed notification
/// report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// `SUCCESS`: paid.
    #[serde(rename = "SUCCESS")]
    Success,
    /// `DEALING`: accepted, still processing.
    #[serde(rename = "DEALING")]
    Dealing,
    /// `WAIT_PAY`: accepted, not paid yet.
    #[serde(rename = "WAIT_PAY")]
    WaitPay,
    /// `FAIL`: the order failed; no money moved.
    #[serde(rename = "FAIL")]
    Fail,
    /// `REFUND`: paid and returned to the payer.
    #[serde(rename = "REFUND")]
    Refund,
    /// `CLOSED`: closed without payment.
    #[serde(rename = "CLOSED")]
    Closed,
    /// Any other text, kept verbatim (never treated as paid or as failed).
    #[serde(untagged)]
    Other(String),
}

impl TransferStatus {
    /// Parses Alipay's text (unknown texts are kept in [`TransferStatus::Other`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "SUCCESS" => TransferStatus::Success,
            "DEALING" => TransferStatus::Dealing,
            "WAIT_PAY" => TransferStatus::WaitPay,
            "FAIL" => TransferStatus::Fail,
            "REFUND" => TransferStatus::Refund,
            "CLOSED" => TransferStatus::Closed,
            other => TransferStatus::Other(other.to_owned()),
        }
    }

    /// Alipay's text.
    pub fn as_str(&self) -> &str {
        match self {
            TransferStatus::Success => "SUCCESS",
            TransferStatus::Dealing => "DEALING",
            TransferStatus::WaitPay => "WAIT_PAY",
            TransferStatus::Fail => "FAIL",
            TransferStatus::Refund => "REFUND",
            TransferStatus::Closed => "CLOSED",
            TransferStatus::Other(s) => s,
        }
    }
}

/// What Alipay holds for one transfer order (a `code=10000` answer of uni.transfer or common.query,
/// or an order.changed notification).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferReceipt {
    /// `out_biz_no` echoed (the domain checks it names the entry it called for).
    pub out_biz_no: Option<String>,
    /// `order_id`.
    pub order_id: Option<String>,
    /// `pay_fund_order_id`.
    pub pay_fund_order_id: Option<String>,
    /// `status` (None when the answer carried none: never read as paid).
    pub status: Option<TransferStatus>,
    /// `trans_amount` / `amount`, when given.
    pub amount: Option<AmountFen>,
    /// `trans_date` / `pay_date`, verbatim.
    pub paid_at: Option<String>,
    /// `error_code` on FAIL/REFUND, verbatim.
    pub error_code: Option<String>,
    /// `fail_reason` on FAIL/REFUND, verbatim (never shown to public callers).
    pub fail_reason: Option<String>,
}

/// How a refused transfer call is classified. The table from Alipay's codes to these classes lives
/// in one place, the gateway client (`alipay_client::transfer`), with the unknown class folded into
/// [`TransferOutcome::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalClass {
    /// The payee or the input is wrong: this order will never be paid.
    Definite,
    /// Not done now (balance, quota, rate limit): the same request with the same number may
    /// succeed later; a person should look.
    RetryLater,
    /// The merchant's setup is wrong (product not signed, certificate missing): never retried by
    /// itself; a person must fix the configuration.
    Configuration,
}

/// A transfer call Alipay processed and refused (`code` ≠ 10000 with a classified sub_code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRefusal {
    /// Gateway code, sub_code, sub_msg (verbatim).
    pub failure: GatewayFailure,
    /// Its class.
    pub class: RefusalClass,
}

/// The three outcomes of a transfer call; callers must match all of them.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// `code=10000`: Alipay holds the order; its `status` says whether it is paid.
    Accepted(TransferReceipt),
    /// Processed and refused, with its class.
    Refused(TransferRefusal),
    /// Not known (timeout, 5xx, `SYSTEM_ERROR`, `PAYMENT_INFO_INCONSISTENCY`, unverifiable answer, a
    /// request that never left): resolve with a query or a re-send of the **same** out_biz_no.
    Unknown(String),
}

/// The answer of `alipay.fund.trans.common.query` by out_biz_no.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferLookup {
    /// Alipay holds the order.
    Found(TransferReceipt),
    /// A signed `ORDER_NOT_EXIST`: Alipay holds no order with this number (a re-send with the same
    /// number is then safe; it may still be in flight, so it is not a failure).
    NotFound,
    /// Refused (for example a configuration problem); nothing learnt about the order.
    Refused(TransferRefusal),
    /// Not known.
    Unknown(String),
}

/// The transfer APIs.
#[async_trait]
pub trait TransferGateway: Send + Sync {
    /// `alipay.fund.trans.uni.transfer` (`biz_scene=DIRECT_TRANSFER`).
    async fn transfer(&self, order: &TransferOrder) -> TransferOutcome;
    /// `alipay.fund.trans.common.query` by out_biz_no (with `product_code` and
    /// `biz_scene=DIRECT_TRANSFER`, which Alipay requires for that lookup).
    async fn query(&self, out_biz_no: &OutBizNo, product: TransferProduct) -> TransferLookup;
}

// ---------------------------------------------------------------------------------------------
// Clock and ids
// ---------------------------------------------------------------------------------------------

/// The injected clock (and sleeper, so the core needs no runtime).
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Waits `d` (used by the claim path while another caller finishes).
    async fn sleep(&self, d: Duration);
}

/// The injected source of unique tokens (fence tokens). Must be unique per call across processes.
pub trait IdGenerator: Send + Sync {
    /// A fresh opaque token, `[A-Za-z0-9_-]`, 16–64 chars.
    fn fence_token(&self) -> String;
}

// ---------------------------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------------------------

/// A store failure. Never carries secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused (throttling, network); retrying is safe.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Result of a conditional insert.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted<T> {
    /// Written.
    Inserted,
    /// Already present; the stored item.
    Exists(T),
}

/// Result of a compare-and-set on a fence token.
#[derive(Debug, Clone, PartialEq)]
pub enum CasOutcome<T> {
    Written,
    /// The fence did not match (someone else holds the item now); the current item if any.
    Lost(Option<T>),
}

/// Templates (`TPL#{id}`).
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Creates or replaces a template record.
    async fn put_template(&self, t: &TemplateRecord) -> Result<(), StoreError>;
    /// One template.
    async fn get_template(&self, id: &TemplateId) -> Result<Option<TemplateRecord>, StoreError>;
    /// All templates, newest first.
    async fn list_templates(&self, limit: usize) -> Result<Vec<TemplateRecord>, StoreError>;
}

/// Claim accounts (`CLAIM#{tpl}#{user}`): a user's passes from one template and the issuance in
/// flight. Every change is a compare-and-set on the account's fence.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Reads an account (strongly consistent).
    async fn get_account(
        &self,
        template: &TemplateId,
        user: &UserId,
    ) -> Result<Option<ClaimAccount>, StoreError>;
    /// Conditional put (account absent).
    async fn create_account(&self, a: &ClaimAccount) -> Result<Inserted<ClaimAccount>, StoreError>;
    /// Replaces the account if its fence is still `expected_fence`.
    async fn replace_account(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError>;
    /// One transaction: replace the account (fence `expected_fence`) and insert the pass items (by
    /// id, by user; each only if absent: a pass item is never rewritten by a claim). `Lost(account)`
    /// when the fence moved or the pass is already stored.
    async fn complete_issuance(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
        pass: &PassRecord,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError>;
    /// Accounts with an issuance in flight whose lease and next check are both past `now` (Alipay
    /// may hold the serial; nobody is working on it), oldest first. Eventually consistent: re-read
    /// before acting.
    async fn list_unresolved(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimAccount>, StoreError>;
}

/// Whose failed claims a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetScope {
    /// One user on one template.
    TemplateUser(TemplateId, UserId),
    /// Every user of a template.
    Template(TemplateId),
}

impl BudgetScope {
    /// The key part of the counter items (`BUDGET#{key}`).
    pub fn key(&self) -> String {
        match self {
            BudgetScope::TemplateUser(t, u) => format!("U#{t}#{u}"),
            BudgetScope::Template(t) => format!("T#{t}"),
        }
    }
}

/// Counters of failed claims, one item per scope and time bucket (`BUDGET#{scope}` / bucket start),
/// each expiring (TTL) once its bucket is out of every window.
#[async_trait]
pub trait ClaimBudgetStore: Send + Sync {
    /// The counted buckets of `scope` that start at or after `since`: (bucket start, failures).
    async fn failures_since(
        &self,
        scope: &BudgetScope,
        since: Timestamp,
    ) -> Result<Vec<(Timestamp, u32)>, StoreError>;
    /// Adds one failure to `scope`'s bucket starting at `bucket`; the item expires at `expires_at`.
    async fn add_failure(
        &self,
        scope: &BudgetScope,
        bucket: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Passes (`PASS#{id}` and `USER#{user}`/`PASS#{createdAt}#{id}`).
#[async_trait]
pub trait PassStore: Send + Sync {
    /// One pass by id.
    async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError>;
    /// A user's passes, newest first.
    async fn list_user_passes(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<PassRecord>, StoreError>;
    /// Writes `p` (its new status) on both items (the record carries `created_at` to find the user
    /// item) if the stored status is still `expected`, the status the change was decided on.
    /// `Lost(current)` when another change came first.
    async fn update_pass(
        &self,
        p: &PassRecord,
        expected: PassStatus,
    ) -> Result<CasOutcome<PassRecord>, StoreError>;
}

/// Campaigns (`CAMP#{crowdNo}`) and schedule slots (`SLOT#{plan}#{slot}`).
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates or replaces a campaign.
    async fn put_campaign(&self, c: &Campaign) -> Result<(), StoreError>;
    /// One campaign.
    async fn get_campaign(&self, crowd_no: &CrowdNo) -> Result<Option<Campaign>, StoreError>;
    /// All campaigns, newest first.
    async fn list_campaigns(&self, limit: usize) -> Result<Vec<Campaign>, StoreError>;
    /// Conditional put of a slot: absent, or present in state `FAILED` (a definite failure frees it).
    async fn acquire_slot(&self, s: &SlotRecord) -> Result<Inserted<SlotRecord>, StoreError>;
    /// Replaces a slot if its fence matches.
    async fn replace_slot(
        &self,
        s: &SlotRecord,
        expected_fence: &str,
    ) -> Result<CasOutcome<SlotRecord>, StoreError>;
    /// Reads a slot.
    async fn get_slot(&self, plan_id: &str, slot: &str) -> Result<Option<SlotRecord>, StoreError>;
}

/// The payout ledger (`PAYOUT#{outBizNo}`, `BIZ#{reason}#{businessId}`, due markers).
#[async_trait]
pub trait PayoutStore: Send + Sync {
    /// The business id's pointer to its current attempt.
    async fn get_pointer(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Option<BizPointer>, StoreError>;
    /// One transaction: write the entry's pointer ([`PayoutEntry::pointer`]; condition: absent when
    /// `expected_attempt` is None, else its `attempt_no` equals it) and insert `entry` (condition:
    /// absent). False when a condition failed.
    async fn start_attempt(
        &self,
        entry: &PayoutEntry,
        expected_attempt: Option<u32>,
    ) -> Result<bool, StoreError>;
    /// One payout.
    async fn get_payout(&self, out_biz_no: &OutBizNo) -> Result<Option<PayoutEntry>, StoreError>;
    /// Replaces the payout if its fence is `expected_fence` (and keeps the due marker in step).
    async fn cas_payout(
        &self,
        entry: &PayoutEntry,
        expected_fence: &str,
    ) -> Result<CasOutcome<PayoutEntry>, StoreError>;
    /// Unresolved payouts (PENDING, UNKNOWN, NEEDS_ATTENTION) that are due (lease / next retry ≤
    /// `now`), oldest due first.
    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<PayoutEntry>, StoreError>;
    /// Every unresolved payout, counted by state (due or not).
    async fn unresolved_counts(&self) -> Result<UnresolvedCounts, StoreError>;
    /// The operator's listing: entries passing the request's filter, newest first (`created_at`,
    /// then out_biz_no, descending), strictly after its cursor, at most its limit.
    async fn list_payouts(&self, request: &ListRequest) -> Result<PayoutPage, StoreError>;
    /// A recipient's payouts, newest first.
    async fn list_by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, StoreError>;
}

/// Idempotency keys (`IDEM#{caller}#{keyHash}`).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Conditional put of an in-progress record: absent, or expired (`expires_at <= now`), or an
    /// in-progress record whose lease has passed. Otherwise the stored record.
    async fn begin(&self, rec: &IdemRecord, now: Timestamp) -> Result<IdemBegin, StoreError>;
    /// Replaces the record with `done` (the same record, now completed with its response) if the
    /// stored one still carries `done`'s fence; otherwise (taken over after our lease, or gone) does
    /// nothing.
    async fn complete(&self, done: &IdemRecord) -> Result<(), StoreError>;
    /// Deletes the in-progress record (condition: this fence), so a retry runs again.
    async fn release(&self, key: &IdemKey, fence: &str) -> Result<(), StoreError>;
}
