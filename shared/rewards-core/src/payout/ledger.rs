//! State changes on the ledger shared by the send path, the transfer rail and the notifications:
//! a fresh fence per change, a few compare-and-set rounds, and proof of payment recorded over
//! whatever the entry holds.

use crate::ids::OutBizNo;
use crate::payout::entry::{PayoutEntry, PayoutState};
use crate::payout::error::SendError;
use crate::payout::store::PayoutStore;
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::store::{CasOutcome, StoreError};
use crate::time::Timestamp;

/// How many compare-and-set rounds a request tries before answering `payout_busy`.
pub(super) const CAS_ROUNDS: usize = 5;

/// The parts of the ledger a state change needs (shared by the send path and the notifications).
#[derive(Clone, Copy)]
pub(super) struct Ledger<'a> {
    pub(super) payouts: &'a dyn PayoutStore,
    pub(super) clock: &'a dyn Clock,
    pub(super) ids: &'a dyn IdGenerator,
}

impl Ledger<'_> {
    /// `cur` moved to `state`: a fresh fence (what the next compare-and-set checks) and this instant.
    pub(super) fn moved_to(self, cur: &PayoutEntry, state: PayoutState) -> PayoutEntry {
        self.moved_at(cur, state, self.clock.now())
    }

    /// `cur` moved to `state` at `at`, with a fresh fence.
    pub(super) fn moved_at(
        self,
        cur: &PayoutEntry,
        state: PayoutState,
        at: Timestamp,
    ) -> PayoutEntry {
        PayoutEntry {
            state,
            fence: self.ids.fence_token(),
            updated_at: at,
            ..cur.clone()
        }
    }
}

/// What an attempt's calls led to, and when that was known: the clock read after the attempt's
/// last gateway answer. It is the entry's `updatedAt` and the start of any backoff, so a
/// `nextRetryAt` never lies before the answer it follows (however long the calls took).
pub(super) struct Outcome {
    pub(super) state: PayoutState,
    pub(super) at: Timestamp,
}

/// The entry after a lost compare-and-set: as the store answered, or read again when it answered
/// none (the entry exists: a read that misses it is transient, as an emulator's read racing a
/// write can be; strongly consistent DynamoDB never does).
pub(super) async fn current_entry(
    ledger: Ledger<'_>,
    out_biz_no: &OutBizNo,
    current: Option<PayoutEntry>,
) -> Result<PayoutEntry, SendError> {
    if let Some(cur) = current {
        return Ok(cur);
    }
    tracing::warn!("the entry read back empty after a lost compare-and-set; reading it again");
    ledger
        .payouts
        .get_payout(out_biz_no)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a payout entry vanished".into()).into())
}

/// Records a verified SENT over whatever the entry holds now (compare-and-set on its current
/// fence, a few rounds): proof of payment is never thrown away.
pub(super) async fn record_proof(
    ledger: Ledger<'_>,
    out_biz_no: &OutBizNo,
    sent: PayoutState,
    mut current: Option<PayoutEntry>,
) -> Result<PayoutEntry, SendError> {
    for _ in 0..CAS_ROUNDS {
        let cur = current_entry(ledger, out_biz_no, current).await?;
        if matches!(cur.state, PayoutState::Sent { .. }) {
            return Ok(cur);
        }
        if matches!(cur.state, PayoutState::Failed { .. }) {
            tracing::error!(
                "Alipay paid an out_biz_no recorded as FAILED; recording the payment (check for a second attempt of this business id)"
            );
        } else {
            tracing::warn!(
                state = cur.state.name(),
                "proof of payment arrived after the entry moved on; recording it"
            );
        }
        let paid = ledger.moved_to(&cur, sent.clone());
        match ledger.payouts.cas_payout(&paid, &cur.fence).await? {
            CasOutcome::Written => return Ok(paid),
            CasOutcome::Lost(next) => current = next,
        }
    }
    Err(SendError::Busy)
}
