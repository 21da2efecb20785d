//! The injected clock and source of unique tokens.

use crate::time::Timestamp;
use async_trait::async_trait;
use std::time::Duration;

/// The injected clock (and sleeper, so the core needs no runtime).
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Waits `d` (used by the claim path while another caller finishes).
    async fn sleep(&self, d: Duration);
}

/// The injected source of unique tokens (fence tokens). Must be unique per call across processes.
pub trait IdGenerator: Send + Sync {
    /// A fresh opaque token, `[A-Za-z0-9_-]`, 16–64 chars.
    fn fence_token(&self) -> String;
}
