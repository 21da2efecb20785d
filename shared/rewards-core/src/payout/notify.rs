//! Alipay's `alipay.fund.trans.order.changed` notifications, already verified by the caller: they
//! advance a transfer entry exactly as a query answer would, from any state and whatever its fence.
//!
//! - `SUCCESS` → proof of payment, recorded over any state (SENT always wins);
//! - `FAIL` / `CLOSED` / `REFUND` → FAILED unless the entry is SENT (the order itself is final:
//!   see the transfer module docs for why that frees the business id);
//! - `DEALING` or any other status → no change;
//! - an unknown out_biz_no or a campaign-rail entry → no change, logged.
//!
//! Duplicates and reordering are harmless: SENT is never left, and FAILED only yields to SENT.

use crate::ids::OutBizNo;
use crate::payout::entry::{PayoutEntry, PayoutState};
use crate::payout::error::SendError;
use crate::payout::ledger::{current_entry, record_proof, Ledger, CAS_ROUNDS};
use crate::payout::rail::PayoutRail;
use crate::payout::store::PayoutStore;
use crate::payout::transfer::receipt_state;
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::store::CasOutcome;
use crate::ports::transfer_gateway::{TransferReceipt, TransferStatus};
use std::sync::Arc;
use tracing::Instrument;

/// What a notification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// The entry changed to this.
    Recorded(PayoutEntry),
    /// The entry already said as much, or the status is not final (the entry as it is).
    Unchanged(PayoutEntry),
    /// Nothing in the ledger to act on (why, for the log).
    Ignored(&'static str),
}

impl NotifyOutcome {
    /// For logs and metrics: the state recorded, `unchanged`, or why it was ignored.
    pub fn name(&self) -> &'static str {
        match self {
            NotifyOutcome::Recorded(e) => e.state.name(),
            NotifyOutcome::Unchanged(_) => "unchanged",
            NotifyOutcome::Ignored(why) => why,
        }
    }
}

/// Applies verified transfer notifications to the ledger.
pub struct TransferNotifications {
    /// Ledger.
    pub payouts: Arc<dyn PayoutStore>,
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
}

impl TransferNotifications {
    fn ledger(&self) -> Ledger<'_> {
        Ledger {
            payouts: self.payouts.as_ref(),
            clock: self.clock.as_ref(),
            ids: self.ids.as_ref(),
        }
    }

    /// Applies one `alipay.fund.trans.order.changed` receipt. The caller acknowledges the
    /// notification only after this returns `Ok`.
    ///
    /// # Errors
    /// A store error, or [`SendError::Busy`] when the entry kept changing: the caller answers so
    /// that Alipay delivers the notification again.
    pub async fn order_changed(
        &self,
        receipt: &TransferReceipt,
    ) -> Result<NotifyOutcome, SendError> {
        let Some(out_biz_no) = receipt
            .out_biz_no
            .as_deref()
            .and_then(|o| OutBizNo::parse(o).ok())
        else {
            tracing::warn!("transfer notification without a usable out_biz_no: ignored");
            return Ok(NotifyOutcome::Ignored("no_out_biz_no"));
        };
        let span = tracing::info_span!(
            "transfer_notification",
            outBizNo = %out_biz_no,
            status = receipt.status.as_ref().map_or("", TransferStatus::as_str),
            orderId = receipt.order_id.as_deref().unwrap_or(""),
        );
        self.apply(&out_biz_no, receipt).instrument(span).await
    }

    async fn apply(
        &self,
        out_biz_no: &OutBizNo,
        receipt: &TransferReceipt,
    ) -> Result<NotifyOutcome, SendError> {
        let Some(entry) = self.payouts.get_payout(out_biz_no).await? else {
            tracing::warn!(
                "transfer notification for an out_biz_no the ledger does not hold: ignored"
            );
            return Ok(NotifyOutcome::Ignored("unknown_out_biz_no"));
        };
        let PayoutRail::Transfer(terms) = entry.rail.clone() else {
            tracing::warn!("transfer notification for a campaign-rail entry: ignored");
            return Ok(NotifyOutcome::Ignored("campaign_rail"));
        };
        match receipt_state(&terms, receipt, true) {
            Some(paid @ PayoutState::Sent { .. }) => {
                if matches!(entry.state, PayoutState::Sent { .. }) {
                    return Ok(NotifyOutcome::Unchanged(entry));
                }
                let no = entry.out_biz_no.clone();
                let paid = record_proof(self.ledger(), &no, paid, Some(entry)).await?;
                Ok(NotifyOutcome::Recorded(paid))
            }
            Some(failed @ PayoutState::Failed { .. }) => self.record_failed(failed, entry).await,
            _ => {
                tracing::info!("transfer notification with a status that is not final: no change");
                Ok(NotifyOutcome::Unchanged(entry))
            }
        }
    }

    /// FAILED over any state but SENT and FAILED (compare-and-set on the current fence).
    async fn record_failed(
        &self,
        failed: PayoutState,
        mut cur: PayoutEntry,
    ) -> Result<NotifyOutcome, SendError> {
        for _ in 0..CAS_ROUNDS {
            if cur.state.is_final() {
                return Ok(NotifyOutcome::Unchanged(cur));
            }
            tracing::info!(
                state = cur.state.name(),
                "Alipay reports the transfer order failed"
            );
            let done = self.ledger().moved_to(&cur, failed.clone());
            match self.payouts.cas_payout(&done, &cur.fence).await? {
                CasOutcome::Written => return Ok(NotifyOutcome::Recorded(done)),
                CasOutcome::Lost(next) => {
                    cur = current_entry(self.ledger(), &done.out_biz_no, next).await?;
                }
            }
        }
        Err(SendError::Busy)
    }
}
