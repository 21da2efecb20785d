//! The claim callback (the template's `mcallbackUrl`): one pass per user per template unless the
//! template allows more, crash-safe, cheap for forged hits.
//!
//! Each (template, user) has one [`ClaimAccount`]: the passes issued so far and at most one
//! issuance in flight. The serial of the user's n-th pass is derived from (template, user, n)
//! ([`derive_serial`]), so whatever token a re-tap brings, it cannot create a second pass.
//!
//! Path of a tap:
//! 1. Parse and check the query; the template must be ours.
//! 2. The same token already produced a pass → answer it (replay, no Alipay call).
//! 3. Nothing in flight: the user at the template's `perUserLimit` → `pass_limit_reached`, no call.
//!    Over the failed-claims budget → `too_many_failed_claims` (429, `Retry-After`), no call.
//!    Else write the issuance (n, serial, params filled once, this token, a lease) with a
//!    compare-and-set on the account's fence, call `instance.add`, and on success store the pass and
//!    the account in one transaction.
//! 4. An issuance in flight whose lease is live → wait for it (poll), then answer as it ends;
//!    past `wait`, `claim_in_progress` (409).
//! 5. An issuance in flight whose lease has passed (its outcome unknown, or its holder died):
//!    Alipay may hold its serial. The same token calls `instance.add` again with the same serial and
//!    params; another token first asks Alipay for the serial ([`PassGateway::find_pass`]): found →
//!    the pass is stored, then this tap goes on as a new one (usually: limit reached); not found →
//!    the issuance is dropped and this tap issues with its own token.
//!
//! Whatever Alipay answers to a repeated serial (the same pass, or a refusal), a refusal of an
//! issuance that may already exist is followed by the same lookup, so the user ends with one pass
//! and its serial is known. [`ClaimSweeper`] resolves issuances nobody taps again.
//!
//! Failed claims (definite refusals: a forged token, a spent one…) are counted per (template, user)
//! and per template in [`ClaimBudgetStore`] buckets; over either budget no call is made. Accounts
//! that never produced a pass carry an expiry (`expires_at`, the table's TTL), so forged hits
//! leave nothing permanent.
//!
//! The answer's JSON shape for the component lives in one place: [`component_answer`].
//!
//! [`derive_serial`]: crate::template::derive_serial
//! [`PassGateway::find_pass`]: crate::ports::PassGateway::find_pass
//! [`ClaimBudgetStore`]: crate::ports::ClaimBudgetStore

pub(crate) mod account;
mod answer;
mod budget;
mod errors;
mod resolve;
mod service;
mod sweeper;

pub use account::{token_hash, ClaimAccount, ClaimFailure, FailureNote, Issuance, IssuedPass};
pub use answer::{component_answer, ClaimAnswer};
pub use budget::FailureBudget;
pub use errors::{BudgetKind, ClaimError};
pub use service::{ClaimConfig, ClaimQuery, ClaimService};
pub use sweeper::{ClaimSweeper, SweepReport};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod throttle_tests;
