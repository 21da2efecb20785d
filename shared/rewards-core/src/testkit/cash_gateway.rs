//! Alipay's cash campaign APIs in memory.

use super::stub::*;
use crate::campaign::{CampaignStatus, NewCampaign};
use crate::ids::*;
use crate::ports::*;
use crate::AmountFen;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};

struct SimCampaign {
    coupon_name: String,
    status: String,
    remaining: i64,
    each: i64,
    per_user: HashMap<String, u32>,
    limit: u32,
}

/// What [`StubCashGateway`] holds.
#[derive(Default)]
pub struct CashGwState {
    next: u64,
    campaigns: BTreeMap<String, SimCampaign>,
    replays: HashMap<(String, String), TriggerResult>,
    /// (crowd, out_biz_no, recipient, fen)
    payouts: Vec<(String, String, String, i64)>,
    create_faults: VecDeque<GwFault>,
    trigger_faults: VecDeque<GwFault>,
    trigger_calls: u32,
}

/// Alipay's cash-campaign APIs in memory: cash.trigger replays by out_biz_no.
pub type StubCashGateway = Stub<CashGwState>;

impl StubCashGateway {
    pub fn fail_next_create(&self, f: GwFault) {
        self.state().create_faults.push_back(f);
    }
    pub fn fail_next_trigger(&self, f: GwFault) {
        self.state().trigger_faults.push_back(f);
    }
    pub fn clear_faults(&self) {
        let mut s = self.state();
        s.trigger_faults.clear();
        s.create_faults.clear();
    }
    pub fn campaigns_created(&self) -> usize {
        self.state().campaigns.len()
    }
    pub fn set_status(&self, crowd: &str, status: &str) {
        if let Some(c) = self.state().campaigns.get_mut(crowd) {
            c.status = status.into();
        }
    }
    /// A READY campaign known to Alipay: `count` envelopes of `each` fen, per-user limit `limit`.
    pub fn add_ready(&self, crowd: &str, each: i64, count: i64, limit: u32) {
        self.state().campaigns.insert(
            crowd.into(),
            SimCampaign {
                coupon_name: crowd.into(),
                status: "READY".into(),
                remaining: each * count,
                each,
                per_user: HashMap::new(),
                limit,
            },
        );
    }
    pub fn payouts(&self) -> Vec<(String, String, String, i64)> {
        self.state().payouts.clone()
    }
    pub fn trigger_calls(&self) -> u32 {
        self.state().trigger_calls
    }
}

#[async_trait]
impl CashGateway for StubCashGateway {
    async fn create_campaign(&self, terms: &NewCampaign) -> GatewayOutcome<CampaignCreated> {
        let mut s = self.state();
        let fault = s.create_faults.pop_front();
        if fault == Some(GwFault::UnknownBefore) {
            return GatewayOutcome::Unknown("injected timeout".into());
        }
        if fault == Some(GwFault::Refuse) {
            return GatewayOutcome::Failed(refusal());
        }
        s.next += 1;
        let crowd = format!("CROWD{}", s.next);
        let each = terms.total_money.fen() / i64::from(terms.total_num);
        s.campaigns.insert(
            crowd.clone(),
            SimCampaign {
                coupon_name: terms.coupon_name.clone(),
                status: "CREATED".into(),
                remaining: terms.total_money.fen(),
                each,
                per_user: HashMap::new(),
                limit: 1,
            },
        );
        if fault == Some(GwFault::UnknownAfter) {
            return GatewayOutcome::Unknown("injected lost answer".into());
        }
        GatewayOutcome::Success(CampaignCreated {
            crowd_no: CrowdNo::parse(&crowd).unwrap(),
            pay_url: format!("https://pay.example/pay?crowdNo={crowd}"),
            origin_crowd_no: None,
        })
    }
    async fn trigger(&self, req: &TriggerRequest) -> GatewayOutcome<TriggerResult> {
        let mut s = self.state();
        s.trigger_calls += 1;
        let fault = s.trigger_faults.pop_front();
        if fault == Some(GwFault::UnknownBefore) {
            return GatewayOutcome::Unknown("injected timeout".into());
        }
        if fault == Some(GwFault::Throttle) {
            return GatewayOutcome::Throttled("injected 40005".into());
        }
        if fault == Some(GwFault::RefuseBeforeReplay) {
            return GatewayOutcome::Failed(GatewayFailure {
                code: "40004".into(),
                sub_code: Some("CAMPAIGN_PAUSED".into()),
                sub_msg: Some("活动已暂停".into()),
                error_msg: None,
            });
        }
        let k = (req.crowd_no.to_string(), req.out_biz_no.to_string());
        if let Some(prev) = s.replays.get(&k) {
            let mut r = prev.clone();
            r.repeat_trigger_flag = true;
            return if fault == Some(GwFault::UnknownAfter) {
                GatewayOutcome::Unknown("lost".into())
            } else {
                GatewayOutcome::Success(r)
            };
        }
        if fault == Some(GwFault::Refuse) {
            return GatewayOutcome::Failed(refusal());
        }
        let who = req.recipient.index_key();
        let Some(c) = s.campaigns.get_mut(req.crowd_no.as_str()) else {
            return GatewayOutcome::Failed(GatewayFailure {
                code: "40004".into(),
                sub_code: Some("CAMPAIGN_NOT_EXIST".into()),
                sub_msg: Some("现金活动不存在".into()),
                error_msg: None,
            });
        };
        if c.status != "READY" {
            return GatewayOutcome::Failed(GatewayFailure {
                code: "40004".into(),
                sub_code: Some("CAMPAIGN_NOT_EXIST".into()),
                sub_msg: Some("现金活动不存在".into()),
                error_msg: None,
            });
        }
        let result = if c.remaining < c.each {
            TriggerResult {
                trigger_result: false,
                error_msg: Some("红包已领完".into()),
                ..Default::default()
            }
        } else if c.per_user.get(&who).copied().unwrap_or(0) >= c.limit {
            TriggerResult {
                trigger_result: false,
                error_msg: Some("超过领取次数".into()),
                ..Default::default()
            }
        } else {
            c.remaining -= c.each;
            *c.per_user.entry(who.clone()).or_default() += 1;
            let each = c.each;
            s.payouts.push((
                req.crowd_no.to_string(),
                req.out_biz_no.to_string(),
                who,
                each,
            ));
            TriggerResult {
                trigger_result: true,
                prize_amount: Some(AmountFen::from_fen(each).unwrap()),
                biz_no: Some(format!("BIZ{}", s.payouts.len())),
                out_biz_no: Some(req.out_biz_no.to_string()),
                ..Default::default()
            }
        };
        s.replays.insert(k, result.clone());
        if fault == Some(GwFault::UnknownAfter) {
            return GatewayOutcome::Unknown("injected lost answer".into());
        }
        GatewayOutcome::Success(result)
    }
    async fn detail(&self, crowd_no: &CrowdNo) -> GatewayOutcome<CampaignDetail> {
        let s = self.state();
        match s.campaigns.get(crowd_no.as_str()) {
            Some(c) => GatewayOutcome::Success(CampaignDetail {
                crowd_no: crowd_no.to_string(),
                coupon_name: Some(c.coupon_name.clone()),
                camp_status: c.status.clone(),
                ..Default::default()
            }),
            None => GatewayOutcome::Failed(refusal()),
        }
    }
    async fn list(&self, req: &ListCampaignsRequest) -> GatewayOutcome<CampaignPage> {
        let s = self.state();
        let all: Vec<CampaignSummary> = s
            .campaigns
            .iter()
            .map(|(k, c)| CampaignSummary {
                crowd_no: k.clone(),
                origin_crowd_no: None,
                camp_status: c.status.clone(),
                coupon_name: c.coupon_name.clone(),
            })
            .collect();
        let start = ((req.page_index.max(1) - 1) * req.page_size) as usize;
        GatewayOutcome::Success(CampaignPage {
            camp_list: all
                .iter()
                .skip(start)
                .take(req.page_size as usize)
                .cloned()
                .collect(),
            page_index: req.page_index,
            page_size: req.page_size,
            total_size: u32::try_from(all.len()).unwrap(),
        })
    }
    async fn modify_status(
        &self,
        crowd_no: &CrowdNo,
        status: CampaignStatus,
    ) -> GatewayOutcome<()> {
        self.set_status(crowd_no.as_str(), status.as_str());
        GatewayOutcome::Success(())
    }
}
