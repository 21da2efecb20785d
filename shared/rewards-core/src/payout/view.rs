//! A ledger entry as callers see it.

use crate::ids::{BusinessId, OutBizNo, Recipient};
use crate::payout::entry::{PayoutEntry, PayoutState};
use crate::payout::rail::PayoutRail;
use crate::payout::reason::Reason;
use crate::time::Timestamp;
use serde::Serialize;

/// The public view of a [`PayoutEntry`]: the entry without its fence token and lease (internal to
/// the money path), with the state's data both inline and as `outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutView<'a> {
    out_biz_no: &'a OutBizNo,
    reason: Reason,
    business_id: &'a BusinessId,
    attempt_no: u32,
    /// `rail` with `crowdNo` (campaign) or `transfer` (its terms).
    #[serde(flatten)]
    rail: &'a PayoutRail,
    recipient: &'a Recipient,
    #[serde(flatten)]
    state: &'a PayoutState,
    attempts: u32,
    created_at: Timestamp,
    updated_at: Timestamp,
    outcome: &'a PayoutState,
}

impl PayoutEntry {
    /// What callers see of this entry.
    pub fn view(&self) -> PayoutView<'_> {
        PayoutView {
            out_biz_no: &self.out_biz_no,
            reason: self.reason,
            business_id: &self.business_id,
            attempt_no: self.attempt_no,
            rail: &self.rail,
            recipient: &self.recipient,
            state: &self.state,
            attempts: self.attempts,
            created_at: self.created_at,
            updated_at: self.updated_at,
            outcome: &self.state,
        }
    }
}
