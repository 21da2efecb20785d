//! `Idempotency-Key` semantics (IETF draft / Stripe): same key + same body → the stored answer;
//! same key + another body → 422; the first request still running → 409.
//!
//! The record (`IDEM#{caller}#{keyHash}`) holds a request fingerprint, a fence token, a lease while
//! in progress, and the stored response once done. Responses with status ≥ 500 are not stored (the
//! record is released so a retry runs again). Only **final** answers are replayed: a stored answer
//! that described a moment (202 "being resolved", 409 "busy") is kept for its fingerprint, but a
//! repeat runs the operation again and answers the current state, so a payout that became SENT is
//! never reported as pending for the rest of the day. Expiry (24 h) is checked in code, never left to TTL.
//! If storing the response fails, the lease runs out and a retry re-executes the operation — safe
//! for `POST /envelopes` because the send is itself idempotent by business id.

mod error;
mod record;
mod service;
pub(crate) mod store;

pub use error::IdemError;
pub use record::{IdemBegin, IdemKey, IdemRecord, IdemState, StoredResponse};
pub use service::{fingerprint, IdemOutcome, IdempotencyService};
pub use store::IdempotencyStore;

#[cfg(test)]
mod tests;
