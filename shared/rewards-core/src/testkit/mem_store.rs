//! Every store port in memory, with fault injection.

use crate::campaign::{Campaign, SlotRecord, SlotState};
use crate::claim::ClaimAccount;
use crate::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState};
use crate::ids::*;
use crate::pass::{PassRecord, PassStatus};
use crate::payout::{
    BizPointer, ListRequest, PayoutCursor, PayoutEntry, PayoutPage, PayoutState, Reason, Recipient,
    UnresolvedCounts,
};
use crate::ports::*;
use crate::template::TemplateRecord;
use crate::time::Timestamp;
use async_trait::async_trait;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

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
