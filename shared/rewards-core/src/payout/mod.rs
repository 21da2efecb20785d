//! The payout ledger (the money path): `cash.trigger` at most once per (reason, business id).
//!
//! ## States
//! - `PENDING`: written **before** calling Alipay, with a fence token and a lease (`lease_until`).
//! - `SENT { amount, biz_no, repeat_trigger_flag }`: Alipay paid. Final.
//! - `FAILED { refusal }`: Alipay definitely refused and no call for this out_biz_no can have been
//!   accepted. Final for this number; frees the business id.
//! - `UNKNOWN { next_retry_at, last_error, last_refusal? }`: the outcome is not known; bound to its
//!   crowd_no and out_biz_no until resolved. `last_refusal` is set when Alipay refused a call that
//!   followed an unknown outcome: such a refusal proves nothing about the earlier call.
//! - `NEEDS_ATTENTION { next_retry_at, last_error, last_refusal? }`: the retry budget is spent; still
//!   probed at the backoff cap with the same number, and listed for a person.
//!
//! ## Rules
//! - `out_biz_no` is derived from (reason, business id, attempt number) by [`derive_out_biz_no`].
//! - **A verified SENT answer is never discarded.** Whatever the entry's state or fence when it
//!   arrives (PENDING, UNKNOWN, FAILED, NEEDS_ATTENTION), proof of payment wins: it is recorded (a
//!   compare-and-set loop on whatever fence is current) and the caller that received it is answered
//!   with it.
//! - **A refusal frees a business id only when no earlier call could have been accepted**, that is on
//!   the entry's first call ([`PayoutEntry::attempts`] = 1). Every later call exists only because an
//!   earlier one had an unknown outcome (timeout, 5xx, lost answer) or was still in flight when its
//!   lease was taken over, and Alipay may check the campaign before replaying a known out_biz_no, or
//!   pay a request after our client gave up on it. Such a refusal leaves the entry unresolved with
//!   `last_refusal`, and it is probed again with the same number.
//! - A `BIZ#{reason}#{businessId}` pointer names the current attempt. Only `FAILED` frees the
//!   business id: a later send with another campaign, another recipient (a corrected one) or
//!   `retryFailed` starts attempt n+1 with a new out_biz_no. Unresolved entries never get a new number.
//! - A repeat of `FAILED` answers the recorded entry; a repeat of `SENT` does when it asks for the
//!   recorded terms (a field it leaves out counts as recorded), and is refused with
//!   [`SendError::ConflictingRepeat`] naming the differing fields when it asks for another rail,
//!   campaign or amount: nothing is paid, and the caller is not told its terms were honoured. A
//!   repeat that finds an unresolved entry past its lease / `next_retry_at` re-triggers with the
//!   **same** out_biz_no and the stored terms (Alipay replays the earlier result); before that it
//!   answers the entry.
//! - Every backoff is counted from the outcome: the clock read after the attempt's last gateway
//!   answer is the entry's `updated_at` and the start of its backoff, so `next_retry_at` never lies
//!   before `updated_at`, however long the calls took.
//! - The operator's retry ([`SendService::probe_now`]) answers a probe only when it took the entry
//!   over itself; otherwise it answers what the entry is (`payout_final`, `payout_busy`).
//! - Every state change is a compare-and-set on the fence token read before it.
//! - The [`Reconciler`] does the same for every due unresolved entry, with capped exponential
//!   backoff; past `max_attempts` calls the entry is `NEEDS_ATTENTION` and is probed at the cap.
//! - Our own calls for one out_biz_no never overlap: the lease must exceed the Alipay client's total
//!   timeout plus [`LEASE_MARGIN`] ([`SendConfig::check`]), so a lease is only taken over once the
//!   holder's call has ended.
//!
//! ## Files
//! Records below rules below services: `reason.rs` and `refusal.rs` (the values every record
//! carries), `rail.rs` (how an entry pays), `entry.rs` (the ledger's records), `store.rs` (the
//! ledger's port), `input.rs`, `listing.rs` and `error.rs` (what callers send and are refused),
//! `config.rs`, `ledger.rs` (compare-and-set state changes), `send.rs` with `transfer.rs` (the send
//! service on each rail) and `throttle.rs` (Alipay's rate limit never spends the retry budget),
//! `read.rs` (the service's reads of the ledger), `notify.rs` and `reconcile.rs` (what moves an
//! entry besides a send), and `view.rs` (what callers see of an entry).

mod config;
mod entry;
mod error;
mod input;
mod ledger;
mod listing;
mod notify;
mod rail;
mod read;
mod reason;
mod reconcile;
mod refusal;
mod send;
pub(crate) mod store;
mod throttle;
mod transfer;
mod view;

pub use crate::ids::Recipient;
pub use config::{LeaseTooShort, SendConfig, LEASE_MARGIN};
pub use entry::{BizPointer, PayoutEntry, PayoutState, PayoutStateName};
pub use error::SendError;
pub use input::{SendInput, SendRequest};
pub use listing::{
    beijing_day, ListInput, ListRequest, PayoutCursor, PayoutFilter, PayoutPage, UnresolvedCounts,
};
pub use notify::{NotifyOutcome, TransferNotifications};
pub use rail::{
    AmountProblem, BadTransferSettings, PayoutRail, RailName, TransferSettings, TransferTerms,
    ORDER_CLOSED, ORDER_FAILED, ORDER_REFUNDED,
};
pub use reason::{derive_out_biz_no, Reason};
pub use reconcile::{ReconcileReport, Reconciler};
pub use refusal::Refusal;
pub use send::{SendResult, SendService, TransferRail};
pub use store::PayoutStore;
pub use view::PayoutView;

/// What the test files below reach through `use super::*`: the names this module imported when
/// it was one file, and the ledger's internals a test drives directly.
#[cfg(test)]
use {
    crate::amount::AmountFen,
    crate::campaign::CampaignStatus,
    crate::error::{DomainError, ErrorKind},
    crate::ids::{BusinessId, CrowdNo, OutBizNo, UserId},
    crate::ports::{
        CampaignStore, CasOutcome, CashGateway, Clock, GatewayOutcome, StoreError, TransferGateway,
        TriggerRequest, TriggerResult,
    },
    crate::time::Timestamp,
    ledger::{record_proof, Outcome},
    std::collections::BTreeMap,
    std::sync::Arc,
    std::time::Duration,
};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod transfer_tests;

#[cfg(test)]
mod notify_tests;

#[cfg(test)]
mod fakes;

#[cfg(test)]
mod timing_tests;

#[cfg(test)]
mod retry_race_tests;

#[cfg(test)]
mod repeat_terms_tests;
