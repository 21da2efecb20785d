//! Cash red-envelope campaigns (现金红包): `alipay.marketing.campaign.cash.create`, `.trigger`,
//! `.detail.query`, `.list.query`, `.status.modify`.
//!
//! Amounts are [`AmountFen`] here and yuan strings (`"2.00"`) on the wire.

use serde::{Deserialize, Serialize};

use crate::api::{json, ApiRequest};
use crate::de::json_biz_api;
use crate::outcome::{Failure, Outcome, UnknownReason};
use crate::AmountFen;

/// `prize_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrizeType {
    /// `fixed`: each envelope is total_money / total_num.
    Fixed,
    /// `random`: each envelope is a random share.
    Random,
}

/// `alipay.marketing.campaign.cash.create`.
#[derive(Debug, Clone, Serialize)]
pub struct CashCreate {
    /// `coupon_name`.
    pub coupon_name: String,
    /// `prize_type`.
    pub prize_type: PrizeType,
    /// `total_money` (sent as yuan, e.g. `"20.00"`).
    #[serde(with = "alipay_units::yuan")]
    pub total_money: AmountFen,
    /// `total_num` (sent as a string).
    #[serde(serialize_with = "as_string")]
    pub total_num: u64,
    /// `prize_msg`.
    pub prize_msg: String,
    /// `start_time`: `yyyy-MM-dd HH:mm:ss` (Beijing) or the literal `NowTime`.
    pub start_time: String,
    /// `end_time`: `yyyy-MM-dd HH:mm:ss` (Beijing).
    pub end_time: String,
    /// `merchant_link`: where the cashier returns after paying (`crowdNo=` is appended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_link: Option<String>,
    /// `send_freqency` (sic): per-user limits such as `D1|L5`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_freqency: Option<String>,
}

fn as_string<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// The create answer node.
#[derive(Debug, Clone, Deserialize)]
pub struct CashCreateNode {
    /// `crowd_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub crowd_no: Option<String>,
    /// `pay_url`, URL-encoded as the platform sends it.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub pay_url: Option<String>,
    /// `origin_crowd_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub origin_crowd_no: Option<String>,
}

/// A created campaign (status `CREATED` until the operator pays through `pay_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignCreated {
    /// `crowd_no`.
    pub crowd_no: String,
    /// `pay_url`, decoded and ready to open.
    pub pay_url: Option<String>,
    /// `origin_crowd_no`.
    pub origin_crowd_no: Option<String>,
}

/// Decodes a URL-encoded `pay_url`. A value that already contains `://` is returned as is (decoding it
/// again would corrupt its own encoded query).
pub fn decode_pay_url(raw: &str) -> String {
    if raw.contains("://") {
        raw.to_string()
    } else {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned()
    }
}

json_biz_api!(
    CashCreate: "alipay.marketing.campaign.cash.create",
    CashCreateNode => CampaignCreated,
    campaign_created
);

/// A create answer without a `crowd_no` cannot be used: its outcome is unknown.
fn campaign_created(node: CashCreateNode) -> Outcome<CampaignCreated> {
    match node.crowd_no {
        Some(crowd_no) => Outcome::Success(CampaignCreated {
            crowd_no,
            pay_url: node.pay_url.as_deref().map(decode_pay_url),
            origin_crowd_no: node.origin_crowd_no,
        }),
        None => Outcome::Unknown(UnknownReason::Unparsable(
            "create answer has no crowd_no".into(),
        )),
    }
}

/// Who receives the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerUser {
    /// `user_id` (2088…).
    UserId(String),
    /// `login_id` (logon email or phone).
    LoginId(String),
    /// `open_id` (apps on the open_id standard).
    OpenId(String),
}

/// `alipay.marketing.campaign.cash.trigger`.
#[derive(Debug, Clone)]
pub struct CashTrigger {
    /// `crowd_no`.
    pub crowd_no: String,
    /// The user.
    pub user: TriggerUser,
    /// `out_biz_no`: `[A-Za-z0-9_]{1,96}`, unique per campaign; a repeat replays the earlier result.
    pub out_biz_no: Option<String>,
    /// `order_price`: overrides the prize algorithm. Sent as a yuan string; the platform's unit for
    /// this field is UNCONFIRMED (see the protocol reference §7.2), so leave it `None` unless verified.
    pub order_price: Option<AmountFen>,
}

#[derive(Serialize)]
struct TriggerBiz<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_id: Option<&'a str>,
    crowd_no: &'a str,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "alipay_units::yuan::option"
    )]
    order_price: Option<AmountFen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    out_biz_no: Option<&'a str>,
}

/// The trigger answer node (after `code=10000`).
#[derive(Debug, Clone, Deserialize)]
pub struct CashTriggerNode {
    /// `trigger_result`: `"true"` = prize issued.
    #[serde(default, deserialize_with = "crate::de::flag")]
    pub trigger_result: bool,
    /// `prize_amount` (yuan string).
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub prize_amount: Option<String>,
    /// `repeat_trigger_flag`: `"true"` when this replays an earlier result.
    #[serde(default, deserialize_with = "crate::de::flag")]
    pub repeat_trigger_flag: bool,
    /// `partner_id`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub partner_id: Option<String>,
    /// `error_msg`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub error_msg: Option<String>,
    /// `coupon_name`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub coupon_name: Option<String>,
    /// `prize_msg`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub prize_msg: Option<String>,
    /// `merchant_logo`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub merchant_logo: Option<String>,
    /// `biz_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub biz_no: Option<String>,
    /// `out_biz_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub out_biz_no: Option<String>,
}

/// A paid envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSent {
    /// `prize_amount`.
    pub prize_amount: AmountFen,
    /// `repeat_trigger_flag`: this answer replays an earlier payout (no new money moved).
    pub repeat_trigger_flag: bool,
    /// `biz_no`: Alipay's business number.
    pub biz_no: Option<String>,
    /// `out_biz_no` as echoed.
    pub out_biz_no: Option<String>,
    /// `partner_id`.
    pub partner_id: Option<String>,
    /// `coupon_name`.
    pub coupon_name: Option<String>,
    /// `prize_msg`.
    pub prize_msg: Option<String>,
    /// `merchant_logo`.
    pub merchant_logo: Option<String>,
}

impl ApiRequest for CashTrigger {
    const METHOD: &'static str = "alipay.marketing.campaign.cash.trigger";
    type Response = CashTriggerNode;
    type Output = EnvelopeSent;
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        let (user_id, login_id, open_id) = match &self.user {
            TriggerUser::UserId(u) => (Some(u.as_str()), None, None),
            TriggerUser::LoginId(l) => (None, Some(l.as_str()), None),
            TriggerUser::OpenId(o) => (None, None, Some(o.as_str())),
        };
        json(&TriggerBiz {
            user_id,
            login_id,
            open_id,
            crowd_no: &self.crowd_no,
            order_price: self.order_price,
            out_biz_no: self.out_biz_no.as_deref(),
        })
    }
    fn finish(node: CashTriggerNode) -> Outcome<EnvelopeSent> {
        if !node.trigger_result {
            // "系统异常"/"系统繁忙" inside a 10000 answer: the platform itself is unsure.
            let system = node.error_msg.as_deref().is_some_and(|m| {
                m.contains("系统异常") || m.contains("系统繁忙") || m.contains("SYSTEM_ERROR")
            });
            if system {
                return Outcome::Unknown(UnknownReason::Platform {
                    code: "10000".into(),
                    sub_code: None,
                    sub_msg: node.error_msg,
                });
            }
            return Outcome::Failed(Failure::api(None, node.error_msg));
        }
        let amount = match node
            .prize_amount
            .as_deref()
            .map(|a| AmountFen::parse_yuan(a.trim()))
        {
            Some(Ok(a)) => a,
            _ => {
                return Outcome::Unknown(UnknownReason::Unparsable(
                    "trigger_result=true without a readable prize_amount".into(),
                ))
            }
        };
        Outcome::Success(EnvelopeSent {
            prize_amount: amount,
            repeat_trigger_flag: node.repeat_trigger_flag,
            biz_no: node.biz_no,
            out_biz_no: node.out_biz_no,
            partner_id: node.partner_id,
            coupon_name: node.coupon_name,
            prize_msg: node.prize_msg,
            merchant_logo: node.merchant_logo,
        })
    }
}

/// `alipay.marketing.campaign.cash.detail.query`.
#[derive(Debug, Clone, Serialize)]
pub struct CashDetailQuery {
    /// `crowd_no`.
    pub crowd_no: String,
}

/// A campaign's detail.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CampaignDetail {
    /// `crowd_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub crowd_no: Option<String>,
    /// `coupon_name`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub coupon_name: Option<String>,
    /// `prize_msg`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub prize_msg: Option<String>,
    /// `prize_type`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub prize_type: Option<String>,
    /// `start_time`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub start_time: Option<String>,
    /// `end_time`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub end_time: Option<String>,
    /// `total_amount`.
    #[serde(default, deserialize_with = "crate::de::opt_fen")]
    pub total_amount: Option<AmountFen>,
    /// `send_amount`: paid out so far.
    #[serde(default, deserialize_with = "crate::de::opt_fen")]
    pub send_amount: Option<AmountFen>,
    /// `total_count`.
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub total_count: Option<u64>,
    /// `total_num` (deprecated by the platform).
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub total_num: Option<u64>,
    /// `origin_crowd_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub origin_crowd_no: Option<String>,
    /// `camp_status` verbatim (`CREATED`, `PAID`, `READY`, `PAUSE`, `CLOSED`, `SETTLED`, or a state
    /// Alipay added later): the domain types it, one place for what each state means.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub camp_status: Option<String>,
}

json_biz_api!(
    CashDetailQuery: "alipay.marketing.campaign.cash.detail.query",
    CampaignDetail => CampaignDetail,
    Outcome::Success
);

/// `alipay.marketing.campaign.cash.list.query`.
#[derive(Debug, Clone, Serialize)]
pub struct CashListQuery {
    /// `camp_status` filter, verbatim; `None` = `ALL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camp_status: Option<String>,
    /// `page_index`, from 1.
    #[serde(serialize_with = "as_string")]
    pub page_index: u64,
    /// `page_size`, at most 50.
    #[serde(serialize_with = "as_string")]
    pub page_size: u64,
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CampaignSummary {
    /// `crowd_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub crowd_no: Option<String>,
    /// `origin_crowd_no`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub origin_crowd_no: Option<String>,
    /// `camp_status` verbatim (`CREATED`, `PAID`, `READY`, `PAUSE`, `CLOSED`, `SETTLED`, or a state
    /// Alipay added later): the domain types it, one place for what each state means.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub camp_status: Option<String>,
    /// `coupon_name`.
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    pub coupon_name: Option<String>,
}

/// A page of campaigns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CampaignList {
    /// `camp_list`.
    #[serde(default)]
    pub camp_list: Vec<CampaignSummary>,
    /// `page_index`.
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub page_index: Option<u64>,
    /// `page_size`.
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub page_size: Option<u64>,
    /// `total_size`.
    #[serde(default, deserialize_with = "crate::de::opt_u64")]
    pub total_size: Option<u64>,
}

json_biz_api!(
    CashListQuery: "alipay.marketing.campaign.cash.list.query",
    CampaignList => CampaignList,
    Outcome::Success
);

/// A status `status.modify` can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CampStatusChange {
    /// `PAUSE`.
    Pause,
    /// `READY` (resume).
    Ready,
    /// `CLOSED` (final).
    Closed,
}

/// `alipay.marketing.campaign.cash.status.modify`.
#[derive(Debug, Clone, Serialize)]
pub struct CashStatusModify {
    /// `crowd_no`.
    pub crowd_no: String,
    /// `camp_status`.
    pub camp_status: CampStatusChange,
}

/// The (empty) status.modify answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Empty {}

json_biz_api!(
    CashStatusModify: "alipay.marketing.campaign.cash.status.modify",
    Empty => (),
    |_| Outcome::Success(())
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureKind;

    #[test]
    fn create_biz_matches_the_vector_shape() {
        let req = CashCreate {
            coupon_name: "新年现金红包".into(),
            prize_type: PrizeType::Fixed,
            total_money: AmountFen::from_fen(100_000).unwrap(),
            total_num: 1000,
            prize_msg: "1.00".into(),
            start_time: "NowTime".into(),
            end_time: "2024-12-31 23:59:59".into(),
            merchant_link: Some("https://example.com/campaign?from=alipay&id=1".into()),
            send_freqency: Some("D3|L10".into()),
        };
        assert_eq!(
            req.biz_content().unwrap().unwrap(),
            r#"{"coupon_name":"新年现金红包","prize_type":"fixed","total_money":"1000.00","total_num":"1000","prize_msg":"1.00","start_time":"NowTime","end_time":"2024-12-31 23:59:59","merchant_link":"https://example.com/campaign?from=alipay&id=1","send_freqency":"D3|L10"}"#
        );
    }

    #[test]
    fn camp_status_is_kept_verbatim() {
        for text in ["SETTLED", "SETTLE", "ARCHIVED"] {
            let body = format!(r#"{{"camp_status":"{text}"}}"#);
            let detail: CampaignDetail = serde_json::from_str(&body).unwrap();
            assert_eq!(detail.camp_status.as_deref(), Some(text));
        }
        let detail: CampaignDetail = serde_json::from_str(r#"{"camp_status":""}"#).unwrap();
        assert_eq!(detail.camp_status, None);
    }

    #[test]
    fn trigger_user_kinds() {
        let mut req = CashTrigger {
            crowd_no: "C".into(),
            user: TriggerUser::OpenId("o1".into()),
            out_biz_no: Some("b1".into()),
            order_price: None,
        };
        assert_eq!(
            req.biz_content().unwrap().unwrap(),
            r#"{"open_id":"o1","crowd_no":"C","out_biz_no":"b1"}"#
        );
        req.user = TriggerUser::UserId("2088".into());
        assert_eq!(
            req.biz_content().unwrap().unwrap(),
            r#"{"user_id":"2088","crowd_no":"C","out_biz_no":"b1"}"#
        );
    }

    #[test]
    fn trigger_reads_both_levels() {
        let failed: CashTriggerNode = serde_json::from_str(
            r#"{"code":"10000","trigger_result":"false","error_msg":"红包已领完"}"#,
        )
        .unwrap();
        match CashTrigger::finish(failed) {
            Outcome::Failed(f) => {
                assert_eq!(f.kind, FailureKind::Api);
                assert_eq!(f.error_msg.as_deref(), Some("红包已领完"));
            }
            other => panic!("{other:?}"),
        }
        let sent: CashTriggerNode = serde_json::from_str(
            r#"{"trigger_result":"true","prize_amount":"2.00","repeat_trigger_flag":"true","biz_no":"B"}"#,
        )
        .unwrap();
        match CashTrigger::finish(sent) {
            Outcome::Success(s) => {
                assert_eq!(s.prize_amount, AmountFen::from_fen(200).unwrap());
                assert!(s.repeat_trigger_flag);
            }
            other => panic!("{other:?}"),
        }
        let weird: CashTriggerNode =
            serde_json::from_str(r#"{"trigger_result":"true","prize_amount":"2.0.0"}"#).unwrap();
        assert!(matches!(CashTrigger::finish(weird), Outcome::Unknown(_)));
        let system: CashTriggerNode =
            serde_json::from_str(r#"{"trigger_result":"false","error_msg":"系统异常"}"#).unwrap();
        assert!(matches!(CashTrigger::finish(system), Outcome::Unknown(_)));
    }

    #[test]
    fn pay_url_is_decoded_once() {
        assert_eq!(
            decode_pay_url("https%3A%2F%2Fexample.com%2Fpay%3Fa%3D1%26b%3D2"),
            "https://example.com/pay?a=1&b=2"
        );
        assert_eq!(decode_pay_url("https://x/p?q=a%20b"), "https://x/p?q=a%20b");
    }
}
