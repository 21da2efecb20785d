//! The two transfer APIs: `alipay.fund.trans.uni.transfer` ([`UniTransfer`]) and
//! `alipay.fund.trans.common.query` ([`TransferQuery`]), and the order as both report it
//! ([`TransferOrderNode`] on the wire, [`TransferState`] read).

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn product_codes_round_trip() {
        for p in [ProductCode::StdRedPacket, ProductCode::TransAccountNoPwd] {
            assert_eq!(ProductCode::parse(p.as_str()), Some(p));
        }
        assert_eq!(ProductCode::parse("TRANS_BANKCARD_NO_PWD"), None);
    }
}
