//! # rewards-core
//!
//! The rewards domain, pure: no AWS, no HTTP, no Lambda types. Everything that talks to the outside
//! world does so through the ports in [`ports`] (store per aggregate, Alipay gateways, clock, ids).
//!
//! - [`ids`], [`amount`], [`time`]: newtypes parsed at the edge, valid by construction.
//! - [`template`]: pass.json validation, `$var$` collection, parameter rules, `unique_id`.
//! - [`template_body`]: the operator's template body split into content and rules (server and CLI).
//! - [`claim`]: the crash-safe claim callback ([`claim::ClaimService`]) and the component answer.
//! - [`pass`]: pass records, status changes, a user's passes ([`pass::PassService`]).
//! - [`campaign`]: cash campaigns and schedule slots ([`campaign::CampaignService`]).
//! - [`payout`]: the payout ledger state machine ([`payout::SendService`], [`payout::Reconciler`]).
//! - [`session`]: mini-program sign-in (auth code → identity → session token).
//! - [`idempotency`]: `Idempotency-Key` semantics ([`idempotency::IdempotencyService`]).
//! - [`error`]: [`error::ErrorKind`] and the [`error::DomainError`] trait every service error implements.
//! - `testkit` (cargo feature `testkit`): in-memory fakes of every port and the store contract
//!   suite every store implementation must pass.
//!
//! The design (ledger states, reconciliation rule, claim path, DynamoDB items) is in `docs/domain.md`.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod amount;
pub mod campaign;
pub mod claim;
pub mod error;
pub mod hash;
pub mod idempotency;
pub mod ids;
pub mod pass;
pub mod payout;
pub mod ports;
pub mod session;
pub mod template;
pub mod time;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use amount::AmountFen;
pub use error::{DomainError, ErrorKind};
pub use ids::{
    AppId, BusinessId, CrowdNo, IdError, OpenId, OutBizNo, PassId, SerialNumber, TemplateId,
    UserId, UserToken,
};
pub use ports::{GatewayFailure, GatewayOutcome, StoreError};
pub use template::body as template_body;
pub use time::Timestamp;
