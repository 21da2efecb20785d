//! The idempotency keys' store port, beside the records it keeps.

use crate::idempotency::record::{IdemBegin, IdemKey, IdemRecord};
use crate::ports::store::StoreError;
use crate::time::Timestamp;
use async_trait::async_trait;

/// Idempotency keys (`IDEM#{caller}#{keyHash}`).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Conditional put of an in-progress record: absent, or expired (`expires_at <= now`), or an
    /// in-progress record whose lease has passed. Otherwise the stored record.
    async fn begin(&self, rec: &IdemRecord, now: Timestamp) -> Result<IdemBegin, StoreError>;
    /// Replaces the record with `done` (the same record, now completed with its response) if the
    /// stored one still carries `done`'s fence; otherwise (taken over after our lease, or gone) does
    /// nothing.
    async fn complete(&self, done: &IdemRecord) -> Result<(), StoreError>;
    /// Deletes the in-progress record (condition: this fence), so a retry runs again.
    async fn release(&self, key: &IdemKey, fence: &str) -> Result<(), StoreError>;
}
