//! The transfer rail gateway: `alipay.fund.trans.uni.transfer` and `alipay.fund.trans.common.query`.

use super::gateway::GatewayFailure;
use crate::amount::AmountFen;
use crate::ids::{OutBizNo, Recipient};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
    /// Alipay's rate limit answered: not executed now. Resolved exactly as `Unknown` (same
    /// out_biz_no), but never counted against the entry's retry budget.
    Throttled(String),
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
    /// Alipay's rate limit answered: nothing learnt now (never counted against the retry budget).
    Throttled(String),
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
