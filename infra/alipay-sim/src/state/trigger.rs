//! `alipay.marketing.campaign.cash.trigger`: replays by `out_biz_no`, the campaign's checks,
//! per-user limits and the amount paid.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::cash::{Campaign, Payout, Period, TriggerRecord};
use super::helpers::{beijing, hex_digest, is_user_id, parse_yuan, ymd, yuan};
use super::{Biz, Reply, State, DEFAULT_OUT_BIZ_NO, PARTNER_ID};
use crate::settings::TriggerReplay;

impl State {
    pub(super) fn amount_for(c: &Campaign, salt: &str) -> i64 {
        let left_num = c.total_num.saturating_sub(c.sent_num) as i64;
        let left_fen = c.total_fen - c.sent_fen;
        if c.prize_type == "fixed" {
            return (c.total_fen / c.total_num as i64).min(left_fen);
        }
        if left_num <= 1 {
            return left_fen;
        }
        let avg = left_fen / left_num;
        let h = hex_digest(&[&c.crowd_no, salt]);
        let r = u64::from_str_radix(&h[..8], 16).unwrap_or(0) % 101; // 0..=100
        let amount = avg * (50 + r as i64) / 100;
        amount.clamp(1, (left_fen - (left_num - 1)).max(1))
    }

    pub(super) fn count_in_period(
        &self,
        crowd_no: &str,
        user_id: &str,
        now: OffsetDateTime,
        period: Option<Period>,
    ) -> u32 {
        let bj = |t: OffsetDateTime| t.to_offset(time::macros::offset!(+8));
        let now = bj(now);
        self.payouts
            .iter()
            .filter(|p| p.crowd_no == crowd_no && p.user_id == user_id)
            .filter(|p| {
                let at = bj(p.at);
                match period {
                    None => true,
                    Some(Period::Day) => at.date() == now.date(),
                    Some(Period::Week) => {
                        at.year() == now.year() && at.iso_week() == now.iso_week()
                    }
                    Some(Period::Month) => at.year() == now.year() && at.month() == now.month(),
                }
            })
            .count() as u32
    }

    /// Why a campaign cannot pay now (status, time window, budget), in the platform's words.
    pub(super) fn campaign_refusal(campaign: &Campaign, now: OffsetDateTime) -> Option<Reply> {
        match campaign.camp_status.as_str() {
            "READY" => {}
            "CREATED" => return Some(Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在")),
            "PAUSE" => return Some(Reply::business("CAMPAIGN_PAUSED", "活动已暂停")),
            _ => return Some(Reply::business("CAMPAIGN_CLOSED", "活动已结束")),
        }
        if now < campaign.start {
            return Some(Reply::business("CAMPAIGN_NOT_STARTED", "活动未开始"));
        }
        if now > campaign.end {
            return Some(Reply::business("CAMPAIGN_CLOSED", "活动已结束"));
        }
        if campaign.sent_num >= campaign.total_num || campaign.sent_fen >= campaign.total_fen {
            return Some(Reply::trigger_fail("红包已领完"));
        }
        None
    }

    /// `alipay.marketing.campaign.cash.trigger` with the default order (known `out_biz_no`s are
    /// replayed before the campaign is checked).
    pub fn cash_trigger(&mut self, biz: &Biz, now: OffsetDateTime) -> Reply {
        self.cash_trigger_with(biz, now, TriggerReplay::BeforeChecks)
    }

    /// `alipay.marketing.campaign.cash.trigger`, replaying a known `out_biz_no` before or after the
    /// campaign's checks as `replay` says. Per-user limits always come after the replay (a paid
    /// `out_biz_no` is not refused for the payout it made).
    pub fn cash_trigger_with(
        &mut self,
        biz: &Biz,
        now: OffsetDateTime,
        replay: TriggerReplay,
    ) -> Reply {
        let crowd_no = match biz.required("crowd_no") {
            Ok(c) => c,
            Err(r) => return r,
        };
        let out_biz_no = match read_out_biz_no(biz) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let Recipient {
            user_id,
            open_id,
            login_id,
        } = match self.trigger_recipient(biz) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let Some(campaign) = self.campaigns.get(&crowd_no) else {
            return Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在");
        };
        let effective_out = out_biz_no
            .clone()
            .unwrap_or_else(|| DEFAULT_OUT_BIZ_NO.to_string());
        let replay_key = match &out_biz_no {
            Some(o) => (crowd_no.clone(), o.clone()),
            None => (crowd_no.clone(), format!("{DEFAULT_OUT_BIZ_NO}#{user_id}")),
        };
        // By default replays come first: a known out_biz_no answers its earlier payout even after
        // the campaign was closed or ran out, so a retry can always learn what happened. The
        // platform does not promise it, so `after_checks` plays the order that hurts.
        if replay == TriggerReplay::AfterChecks {
            if let Some(refusal) = Self::campaign_refusal(campaign, now) {
                return refusal;
            }
        }
        if let Some(record) = self.triggers.get(&replay_key) {
            if record.user_id != user_id {
                return Reply::business("OUT_BIZ_NO_REPEAT", "外部业务号已被其他用户使用");
            }
            let mut answer = record.answer.clone();
            answer.insert("repeat_trigger_flag".into(), Value::String("true".into()));
            return Reply::Ok(answer);
        }
        if let Some(refusal) = Self::campaign_refusal(campaign, now) {
            return refusal;
        }
        if self.over_user_limit(campaign, &user_id, now) {
            return Reply::trigger_fail("超过领取次数限制");
        }
        let Some(campaign) = self.campaigns.get(&crowd_no) else {
            return Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在");
        };
        let left_fen = campaign.total_fen - campaign.sent_fen;
        let amount = match biz.text("order_price") {
            Some(p) => match parse_yuan(&p) {
                Some(0) | None => return Reply::invalid("order_price", "金额格式错误"),
                Some(a) if a > left_fen => return Reply::trigger_fail("红包余额不足"),
                Some(a) => a,
            },
            None => Self::amount_for(campaign, &format!("{effective_out}#{user_id}")),
        };
        let paid = Payment {
            crowd_no,
            out_biz_no: effective_out,
            recipient: Recipient {
                user_id,
                open_id,
                login_id,
            },
            amount,
        };
        let record = self.record_payment(paid, now);
        let answer = record.answer.clone();
        self.triggers.insert(replay_key, record);
        Reply::Ok(answer)
    }

    /// Whether `user_id` has had all the campaign's `send_freqency` allows, in its lifetime or in
    /// the current day, week or month.
    fn over_user_limit(&self, campaign: &Campaign, user_id: &str, now: OffsetDateTime) -> bool {
        let freq = campaign.frequency;
        let crowd_no = &campaign.crowd_no;
        if self.count_in_period(crowd_no, user_id, now, None) >= freq.lifetime {
            return true;
        }
        freq.period.is_some_and(|(period, n)| {
            self.count_in_period(crowd_no, user_id, now, Some(period)) >= n
        })
    }

    /// The recipient named by `user_id`, `login_id` or `open_id` (in that order).
    fn trigger_recipient(&self, biz: &Biz) -> Result<Recipient, Reply> {
        let named = |user_id, open_id, login_id| Recipient {
            user_id,
            open_id,
            login_id,
        };
        if let Some(u) = biz.text("user_id") {
            if !is_user_id(&u) {
                return Err(Reply::invalid("user_id", "格式错误"));
            }
            Ok(named(u, None, None))
        } else if let Some(l) = biz.text("login_id") {
            Ok(named(Self::user_for_login(&l), None, Some(l)))
        } else if let Some(o) = biz.text("open_id") {
            match self.open_ids.get(&o) {
                Some(u) => Ok(named(u.clone(), Some(o), None)),
                None => Err(Reply::business("USER_NOT_EXIST", "用户不存在")),
            }
        } else {
            Err(Reply::invalid(
                "user_id",
                "user_id、login_id、open_id 至少填一个",
            ))
        }
    }

    /// Moves the money of a trigger that passed every check; the record its replays answer.
    fn record_payment(&mut self, paid: Payment, now: OffsetDateTime) -> TriggerRecord {
        let Payment {
            crowd_no,
            out_biz_no: effective_out,
            recipient,
            amount,
        } = paid;
        let (coupon_name, prize_msg) = self
            .campaigns
            .get(&crowd_no)
            .map(|c| (c.coupon_name.clone(), c.prize_msg.clone()))
            .unwrap_or_default();
        let n = self.next();
        let biz_no = format!("{}{:016}", ymd(now), n);
        if let Some(c) = self.campaigns.get_mut(&crowd_no) {
            c.sent_fen += amount;
            c.sent_num += 1;
        }
        self.payouts.push(Payout {
            crowd_no: crowd_no.clone(),
            out_biz_no: effective_out.clone(),
            user_id: recipient.user_id.clone(),
            open_id: recipient.open_id,
            login_id: recipient.login_id,
            amount: yuan(amount),
            amount_fen: amount,
            biz_no: biz_no.clone(),
            paid_at: beijing(now),
            at: now,
        });
        let answer = json!({
            "trigger_result": "true",
            "prize_amount": yuan(amount),
            "repeat_trigger_flag": "false",
            "partner_id": PARTNER_ID,
            "coupon_name": coupon_name,
            "prize_msg": prize_msg,
            "biz_no": biz_no,
            "out_biz_no": effective_out,
        });
        let answer = match answer {
            Value::Object(answer) => answer,
            _ => Map::new(),
        };
        TriggerRecord {
            user_id: recipient.user_id,
            answer,
        }
    }
}

/// Who a trigger pays, as the request named them.
struct Recipient {
    user_id: String,
    open_id: Option<String>,
    login_id: Option<String>,
}

/// A trigger that passed every check.
struct Payment {
    crowd_no: String,
    out_biz_no: String,
    recipient: Recipient,
    amount: i64,
}

/// `out_biz_no`, if given: letters, digits and underscores, at most 96.
fn read_out_biz_no(biz: &Biz) -> Result<Option<String>, Reply> {
    let out_biz_no = biz.text("out_biz_no");
    if let Some(o) = &out_biz_no {
        if o.len() > 96 || !o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Reply::invalid(
                "out_biz_no",
                "只能包含字母、数字、下划线，最长96位",
            ));
        }
    }
    Ok(out_biz_no)
}
