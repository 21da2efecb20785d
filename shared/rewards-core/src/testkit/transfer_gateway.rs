//! Alipay's transfer APIs in memory.

use super::stub::*;
use crate::ids::*;
use crate::payout::{Reason, TransferSettings};
use crate::ports::*;
use crate::AmountFen;
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};

/// One scripted answer of [`StubTransferGateway::transfer`].
#[derive(Debug, Clone)]
pub enum TransferStep {
    /// Answer this, without creating or touching any order (a refusal, a timeout before Alipay
    /// saw the request, or any hand-made answer).
    Answer(TransferOutcome),
    /// Create the order (or find the one Alipay holds), then lose the answer.
    CommitThenLose,
    /// Create the order in this status and answer it (e.g. `DEALING`).
    CommitWithStatus(TransferStatus),
}

/// What [`StubTransferGateway`] holds.
#[derive(Default)]
pub struct TransferGwState {
    next: u64,
    /// out_biz_no → (the order as first sent, Alipay's record of it).
    orders: BTreeMap<String, (TransferOrder, TransferReceipt)>,
    transfer_script: VecDeque<TransferStep>,
    query_script: VecDeque<TransferLookup>,
    /// Every order sent, in call order.
    sent: Vec<TransferOrder>,
    query_calls: u32,
}

/// Alipay's transfer APIs in memory: one order per out_biz_no, a re-send with the same
/// parameters replays it, with other parameters is answered `PAYMENT_INFO_INCONSISTENCY`
/// (unknown); scripted steps override the next answers.
pub type StubTransferGateway = Stub<TransferGwState>;

impl StubTransferGateway {
    /// The next uni.transfer answers, in order.
    pub fn script_transfer(&self, step: TransferStep) {
        self.state().transfer_script.push_back(step);
    }
    /// The next common.query answers, in order.
    pub fn script_query(&self, answer: TransferLookup) {
        self.state().query_script.push_back(answer);
    }
    /// Moves an order Alipay holds to `status` (e.g. DEALING → SUCCESS).
    pub fn set_status(&self, out_biz_no: &str, status: TransferStatus) {
        if let Some((_, r)) = self.state().orders.get_mut(out_biz_no) {
            r.status = Some(status);
        }
    }
    /// Every uni.transfer call's order, in call order.
    pub fn sent(&self) -> Vec<TransferOrder> {
        self.state().sent.clone()
    }
    pub fn transfer_calls(&self) -> usize {
        self.state().sent.len()
    }
    pub fn query_calls(&self) -> u32 {
        self.state().query_calls
    }
    /// The out_biz_nos of the orders Alipay holds as paid.
    pub fn paid(&self) -> Vec<String> {
        let s = self.state();
        s.orders
            .iter()
            .filter(|(_, (_, r))| r.status == Some(TransferStatus::Success))
            .map(|(k, _)| k.clone())
            .collect()
    }
    /// Alipay's record of one order.
    pub fn receipt(&self, out_biz_no: &str) -> Option<TransferReceipt> {
        self.0
            .lock()
            .unwrap()
            .orders
            .get(out_biz_no)
            .map(|(_, r)| r.clone())
    }

    /// Finds or creates the order; None when the number is held with other parameters.
    fn commit(
        s: &mut TransferGwState,
        order: &TransferOrder,
        status: TransferStatus,
    ) -> Option<TransferReceipt> {
        let key = order.out_biz_no.to_string();
        if let Some((first, r)) = s.orders.get(&key) {
            return (first == order).then(|| r.clone());
        }
        s.next += 1;
        let receipt = TransferReceipt {
            out_biz_no: Some(key.clone()),
            order_id: Some(format!("2026{:08}", s.next)),
            pay_fund_order_id: Some(format!("2026PF{:08}", s.next)),
            status: Some(status),
            amount: Some(order.amount),
            paid_at: Some("2026-11-29 10:00:00".into()),
            error_code: None,
            fail_reason: None,
        };
        s.orders.insert(key, (order.clone(), receipt.clone()));
        Some(receipt)
    }
}

pub fn transfer_refusal(class: RefusalClass, sub_code: &str) -> TransferOutcome {
    TransferOutcome::Refused(TransferRefusal {
        failure: GatewayFailure {
            code: "40004".into(),
            sub_code: Some(sub_code.into()),
            sub_msg: Some("支付宝的说明".into()),
            error_msg: None,
        },
        class,
    })
}

#[async_trait]
impl TransferGateway for StubTransferGateway {
    async fn transfer(&self, order: &TransferOrder) -> TransferOutcome {
        let mut s = self.state();
        s.sent.push(order.clone());
        let (status, lose) = match s.transfer_script.pop_front() {
            Some(TransferStep::Answer(a)) => return a,
            Some(TransferStep::CommitThenLose) => (TransferStatus::Success, true),
            Some(TransferStep::CommitWithStatus(st)) => (st, false),
            None => (TransferStatus::Success, false),
        };
        match Self::commit(&mut s, order, status) {
            None => TransferOutcome::Unknown("PAYMENT_INFO_INCONSISTENCY".into()),
            Some(_) if lose => TransferOutcome::Unknown("injected lost answer".into()),
            Some(r) => TransferOutcome::Accepted(r),
        }
    }
    async fn query(&self, out_biz_no: &OutBizNo, _product: TransferProduct) -> TransferLookup {
        let mut s = self.state();
        s.query_calls += 1;
        if let Some(a) = s.query_script.pop_front() {
            return a;
        }
        match s.orders.get(out_biz_no.as_str()) {
            Some((_, r)) => TransferLookup::Found(r.clone()),
            None => TransferLookup::NotFound,
        }
    }
}

/// Transfer settings for tests: STD_RED_PACKET, a 200 yuan cap, 1.00 yuan by default for referrals.
pub fn transfer_settings() -> TransferSettings {
    TransferSettings {
        product: TransferProduct::StdRedPacket,
        order_title: "积分兑换红包".into(),
        scene_name: "现金营销".into(),
        scene_report_infos: SceneReportInfo::cash_marketing("积分兑换", "积分兑换现金红包"),
        notify_url: Some("https://api.example.com/alipay/notify".into()),
        max_per_payout: AmountFen::from_fen(20_000).unwrap(),
        default_amounts: BTreeMap::from([(Reason::Referral, AmountFen::from_fen(100).unwrap())]),
    }
}
