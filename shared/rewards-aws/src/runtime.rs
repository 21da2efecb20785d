//! Production implementations of the clock and id ports.

use async_trait::async_trait;
use rewards_core::ports::{Clock, IdGenerator};
use rewards_core::Timestamp;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The system clock; sleeps with tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Fence tokens: 32 hex chars from two randomly keyed SipHash states (fresh random keys per
/// process) over a counter and the time, so tokens are unique across calls and processes.
#[derive(Debug, Default)]
pub struct RandomIds {
    counter: AtomicU64,
    a: RandomState,
    b: RandomState,
}

impl IdGenerator for RandomIds {
    fn fence_token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut out = String::with_capacity(32);
        for state in [&self.a, &self.b] {
            let mut h = state.build_hasher();
            h.write_u64(n);
            h.write_u128(t);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique() {
        let ids = RandomIds::default();
        let other = RandomIds::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(ids.fence_token()));
            assert!(seen.insert(other.fence_token()));
        }
        assert_eq!(ids.fence_token().len(), 32);
    }
}
