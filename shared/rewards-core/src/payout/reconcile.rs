//! The scheduled reconciler: every due unresolved entry probed again with its own out_biz_no.

use crate::payout::entry::PayoutState;
use crate::payout::listing::UnresolvedCounts;
use crate::payout::send::SendService;
use crate::ports::store::StoreError;
use std::sync::Arc;

/// What one reconciler run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Due entries examined.
    pub examined: usize,
    /// Now SENT.
    pub sent: usize,
    /// Now FAILED.
    pub failed: usize,
    /// Still UNKNOWN (or PENDING under another holder).
    pub unresolved: usize,
    /// NEEDS_ATTENTION after this run's probe.
    pub needs_attention: usize,
    /// Errors (store) while working on an entry.
    pub errors: usize,
    /// Due entries left for the next run because the run's time was up.
    pub deferred: usize,
    /// After the run: every unresolved entry in the ledger (due or not), for the metric.
    pub open: UnresolvedCounts,
}

/// The scheduled reconciler: every due unresolved entry is re-triggered with the same out_biz_no;
/// entries past the budget are NEEDS_ATTENTION and probed at the backoff cap; never a new number.
pub struct Reconciler {
    /// The send service (shares its retrigger rule).
    pub service: Arc<SendService>,
    /// Entries per run.
    pub batch: usize,
}

impl Reconciler {
    /// One pass over the due entries, then a count of every unresolved one.
    ///
    /// # Errors
    /// A store error listing or counting the entries (per-entry errors are counted, not returned).
    pub async fn run_once(&self) -> Result<ReconcileReport, StoreError> {
        self.run_while(|| true).await
    }

    /// [`Self::run_once`], starting another entry only while `may_start()` says there is time for
    /// one more (a probe takes up to two Alipay calls); the rest are counted as deferred and left
    /// for the next run. The count of unresolved entries is taken either way, so the metric is
    /// published even when Alipay hangs and a run cannot get through its batch.
    ///
    /// # Errors
    /// As [`Self::run_once`].
    pub async fn run_while(
        &self,
        may_start: impl Fn() -> bool,
    ) -> Result<ReconcileReport, StoreError> {
        let now = self.service.clock.now();
        let due = self.service.payouts.list_due(now, self.batch).await?;
        let mut report = ReconcileReport {
            examined: due.len(),
            ..Default::default()
        };
        for entry in due {
            if entry.due_at().is_none_or(|d| d > now) {
                continue;
            }
            if !may_start() {
                report.deferred += 1;
                continue;
            }
            match self.service.retrigger(entry).await {
                Ok(r) => match r.entry.state {
                    PayoutState::Sent { .. } => report.sent += 1,
                    PayoutState::Failed { .. } => report.failed += 1,
                    PayoutState::NeedsAttention { .. } => report.needs_attention += 1,
                    PayoutState::Pending | PayoutState::Unknown { .. } => report.unresolved += 1,
                },
                Err(_) => report.errors += 1,
            }
        }
        report.open = self.service.payouts.unresolved_counts().await?;
        Ok(report)
    }
}
