//! `POST /campaigns` input and Alipay's limits on it (amounts, counts, dates, `send_freqency`).

use super::error::CampaignError;
use super::status::PrizeType;
use crate::amount::AmountFen;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A validated `send_freqency`: at most one of `D<n>`/`W<n>`/`M<n>` and a mandatory `L<n>` (≤100),
/// period limit ≤ lifetime limit, joined with `|`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SendFrequency(String);

impl SendFrequency {
    /// Parses e.g. `L1`, `D1|L5`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.len() > 32 {
            return Err("too long");
        }
        let mut period: Option<u32> = None;
        let mut life: Option<u32> = None;
        for part in s.split('|') {
            let (kind, num) = part.split_at(part.len().min(1));
            if num.is_empty() || num.len() > 3 || !num.bytes().all(|b| b.is_ascii_digit()) {
                return Err("each part is D<n>, W<n>, M<n> or L<n>");
            }
            let n: u32 = num.parse().map_err(|_| "bad number")?;
            if n == 0 {
                return Err("limits must be at least 1");
            }
            match kind {
                "D" | "W" | "M" if period.is_none() => period = Some(n),
                "D" | "W" | "M" => return Err("at most one of D, W, M"),
                "L" if life.is_none() => life = Some(n),
                _ => return Err("each part is D<n>, W<n>, M<n> or L<n> (L once)"),
            }
        }
        let life = life.ok_or("L<n> is required")?;
        if life > 100 {
            return Err("L is at most 100");
        }
        if period.is_some_and(|p| p > life) {
            return Err("the D/W/M limit must not exceed L");
        }
        Ok(SendFrequency(s.to_owned()))
    }

    /// The lifetime limit `L<n>`.
    pub fn lifetime_limit(&self) -> u32 {
        self.0
            .split('|')
            .find_map(|p| p.strip_prefix('L').and_then(|n| n.parse().ok()))
            .unwrap_or(1)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SendFrequency {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, &'static str> {
        SendFrequency::parse(&s)
    }
}

impl From<SendFrequency> for String {
    fn from(s: SendFrequency) -> String {
        s.0
    }
}

/// When a campaign starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTime {
    /// Alipay's `NowTime`.
    Now,
    /// A Beijing time.
    At(Timestamp),
}

impl StartTime {
    /// As `cash.create` takes it and the campaign record keeps it: `NowTime` or Beijing time.
    pub fn as_sent(&self) -> String {
        match self {
            StartTime::Now => "NowTime".to_owned(),
            StartTime::At(t) => t.to_beijing(),
        }
    }
}

/// A validated campaign creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// `coupon_name` (1–64 chars).
    pub coupon_name: String,
    pub prize_type: PrizeType,
    pub total_money: AmountFen,
    pub total_num: u32,
    pub prize_msg: String,
    pub start: StartTime,
    pub end: Timestamp,
    pub merchant_link: String,
    /// `send_freqency`.
    pub send_frequency: Option<SendFrequency>,
}

/// The JSON body of `POST /campaigns` (untrusted).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCampaignInput {
    pub coupon_name: Option<String>,
    /// `prizeType`: `fixed` | `random`.
    pub prize_type: Option<String>,
    /// `totalMoney`: yuan string.
    pub total_money: Option<String>,
    pub total_num: Option<u64>,
    pub prize_msg: Option<String>,
    /// `startTime`: Beijing time or `NowTime`.
    pub start_time: Option<String>,
    /// `endTime`: Beijing time.
    pub end_time: Option<String>,
    pub merchant_link: Option<String>,
    pub send_frequency: Option<String>,
}

pub(super) fn bad(field: &'static str, reason: impl Into<String>) -> CampaignError {
    CampaignError::BadInput {
        field,
        reason: reason.into(),
    }
}

fn text(field: &'static str, v: Option<&String>, max: usize) -> Result<String, CampaignError> {
    let v = v
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(field, "is required"))?;
    if v.chars().count() > max {
        return Err(bad(field, format!("at most {max} characters")));
    }
    Ok(v.to_owned())
}

impl NewCampaignInput {
    /// Validates against Alipay's documented limits: money 1.00–10000000.00, count 1–10000000,
    /// each envelope 0.20–200.00 on average (exact division for `fixed`), start later than now or
    /// `NowTime`, end after start and within 6 months, `send_freqency` grammar.
    ///
    /// # Errors
    /// [`CampaignError::BadInput`] naming the field.
    pub fn validate(&self, now: Timestamp) -> Result<NewCampaign, CampaignError> {
        let coupon_name = text("couponName", self.coupon_name.as_ref(), 64)?;
        let prize_type = match self.prize_type.as_deref() {
            Some("fixed") => PrizeType::Fixed,
            Some("random") => PrizeType::Random,
            _ => return Err(bad("prizeType", "must be fixed or random")),
        };
        let total_money = AmountFen::parse_yuan(self.total_money.as_deref().unwrap_or(""))
            .map_err(|e| bad("totalMoney", e.to_string()))?;
        if !(100..=1_000_000_000).contains(&total_money.fen()) {
            return Err(bad("totalMoney", "must be 1.00 to 10000000.00"));
        }
        let total_num = self
            .total_num
            .ok_or_else(|| bad("totalNum", "is required"))?;
        if !(1..=10_000_000).contains(&total_num) {
            return Err(bad("totalNum", "must be 1 to 10000000"));
        }
        let total_num = u32::try_from(total_num).map_err(|_| bad("totalNum", "too large"))?;
        let each = total_money.fen() / i64::from(total_num);
        if prize_type == PrizeType::Fixed && total_money.fen() % i64::from(total_num) != 0 {
            return Err(bad(
                "totalNum",
                "a fixed campaign needs totalMoney divisible into totalNum equal envelopes",
            ));
        }
        if !(20..=20_000).contains(&each) {
            return Err(bad(
                "totalMoney",
                "each envelope must be 0.20 to 200.00 on average",
            ));
        }
        let prize_msg = text("prizeMsg", self.prize_msg.as_ref(), 128)?;
        let start = match self.start_time.as_deref() {
            None | Some("NowTime") => StartTime::Now,
            Some(s) => {
                let t = Timestamp::parse_beijing(s).map_err(|e| bad("startTime", e.to_string()))?;
                if t <= now {
                    return Err(bad("startTime", "must be later than now (or NowTime)"));
                }
                StartTime::At(t)
            }
        };
        let end = Timestamp::parse_beijing(self.end_time.as_deref().unwrap_or(""))
            .map_err(|e| bad("endTime", e.to_string()))?;
        let start_at = match start {
            StartTime::Now => now,
            StartTime::At(t) => t,
        };
        if end <= start_at {
            return Err(bad("endTime", "must be after the start"));
        }
        if end.millis() - start_at.millis() > 183 * 24 * 3_600_000 {
            return Err(bad("endTime", "a campaign lasts at most 6 months"));
        }
        let merchant_link = text("merchantLink", self.merchant_link.as_ref(), 512)?;
        if !(merchant_link.starts_with("https://") || merchant_link.starts_with("http://")) {
            return Err(bad("merchantLink", "must be an http(s) URL"));
        }
        let send_frequency = match self.send_frequency.as_deref() {
            None | Some("") => None,
            Some(s) => Some(SendFrequency::parse(s).map_err(|e| bad("sendFrequency", e))?),
        };
        Ok(NewCampaign {
            coupon_name,
            prize_type,
            total_money,
            total_num,
            prize_msg,
            start,
            end,
            merchant_link,
            send_frequency,
        })
    }
}
