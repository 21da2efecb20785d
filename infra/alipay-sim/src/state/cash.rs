//! Cash campaigns: `alipay.marketing.campaign.cash.create`, `.status.modify`, `.detail.query`,
//! `.list.query`, and the operator's and platform's moves (pay, settle).

use serde::Serialize;
use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};

use super::helpers::{beijing, parse_yuan, ymd, yuan};
use super::{Biz, Reply, State};
use alipay_protocol::GatewayTimestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) enum Period {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Frequency {
    pub(super) period: Option<(Period, u32)>,
    pub(super) lifetime: u32,
}

pub(super) fn parse_frequency(text: Option<&str>) -> Result<Frequency, String> {
    let Some(text) = text else {
        return Ok(Frequency {
            period: None,
            lifetime: 1,
        });
    };
    let mut period = None;
    let mut lifetime = None;
    for part in text.split('|') {
        let (kind, n) = part.split_at(part.len().min(1));
        let n: u32 = n.parse().map_err(|_| format!("无法识别 {part}"))?;
        if n == 0 {
            return Err(format!("{part} 必须大于0"));
        }
        match kind {
            "D" | "W" | "M" if period.is_some() => return Err("D/W/M 只能设置一个".into()),
            "D" => period = Some((Period::Day, n)),
            "W" => period = Some((Period::Week, n)),
            "M" => period = Some((Period::Month, n)),
            "L" if lifetime.is_none() => lifetime = Some(n),
            _ => return Err(format!("无法识别 {part}")),
        }
    }
    let lifetime = lifetime.ok_or("必须包含L")?;
    if lifetime > 100 {
        return Err("L 不能超过100".into());
    }
    if period.is_some_and(|(_, n)| n > lifetime) {
        return Err("D/W/M 不能大于 L".into());
    }
    Ok(Frequency { period, lifetime })
}

/// A cash campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// `crowd_no`.
    pub crowd_no: String,
    /// `coupon_name`.
    pub coupon_name: String,
    /// `fixed` or `random`.
    pub prize_type: String,
    /// `total_money` in fen.
    pub total_fen: i64,
    /// `total_num`.
    pub total_num: u64,
    /// `prize_msg`.
    pub prize_msg: String,
    /// `start_time` (Beijing).
    pub start_time: String,
    /// `end_time` (Beijing).
    pub end_time: String,
    /// `merchant_link`.
    pub merchant_link: Option<String>,
    /// `send_freqency` as given.
    pub send_freqency: Option<String>,
    /// `camp_status`.
    pub camp_status: String,
    /// Paid out so far, in fen.
    pub sent_fen: i64,
    /// Envelopes paid out so far.
    pub sent_num: u64,
    #[serde(skip)]
    pub(super) start: OffsetDateTime,
    #[serde(skip)]
    pub(super) end: OffsetDateTime,
    #[serde(skip)]
    pub(super) frequency: Frequency,
}

/// One payout: money that moved.
#[derive(Debug, Clone, Serialize)]
pub struct Payout {
    /// `crowd_no`.
    pub crowd_no: String,
    /// `out_biz_no` (the platform's default value when none was given).
    pub out_biz_no: String,
    /// The receiving user.
    pub user_id: String,
    /// `open_id`, when the trigger named the user by open id.
    pub open_id: Option<String>,
    /// `login_id`, when the trigger named the user by login id.
    pub login_id: Option<String>,
    /// Yuan string.
    pub amount: String,
    /// Fen.
    pub amount_fen: i64,
    /// `biz_no`.
    pub biz_no: String,
    /// When (Beijing time).
    pub paid_at: String,
    #[serde(skip)]
    pub(super) at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(super) struct TriggerRecord {
    pub(super) user_id: String,
    pub(super) answer: Map<String, Value>,
}

impl State {
    pub(super) fn parse_time(text: &str, field: &str) -> Result<OffsetDateTime, Reply> {
        GatewayTimestamp::parse(text)
            .map(GatewayTimestamp::instant)
            .map_err(|_| Reply::invalid(field, "格式应为 yyyy-MM-dd HH:mm:ss"))
    }

    /// `alipay.marketing.campaign.cash.create`.
    pub fn cash_create(&mut self, biz: &Biz, now: OffsetDateTime, pay_base: &str) -> Reply {
        let mut campaign = match read_campaign(biz, now) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let n = self.next();
        let crowd_no = format!("CROWD{}{:010}", ymd(now), n);
        campaign.crowd_no = crowd_no.clone();
        self.campaigns.insert(crowd_no.clone(), campaign);
        self.campaign_order.push(crowd_no.clone());
        let pay_url = format!("{pay_base}/sim/campaigns/{crowd_no}/pay");
        let encoded =
            percent_encoding::utf8_percent_encode(&pay_url, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        Reply::ok(json!({"crowd_no": crowd_no, "pay_url": encoded, "origin_crowd_no": crowd_no}))
    }

    /// The operator pays a campaign (`CREATED` → `READY`). Returns the new status, or `None` for an
    /// unknown campaign.
    pub fn pay(&mut self, crowd_no: &str) -> Option<String> {
        let c = self.campaigns.get_mut(crowd_no)?;
        if c.camp_status == "CREATED" {
            c.camp_status = "READY".into();
        }
        Some(c.camp_status.clone())
    }

    /// The platform settles a closed campaign (refunds what is left): `CLOSED` → `SETTLED`.
    /// `None` for an unknown campaign, `Err(status)` when it is not closed.
    pub fn settle(&mut self, crowd_no: &str) -> Option<Result<String, String>> {
        let c = self.campaigns.get_mut(crowd_no)?;
        Some(match c.camp_status.as_str() {
            "CLOSED" | "SETTLED" => {
                c.camp_status = "SETTLED".into();
                Ok(c.camp_status.clone())
            }
            other => Err(other.to_string()),
        })
    }

    /// `alipay.marketing.campaign.cash.status.modify`.
    pub fn cash_status_modify(&mut self, biz: &Biz) -> Reply {
        let (crowd_no, target) = match (biz.required("crowd_no"), biz.required("camp_status")) {
            (Ok(c), Ok(t)) => (c, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let Some(c) = self.campaigns.get_mut(&crowd_no) else {
            return Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在");
        };
        let from = c.camp_status.as_str();
        let allowed = match (from, target.as_str()) {
            (_, t) if !matches!(t, "PAUSE" | "READY" | "CLOSED") => {
                return Reply::invalid("camp_status", "只能是 PAUSE、READY 或 CLOSED")
            }
            ("CLOSED" | "SETTLED", "CLOSED") => return Reply::Ok(Map::new()),
            ("SETTLED", _) => return Reply::business("CAMPAIGN_CLOSED", "活动已结束"),
            ("CLOSED", _) => return Reply::business("CAMPAIGN_CLOSED", "活动已结束"),
            ("CREATED", "CLOSED") => true,
            ("CREATED", _) => return Reply::business("CAMPAIGN_NOT_PAID", "活动未支付"),
            ("READY" | "PAUSE", _) => true,
            _ => false,
        };
        if !allowed {
            return Reply::business("CAMPAIGN_STATUS_ERROR", "活动状态不允许此操作");
        }
        c.camp_status = target;
        Reply::Ok(Map::new())
    }

    pub(super) fn detail(c: &Campaign) -> Value {
        json!({
            "crowd_no": c.crowd_no,
            "coupon_name": c.coupon_name,
            "prize_msg": c.prize_msg,
            "prize_type": c.prize_type,
            "start_time": c.start_time,
            "end_time": c.end_time,
            "total_amount": yuan(c.total_fen),
            "send_amount": yuan(c.sent_fen),
            "total_count": c.sent_num.to_string(),
            "total_num": c.total_num.to_string(),
            "origin_crowd_no": c.crowd_no,
            "camp_status": c.camp_status,
        })
    }

    /// `alipay.marketing.campaign.cash.detail.query`.
    pub fn cash_detail(&self, biz: &Biz) -> Reply {
        let crowd_no = match biz.required("crowd_no") {
            Ok(c) => c,
            Err(r) => return r,
        };
        match self.campaigns.get(&crowd_no) {
            Some(c) => Reply::ok(Self::detail(c)),
            None => Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在"),
        }
    }

    /// `alipay.marketing.campaign.cash.list.query`.
    pub fn cash_list(&self, biz: &Biz) -> Reply {
        let status = biz.text("camp_status").unwrap_or_else(|| "ALL".into());
        let page_index: usize = match biz.text("page_index").map(|p| p.parse()) {
            None => 1,
            Some(Ok(p)) if p >= 1 => p,
            _ => return Reply::invalid("page_index", "从1开始"),
        };
        let page_size: usize = match biz.text("page_size").map(|p| p.parse()) {
            None => 10,
            Some(Ok(p)) if (1..=50).contains(&p) => p,
            _ => return Reply::invalid("page_size", "范围 1 - 50"),
        };
        let all: Vec<&Campaign> = self
            .campaign_order
            .iter()
            .filter_map(|c| self.campaigns.get(c))
            .filter(|c| status == "ALL" || c.camp_status == status)
            .collect();
        let page: Vec<Value> = all
            .iter()
            .skip((page_index - 1) * page_size)
            .take(page_size)
            .map(|c| {
                json!({
                    "crowd_no": c.crowd_no,
                    "origin_crowd_no": c.crowd_no,
                    "camp_status": c.camp_status,
                    "coupon_name": c.coupon_name,
                })
            })
            .collect();
        Reply::ok(json!({
            "camp_list": page,
            "page_index": page_index.to_string(),
            "page_size": page_size.to_string(),
            "total_size": all.len().to_string(),
        }))
    }

    /// Every campaign.
    pub fn campaigns(&self) -> Vec<Campaign> {
        self.campaign_order
            .iter()
            .filter_map(|c| self.campaigns.get(c).cloned())
            .collect()
    }

    /// Every payout.
    pub fn payouts(&self) -> Vec<Payout> {
        self.payouts.clone()
    }
}

/// A `cash.create` request as a new campaign (no crowd number yet), or the refusal.
fn read_campaign(biz: &Biz, now: OffsetDateTime) -> Result<Campaign, Reply> {
    let coupon_name = biz.required("coupon_name")?;
    let prize_type = biz.required("prize_type")?;
    if prize_type != "fixed" && prize_type != "random" {
        return Err(Reply::invalid("prize_type", "只能是 fixed 或 random"));
    }
    let (total_fen, total_num) = read_budget(biz, &prize_type)?;
    let prize_msg = biz.required("prize_msg")?;
    let start_text = biz.required("start_time")?;
    let start = if start_text == "NowTime" {
        now
    } else {
        State::parse_time(&start_text, "start_time")?
    };
    let end_text = biz.required("end_time")?;
    let end = State::parse_time(&end_text, "end_time")?;
    if end <= start || end <= now {
        return Err(Reply::invalid("end_time", "须晚于开始时间和当前时间"));
    }
    if end - start > Duration::days(183) {
        return Err(Reply::invalid("end_time", "活动时间不能超过6个月"));
    }
    let send_freqency = biz.text("send_freqency");
    let frequency = parse_frequency(send_freqency.as_deref())
        .map_err(|e| Reply::invalid("send_freqency", &e))?;
    Ok(Campaign {
        crowd_no: String::new(),
        coupon_name,
        prize_type,
        total_fen,
        total_num,
        prize_msg,
        start_time: beijing(start),
        end_time: beijing(end),
        merchant_link: biz.text("merchant_link"),
        send_freqency,
        camp_status: "CREATED".into(),
        sent_fen: 0,
        sent_num: 0,
        start,
        end,
        frequency,
    })
}

/// `total_money` in fen and `total_num`, within the platform's bounds for `prize_type`.
fn read_budget(biz: &Biz, prize_type: &str) -> Result<(i64, u64), Reply> {
    let total_text = biz.required("total_money")?;
    let total_fen =
        parse_yuan(&total_text).ok_or_else(|| Reply::invalid("total_money", "金额格式错误"))?;
    if !(100..=1_000_000_000).contains(&total_fen) {
        return Err(Reply::invalid("total_money", "范围 1.00 - 10000000.00"));
    }
    let total_num: u64 = biz
        .required("total_num")?
        .parse()
        .map_err(|_| Reply::invalid("total_num", "必须是整数"))?;
    if !(1..=10_000_000).contains(&total_num) {
        return Err(Reply::invalid("total_num", "范围 1 - 10000000"));
    }
    let each = total_fen / total_num as i64;
    if !(20..=20_000).contains(&each) {
        return Err(Reply::invalid(
            "total_money",
            "单个红包金额须在 0.20 - 200.00 之间",
        ));
    }
    if prize_type == "fixed" && total_fen % total_num as i64 != 0 {
        return Err(Reply::invalid(
            "total_money",
            "固定金额红包的总金额须能被个数整除",
        ));
    }
    Ok((total_fen, total_num))
}
