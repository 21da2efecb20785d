//! The payout ledger's store port, beside the records it keeps (it imports only record files and
//! the listing's request and page).

use crate::ids::{BusinessId, OutBizNo, Recipient};
use crate::payout::entry::{BizPointer, PayoutEntry};
use crate::payout::listing::{ListRequest, PayoutPage, UnresolvedCounts};
use crate::payout::reason::Reason;
use crate::ports::store::{CasOutcome, StoreError};
use crate::time::Timestamp;
use async_trait::async_trait;

/// The payout ledger (`PAYOUT#{outBizNo}`, `BIZ#{reason}#{businessId}`, due markers).
#[async_trait]
pub trait PayoutStore: Send + Sync {
    /// The business id's pointer to its current attempt.
    async fn get_pointer(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Option<BizPointer>, StoreError>;
    /// One transaction: write the entry's pointer ([`PayoutEntry::pointer`]; condition: absent when
    /// `expected_attempt` is None, else its `attempt_no` equals it) and insert `entry` (condition:
    /// absent). False when a condition failed.
    async fn start_attempt(
        &self,
        entry: &PayoutEntry,
        expected_attempt: Option<u32>,
    ) -> Result<bool, StoreError>;
    /// One payout.
    async fn get_payout(&self, out_biz_no: &OutBizNo) -> Result<Option<PayoutEntry>, StoreError>;
    /// Replaces the payout if its fence is `expected_fence` (and keeps the due marker in step).
    async fn cas_payout(
        &self,
        entry: &PayoutEntry,
        expected_fence: &str,
    ) -> Result<CasOutcome<PayoutEntry>, StoreError>;
    /// Unresolved payouts (PENDING, UNKNOWN, NEEDS_ATTENTION) that are due (lease / next retry ≤
    /// `now`), oldest due first.
    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<PayoutEntry>, StoreError>;
    /// Every unresolved payout, counted by state (due or not).
    async fn unresolved_counts(&self) -> Result<UnresolvedCounts, StoreError>;
    /// The operator's listing: entries passing the request's filter, newest first (`created_at`,
    /// then out_biz_no, descending), strictly after its cursor, at most its limit.
    async fn list_payouts(&self, request: &ListRequest) -> Result<PayoutPage, StoreError>;
    /// A recipient's payouts, newest first.
    async fn list_by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, StoreError>;
}
