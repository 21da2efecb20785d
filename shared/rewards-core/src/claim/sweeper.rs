//! The sweep that resolves issuances nobody taps again.

use super::account::Resolution;
use super::service::ClaimService;
use crate::ports::store::StoreError;
use serde::Serialize;
use std::sync::Arc;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Issuances looked at.
    pub examined: u32,
    /// Found at Alipay and stored.
    pub stored: u32,
    /// Not at Alipay; dropped.
    pub dropped: u32,
    /// No definite answer; looked up again later.
    pub unresolved: u32,
    /// Store errors (the next sweep tries again).
    pub errors: u32,
}

/// Resolves issuances whose outcome was lost and that nobody taps again: every pass Alipay issued
/// for us ends in the store (readable, closable), every issuance it did not is dropped.
pub struct ClaimSweeper {
    /// The claim path (its store, gateway and timing).
    pub service: Arc<ClaimService>,
    /// Most issuances per run.
    pub batch: usize,
}

impl ClaimSweeper {
    /// One pass over the issuances due now.
    ///
    /// # Errors
    /// A store error listing them.
    pub async fn run_once(&self) -> Result<SweepReport, StoreError> {
        let svc = &self.service;
        let now = svc.clock.now();
        let mut report = SweepReport::default();
        for listed in svc.claims.list_unresolved(now, self.batch).await? {
            let current = match svc
                .claims
                .get_account(&listed.template_id, &listed.user_id)
                .await
            {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(_) => {
                    report.errors += 1;
                    continue;
                }
            };
            let Some(p) = current.pending.clone() else {
                continue;
            };
            if current.due_at().is_some_and(|due| due > now) {
                continue;
            }
            report.examined += 1;
            match svc.resolve(&current, &p).await {
                Ok(Resolution::Stored(_)) => report.stored += 1,
                Ok(Resolution::Dropped(_)) => report.dropped += 1,
                Ok(Resolution::Unresolved(_)) => report.unresolved += 1,
                Ok(Resolution::Lost) => {}
                Err(_) => report.errors += 1,
            }
        }
        Ok(report)
    }
}
