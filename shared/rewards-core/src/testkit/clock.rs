//! The tests' clock and fence tokens.

use crate::ports::*;
use crate::time::Timestamp;
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The tests' clock: at 2024-01-01 19:04:05 UTC until advanced or slept (or, `real`, the system's).
pub struct TestClock {
    pub(super) real: bool,
    pub(super) base: i64,
    pub(super) offset: Mutex<i64>,
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock {
            real: false,
            base: 1_704_135_845_000,
            offset: Mutex::new(0),
        }
    }
}

impl TestClock {
    pub fn advance(&self, d: Duration) {
        *self.offset.lock().unwrap() += i64::try_from(d.as_millis()).unwrap();
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let base = if self.real {
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )
            .unwrap()
        } else {
            self.base
        };
        Timestamp(base + *self.offset.lock().unwrap())
    }
    async fn sleep(&self, d: Duration) {
        if self.real {
            tokio::time::sleep(d).await;
        } else {
            self.advance(d);
            tokio::task::yield_now().await;
        }
    }
}

#[derive(Default)]
pub struct SeqIds(AtomicU64);

impl IdGenerator for SeqIds {
    fn fence_token(&self) -> String {
        format!("fence{:08}", self.0.fetch_add(1, Ordering::SeqCst))
    }
}
