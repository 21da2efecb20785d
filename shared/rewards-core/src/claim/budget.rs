//! The failed-claims budget: a sliding window counted in time buckets.

use crate::time::Timestamp;
use std::time::Duration;

/// At most `limit` failed claims within any `window`, counted in buckets of `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureBudget {
    /// Failed claims allowed per window.
    pub limit: u32,
    /// The sliding window.
    pub window: Duration,
    /// Counter granularity (the window is checked conservatively: a bucket counts while any part
    /// of it is inside the window).
    pub bucket: Duration,
}

impl FailureBudget {
    fn bucket_ms(&self) -> i64 {
        i64::try_from(self.bucket.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
    fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
    /// The start of the bucket holding `t`.
    pub fn bucket_of(&self, t: Timestamp) -> Timestamp {
        Timestamp(t.millis() - t.millis().rem_euclid(self.bucket_ms()))
    }
    /// The oldest bucket start that still counts at `now`.
    pub fn counted_since(&self, now: Timestamp) -> Timestamp {
        Timestamp(self.bucket_of(now).millis() - self.window_ms())
    }
    /// When a bucket starting at `start` stops counting.
    pub fn stops_counting(&self, start: Timestamp) -> Timestamp {
        Timestamp(start.millis() + self.bucket_ms() + self.window_ms())
    }
    /// `None` when another failure may still happen; else how long until one may.
    pub fn wait(&self, now: Timestamp, buckets: &[(Timestamp, u32)]) -> Option<Duration> {
        let since = self.counted_since(now);
        let mut counted: Vec<(Timestamp, u32)> = buckets
            .iter()
            .copied()
            .filter(|(start, _)| *start >= since)
            .collect();
        counted.sort();
        let total: u64 = counted.iter().map(|(_, n)| u64::from(*n)).sum();
        if total < u64::from(self.limit) {
            return None;
        }
        // The earliest time enough old failures have left the window.
        let must_leave = total + 1 - u64::from(self.limit);
        let mut left = 0u64;
        for (start, n) in &counted {
            left += u64::from(*n);
            if left >= must_leave {
                let ms = (self.stops_counting(*start).millis() - now.millis()).max(1000);
                return Some(Duration::from_millis(u64::try_from(ms).unwrap_or(1000)));
            }
        }
        Some(self.window)
    }
}
