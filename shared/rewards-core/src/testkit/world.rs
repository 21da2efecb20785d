//! A world of stubs and the services built on them.

use super::cash_gateway::*;
use super::clock::*;
use super::mem_store::*;
use super::pass_gateway::*;
use super::transfer_gateway::*;
use crate::campaign::{Campaign, CampaignService, CampaignStatus};
use crate::claim::{ClaimConfig, ClaimService};
use crate::idempotency::IdempotencyService;
use crate::ids::*;
use crate::payout::{SendConfig, SendService, TransferNotifications, TransferRail};
use crate::ports::*;
use crate::template::{default_rule, TemplateRecord};
use crate::AmountFen;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const TPL: &str = "tpl_test";
pub const USER: &str = "2088000000000001";
pub const APP: &str = "2021000000000001";

#[derive(Default)]
pub struct World {
    pub store: Arc<MemStore>,
    pub pass_gw: Arc<StubPassGateway>,
    pub cash_gw: Arc<StubCashGateway>,
    pub transfer_gw: Arc<StubTransferGateway>,
    pub clock: Arc<TestClock>,
    pub ids: Arc<SeqIds>,
}

impl World {
    pub fn new() -> World {
        World::default()
    }
    /// A world on the system's clock (for tests whose tasks really run at once).
    pub fn new_real_time() -> World {
        let clock = TestClock {
            real: true,
            ..TestClock::default()
        };
        World {
            clock: Arc::new(clock),
            ..World::default()
        }
    }
    pub async fn seed_template(&self) {
        self.seed_template_with_limit(1).await;
    }
    pub async fn seed_template_with_limit(&self, per_user_limit: u32) {
        let mut rules = BTreeMap::new();
        for v in ["activeTime", "expireTime", "serialNumber", "channelID"] {
            rules.insert(v.to_owned(), default_rule(v).unwrap());
        }
        let now = self.clock.now();
        self.store
            .put_template(&TemplateRecord {
                template_id: TemplateId::parse(TPL).unwrap(),
                unique_id: "u".into(),
                tpl_content: serde_json::json!({}),
                rules,
                tpl_params: vec![],
                per_user_limit,
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
    }
    /// A world holding READY campaigns `(crowd, fen each, count, per-user limit)` in both the stub
    /// Alipay and our store, with its send service.
    pub async fn sending(campaigns: &[(&str, i64, i64, u32)]) -> (World, SendService) {
        let w = World::new();
        for &(crowd, each, count, limit) in campaigns {
            w.seed_campaign(crowd, each, count, limit).await;
        }
        let svc = w.send_service();
        (w, svc)
    }
    /// A READY campaign in both the stub Alipay and our store.
    pub async fn seed_campaign(&self, crowd: &str, each: i64, count: i64, limit: u32) {
        self.cash_gw.add_ready(crowd, each, count, limit);
        let now = self.clock.now();
        self.store
            .put_campaign(&Campaign {
                crowd_no: CrowdNo::parse(crowd).unwrap(),
                coupon_name: crowd.into(),
                prize_type: PrizeType::Fixed,
                total_money: AmountFen::from_fen(each * count).unwrap(),
                total_num: u32::try_from(count).unwrap(),
                prize_msg: "m".into(),
                start_time: "NowTime".into(),
                end_time: "2030-01-01 00:00:00".into(),
                merchant_link: "https://example.com".into(),
                send_frequency: None,
                pay_url: Some("https://pay.example".into()),
                pay_instructions: None,
                status: CampaignStatus::Ready,
                origin_crowd_no: None,
                send_amount: None,
                slot: None,
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
    }
    pub fn claim_service(&self) -> ClaimService {
        self.claim_service_with(ClaimConfig::default())
    }
    pub fn claim_service_with(&self, config: ClaimConfig) -> ClaimService {
        ClaimService {
            templates: self.store.clone(),
            claims: self.store.clone(),
            passes: self.store.clone(),
            budget: self.store.clone(),
            gateway: self.pass_gw.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            app_id: AppId::parse(APP).unwrap(),
            config,
        }
    }
    pub fn campaign_service(&self) -> CampaignService {
        CampaignService {
            store: self.store.clone(),
            gateway: self.cash_gw.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }
    pub fn send_service(&self) -> SendService {
        SendService {
            payouts: self.store.clone(),
            campaigns: self.store.clone(),
            gateway: self.cash_gw.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            config: SendConfig::default(),
            reason_campaigns: BTreeMap::new(),
            reason_rails: BTreeMap::new(),
            transfer: Some(TransferRail {
                gateway: self.transfer_gw.clone(),
                settings: transfer_settings(),
            }),
        }
    }
    pub fn notifications(&self) -> TransferNotifications {
        TransferNotifications {
            payouts: self.store.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }
    pub fn idem_service(&self) -> IdempotencyService {
        IdempotencyService::new(self.store.clone(), self.clock.clone(), self.ids.clone())
    }
}
