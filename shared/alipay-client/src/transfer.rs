//! The transfer rail (现金红包 / 单笔转账): `alipay.fund.trans.uni.transfer`,
//! `alipay.fund.trans.common.query`, the `alipay.fund.trans.order.changed` notification's content
//! ([`OrderChanged`]) and the one table that classifies every documented error code of the two APIs
//! ([`CODE_TABLE`], [`classify`]).
//!
//! Field names follow the public SDK models (see docs/protocol.md, "Transfer rail", for which field
//! is verified against which source). Amounts are [`AmountFen`] here and yuan strings on the wire.

use serde::{Deserialize, Serialize};

use crate::api::{json, ApiRequest};
use crate::de::json_biz_api;
use crate::outcome::{Outcome, UnknownReason};
use crate::AmountFen;

/// `biz_scene` of every transfer this crate sends: B2C 现金红包 and 单笔无密转账 both use it.
pub const BIZ_SCENE: &str = "DIRECT_TRANSFER";

/// `business_params` that `STD_RED_PACKET` requires (a JSON text inside the JSON).
pub const RED_PACKET_BUSINESS_PARAMS: &str = r#"{"sub_biz_scene":"REDPACKET"}"#;

/// `origin_interface` of an order.changed notification about a uni.transfer order.
pub const ORIGIN_INTERFACE: &str = "alipay.fund.trans.uni.transfer";

/// `msg_method` of the transfer order notification.
pub const ORDER_CHANGED_METHOD: &str = "alipay.fund.trans.order.changed";

/// `product_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProductCode {
    /// `STD_RED_PACKET` (收发现金红包), sent with [`RED_PACKET_BUSINESS_PARAMS`].
    #[serde(rename = "STD_RED_PACKET")]
    StdRedPacket,
    /// `TRANS_ACCOUNT_NO_PWD` (单笔无密转账到支付宝账户).
    #[serde(rename = "TRANS_ACCOUNT_NO_PWD")]
    TransAccountNoPwd,
}

impl ProductCode {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductCode::StdRedPacket => "STD_RED_PACKET",
            ProductCode::TransAccountNoPwd => "TRANS_ACCOUNT_NO_PWD",
        }
    }

    /// Reads a wire text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STD_RED_PACKET" => Some(ProductCode::StdRedPacket),
            "TRANS_ACCOUNT_NO_PWD" => Some(ProductCode::TransAccountNoPwd),
            _ => None,
        }
    }

    /// `business_params` this product needs (None: not sent).
    pub fn business_params(self) -> Option<&'static str> {
        match self {
            ProductCode::StdRedPacket => Some(RED_PACKET_BUSINESS_PARAMS),
            ProductCode::TransAccountNoPwd => None,
        }
    }
}

/// `payee_info`: who receives the money.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payee {
    /// `ALIPAY_USER_ID` (2088…).
    UserId(String),
    /// `ALIPAY_OPEN_ID`.
    OpenId(String),
}

impl Payee {
    /// `identity_type`.
    pub fn identity_type(&self) -> &'static str {
        match self {
            Payee::UserId(_) => "ALIPAY_USER_ID",
            Payee::OpenId(_) => "ALIPAY_OPEN_ID",
        }
    }

    /// `identity`.
    pub fn identity(&self) -> &str {
        match self {
            Payee::UserId(s) | Payee::OpenId(s) => s,
        }
    }
}

/// One `transfer_scene_report_infos` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SceneReportInfo {
    /// `info_type`: a fixed text per scene (`活动名称`, `奖励说明` for `现金营销`).
    pub info_type: String,
    /// `info_content`: the merchant's text.
    pub info_content: String,
}

/// `alipay.fund.trans.uni.transfer` with `biz_scene=DIRECT_TRANSFER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniTransfer {
    /// `out_biz_no`: the idempotency key. A re-send must carry every other field unchanged.
    pub out_biz_no: String,
    /// `trans_amount` (yuan, two decimals on the wire).
    pub trans_amount: AmountFen,
    /// `product_code`.
    pub product: ProductCode,
    /// `payee_info`.
    pub payee: Payee,
    /// `order_title` (shown on the payee's bill).
    pub order_title: String,
    /// `transfer_scene_name` (e.g. `现金营销`); None: not sent.
    pub scene_name: Option<String>,
    /// `transfer_scene_report_infos`; empty: not sent.
    pub scene_report_infos: Vec<SceneReportInfo>,
    /// `notify_url`, a top-level parameter (not in biz_content).
    pub notify_url: Option<String>,
}

#[derive(Serialize)]
struct PayeeInfo<'a> {
    identity: &'a str,
    identity_type: &'static str,
}

#[derive(Serialize)]
struct TransferBiz<'a> {
    out_biz_no: &'a str,
    #[serde(with = "alipay_units::yuan")]
    trans_amount: AmountFen,
    product_code: &'static str,
    biz_scene: &'static str,
    order_title: &'a str,
    payee_info: PayeeInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_params: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transfer_scene_name: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    transfer_scene_report_infos: &'a [SceneReportInfo],
}

/// The order as uni.transfer or common.query report it (after `code=10000`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferState {
    /// `out_biz_no` echoed.
    pub out_biz_no: Option<String>,
    /// `order_id`: Alipay's transfer order.
    pub order_id: Option<String>,
    /// `pay_fund_order_id`: Alipay's fund flow.
    pub pay_fund_order_id: Option<String>,
    /// `status` verbatim (`SUCCESS`, `DEALING`, `FAIL`, `REFUND`, `WAIT_PAY`, `CLOSED`); None when
    /// absent (never read as paid).
    pub status: Option<String>,
    /// `trans_amount` (query) or `amount` (uni.transfer, when given).
    pub amount: Option<AmountFen>,
    /// `trans_date` (uni.transfer) or `pay_date` (query), verbatim.
    pub paid_at: Option<String>,
    /// `error_code` (query, on FAIL/REFUND).
    pub error_code: Option<String>,
    /// `fail_reason` (query, on FAIL/REFUND).
    pub fail_reason: Option<String>,
}

/// A transfer order as Alipay writes it: the uni.transfer answer node, the common.query answer node
/// and the order.changed notification's `biz_content` name its fields alike, so one reader serves the
/// three; each reads the fields it carries (absent or empty: None).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransferOrderNode {
    /// `out_biz_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub out_biz_no: Option<String>,
    /// `order_id`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub order_id: Option<String>,
    /// `pay_fund_order_id`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub pay_fund_order_id: Option<String>,
    /// `status`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub status: Option<String>,
    /// `trans_date` (uni.transfer).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub trans_date: Option<String>,
    /// `pay_date` (common.query, the notification).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub pay_date: Option<String>,
    /// `settle_serial_no` (uni.transfer).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub settle_serial_no: Option<String>,
    /// `amount` (uni.transfer: yuan text; not in every version of the answer).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub amount: Option<String>,
    /// `trans_amount` (yuan text: common.query, the notification, some uni.transfer answers).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub trans_amount: Option<String>,
    /// `error_code` (common.query and the notification, on FAIL/REFUND).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub error_code: Option<String>,
    /// `fail_reason` (common.query and the notification, on FAIL/REFUND).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub fail_reason: Option<String>,
    /// `product_code` (the notification).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub product_code: Option<String>,
    /// `biz_scene` (the notification).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub biz_scene: Option<String>,
    /// `action_type` (the notification).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub action_type: Option<String>,
    /// `origin_interface` (the notification).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub origin_interface: Option<String>,
}

impl TransferOrderNode {
    /// The order's ids, status and failure fields as written, with the amount and the payment
    /// time the caller read from the fields its API uses for them.
    fn into_state(self, amount: Option<AmountFen>, paid_at: Option<String>) -> TransferState {
        TransferState {
            out_biz_no: self.out_biz_no,
            order_id: self.order_id,
            pay_fund_order_id: self.pay_fund_order_id,
            status: self.status,
            amount,
            paid_at,
            error_code: self.error_code,
            fail_reason: self.fail_reason,
        }
    }
}

fn read_amount(text: Option<&str>, what: &str) -> Result<Option<AmountFen>, UnknownReason> {
    match text {
        None => Ok(None),
        Some(t) => AmountFen::parse_yuan(t.trim())
            .map(Some)
            .map_err(|_| UnknownReason::Unparsable(format!("{what} is not a yuan amount"))),
    }
}

impl ApiRequest for UniTransfer {
    const METHOD: &'static str = "alipay.fund.trans.uni.transfer";
    type Response = TransferOrderNode;
    type Output = TransferState;
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        json(&TransferBiz {
            out_biz_no: &self.out_biz_no,
            trans_amount: self.trans_amount,
            product_code: self.product.as_str(),
            biz_scene: BIZ_SCENE,
            order_title: &self.order_title,
            payee_info: PayeeInfo {
                identity: self.payee.identity(),
                identity_type: self.payee.identity_type(),
            },
            business_params: self.product.business_params(),
            transfer_scene_name: self.scene_name.as_deref(),
            transfer_scene_report_infos: &self.scene_report_infos,
        })
    }
    fn params(&self) -> Vec<(&'static str, String)> {
        self.notify_url
            .iter()
            .map(|u| ("notify_url", u.clone()))
            .collect()
    }
    fn finish(node: TransferOrderNode) -> Outcome<TransferState> {
        let amount = match read_amount(
            node.amount.as_deref().or(node.trans_amount.as_deref()),
            "amount",
        ) {
            Ok(a) => a,
            Err(e) => return Outcome::Unknown(e),
        };
        let paid_at = node.trans_date.clone();
        // uni.transfer's answer has no failure fields: a refusal is its sub_code.
        Outcome::Success(TransferState {
            error_code: None,
            fail_reason: None,
            ..node.into_state(amount, paid_at)
        })
    }
}

/// `alipay.fund.trans.common.query` by `out_biz_no` (Alipay then requires `product_code` and
/// `biz_scene` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferQuery {
    /// `out_biz_no`.
    pub out_biz_no: String,
    /// `product_code`.
    pub product_code: ProductCode,
    /// `biz_scene` (always [`BIZ_SCENE`]).
    pub biz_scene: &'static str,
}

impl TransferQuery {
    /// A query by out_biz_no for a `DIRECT_TRANSFER` order of `product`.
    pub fn by_out_biz_no(out_biz_no: impl Into<String>, product: ProductCode) -> Self {
        Self {
            out_biz_no: out_biz_no.into(),
            product_code: product,
            biz_scene: BIZ_SCENE,
        }
    }
}

json_biz_api!(
    TransferQuery: "alipay.fund.trans.common.query",
    TransferOrderNode => TransferState,
    queried_state
);

/// The order common.query reports: `trans_amount`, paid at `pay_date`.
fn queried_state(node: TransferOrderNode) -> Outcome<TransferState> {
    let amount = match read_amount(node.trans_amount.as_deref(), "trans_amount") {
        Ok(a) => a,
        Err(e) => return Outcome::Unknown(e),
    };
    let paid_at = node.pay_date.clone();
    Outcome::Success(node.into_state(amount, paid_at))
}

// ---------------------------------------------------------------------------------------------
// The notification's content
// ---------------------------------------------------------------------------------------------

/// The `biz_content` of an `alipay.fund.trans.order.changed` notification. The caller has verified
/// the form's signature first; this only reads the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChanged {
    /// `out_biz_no` (required: without it the message names no order of ours).
    pub out_biz_no: String,
    /// `order_id`.
    pub order_id: Option<String>,
    /// `pay_fund_order_id`.
    pub pay_fund_order_id: Option<String>,
    /// `status` verbatim (`SUCCESS`, `DEALING`, `FAIL`, `REFUND`, …); None when absent.
    pub status: Option<String>,
    /// `product_code` verbatim.
    pub product_code: Option<String>,
    /// `biz_scene` verbatim.
    pub biz_scene: Option<String>,
    /// `trans_amount`.
    pub trans_amount: Option<AmountFen>,
    /// `pay_date` (`yyyy-MM-dd HH:mm:ss`, Beijing), verbatim.
    pub pay_date: Option<String>,
    /// `action_type` verbatim.
    pub action_type: Option<String>,
    /// `error_code` verbatim.
    pub error_code: Option<String>,
    /// `fail_reason` verbatim (never shown to public callers).
    pub fail_reason: Option<String>,
    /// `origin_interface` (`alipay.fund.trans.uni.transfer` for our orders).
    pub origin_interface: Option<String>,
}

/// Why a notification's `biz_content` was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrderChangedError {
    /// Not a JSON object.
    #[error("biz_content is not a JSON object")]
    NotJson,
    /// No (or an empty) `out_biz_no`.
    #[error("biz_content has no out_biz_no")]
    MissingOutBizNo,
    /// `trans_amount` is present but not a yuan amount.
    #[error("trans_amount is not a yuan amount")]
    BadAmount,
}

impl OrderChanged {
    /// Reads the JSON text of `biz_content`. Unknown fields are ignored; absent fields are None.
    ///
    /// # Errors
    /// [`OrderChangedError`] when the text is not a JSON object, names no `out_biz_no`, or carries
    /// a `trans_amount` that is not a yuan amount. Never panics.
    pub fn from_biz_content(text: &str) -> Result<Self, OrderChangedError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| OrderChangedError::NotJson)?;
        if !value.is_object() {
            return Err(OrderChangedError::NotJson);
        }
        let wire: TransferOrderNode =
            serde_json::from_value(value).map_err(|_| OrderChangedError::NotJson)?;
        let out_biz_no = wire
            .out_biz_no
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or(OrderChangedError::MissingOutBizNo)?;
        let trans_amount = match wire.trans_amount.as_deref() {
            None => None,
            Some(t) => {
                Some(AmountFen::parse_yuan(t.trim()).map_err(|_| OrderChangedError::BadAmount)?)
            }
        };
        Ok(Self {
            out_biz_no,
            order_id: wire.order_id,
            pay_fund_order_id: wire.pay_fund_order_id,
            status: wire.status,
            product_code: wire.product_code,
            biz_scene: wire.biz_scene,
            trans_amount,
            pay_date: wire.pay_date,
            action_type: wire.action_type,
            error_code: wire.error_code,
            fail_reason: wire.fail_reason,
            origin_interface: wire.origin_interface,
        })
    }

    /// The same content as a [`TransferState`] (the shape uni.transfer and common.query give).
    pub fn to_state(&self) -> TransferState {
        TransferState {
            out_biz_no: Some(self.out_biz_no.clone()),
            order_id: self.order_id.clone(),
            pay_fund_order_id: self.pay_fund_order_id.clone(),
            status: self.status.clone(),
            amount: self.trans_amount,
            paid_at: self.pay_date.clone(),
            error_code: self.error_code.clone(),
            fail_reason: self.fail_reason.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The classification table
// ---------------------------------------------------------------------------------------------

/// What an answer of the transfer APIs means for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferClass {
    /// `code=10000`: Alipay holds the order (its `status` says whether it is paid).
    Success,
    /// Alipay may or may not hold the order: resolve with common.query or a re-send of the same
    /// out_biz_no with the same parameters.
    Unknown,
    /// Not done now (balance, quota): the same request with the same number may succeed later; a
    /// person should look. (Alipay's rate limit is [`TransferClass::Unknown`]: nobody need look.)
    RetryLater,
    /// The payee or the input is wrong: this order will never be paid.
    Definite,
    /// The merchant's setup is wrong (product not signed, certificate, signature): a person must
    /// fix it; never retried by itself.
    Configuration,
    /// common.query: a signed `ORDER_NOT_EXIST`; Alipay holds no order with this number.
    NoSuchOrder,
}

/// Which API a row of [`CODE_TABLE`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferApi {
    /// `alipay.fund.trans.uni.transfer`.
    Transfer,
    /// `alipay.fund.trans.common.query`.
    Query,
}

/// Where a row applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Both APIs.
    Both,
    /// Only this API.
    Only(TransferApi),
}

impl Scope {
    /// Whether a row of this scope applies to `api`.
    pub fn covers(self, api: TransferApi) -> bool {
        match self {
            Scope::Both => true,
            Scope::Only(only) => only == api,
        }
    }
}

/// One group of the table: gateway `code`s or `sub_code`s with the same scope and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeGroup {
    /// Where its codes apply.
    pub scope: Scope,
    /// Their class.
    pub class: TransferClass,
    /// Gateway `code`s (`10000`, `20000`, `40001`…) or `sub_code`s (`PAYEE_NOT_EXIST`, …).
    pub codes: &'static [&'static str],
}

const fn group(scope: Scope, class: TransferClass, codes: &'static [&'static str]) -> CodeGroup {
    CodeGroup {
        scope,
        class,
        codes,
    }
}

use Scope::{Both, Only};
use TransferApi::{Query, Transfer};
use TransferClass::{
    Configuration as Config, Definite, NoSuchOrder, RetryLater, Success as Ok10000, Unknown as Unk,
};

/// Every documented code of uni.transfer and common.query, classified, grouped by class and scope
/// as the same table in docs/protocol.md is. Gateway `code`s first, then `sub_code`s. Decisions are
/// matched on `sub_code` only, never on `sub_msg`. A `sub_code` not in this table: see [`classify`]
/// (retry-later for uni.transfer, unknown for common.query).
pub const CODE_TABLE: &[CodeGroup] = &[
    // Gateway codes.
    group(Both, Ok10000, &["10000"]),
    group(
        Both,
        Unk,
        &[
            "20000", // service unavailable (isp.unknow-error)
            "10003", // still processing
        ],
    ),
    group(
        Both,
        Definite,
        &[
            "40001", // missing required parameter: never accepted
            "40002", // invalid parameter: never accepted
            "40003", // insufficient conditions
        ],
    ),
    // Insufficient permissions (API not signed for this app).
    group(Both, Config, &["40006"]),
    // Gateway sub_codes that name a setup problem.
    group(
        Both,
        Config,
        &[
            "isv.missing-app-cert-sn",
            "isv.app-cert-not-exist",
            "isv.invalid-signature",
            "isv.invalid-app-id",
            "isv.insufficient-isv-permissions",
            "isv.insufficient-user-permissions",
        ],
    ),
    // Unknown: never a definite answer.
    group(
        Both,
        Unk,
        &[
            "SYSTEM_ERROR",
            "ACQ.SYSTEM_ERROR",
            "isp.unknow-error",
            "aop.unknow-error",
        ],
    ),
    // Alipay's rate limit (crate::THROTTLE_CODES, crate::THROTTLE_SUB_CODES): not executed now.
    // The client answers these `Unknown(Throttled)` before any table is read; the rows keep the
    // table complete. Unknown, not retry-later: nothing for a person to look at, and the same
    // number is sent again once the order is known not to exist.
    group(Both, Unk, &["40005", "RESOURCE_LIMIT_EXCEED"]),
    group(Only(Transfer), Unk, &["PAYMENT_INFO_INCONSISTENCY"]),
    group(Only(Query), NoSuchOrder, &["ORDER_NOT_EXIST"]),
    // Not done now; the same request later.
    group(
        Only(Transfer),
        RetryLater,
        &[
            "BALANCE_IS_NOT_ENOUGH",
            "PAYER_BALANCE_NOT_ENOUGH",
            "EXCEED_LIMIT_DM_AMOUNT",
            "EXCEED_LIMIT_DM_MAX_AMOUNT",
            "EXCEED_LIMIT_MM_AMOUNT",
            "EXCEED_LIMIT_DC_RECEIVED",
            "PAYCARD_UNABLE_PAYMENT",
            "PAYER_STATUS_ERROR",
        ],
    ),
    // Definite: the payee or the input.
    group(
        Only(Transfer),
        Definite,
        &[
            "PAYEE_NOT_EXIST",
            "PAYEE_ACCOUNT_NOT_EXSIT",
            "PAYEE_ACCOUNT_STATUS_ERROR",
            "PAYEE_USERINFO_STATUS_ERROR",
            "PAYEE_USER_INFO_ERROR",
            "PAYEE_ACC_OCUPIED",
            "PAYEE_NOT_RELNAME_CERTIFY",
            "PERMIT_NON_BANK_LIMIT_PAYEE",
            "PERM_AML_NOT_REALNAME_REV",
            "EXCEED_LIMIT_UNRN_DM_AMOUNT",
            "RELEASE_USER_FORBBIDEN_RECIEVE",
            "PAYEE_USER_TYPE_ERROR",
            "PERMIT_CHECK_RECEIVE_LIMIT",
            "PAYER_PAYEE_CANNOT_SAME",
            "EXCEED_LIMIT_SM_MIN_AMOUNT",
            "EXCEED_LIMIT_SM_AMOUNT",
            "EXCEED_LIMIT_PERSONAL_SM_AMOUNT",
            "REMARK_HAS_SENSITIVE_WORD",
            "SECURITY_CHECK_FAILED",
            "NOT_IN_WHITE_LIST",
        ],
    ),
    group(Both, Definite, &["INVALID_PARAMETER"]),
    // Configuration: the merchant's contract or setup.
    group(Both, Config, &["PRODUCT_NOT_SIGN"]),
    group(Only(Transfer), Config, &["NO_ACCOUNT_PAYMENT_PERMISSION"]),
];

fn lookup(api: TransferApi, code: &str) -> Option<TransferClass> {
    CODE_TABLE
        .iter()
        .find(|g| g.scope.covers(api) && g.codes.contains(&code))
        .map(|g| g.class)
}

/// The class of a **signed** answer of `api` with gateway `code` and `sub_code`. The `sub_code`
/// decides when the table knows it; otherwise the `code`. Anything the table does not know:
/// uni.transfer → [`TransferClass::RetryLater`] (Alipay processed and refused it for a reason we
/// cannot read: the order is not paid now, the business id is not freed, a person looks, and a
/// later re-send uses the same number), common.query → [`TransferClass::Unknown`] (nothing learnt).
///
/// An unsigned answer is never classified here except as [`classify_unsigned`] says.
pub fn classify(api: TransferApi, code: &str, sub_code: Option<&str>) -> TransferClass {
    if crate::outcome::is_throttle(code, sub_code)
        || crate::outcome::is_platform_unknown(code, sub_code)
    {
        return TransferClass::Unknown;
    }
    if let Some(class) = sub_code.and_then(|s| lookup(api, s)) {
        return class;
    }
    // 40004 (Business Failed) is not a row: its sub_code decides, and one the table does not know
    // falls through to the default below.
    match lookup(api, code) {
        Some(class) => class,
        None => match api {
            TransferApi::Transfer => TransferClass::RetryLater,
            TransferApi::Query => TransferClass::Unknown,
        },
    }
}

/// The class of an **unsigned** answer: only the gateway refusals `40001`/`40002`/`40003`/`40006`
/// (the request was never accepted, so nothing can have happened) are read, as definite; every
/// other unsigned answer is unknown (its content is not trusted, so neither `ORDER_NOT_EXIST` nor a
/// payee refusal can be believed).
pub fn classify_unsigned(code: Option<&str>) -> TransferClass {
    match code {
        Some("40001" | "40002" | "40003" | "40006") => TransferClass::Definite,
        _ => TransferClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(product: ProductCode, payee: Payee) -> UniTransfer {
        UniTransfer {
            out_biz_no: "pe_1".into(),
            trans_amount: AmountFen::from_fen(150).unwrap(),
            product,
            payee,
            order_title: "现金红包".into(),
            scene_name: Some("现金营销".into()),
            scene_report_infos: vec![
                SceneReportInfo {
                    info_type: "活动名称".into(),
                    info_content: "新年".into(),
                },
                SceneReportInfo {
                    info_type: "奖励说明".into(),
                    info_content: "签到奖励".into(),
                },
            ],
            notify_url: Some("https://example.com/alipay/notify".into()),
        }
    }

    #[test]
    fn red_packet_biz_content_has_every_field_with_its_sdk_name() {
        let req = order(ProductCode::StdRedPacket, Payee::OpenId("074a1".into()));
        assert_eq!(
            req.biz_content().unwrap().unwrap(),
            r#"{"out_biz_no":"pe_1","trans_amount":"1.50","product_code":"STD_RED_PACKET","biz_scene":"DIRECT_TRANSFER","order_title":"现金红包","payee_info":{"identity":"074a1","identity_type":"ALIPAY_OPEN_ID"},"business_params":"{\"sub_biz_scene\":\"REDPACKET\"}","transfer_scene_name":"现金营销","transfer_scene_report_infos":[{"info_type":"活动名称","info_content":"新年"},{"info_type":"奖励说明","info_content":"签到奖励"}]}"#
        );
        assert_eq!(
            req.params(),
            vec![(
                "notify_url",
                "https://example.com/alipay/notify".to_string()
            )]
        );
    }

    #[test]
    fn account_transfer_sends_no_business_params_and_optional_scene_fields_are_left_out() {
        let mut req = order(
            ProductCode::TransAccountNoPwd,
            Payee::UserId("2088001".into()),
        );
        req.scene_name = None;
        req.scene_report_infos.clear();
        req.notify_url = None;
        assert_eq!(
            req.biz_content().unwrap().unwrap(),
            r#"{"out_biz_no":"pe_1","trans_amount":"1.50","product_code":"TRANS_ACCOUNT_NO_PWD","biz_scene":"DIRECT_TRANSFER","order_title":"现金红包","payee_info":{"identity":"2088001","identity_type":"ALIPAY_USER_ID"}}"#
        );
        assert!(req.params().is_empty());
    }

    #[test]
    fn query_by_out_biz_no_carries_product_and_scene() {
        let q = TransferQuery::by_out_biz_no("pe_1", ProductCode::StdRedPacket);
        assert_eq!(
            q.biz_content().unwrap().unwrap(),
            r#"{"out_biz_no":"pe_1","product_code":"STD_RED_PACKET","biz_scene":"DIRECT_TRANSFER"}"#
        );
    }

    #[test]
    fn answers_are_read() {
        let node: TransferOrderNode = serde_json::from_str(
            r#"{"code":"10000","msg":"Success","out_biz_no":"pe_1","order_id":"2019","pay_fund_order_id":"2019F","status":"SUCCESS","trans_date":"2026-01-01 10:00:00"}"#,
        )
        .unwrap();
        match UniTransfer::finish(node) {
            Outcome::Success(s) => {
                assert_eq!(s.status.as_deref(), Some("SUCCESS"));
                assert_eq!(s.order_id.as_deref(), Some("2019"));
                assert_eq!(s.paid_at.as_deref(), Some("2026-01-01 10:00:00"));
                assert_eq!(s.amount, None);
            }
            other => panic!("{other:?}"),
        }
        let bad: TransferOrderNode = serde_json::from_str(r#"{"amount":"1.5.0"}"#).unwrap();
        assert!(matches!(UniTransfer::finish(bad), Outcome::Unknown(_)));
        let q: TransferOrderNode = serde_json::from_str(
            r#"{"status":"FAIL","trans_amount":"2.00","error_code":"PAYEE_NOT_EXIST","fail_reason":"x","pay_date":"2026-01-01 10:00:00"}"#,
        )
        .unwrap();
        match TransferQuery::finish(q) {
            Outcome::Success(s) => {
                assert_eq!(s.amount, Some(AmountFen::from_fen(200).unwrap()));
                assert_eq!(s.error_code.as_deref(), Some("PAYEE_NOT_EXIST"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn order_changed_reads_the_contract_fields() {
        let n = OrderChanged::from_biz_content(
            r#"{"out_biz_no":"pe_1","order_id":"2019","pay_fund_order_id":"2019F","status":"SUCCESS","product_code":"STD_RED_PACKET","biz_scene":"DIRECT_TRANSFER","trans_amount":"1.00","pay_date":"2026-01-01 10:00:00","action_type":"FINISH","origin_interface":"alipay.fund.trans.uni.transfer","extra":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(n.out_biz_no, "pe_1");
        assert_eq!(n.status.as_deref(), Some("SUCCESS"));
        assert_eq!(n.trans_amount, Some(AmountFen::from_fen(100).unwrap()));
        assert_eq!(n.origin_interface.as_deref(), Some(ORIGIN_INTERFACE));
        assert_eq!(n.to_state().out_biz_no.as_deref(), Some("pe_1"));
        let sparse = OrderChanged::from_biz_content(r#"{"out_biz_no":"pe_2"}"#).unwrap();
        assert_eq!(sparse.status, None);
        assert_eq!(sparse.trans_amount, None);
        assert_eq!(
            OrderChanged::from_biz_content(r#"{"status":"SUCCESS"}"#),
            Err(OrderChangedError::MissingOutBizNo)
        );
        assert_eq!(
            OrderChanged::from_biz_content(r#"{"out_biz_no":" "}"#),
            Err(OrderChangedError::MissingOutBizNo)
        );
        assert_eq!(
            OrderChanged::from_biz_content(r#"{"out_biz_no":"x","trans_amount":"abc"}"#),
            Err(OrderChangedError::BadAmount)
        );
        assert_eq!(
            OrderChanged::from_biz_content("[1]"),
            Err(OrderChangedError::NotJson)
        );
        assert_eq!(
            OrderChanged::from_biz_content("not json"),
            Err(OrderChangedError::NotJson)
        );
    }

    proptest! {
        #[test]
        fn order_changed_never_panics(s in ".{0,300}") {
            let _ = OrderChanged::from_biz_content(&s);
        }

        #[test]
        fn order_changed_round_trips_what_it_reads(
            out in "[A-Za-z0-9_]{1,64}",
            fen in 1i64..10_000_000_000,
            status in prop::sample::select(vec!["SUCCESS", "DEALING", "FAIL", "REFUND", "WAIT_PAY", "CLOSED", "ODD"]),
        ) {
            let amount = AmountFen::from_fen(fen).unwrap();
            let text = serde_json::json!({
                "out_biz_no": out,
                "status": status,
                "trans_amount": amount.to_yuan_string(),
            }).to_string();
            let n = OrderChanged::from_biz_content(&text).unwrap();
            prop_assert_eq!(n.out_biz_no, out);
            prop_assert_eq!(n.status.as_deref(), Some(status));
            prop_assert_eq!(n.trans_amount, Some(amount));
        }
    }

    /// One assertion per code and API: the table says what `classify` answers.
    #[test]
    fn every_row_classifies_as_the_table_says() {
        for g in CODE_TABLE {
            for api in [Transfer, Query].into_iter().filter(|&a| g.scope.covers(a)) {
                for &code in g.codes {
                    let (code, sub) = if code.chars().all(|c| c.is_ascii_digit()) {
                        (code, None)
                    } else {
                        ("40004", Some(code))
                    };
                    assert_eq!(
                        classify(api, code, sub),
                        g.class,
                        "{code} {sub:?} on {api:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_money_rules_hold() {
        let cases = [
            // Never definite: the platform does not know.
            (Transfer, "40004", Some("SYSTEM_ERROR"), Unk),
            (Transfer, "40004", Some("PAYMENT_INFO_INCONSISTENCY"), Unk),
            (Transfer, "20000", Some("isp.unknow-error"), Unk),
            (Query, "40004", Some("ORDER_NOT_EXIST"), NoSuchOrder),
            // ORDER_NOT_EXIST is a query answer; on uni.transfer it is not in the table.
            (Transfer, "40004", Some("ORDER_NOT_EXIST"), RetryLater),
            // Unknown sub_codes.
            (Transfer, "40004", Some("SOMETHING_NEW"), RetryLater),
            (Query, "40004", Some("SOMETHING_NEW"), Unk),
            (Transfer, "40004", None, RetryLater),
            // A gateway refusal with an unlisted isv sub_code keeps the code's class.
            (Transfer, "40002", Some("isv.invalid-arguments"), Definite),
            (Transfer, "40002", Some("isv.invalid-signature"), Config),
        ];
        for (api, code, sub_code, class) in cases {
            assert_eq!(
                classify(api, code, sub_code),
                class,
                "{code} {sub_code:?} on {api:?}"
            );
        }
        // Unsigned answers.
        for c in ["40001", "40002", "40003", "40006"] {
            assert_eq!(classify_unsigned(Some(c)), Definite);
        }
        assert_eq!(classify_unsigned(Some("40004")), Unk);
        assert_eq!(classify_unsigned(Some("10000")), Unk);
        assert_eq!(classify_unsigned(None), Unk);
    }

    #[test]
    fn every_code_is_in_the_table_once_per_api() {
        for api in [Transfer, Query] {
            let mut seen = std::collections::HashSet::new();
            for g in CODE_TABLE.iter().filter(|g| g.scope.covers(api)) {
                for &code in g.codes {
                    assert!(seen.insert(code), "{code} twice for {api:?}");
                }
            }
        }
    }

    #[test]
    fn product_codes_round_trip() {
        for p in [ProductCode::StdRedPacket, ProductCode::TransAccountNoPwd] {
            assert_eq!(ProductCode::parse(p.as_str()), Some(p));
        }
        assert_eq!(ProductCode::parse("TRANS_BANKCARD_NO_PWD"), None);
    }
}
