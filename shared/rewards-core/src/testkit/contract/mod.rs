//! The store contract: what every implementation of the store ports must do, conditional writes
//! and races included. One function per port (or per group of ports written together), generic
//! over the store, so the in-memory store of the core's tests and the DynamoDB store run the very
//! same assertions; each implementation writes its conditions on its own, and this is what checks
//! that they agree.
//!
//! Every function expects a fresh, empty store. The race functions spawn tasks, so they need a
//! multi-threaded tokio runtime to mean anything.
//!
//! One file per aggregate's stores; the fixtures they share are in `fixtures.rs`.

mod campaigns;
mod claims;
mod fixtures;
mod idempotency;
mod payouts;
mod templates;

pub use campaigns::*;
pub use claims::*;
pub use fixtures::*;
pub use idempotency::*;
pub use payouts::*;
pub use templates::*;

use crate::ports::*;
use std::future::Future;
use std::sync::Arc;

/// Runs every function of the contract that needs one task, each on a fresh store from `fresh`:
/// the one list both implementations run.
pub async fn single_task_cases<S, F, Fut>(fresh: F)
where
    S: TemplateStore
        + ClaimStore
        + ClaimBudgetStore
        + PassStore
        + CampaignStore
        + PayoutStore
        + IdempotencyStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    templates(&fresh().await).await;
    claim_accounts(&fresh().await).await;
    claim_budgets(&fresh().await).await;
    passes(&fresh().await).await;
    campaigns_and_slots(&fresh().await).await;
    payout_ledger(&fresh().await).await;
    payout_listing(&fresh().await).await;
    payout_rails(&fresh().await).await;
    idempotency(&fresh().await).await;
}

/// Runs every race of the contract, each on a fresh store from `fresh` (on a multi-threaded
/// runtime, or they prove little).
pub async fn races<S, F, Fut>(fresh: F)
where
    S: ClaimStore + PassStore + PayoutStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    racing_status_writes(Arc::new(fresh().await)).await;
    racing_account_writes(Arc::new(fresh().await)).await;
    racing_payout_writes(Arc::new(fresh().await)).await;
}

/// The in-memory store of the core's tests against the contract (the DynamoDB store runs the same
/// functions in `rewards-aws`'s tests).
#[cfg(test)]
mod mem_store {
    use crate::testkit::MemStore;

    #[tokio::test]
    async fn single_task_cases() {
        super::single_task_cases(|| async { MemStore::default() }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn races() {
        super::races(|| async { MemStore::default() }).await;
    }
}
