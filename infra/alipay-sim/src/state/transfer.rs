//! The transfer rail: `alipay.fund.trans.uni.transfer` (`biz_scene=DIRECT_TRANSFER`) and
//! `alipay.fund.trans.common.query`. Orders are kept by `out_biz_no`; a repeat with the same
//! parameters replays the order, with other parameters it is `PAYMENT_INFO_INCONSISTENCY`. A paid
//! order with a `notify_url` yields a [`Notice`] (the `alipay.fund.trans.order.changed` content)
//! that the HTTP edge signs and posts.

use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::helpers::{beijing, is_user_id, parse_yuan, ymd, yuan};
use super::{Biz, Reply, State};

/// `biz_scene` the simulator accepts for both products.
pub const DIRECT_TRANSFER: &str = "DIRECT_TRANSFER";
/// A user id that Alipay does not know: uni.transfer answers `PAYEE_NOT_EXIST`.
pub const PAYEE_NOT_EXIST_USER_ID: &str = "2088000000000404";
/// An open id that Alipay does not know: uni.transfer answers `PAYEE_NOT_EXIST`.
pub const PAYEE_NOT_EXIST_OPEN_ID: &str = "0404000000000000000000000000000000000000000000";
/// A user id whose account is frozen: uni.transfer answers `PAYEE_ACCOUNT_STATUS_ERROR`.
pub const PAYEE_FROZEN_USER_ID: &str = "2088000000000403";
/// The largest amount of one order (100,000,000 yuan), both products.
const MAX_FEN: i64 = 10_000_000_000;
/// The scenes Alipay lists for `transfer_scene_name`.
const SCENES: &[&str] = &[
    "现金营销",
    "企业退款",
    "佣金报酬",
    "业务结算",
    "二手回收",
    "公益补助",
    "行政补贴和退款",
    "保险理赔",
];

/// One transfer order (`GET /sim/transfers`).
#[derive(Debug, Clone, Serialize)]
pub struct TransferOrder {
    /// `out_biz_no`.
    pub out_biz_no: String,
    /// `order_id`.
    pub order_id: String,
    /// `pay_fund_order_id`.
    pub pay_fund_order_id: String,
    /// Yuan string.
    pub amount: String,
    /// Fen.
    pub amount_fen: i64,
    /// `ALIPAY_USER_ID` or `ALIPAY_OPEN_ID`.
    pub payee_type: String,
    /// The payee's identity.
    pub payee: String,
    /// `SUCCESS` (the simulator pays at once).
    pub status: String,
    /// `product_code`.
    pub product_code: String,
    /// `order_title`.
    pub order_title: String,
    /// `trans_date` / `pay_date` (Beijing).
    pub paid_at: String,
    /// `notify_url` of the request, if any.
    pub notify_url: Option<String>,
    /// Everything that must be equal for a replay.
    #[serde(skip)]
    fingerprint: Value,
}

/// What the edge must post to a `notify_url`: the order.changed `biz_content`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Where to post.
    pub notify_url: String,
    /// `out_biz_no` (for logs and the delivery list).
    pub out_biz_no: String,
    /// The `biz_content` JSON object.
    pub biz_content: Value,
}

/// The payer's side of a transfer, kept in the settings: the balance left (None = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Payer {
    /// Fen left; a transfer above it is `BALANCE_IS_NOT_ENOUGH`.
    pub balance_fen: Option<i64>,
}

/// The request, read and checked.
struct Request {
    out_biz_no: String,
    amount_fen: i64,
    product_code: String,
    payee_type: String,
    payee: String,
    order_title: String,
    fingerprint: Value,
}

fn read_request(biz: &Biz) -> Result<Request, Reply> {
    let out_biz_no = biz.required("out_biz_no")?;
    if out_biz_no.len() > 64
        || !out_biz_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Reply::invalid(
            "out_biz_no",
            "只能是64位以内的字母、数字、下划线或中划线",
        ));
    }
    let product_code = biz.required("product_code")?;
    let min_fen = match product_code.as_str() {
        "STD_RED_PACKET" => 1,
        "TRANS_ACCOUNT_NO_PWD" => 10,
        _ => return Err(Reply::business("PRODUCT_NOT_SIGN", "产品未签约")),
    };
    let biz_scene = biz.required("biz_scene")?;
    if biz_scene != DIRECT_TRANSFER {
        return Err(Reply::invalid("biz_scene", "只支持 DIRECT_TRANSFER"));
    }
    // business_params is a JSON text (a String in the SDK models), not an object.
    let business_params = match biz.0.get("business_params") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Some(m),
            _ => return Err(Reply::invalid("business_params", "不是合法的JSON字符串")),
        },
        Some(_) => return Err(Reply::invalid("business_params", "必须是JSON字符串")),
    };
    let sub_biz_scene = business_params
        .as_ref()
        .and_then(|m| m.get("sub_biz_scene"))
        .and_then(Value::as_str);
    if product_code == "STD_RED_PACKET" && sub_biz_scene != Some("REDPACKET") {
        return Err(Reply::invalid(
            "business_params",
            "红包业务 sub_biz_scene 必须为 REDPACKET",
        ));
    }
    let amount_text = biz.required("trans_amount")?;
    let amount_fen =
        parse_yuan(&amount_text).ok_or_else(|| Reply::invalid("trans_amount", "金额格式错误"))?;
    if amount_fen < min_fen {
        return Err(Reply::business(
            "EXCEED_LIMIT_SM_MIN_AMOUNT",
            "单笔最低转账金额不足",
        ));
    }
    if amount_fen > MAX_FEN {
        return Err(Reply::business("EXCEED_LIMIT_SM_AMOUNT", "单笔额度超限"));
    }
    let order_title = biz.required("order_title")?;
    let payee_info = biz
        .object("payee_info")?
        .ok_or_else(|| Reply::invalid("payee_info", "不能为空"))?;
    let payee_biz = Biz(payee_info);
    let payee = payee_biz
        .text("identity")
        .ok_or_else(|| Reply::invalid("payee_info.identity", "不能为空"))?;
    let payee_type = payee_biz
        .text("identity_type")
        .ok_or_else(|| Reply::invalid("payee_info.identity_type", "不能为空"))?;
    match payee_type.as_str() {
        "ALIPAY_USER_ID" if is_user_id(&payee) => {}
        "ALIPAY_USER_ID" => return Err(Reply::invalid("payee_info.identity", "不是支付宝会员ID")),
        "ALIPAY_OPEN_ID"
            if payee.len() >= 20 && payee.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
        "ALIPAY_OPEN_ID" => return Err(Reply::invalid("payee_info.identity", "不是合法的openid")),
        "ALIPAY_LOGON_ID" if payee_biz.text("name").is_none() => {
            return Err(Reply::invalid("payee_info.name", "ALIPAY_LOGON_ID 时必填"))
        }
        _ => {
            return Err(Reply::invalid(
                "payee_info.identity_type",
                "模拟器只支持 ALIPAY_USER_ID 和 ALIPAY_OPEN_ID",
            ))
        }
    }
    let scene = read_scene(biz)?;
    let fingerprint = json!({
        "trans_amount": amount_fen,
        "product_code": product_code,
        "biz_scene": biz_scene,
        "business_params": business_params,
        "order_title": order_title,
        "payee": [payee_type, payee, payee_biz.text("name")],
        "scene": scene,
        "remark": biz.text("remark"),
    });
    Ok(Request {
        out_biz_no,
        amount_fen,
        product_code,
        payee_type,
        payee,
        order_title,
        fingerprint,
    })
}

/// `transfer_scene_name` and `transfer_scene_report_infos`: required (merchants onboarded from 2026
/// must send them), a listed scene, a non-empty list of distinct `info_type`s with content; for
/// `现金营销` the types `活动名称` and `奖励说明`.
fn read_scene(biz: &Biz) -> Result<Value, Reply> {
    let name = biz.required("transfer_scene_name")?;
    if !SCENES.contains(&name.as_str()) {
        return Err(Reply::invalid("transfer_scene_name", "不是支持的转账场景"));
    }
    let infos = match biz.0.get("transfer_scene_report_infos") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(Reply::invalid("transfer_scene_report_infos", "不能为空")),
    };
    let mut types: Vec<&str> = Vec::new();
    for info in infos {
        let (Some(t), Some(c)) = (
            info.get("info_type").and_then(Value::as_str),
            info.get("info_content").and_then(Value::as_str),
        ) else {
            return Err(Reply::invalid(
                "transfer_scene_report_infos",
                "info_type 和 info_content 必填",
            ));
        };
        if t.is_empty() || c.is_empty() {
            return Err(Reply::invalid(
                "transfer_scene_report_infos",
                "info_type 和 info_content 不能为空",
            ));
        }
        if types.contains(&t) {
            return Err(Reply::invalid(
                "transfer_scene_report_infos",
                "信息类型不可重复",
            ));
        }
        types.push(t);
    }
    if name == "现金营销" && !(types.contains(&"活动名称") && types.contains(&"奖励说明"))
    {
        return Err(Reply::invalid(
            "transfer_scene_report_infos",
            "现金营销场景需上报 活动名称 和 奖励说明",
        ));
    }
    Ok(json!({"name": name, "infos": infos}))
}

impl TransferOrder {
    fn answer(&self) -> Reply {
        Reply::ok(json!({
            "out_biz_no": self.out_biz_no,
            "order_id": self.order_id,
            "pay_fund_order_id": self.pay_fund_order_id,
            "status": self.status,
            "trans_date": self.paid_at,
        }))
    }

    /// The order.changed content with `status` (the real one, or a stale one for a fault).
    pub fn notice_content(&self, status: &str) -> Value {
        let mut v = json!({
            "out_biz_no": self.out_biz_no,
            "order_id": self.order_id,
            "pay_fund_order_id": self.pay_fund_order_id,
            "status": status,
            "product_code": self.product_code,
            "biz_scene": DIRECT_TRANSFER,
            "trans_amount": self.amount,
            "origin_interface": "alipay.fund.trans.uni.transfer",
        });
        if status == "SUCCESS" {
            v["pay_date"] = Value::String(self.paid_at.clone());
            v["action_type"] = Value::String("FINISH".into());
        }
        v
    }
}

impl State {
    /// `alipay.fund.trans.uni.transfer`. `notify_url` is the request's top-level parameter.
    pub fn uni_transfer(
        &mut self,
        biz: &Biz,
        notify_url: Option<&str>,
        now: OffsetDateTime,
        payer: &mut Payer,
    ) -> (Reply, Option<Notice>) {
        let req = match read_request(biz) {
            Ok(r) => r,
            Err(reply) => return (reply, None),
        };
        if let Some(order) = self.transfers.get(&req.out_biz_no) {
            if order.fingerprint == req.fingerprint {
                return (order.answer(), None);
            }
            return (
                Reply::business(
                    "PAYMENT_INFO_INCONSISTENCY",
                    "两次请求商户单号一样，但是参数不一致",
                ),
                None,
            );
        }
        if req.payee == PAYEE_NOT_EXIST_USER_ID || req.payee == PAYEE_NOT_EXIST_OPEN_ID {
            return (Reply::business("PAYEE_NOT_EXIST", "收款账号不存在"), None);
        }
        if req.payee == PAYEE_FROZEN_USER_ID {
            return (
                Reply::business("PAYEE_ACCOUNT_STATUS_ERROR", "收款方账户状态异常"),
                None,
            );
        }
        if let Some(left) = payer.balance_fen {
            if left < req.amount_fen {
                return (
                    Reply::business("BALANCE_IS_NOT_ENOUGH", "付款方余额不足"),
                    None,
                );
            }
            payer.balance_fen = Some(left - req.amount_fen);
        }
        let n = self.next();
        let order = TransferOrder {
            out_biz_no: req.out_biz_no.clone(),
            order_id: format!("{}{:012}", ymd(now), n),
            pay_fund_order_id: format!("{}{:012}", ymd(now), n + 500_000_000_000),
            amount: yuan(req.amount_fen),
            amount_fen: req.amount_fen,
            payee_type: req.payee_type,
            payee: req.payee,
            status: "SUCCESS".into(),
            product_code: req.product_code,
            order_title: req.order_title,
            paid_at: beijing(now),
            notify_url: notify_url.map(str::to_owned),
            fingerprint: req.fingerprint,
        };
        let notice = order.notify_url.clone().map(|url| Notice {
            notify_url: url,
            out_biz_no: order.out_biz_no.clone(),
            biz_content: order.notice_content("SUCCESS"),
        });
        let reply = order.answer();
        self.transfer_order.push(req.out_biz_no.clone());
        self.transfers.insert(req.out_biz_no, order);
        (reply, notice)
    }

    /// `alipay.fund.trans.common.query` by `order_id`, `pay_fund_order_id` or `out_biz_no` (the
    /// last with `product_code` and `biz_scene`, which Alipay then requires).
    pub fn transfer_query(&self, biz: &Biz) -> Reply {
        let found = if let Some(id) = biz.text("pay_fund_order_id") {
            self.transfers.values().find(|o| o.pay_fund_order_id == id)
        } else if let Some(id) = biz.text("order_id") {
            self.transfers.values().find(|o| o.order_id == id)
        } else if let Some(out) = biz.text("out_biz_no") {
            let product = match biz.required("product_code") {
                Ok(p) => p,
                Err(r) => return r,
            };
            match biz.required("biz_scene") {
                Ok(s) if s == DIRECT_TRANSFER => {}
                Ok(_) => return Reply::invalid("biz_scene", "只支持 DIRECT_TRANSFER"),
                Err(r) => return r,
            }
            self.transfers
                .get(&out)
                .filter(|o| o.product_code == product)
        } else {
            return Reply::invalid(
                "out_biz_no",
                "order_id、out_biz_no、pay_fund_order_id 不能同时为空",
            );
        };
        match found {
            Some(o) => Reply::ok(json!({
                "out_biz_no": o.out_biz_no,
                "order_id": o.order_id,
                "pay_fund_order_id": o.pay_fund_order_id,
                "status": o.status,
                "pay_date": o.paid_at,
                "trans_amount": o.amount,
            })),
            None => Reply::business("ORDER_NOT_EXIST", "转账订单不存在"),
        }
    }

    /// Every transfer order, in order of creation.
    pub fn transfers(&self) -> Vec<TransferOrder> {
        self.transfer_order
            .iter()
            .filter_map(|k| self.transfers.get(k).cloned())
            .collect()
    }

    /// One order.
    pub fn transfer(&self, out_biz_no: &str) -> Option<&TransferOrder> {
        self.transfers.get(out_biz_no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay_protocol::GatewayTimestamp;
    use serde_json::Map;

    fn now() -> OffsetDateTime {
        GatewayTimestamp::parse("2026-01-02 03:04:05")
            .unwrap()
            .instant()
    }

    fn request() -> Value {
        json!({
            "out_biz_no": "pe_1",
            "trans_amount": "1.00",
            "product_code": "STD_RED_PACKET",
            "biz_scene": "DIRECT_TRANSFER",
            "order_title": "红包",
            "payee_info": {"identity": "2088000000000001", "identity_type": "ALIPAY_USER_ID"},
            "business_params": "{\"sub_biz_scene\":\"REDPACKET\"}",
            "transfer_scene_name": "现金营销",
            "transfer_scene_report_infos": [
                {"info_type": "活动名称", "info_content": "新年"},
                {"info_type": "奖励说明", "info_content": "签到"}
            ]
        })
    }

    fn biz(v: &Value) -> Biz {
        Biz(v.as_object().cloned().unwrap_or_default())
    }

    fn send(st: &mut State, v: &Value, payer: &mut Payer) -> (Reply, Option<Notice>) {
        st.uni_transfer(&biz(v), Some("http://127.0.0.1:1/notify"), now(), payer)
    }

    fn ok(r: Reply) -> Map<String, Value> {
        match r {
            Reply::Ok(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn sub_code(r: &Reply) -> &str {
        match r {
            Reply::Business { sub_code, .. } => sub_code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_transfer_pays_once_and_a_replay_answers_the_same_order() {
        let mut st = State::new("app");
        let mut payer = Payer::default();
        let (first, notice) = send(&mut st, &request(), &mut payer);
        let first = ok(first);
        assert_eq!(first["status"], "SUCCESS");
        let notice = notice.unwrap();
        assert_eq!(notice.biz_content["status"], "SUCCESS");
        assert_eq!(notice.biz_content["trans_amount"], "1.00");
        assert_eq!(notice.biz_content["order_id"], first["order_id"]);
        let (again, no_notice) = send(&mut st, &request(), &mut payer);
        assert_eq!(ok(again)["order_id"], first["order_id"]);
        assert!(no_notice.is_none());
        let listed = st.transfers();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].payee_type, "ALIPAY_USER_ID");
        assert_eq!(listed[0].amount_fen, 100);
    }

    #[test]
    fn the_same_number_with_other_parameters_is_inconsistent_and_pays_nothing_more() {
        let mut st = State::new("app");
        let mut payer = Payer::default();
        let _ = send(&mut st, &request(), &mut payer);
        for (key, value) in [
            ("trans_amount", json!("2.00")),
            ("order_title", json!("other")),
            (
                "payee_info",
                json!({"identity": "2088000000000002", "identity_type": "ALIPAY_USER_ID"}),
            ),
        ] {
            let mut other = request();
            other[key] = value;
            let (r, n) = send(&mut st, &other, &mut payer);
            assert_eq!(sub_code(&r), "PAYMENT_INFO_INCONSISTENCY", "{key}");
            assert!(n.is_none());
        }
        assert_eq!(st.transfers().len(), 1);
    }

    #[test]
    fn fields_are_checked_as_alipay_does() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "product_code",
                json!("TRANS_BANKCARD_NO_PWD"),
                "PRODUCT_NOT_SIGN",
            ),
            (
                "biz_scene",
                json!("PERSONAL_COLLECTION"),
                "INVALID_PARAMETER",
            ),
            (
                "business_params",
                json!({"sub_biz_scene": "REDPACKET"}),
                "INVALID_PARAMETER",
            ),
            (
                "business_params",
                json!("{\"sub_biz_scene\":\"X\"}"),
                "INVALID_PARAMETER",
            ),
            ("trans_amount", json!("1.001"), "INVALID_PARAMETER"),
            ("trans_amount", json!("0.00"), "EXCEED_LIMIT_SM_MIN_AMOUNT"),
            (
                "trans_amount",
                json!("100000000.01"),
                "EXCEED_LIMIT_SM_AMOUNT",
            ),
            ("out_biz_no", json!("pe 1"), "INVALID_PARAMETER"),
            ("order_title", json!(""), "INVALID_PARAMETER"),
            (
                "payee_info",
                json!({"identity": "12", "identity_type": "ALIPAY_USER_ID"}),
                "INVALID_PARAMETER",
            ),
            (
                "payee_info",
                json!({"identity": "a@b.c", "identity_type": "ALIPAY_LOGON_ID"}),
                "INVALID_PARAMETER",
            ),
            ("transfer_scene_name", json!("抽奖"), "INVALID_PARAMETER"),
            (
                "transfer_scene_report_infos",
                json!([]),
                "INVALID_PARAMETER",
            ),
            (
                "transfer_scene_report_infos",
                json!([{"info_type": "活动名称", "info_content": "a"}, {"info_type": "活动名称", "info_content": "b"}]),
                "INVALID_PARAMETER",
            ),
            (
                "transfer_scene_report_infos",
                json!([{"info_type": "活动名称", "info_content": "a"}]),
                "INVALID_PARAMETER",
            ),
        ];
        for (key, value, expected) in cases {
            let mut st = State::new("app");
            let mut v = request();
            v[key] = value.clone();
            let (r, n) = send(&mut st, &v, &mut Payer::default());
            assert_eq!(sub_code(&r), expected, "{key}={value}");
            assert!(n.is_none() && st.transfers().is_empty());
        }
        // A missing scene name is refused too (required for merchants onboarded from 2026).
        let mut v = request();
        v.as_object_mut().unwrap().remove("transfer_scene_name");
        let (r, _) = send(&mut State::new("app"), &v, &mut Payer::default());
        assert_eq!(sub_code(&r), "INVALID_PARAMETER");
    }

    #[test]
    fn account_transfers_start_at_ten_fen_and_need_no_business_params() {
        let mut v = request();
        v["product_code"] = json!("TRANS_ACCOUNT_NO_PWD");
        v.as_object_mut().unwrap().remove("business_params");
        v["trans_amount"] = json!("0.09");
        let (r, _) = send(&mut State::new("app"), &v, &mut Payer::default());
        assert_eq!(sub_code(&r), "EXCEED_LIMIT_SM_MIN_AMOUNT");
        v["trans_amount"] = json!("0.10");
        v["payee_info"] = json!({"identity": PAYEE_NOT_EXIST_OPEN_ID.replace("0404", "0aaa"), "identity_type": "ALIPAY_OPEN_ID"});
        let (r, _) = send(&mut State::new("app"), &v, &mut Payer::default());
        assert_eq!(ok(r)["status"], "SUCCESS");
    }

    #[test]
    fn recognisable_payees_fail_definitely_and_nothing_is_stored() {
        for (identity, kind, expected) in [
            (PAYEE_NOT_EXIST_USER_ID, "ALIPAY_USER_ID", "PAYEE_NOT_EXIST"),
            (PAYEE_NOT_EXIST_OPEN_ID, "ALIPAY_OPEN_ID", "PAYEE_NOT_EXIST"),
            (
                PAYEE_FROZEN_USER_ID,
                "ALIPAY_USER_ID",
                "PAYEE_ACCOUNT_STATUS_ERROR",
            ),
        ] {
            let mut st = State::new("app");
            let mut v = request();
            v["payee_info"] = json!({"identity": identity, "identity_type": kind});
            let (r, _) = send(&mut st, &v, &mut Payer::default());
            assert_eq!(sub_code(&r), expected);
            assert!(st.transfers().is_empty());
        }
    }

    #[test]
    fn the_balance_limits_transfers_and_a_top_up_lets_the_same_request_through() {
        let mut st = State::new("app");
        let mut payer = Payer {
            balance_fen: Some(150),
        };
        let (r, _) = send(&mut st, &request(), &mut payer);
        assert_eq!(ok(r)["status"], "SUCCESS");
        assert_eq!(payer.balance_fen, Some(50));
        let mut second = request();
        second["out_biz_no"] = json!("pe_2");
        let (r, _) = send(&mut st, &second, &mut payer);
        assert_eq!(sub_code(&r), "BALANCE_IS_NOT_ENOUGH");
        assert_eq!(payer.balance_fen, Some(50));
        // A replay of a paid order costs nothing.
        let (r, _) = send(&mut st, &request(), &mut payer);
        assert_eq!(ok(r)["status"], "SUCCESS");
        payer.balance_fen = Some(100);
        let (r, _) = send(&mut st, &second, &mut payer);
        assert_eq!(ok(r)["status"], "SUCCESS");
        assert_eq!(payer.balance_fen, Some(0));
    }

    #[test]
    fn query_finds_by_number_product_and_scene_or_says_order_not_exist() {
        let mut st = State::new("app");
        let (paid, _) = send(&mut st, &request(), &mut Payer::default());
        let order_id = ok(paid)["order_id"].clone();
        let q = |v: Value| st.transfer_query(&biz(&v));
        let found = ok(q(
            json!({"out_biz_no": "pe_1", "product_code": "STD_RED_PACKET", "biz_scene": "DIRECT_TRANSFER"}),
        ));
        assert_eq!(found["status"], "SUCCESS");
        assert_eq!(found["trans_amount"], "1.00");
        assert_eq!(found["order_id"], order_id);
        assert_eq!(
            sub_code(&q(
                json!({"out_biz_no": "pe_9", "product_code": "STD_RED_PACKET", "biz_scene": "DIRECT_TRANSFER"})
            )),
            "ORDER_NOT_EXIST"
        );
        assert_eq!(
            sub_code(&q(
                json!({"out_biz_no": "pe_1", "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER"})
            )),
            "ORDER_NOT_EXIST"
        );
        assert_eq!(
            sub_code(&q(
                json!({"out_biz_no": "pe_1", "biz_scene": "DIRECT_TRANSFER"})
            )),
            "INVALID_PARAMETER"
        );
        assert_eq!(ok(q(json!({"order_id": order_id})))["out_biz_no"], "pe_1");
    }
}
