//! Alipay's pass APIs in memory.

use super::stub::*;
use crate::ids::*;
use crate::ports::*;
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// What [`StubPassGateway`] holds.
#[derive(Default)]
pub struct PassGwState {
    next: u64,
    by_serial: HashMap<(String, String), PassId>,
    issue_calls: u32,
    serials: Vec<String>,
    faults: VecDeque<GwFault>,
    delay: Duration,
    updates: Vec<UpdatePassRequest>,
    /// Refuse a repeated serial (`SERIAL_NUMBER_REPEAT`) instead of answering the same pass.
    refuse_repeated: bool,
    finds: u32,
    find_faults: VecDeque<GwFault>,
    /// Pass id left out of the lookup answer.
    find_without_id: bool,
}

/// Alipay's pass APIs in memory: instance.add answers one pass per serial (replayed for a repeat).
pub type StubPassGateway = Stub<PassGwState>;

impl StubPassGateway {
    pub fn fail_next_issue(&self, f: GwFault) {
        self.state().faults.push_back(f);
    }
    pub fn set_delay(&self, d: Duration) {
        self.state().delay = d;
    }
    pub fn issue_calls(&self) -> u32 {
        self.state().issue_calls
    }
    pub fn passes_issued(&self) -> usize {
        self.state().by_serial.len()
    }
    pub fn serials_seen(&self) -> Vec<String> {
        self.state().serials.clone()
    }
    pub fn updates(&self) -> Vec<UpdatePassRequest> {
        self.state().updates.clone()
    }
    pub fn refuse_repeated_serials(&self, on: bool) {
        self.state().refuse_repeated = on;
    }
    pub fn fail_next_find(&self, f: GwFault) {
        self.state().find_faults.push_back(f);
    }
    pub fn find_without_id(&self, on: bool) {
        self.state().find_without_id = on;
    }
    pub fn find_calls(&self) -> u32 {
        self.state().finds
    }
    /// Drops every fault not consumed yet (issue and lookup).
    pub fn clear_faults(&self) {
        let mut s = self.state();
        s.faults.clear();
        s.find_faults.clear();
    }
}

#[async_trait]
impl PassGateway for StubPassGateway {
    async fn add_template(&self, req: &AddTemplateRequest) -> GatewayOutcome<TemplateResult> {
        let _ = req;
        let mut s = self.state();
        s.next += 1;
        GatewayOutcome::Success(TemplateResult {
            tpl_id: TemplateId::parse(&format!("tpl{}", s.next)).unwrap(),
            tpl_params: vec![],
        })
    }
    async fn update_template(&self, req: &UpdateTemplateRequest) -> GatewayOutcome<TemplateResult> {
        GatewayOutcome::Success(TemplateResult {
            tpl_id: req.tpl_id.clone(),
            tpl_params: vec![],
        })
    }
    async fn issue_pass(&self, req: &IssuePassRequest) -> GatewayOutcome<PassIssued> {
        let delay = {
            let mut s = self.state();
            s.issue_calls += 1;
            s.serials.push(
                req.tpl_params
                    .get("serialNumber")
                    .cloned()
                    .unwrap_or_default(),
            );
            s.delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut s = self.state();
        let fault = s.faults.pop_front();
        match fault {
            Some(GwFault::UnknownBefore) => {
                return GatewayOutcome::Unknown("injected timeout".into())
            }
            Some(GwFault::Refuse) => return GatewayOutcome::Failed(refusal()),
            Some(GwFault::Throttle) => return GatewayOutcome::Throttled("injected 40005".into()),
            _ => {}
        }
        let serial = req
            .tpl_params
            .get("serialNumber")
            .cloned()
            .unwrap_or_default();
        let k = (req.tpl_id.to_string(), serial.clone());
        if s.refuse_repeated && s.by_serial.contains_key(&k) {
            return GatewayOutcome::Failed(GatewayFailure {
                code: "10000".into(),
                sub_code: Some("SERIAL_NUMBER_REPEAT".into()),
                sub_msg: None,
                error_msg: Some("serialNumber 已被使用".into()),
            });
        }
        s.next += 1;
        let fresh = PassId::parse(&format!("pass{}", s.next)).unwrap();
        let pass_id = s.by_serial.entry(k).or_insert(fresh).clone();
        if fault == Some(GwFault::UnknownAfter) {
            return GatewayOutcome::Unknown("injected lost answer".into());
        }
        GatewayOutcome::Success(PassIssued {
            pass_id,
            serial_number: SerialNumber::parse(&serial).ok(),
        })
    }
    async fn update_pass(&self, req: &UpdatePassRequest) -> GatewayOutcome<()> {
        self.state().updates.push(req.clone());
        GatewayOutcome::Success(())
    }
    async fn find_pass(&self, req: &FindPassRequest) -> GatewayOutcome<PassLookup> {
        let mut s = self.state();
        s.finds += 1;
        match s.find_faults.pop_front() {
            Some(GwFault::Refuse) => return GatewayOutcome::Failed(refusal()),
            Some(GwFault::Throttle) => return GatewayOutcome::Throttled("injected 40005".into()),
            Some(_) => return GatewayOutcome::Unknown("injected lookup timeout".into()),
            None => {}
        }
        let found = s
            .by_serial
            .iter()
            .find(|((_, serial), _)| serial == req.serial_number.as_str())
            .map(|(_, id)| id.clone());
        match found {
            Some(id) => GatewayOutcome::Success(PassLookup::Found {
                pass_id: (!s.find_without_id).then_some(id),
            }),
            None => GatewayOutcome::Failed(GatewayFailure {
                code: "10000".into(),
                sub_code: Some("PASS_NOT_EXIST".into()),
                sub_msg: None,
                error_msg: Some("卡券实例不存在".into()),
            }),
        }
    }
}
