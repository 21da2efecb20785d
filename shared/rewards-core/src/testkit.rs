//! In-test stubs of every port (in-memory store with fault injection, gateway stubs that behave
//! like Alipay: instance.add replays by serial, cash.trigger replays by out_biz_no), and the store
//! [`contract`] every store implementation must pass. Built for the core's own tests and, with the
//! cargo feature `testkit`, for other crates' tests.
#![allow(missing_docs, dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod contract;

use crate::campaign::{
    Campaign, CampaignService, CampaignStatus, NewCampaign, SlotRecord, SlotState,
};
use crate::claim::{ClaimAccount, ClaimConfig, ClaimService};
use crate::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState, IdempotencyService};
use crate::ids::*;
use crate::pass::{PassRecord, PassStatus};
use crate::payout::{
    BizPointer, ListRequest, PayoutCursor, PayoutEntry, PayoutPage, PayoutState, Reason, Recipient,
    SendConfig, SendService, TransferNotifications, TransferRail, TransferSettings,
    UnresolvedCounts,
};
use crate::ports::*;
use crate::template::{default_rule, TemplateRecord};
use crate::time::Timestamp;
use crate::AmountFen;
use async_trait::async_trait;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const TPL: &str = "tpl_test";
pub const USER: &str = "2088000000000001";
pub const APP: &str = "2021000000000001";

// ------------------------------------------------------------------ clock and ids

/// The tests' clock: at 2024-01-01 19:04:05 UTC until advanced or slept (or, `real`, the system's).
pub struct TestClock {
    real: bool,
    base: i64,
    offset: Mutex<i64>,
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock {
            real: false,
            base: 1_704_135_845_000,
            offset: Mutex::new(0),
        }
    }
}

impl TestClock {
    pub fn advance(&self, d: Duration) {
        *self.offset.lock().unwrap() += i64::try_from(d.as_millis()).unwrap();
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let base = if self.real {
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )
            .unwrap()
        } else {
            self.base
        };
        Timestamp(base + *self.offset.lock().unwrap())
    }
    async fn sleep(&self, d: Duration) {
        if self.real {
            tokio::time::sleep(d).await;
        } else {
            self.advance(d);
            tokio::task::yield_now().await;
        }
    }
}

#[derive(Default)]
pub struct SeqIds(AtomicU64);

impl IdGenerator for SeqIds {
    fn fence_token(&self) -> String {
        format!("fence{:08}", self.0.fetch_add(1, Ordering::SeqCst))
    }
}

// ------------------------------------------------------------------ store

#[derive(Default)]
struct Mem {
    templates: BTreeMap<String, TemplateRecord>,
    accounts: BTreeMap<(String, String), ClaimAccount>,
    budget: BTreeMap<(String, i64), (u32, Timestamp)>,
    passes: BTreeMap<String, PassRecord>,
    campaigns: BTreeMap<String, Campaign>,
    slots: BTreeMap<(String, String), SlotRecord>,
    pointers: BTreeMap<(Reason, String), BizPointer>,
    payouts: BTreeMap<String, PayoutEntry>,
    idem: HashMap<IdemKey, IdemRecord>,
}

#[derive(Default)]
pub struct MemStore {
    mem: Mutex<Mem>,
    faults: Mutex<HashMap<String, u32>>,
}

impl MemStore {
    /// The next call of `op` fails before writing.
    pub fn fail_next(&self, op: &str) {
        *self
            .faults
            .lock()
            .unwrap()
            .entry(op.to_owned())
            .or_default() += 1;
    }
    /// The next call of `op` writes, then reports a failure (an ambiguous store result).
    pub fn fail_next_after(&self, op: &str) {
        self.fail_next(&format!("{op}:after"));
    }
    fn check(&self, key: &str) -> Result<(), StoreError> {
        let mut f = self.faults.lock().unwrap();
        match f.get_mut(key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(StoreError::Unavailable(format!("injected fault at {key}")))
            }
            _ => Ok(()),
        }
    }
    /// `f` over the store's contents, unless a fault was injected before `op`.
    fn read<T>(&self, op: &str, f: impl FnOnce(&Mem) -> T) -> Result<T, StoreError> {
        self.check(op)?;
        Ok(f(&self.mem.lock().unwrap()))
    }
    /// `f` changing the store's contents, unless a fault was injected before `op`; a fault
    /// injected after `op` is reported once `f` has written.
    fn write<T>(&self, op: &str, f: impl FnOnce(&mut Mem) -> T) -> Result<T, StoreError> {
        self.check(op)?;
        let r = f(&mut self.mem.lock().unwrap());
        self.check(&format!("{op}:after"))?;
        Ok(r)
    }
    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }
    pub fn list_user_passes_sync(&self, user: &str) -> Vec<PassRecord> {
        let m = self.mem.lock().unwrap();
        let mine = m.passes.values().filter(|p| p.user_id.as_str() == user);
        mine.cloned().collect()
    }
    pub fn all_payouts(&self) -> Vec<PayoutEntry> {
        self.mem.lock().unwrap().payouts.values().cloned().collect()
    }
    pub fn account_sync(&self, t: &str, u: &str) -> Option<ClaimAccount> {
        let key = (t.to_owned(), u.to_owned());
        self.mem.lock().unwrap().accounts.get(&key).cloned()
    }
    pub fn budget_items(&self) -> Vec<(String, i64, u32, Timestamp)> {
        self.mem
            .lock()
            .unwrap()
            .budget
            .iter()
            .map(|((k, b), (n, e))| (k.clone(), *b, *n, *e))
            .collect()
    }
}

/// Up to `limit` of the records in `map` that `keep` keeps, ordered by `order`.
fn pick<K, T: Clone, O: Ord>(
    map: &BTreeMap<K, T>,
    keep: impl Fn(&T) -> bool,
    order: impl Fn(&T) -> O,
    limit: usize,
) -> Vec<T> {
    let mut v: Vec<T> = map.values().filter(|x| keep(x)).cloned().collect();
    v.sort_by_key(order);
    v.truncate(limit);
    v
}

/// Up to `limit` of the records in `map`, newest first by `created`.
fn newest<K, T: Clone>(
    map: &BTreeMap<K, T>,
    keep: impl Fn(&T) -> bool,
    created: impl Fn(&T) -> Timestamp,
    limit: usize,
) -> Vec<T> {
    pick(map, keep, |x| Reverse(created(x)), limit)
}

/// Up to `limit` of the records in `map` due by `now` (`due_at`), the oldest due first.
fn due<K, T: Clone>(
    map: &BTreeMap<K, T>,
    due_at: impl Fn(&T) -> Option<Timestamp>,
    now: Timestamp,
    limit: usize,
) -> Vec<T> {
    pick(map, |x| due_at(x).is_some_and(|d| d <= now), &due_at, limit)
}

/// The conditional put every conditional write of the store is (as DynamoDB's): `new` goes in at
/// `key` only if `holds` for the record there (None: there is none); otherwise the current
/// record is answered.
fn put_if<K: Ord, T: Clone>(
    map: &mut BTreeMap<K, T>,
    key: K,
    new: &T,
    holds: impl FnOnce(Option<&T>) -> bool,
) -> CasOutcome<T> {
    let current = map.get(&key);
    if holds(current) {
        map.insert(key, new.clone());
        CasOutcome::Written
    } else {
        CasOutcome::Lost(current.cloned())
    }
}

/// A conditional insert's answer: written, or the record that kept it out.
fn inserted<T>(outcome: CasOutcome<T>) -> Inserted<T> {
    match outcome {
        CasOutcome::Written => Inserted::Inserted,
        CasOutcome::Lost(current) => Inserted::Exists(current.expect("only a record keeps it out")),
    }
}

#[async_trait]
impl TemplateStore for MemStore {
    async fn put_template(&self, t: &TemplateRecord) -> Result<(), StoreError> {
        self.write("put_template", |m| {
            m.templates.insert(t.template_id.to_string(), t.clone());
        })
    }
    async fn get_template(&self, id: &TemplateId) -> Result<Option<TemplateRecord>, StoreError> {
        self.read("get_template", |m| m.templates.get(id.as_str()).cloned())
    }
    async fn list_templates(&self, limit: usize) -> Result<Vec<TemplateRecord>, StoreError> {
        self.read("list_templates", |m| {
            newest(&m.templates, |_| true, |t| t.created_at, limit)
        })
    }
}

fn account_key(t: &TemplateId, u: &UserId) -> (String, String) {
    (t.to_string(), u.to_string())
}

#[async_trait]
impl ClaimStore for MemStore {
    async fn get_account(
        &self,
        template: &TemplateId,
        user: &UserId,
    ) -> Result<Option<ClaimAccount>, StoreError> {
        self.read("get_account", |m| {
            m.accounts.get(&account_key(template, user)).cloned()
        })
    }
    async fn create_account(&self, a: &ClaimAccount) -> Result<Inserted<ClaimAccount>, StoreError> {
        let k = account_key(&a.template_id, &a.user_id);
        self.write("create_account", |m| {
            inserted(put_if(&mut m.accounts, k, a, |e| e.is_none()))
        })
    }
    async fn replace_account(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError> {
        let k = account_key(&a.template_id, &a.user_id);
        self.write("replace_account", |m| {
            put_if(&mut m.accounts, k, a, |e| {
                e.is_some_and(|e| e.fence == expected_fence)
            })
        })
    }
    async fn complete_issuance(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
        pass: &PassRecord,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError> {
        let k = account_key(&a.template_id, &a.user_id);
        self.write("complete_issuance", |m| {
            // A pass item is written once: a known pass fails the condition like a moved fence.
            let pass_known = m.passes.contains_key(pass.pass_id.as_str());
            let r = put_if(&mut m.accounts, k, a, |e| {
                e.is_some_and(|e| e.fence == expected_fence) && !pass_known
            });
            if r == CasOutcome::Written {
                m.passes.insert(pass.pass_id.to_string(), pass.clone());
            }
            r
        })
    }
    async fn list_unresolved(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimAccount>, StoreError> {
        self.read("list_unresolved", |m| {
            due(&m.accounts, ClaimAccount::due_at, now, limit)
        })
    }
}

#[async_trait]
impl ClaimBudgetStore for MemStore {
    async fn failures_since(
        &self,
        scope: &BudgetScope,
        since: Timestamp,
    ) -> Result<Vec<(Timestamp, u32)>, StoreError> {
        self.read("failures_since", |m| {
            m.budget
                .iter()
                .filter(|((k, b), _)| *k == scope.key() && *b >= since.millis())
                .map(|((_, b), (n, _))| (Timestamp(*b), *n))
                .collect()
        })
    }
    async fn add_failure(
        &self,
        scope: &BudgetScope,
        bucket: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write("add_failure", |m| {
            let e = m
                .budget
                .entry((scope.key(), bucket.millis()))
                .or_insert((0, expires_at));
            e.0 += 1;
            e.1 = expires_at;
        })
    }
}

#[async_trait]
impl PassStore for MemStore {
    async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError> {
        self.read("get_pass", |m| m.passes.get(id.as_str()).cloned())
    }
    async fn list_user_passes(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<PassRecord>, StoreError> {
        self.read("list_user_passes", |m| {
            newest(&m.passes, |p| p.user_id == *user, |p| p.created_at, limit)
        })
    }
    async fn update_pass(
        &self,
        p: &PassRecord,
        expected: PassStatus,
    ) -> Result<CasOutcome<PassRecord>, StoreError> {
        self.write("update_pass", |m| {
            put_if(&mut m.passes, p.pass_id.to_string(), p, |current| {
                current.is_some_and(|c| c.status == expected)
            })
        })
    }
}

fn slot_key(s: &SlotRecord) -> (String, String) {
    (s.plan_id.clone(), s.slot.clone())
}

#[async_trait]
impl CampaignStore for MemStore {
    async fn put_campaign(&self, c: &Campaign) -> Result<(), StoreError> {
        self.write("put_campaign", |m| {
            m.campaigns.insert(c.crowd_no.to_string(), c.clone());
        })
    }
    async fn get_campaign(&self, crowd_no: &CrowdNo) -> Result<Option<Campaign>, StoreError> {
        self.read("get_campaign", |m| {
            m.campaigns.get(crowd_no.as_str()).cloned()
        })
    }
    async fn list_campaigns(&self, limit: usize) -> Result<Vec<Campaign>, StoreError> {
        self.read("list_campaigns", |m| {
            newest(&m.campaigns, |_| true, |c| c.created_at, limit)
        })
    }
    async fn acquire_slot(&self, s: &SlotRecord) -> Result<Inserted<SlotRecord>, StoreError> {
        self.write("acquire_slot", |m| {
            // Acquired again only once FAILED.
            let outcome = put_if(&mut m.slots, slot_key(s), s, |e| {
                e.is_none_or(|e| matches!(e.state, SlotState::Failed { .. }))
            });
            inserted(outcome)
        })
    }
    async fn replace_slot(
        &self,
        s: &SlotRecord,
        expected_fence: &str,
    ) -> Result<CasOutcome<SlotRecord>, StoreError> {
        self.write("replace_slot", |m| {
            put_if(&mut m.slots, slot_key(s), s, |e| {
                e.is_some_and(|e| e.fence == expected_fence)
            })
        })
    }
    async fn get_slot(&self, plan_id: &str, slot: &str) -> Result<Option<SlotRecord>, StoreError> {
        let key = (plan_id.to_owned(), slot.to_owned());
        self.read("get_slot", |m| m.slots.get(&key).cloned())
    }
}

#[async_trait]
impl PayoutStore for MemStore {
    async fn get_pointer(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Option<BizPointer>, StoreError> {
        let key = (reason, business_id.to_string());
        self.read("get_pointer", |m| m.pointers.get(&key).cloned())
    }
    async fn start_attempt(
        &self,
        entry: &PayoutEntry,
        expected_attempt: Option<u32>,
    ) -> Result<bool, StoreError> {
        self.write("start_attempt", |m| {
            let k = (entry.reason, entry.business_id.to_string());
            let ptr_ok = match (m.pointers.get(&k), expected_attempt) {
                (None, None) => true,
                (Some(p), Some(n)) => p.attempt_no == n,
                _ => false,
            };
            let entry_ok = !m.payouts.contains_key(entry.out_biz_no.as_str());
            if ptr_ok && entry_ok {
                m.pointers.insert(k, entry.pointer());
                m.payouts
                    .insert(entry.out_biz_no.to_string(), entry.clone());
            }
            ptr_ok && entry_ok
        })
    }
    async fn get_payout(&self, out_biz_no: &OutBizNo) -> Result<Option<PayoutEntry>, StoreError> {
        self.read("get_payout", |m| {
            m.payouts.get(out_biz_no.as_str()).cloned()
        })
    }
    async fn cas_payout(
        &self,
        entry: &PayoutEntry,
        expected_fence: &str,
    ) -> Result<CasOutcome<PayoutEntry>, StoreError> {
        self.write("cas_payout", |m| {
            let k = entry.out_biz_no.to_string();
            put_if(&mut m.payouts, k, entry, |e| {
                e.is_some_and(|e| e.fence == expected_fence)
            })
        })
    }
    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<PayoutEntry>, StoreError> {
        self.read("list_due", |m| {
            due(&m.payouts, PayoutEntry::due_at, now, limit)
        })
    }
    async fn unresolved_counts(&self) -> Result<UnresolvedCounts, StoreError> {
        self.read("unresolved_counts", |m| {
            let open: Vec<_> = m
                .payouts
                .values()
                .filter(|e| e.due_at().is_some())
                .collect();
            UnresolvedCounts {
                unresolved: open.len(),
                needs_attention: open
                    .iter()
                    .filter(|e| matches!(e.state, PayoutState::NeedsAttention { .. }))
                    .count(),
            }
        })
    }
    async fn list_payouts(&self, request: &ListRequest) -> Result<PayoutPage, StoreError> {
        let ListRequest {
            filter,
            cursor,
            limit,
        } = request;
        let limit = *limit;
        let key = |e: &PayoutEntry| (e.created_at, e.out_biz_no.to_string());
        let after = |e: &PayoutEntry| {
            filter.matches(e)
                && cursor
                    .as_ref()
                    .is_none_or(|c| key(e) < (c.created_at, c.out_biz_no.to_string()))
        };
        // One more than asked for tells whether a next page exists.
        let mut v = self.read("list_payouts", |m| {
            pick(
                &m.payouts,
                after,
                |e| Reverse(key(e)),
                limit.saturating_add(1),
            )
        })?;
        let more = v.len() > limit;
        v.truncate(limit);
        let next = if more {
            v.last().map(PayoutCursor::after)
        } else {
            None
        };
        Ok(PayoutPage { entries: v, next })
    }
    async fn list_by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, StoreError> {
        self.read("list_by_recipient", |m| {
            newest(&m.payouts, |e| &e.recipient == who, |e| e.created_at, limit)
        })
    }
}

#[async_trait]
impl IdempotencyStore for MemStore {
    async fn begin(&self, rec: &IdemRecord, now: Timestamp) -> Result<IdemBegin, StoreError> {
        self.write("begin", |m| match m.idem.get(&rec.key) {
            Some(e)
                if e.expires_at > now
                    && !(e.state == IdemState::InProgress && e.lease_until <= now) =>
            {
                IdemBegin::Existing(e.clone())
            }
            _ => {
                m.idem.insert(rec.key.clone(), rec.clone());
                IdemBegin::Started
            }
        })
    }
    async fn complete(&self, done: &IdemRecord) -> Result<(), StoreError> {
        self.write("complete", |m| {
            if m.idem.get(&done.key).is_some_and(|e| e.fence == done.fence) {
                m.idem.insert(done.key.clone(), done.clone());
            }
        })
    }
    async fn release(&self, key: &IdemKey, fence: &str) -> Result<(), StoreError> {
        self.write("release", |m| {
            if m.idem.get(key).is_some_and(|e| e.fence == fence) {
                m.idem.remove(key);
            }
        })
    }
}

// ------------------------------------------------------------------ gateways

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GwFault {
    /// Not processed; answer unknown (timeout before Alipay saw it).
    UnknownBefore,
    /// Processed; answer lost.
    UnknownAfter,
    /// Definite refusal (for an out_biz_no Alipay has not seen; a known one is replayed).
    Refuse,
    /// Definite refusal even for an out_biz_no Alipay already paid: the platform checked the
    /// campaign before replaying (a paused campaign, say).
    RefuseBeforeReplay,
}

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

/// A stub of one family of Alipay APIs: its state behind one lock, taken once by every call and by
/// every test's look at it.
#[derive(Default)]
pub struct Stub<S>(Mutex<S>);

impl<S> Stub<S> {
    fn state(&self) -> MutexGuard<'_, S> {
        self.0.lock().unwrap()
    }
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
}

fn refusal() -> GatewayFailure {
    GatewayFailure {
        code: "40004".into(),
        sub_code: Some("INJECTED_REFUSAL".into()),
        sub_msg: Some("refused".into()),
        error_msg: None,
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

// ------------------------------------------------------------------ transfer rail

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

// ------------------------------------------------------------------ world

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
