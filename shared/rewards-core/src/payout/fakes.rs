//! Fakes the payout tests need beside the testkit's: an Alipay whose calls take (test) time and can
//! be held mid-call, and a ledger store whose reads can be held after they read, so a test decides
//! the interleaving of concurrent requests instead of the scheduler.

use super::*;
use crate::campaign::NewCampaign;
use crate::ports::{
    CampaignCreated, CampaignDetail, CampaignPage, ListCampaignsRequest, TransferLookup,
    TransferOrder, TransferOutcome, TransferProduct,
};
use crate::testkit::*;
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// A point where a test holds the next `n` callers that reach it until it lets them go.
pub(super) struct Gate {
    to_hold: AtomicUsize,
    arrived: Semaphore,
    released: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            to_hold: AtomicUsize::new(0),
            arrived: Semaphore::new(0),
            released: Semaphore::new(0),
        }
    }
}

impl Gate {
    /// The next `n` callers that reach the gate wait there.
    pub(super) fn hold_next(&self, n: usize) {
        self.to_hold.store(n, Ordering::SeqCst);
    }

    /// Returns once `n` more callers wait at the gate.
    pub(super) async fn arrivals(&self, n: u32) {
        self.arrived.acquire_many(n).await.unwrap().forget();
    }

    /// Lets `n` of the waiting callers go on (in the order they arrived).
    pub(super) fn release(&self, n: usize) {
        self.released.add_permits(n);
    }

    async fn pass(&self) {
        let held = self
            .to_hold
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if held {
            self.arrived.add_permits(1);
            self.released.acquire().await.unwrap().forget();
        }
    }
}

/// The testkit's Alipay stubs behind calls that take time: the test clock moves on by `step_ms`
/// during every call (as the wall clock does during a real one), after the `calls` gate.
pub(super) struct SlowAlipay {
    pub(super) cash: Arc<StubCashGateway>,
    pub(super) transfer: Arc<StubTransferGateway>,
    pub(super) clock: Arc<TestClock>,
    pub(super) step_ms: AtomicU64,
    pub(super) calls: Gate,
}

impl SlowAlipay {
    pub(super) fn new(w: &World) -> Arc<SlowAlipay> {
        Arc::new(SlowAlipay {
            cash: w.cash_gw.clone(),
            transfer: w.transfer_gw.clone(),
            clock: w.clock.clone(),
            step_ms: AtomicU64::new(0),
            calls: Gate::default(),
        })
    }

    async fn takes_time(&self) {
        self.calls.pass().await;
        self.clock
            .advance(Duration::from_millis(self.step_ms.load(Ordering::SeqCst)));
    }
}

#[async_trait]
impl CashGateway for SlowAlipay {
    async fn create_campaign(&self, terms: &NewCampaign) -> GatewayOutcome<CampaignCreated> {
        self.takes_time().await;
        self.cash.create_campaign(terms).await
    }
    async fn trigger(&self, req: &TriggerRequest) -> GatewayOutcome<TriggerResult> {
        self.takes_time().await;
        self.cash.trigger(req).await
    }
    async fn detail(&self, crowd_no: &CrowdNo) -> GatewayOutcome<CampaignDetail> {
        self.takes_time().await;
        self.cash.detail(crowd_no).await
    }
    async fn list(&self, req: &ListCampaignsRequest) -> GatewayOutcome<CampaignPage> {
        self.takes_time().await;
        self.cash.list(req).await
    }
    async fn modify_status(
        &self,
        crowd_no: &CrowdNo,
        status: CampaignStatus,
    ) -> GatewayOutcome<()> {
        self.takes_time().await;
        self.cash.modify_status(crowd_no, status).await
    }
}

#[async_trait]
impl TransferGateway for SlowAlipay {
    async fn transfer(&self, order: &TransferOrder) -> TransferOutcome {
        self.takes_time().await;
        self.transfer.transfer(order).await
    }
    async fn query(&self, out_biz_no: &OutBizNo, product: TransferProduct) -> TransferLookup {
        self.takes_time().await;
        self.transfer.query(out_biz_no, product).await
    }
}

/// The testkit's store, with a gate after every payout read: a held read has read the entry and
/// answers it as it was when the test lets it go.
pub(super) struct HeldReads {
    pub(super) inner: Arc<MemStore>,
    pub(super) reads: Gate,
}

#[async_trait]
impl PayoutStore for HeldReads {
    async fn get_pointer(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Option<BizPointer>, StoreError> {
        self.inner.get_pointer(reason, business_id).await
    }
    async fn start_attempt(
        &self,
        entry: &PayoutEntry,
        expected_attempt: Option<u32>,
    ) -> Result<bool, StoreError> {
        self.inner.start_attempt(entry, expected_attempt).await
    }
    async fn get_payout(&self, out_biz_no: &OutBizNo) -> Result<Option<PayoutEntry>, StoreError> {
        let read = self.inner.get_payout(out_biz_no).await;
        self.reads.pass().await;
        read
    }
    async fn cas_payout(
        &self,
        entry: &PayoutEntry,
        expected_fence: &str,
    ) -> Result<CasOutcome<PayoutEntry>, StoreError> {
        self.inner.cas_payout(entry, expected_fence).await
    }
    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<PayoutEntry>, StoreError> {
        self.inner.list_due(now, limit).await
    }
    async fn unresolved_counts(&self) -> Result<UnresolvedCounts, StoreError> {
        self.inner.unresolved_counts().await
    }
    async fn list_payouts(&self, request: &ListRequest) -> Result<PayoutPage, StoreError> {
        self.inner.list_payouts(request).await
    }
    async fn list_by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, StoreError> {
        self.inner.list_by_recipient(who, limit).await
    }
}

/// A world with campaign C1 (2.00 yuan envelopes) whose send service calls the slow Alipay and
/// reads through the held store.
pub(super) struct Staged {
    pub(super) w: World,
    pub(super) alipay: Arc<SlowAlipay>,
    pub(super) store: Arc<HeldReads>,
    pub(super) svc: Arc<SendService>,
}

impl Staged {
    pub(super) async fn new() -> Staged {
        Staged::with(|_| {}).await
    }

    /// [`Staged::new`] with the send service adjusted by `adjust` first.
    pub(super) async fn with(adjust: impl FnOnce(&mut SendService)) -> Staged {
        let w = World::new();
        w.seed_campaign("C1", 200, 100, 100).await;
        let alipay = SlowAlipay::new(&w);
        let store = Arc::new(HeldReads {
            inner: w.store.clone(),
            reads: Gate::default(),
        });
        let mut svc = w.send_service();
        svc.payouts = store.clone();
        svc.gateway = alipay.clone();
        svc.transfer = Some(TransferRail {
            gateway: alipay.clone(),
            settings: transfer_settings(),
        });
        adjust(&mut svc);
        Staged {
            w,
            alipay,
            store,
            svc: Arc::new(svc),
        }
    }
}
