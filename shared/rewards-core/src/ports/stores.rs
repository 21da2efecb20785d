//! The store ports, one per aggregate (the payout ledger's beside its records in [`crate::payout`], the
//! idempotency keys' beside their records in [`crate::idempotency`]).

use super::store::{CasOutcome, Inserted, StoreError};
use crate::campaign::record::{Campaign, SlotRecord};
use crate::claim::account::ClaimAccount;
use crate::ids::{CrowdNo, PassId, TemplateId, UserId};
use crate::pass::record::{PassRecord, PassStatus};
use crate::template::record::TemplateRecord;
use crate::time::Timestamp;
use async_trait::async_trait;

/// Templates (`TPL#{id}`).
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Creates or replaces a template record.
    async fn put_template(&self, t: &TemplateRecord) -> Result<(), StoreError>;
    /// One template.
    async fn get_template(&self, id: &TemplateId) -> Result<Option<TemplateRecord>, StoreError>;
    /// All templates, newest first.
    async fn list_templates(&self, limit: usize) -> Result<Vec<TemplateRecord>, StoreError>;
}

/// Claim accounts (`CLAIM#{tpl}#{user}`): a user's passes from one template and the issuance in
/// flight. Every change is a compare-and-set on the account's fence.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Reads an account (strongly consistent).
    async fn get_account(
        &self,
        template: &TemplateId,
        user: &UserId,
    ) -> Result<Option<ClaimAccount>, StoreError>;
    /// Conditional put (account absent).
    async fn create_account(&self, a: &ClaimAccount) -> Result<Inserted<ClaimAccount>, StoreError>;
    /// Replaces the account if its fence is still `expected_fence`.
    async fn replace_account(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError>;
    /// One transaction: replace the account (fence `expected_fence`) and insert the pass items (by
    /// id, by user; each only if absent: a pass item is never rewritten by a claim). `Lost(account)`
    /// when the fence moved or the pass is already stored.
    async fn complete_issuance(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
        pass: &PassRecord,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError>;
    /// Accounts with an issuance in flight whose lease and next check are both past `now` (Alipay
    /// may hold the serial; nobody is working on it), oldest first. Eventually consistent: re-read
    /// before acting.
    async fn list_unresolved(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimAccount>, StoreError>;
}

/// Whose failed claims a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetScope {
    /// One user on one template.
    TemplateUser(TemplateId, UserId),
    /// Every user of a template.
    Template(TemplateId),
}

impl BudgetScope {
    /// The key part of the counter items (`BUDGET#{key}`).
    pub fn key(&self) -> String {
        match self {
            BudgetScope::TemplateUser(t, u) => format!("U#{t}#{u}"),
            BudgetScope::Template(t) => format!("T#{t}"),
        }
    }
}

/// Counters of failed claims, one item per scope and time bucket (`BUDGET#{scope}` / bucket start),
/// each expiring (TTL) once its bucket is out of every window.
#[async_trait]
pub trait ClaimBudgetStore: Send + Sync {
    /// The counted buckets of `scope` that start at or after `since`: (bucket start, failures).
    async fn failures_since(
        &self,
        scope: &BudgetScope,
        since: Timestamp,
    ) -> Result<Vec<(Timestamp, u32)>, StoreError>;
    /// Adds one failure to `scope`'s bucket starting at `bucket`; the item expires at `expires_at`.
    async fn add_failure(
        &self,
        scope: &BudgetScope,
        bucket: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Passes (`PASS#{id}` and `USER#{user}`/`PASS#{createdAt}#{id}`).
#[async_trait]
pub trait PassStore: Send + Sync {
    /// One pass by id.
    async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError>;
    /// A user's passes, newest first.
    async fn list_user_passes(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<PassRecord>, StoreError>;
    /// Writes `p` (its new status) on both items (the record carries `created_at` to find the user
    /// item) if the stored status is still `expected`, the status the change was decided on.
    /// `Lost(current)` when another change came first.
    async fn update_pass(
        &self,
        p: &PassRecord,
        expected: PassStatus,
    ) -> Result<CasOutcome<PassRecord>, StoreError>;
}

/// Campaigns (`CAMP#{crowdNo}`) and schedule slots (`SLOT#{plan}#{slot}`).
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates or replaces a campaign.
    async fn put_campaign(&self, c: &Campaign) -> Result<(), StoreError>;
    /// One campaign.
    async fn get_campaign(&self, crowd_no: &CrowdNo) -> Result<Option<Campaign>, StoreError>;
    /// All campaigns, newest first.
    async fn list_campaigns(&self, limit: usize) -> Result<Vec<Campaign>, StoreError>;
    /// Conditional put of a slot: absent, or present in state `FAILED` (a definite failure frees it).
    async fn acquire_slot(&self, s: &SlotRecord) -> Result<Inserted<SlotRecord>, StoreError>;
    /// Replaces a slot if its fence matches.
    async fn replace_slot(
        &self,
        s: &SlotRecord,
        expected_fence: &str,
    ) -> Result<CasOutcome<SlotRecord>, StoreError>;
    /// Reads a slot.
    async fn get_slot(&self, plan_id: &str, slot: &str) -> Result<Option<SlotRecord>, StoreError>;
}
