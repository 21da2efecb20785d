//! Per-API call accounting for a launch: the QPS limits (`POST /sim/settings {"qpsLimits"}`) and
//! the counters of `GET /sim/stats`.
//!
//! A limit of N for an API admits a call only when fewer than N calls of that API were executed in
//! the second before it (a sliding window over the arrival times of executed calls), so no
//! one-second window, wherever it starts, holds more than N executed calls. A call over the limit
//! is not executed and is answered with Alipay's signed `40005 Call Limited`.
//!
//! `peakQps` is the most executed calls of an API in any one-second window since the last reset:
//! the busiest window always ends at an executed call, so it is the largest window count seen
//! right after admitting one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The window the limits and `peakQps` count in.
pub const WINDOW: Duration = Duration::from_secs(1);

/// What the limiter says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Execute it.
    Execute,
    /// Over the API's limit: answer `40005 Call Limited`, do nothing.
    Limited,
}

#[derive(Debug, Default)]
struct ApiCalls {
    /// Arrival times of executed calls within the last [`WINDOW`] (the limiter; never reset).
    executed: VecDeque<Instant>,
    /// The same since the last reset (for `peakQps`).
    since_reset: VecDeque<Instant>,
    calls: u64,
    limited: u64,
    peak: u64,
}

fn prune(window: &mut VecDeque<Instant>, now: Instant) {
    while window
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
    {
        window.pop_front();
    }
}

/// Every API's calls (`GET /sim/stats`).
#[derive(Debug, Default)]
pub struct Calls {
    by_api: HashMap<String, ApiCalls>,
}

/// `GET /sim/stats`: `{"calls": {api: n}, "limited": {api: n}, "peakQps": {api: n}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Every call that arrived, executed or limited.
    pub calls: BTreeMap<String, u64>,
    /// Calls answered `40005` by a QPS limit.
    pub limited: BTreeMap<String, u64>,
    /// The most executed calls in any one-second window.
    pub peak_qps: BTreeMap<String, u64>,
}

impl Calls {
    /// Counts a call of `api` arriving at `now` and decides it under `limit` (None: unlimited).
    pub fn admit(&mut self, api: &str, limit: Option<u32>, now: Instant) -> Admission {
        let calls = self.by_api.entry(api.to_string()).or_default();
        calls.calls += 1;
        prune(&mut calls.executed, now);
        prune(&mut calls.since_reset, now);
        if let Some(limit) = limit {
            if calls.executed.len() >= limit as usize {
                calls.limited += 1;
                return Admission::Limited;
            }
        }
        calls.executed.push_back(now);
        calls.since_reset.push_back(now);
        calls.peak = calls.peak.max(calls.since_reset.len() as u64);
        Admission::Execute
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for (api, c) in &self.by_api {
            s.calls.insert(api.clone(), c.calls);
            s.limited.insert(api.clone(), c.limited);
            s.peak_qps.insert(api.clone(), c.peak);
        }
        s
    }

    /// `DELETE /sim/stats`: the counters start again from zero. The limiter keeps its window (a
    /// reset never lets a burst through).
    pub fn reset(&mut self) {
        for c in self.by_api.values_mut() {
            c.calls = 0;
            c.limited = 0;
            c.peak = 0;
            c.since_reset.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "alipay.marketing.campaign.cash.trigger";

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn no_one_second_window_holds_more_than_the_limit() {
        let mut c = Calls::default();
        let t0 = Instant::now();
        // 3 per second: the 4th and 5th within the first second are limited.
        let answers: Vec<Admission> = [0, 100, 200, 300, 999, 1000, 1050, 1100, 1200]
            .into_iter()
            .map(|at| c.admit(API, Some(3), ms(t0, at)))
            .collect();
        use Admission::{Execute as E, Limited as L};
        assert_eq!(answers, [E, E, E, L, L, E, L, E, E]);
        let s = c.stats();
        assert_eq!(s.calls[API], 9);
        assert_eq!(s.limited[API], 3);
        assert_eq!(s.peak_qps[API], 3);
    }

    #[test]
    fn unlimited_apis_are_counted_and_their_peak_is_the_busiest_window() {
        let mut c = Calls::default();
        let t0 = Instant::now();
        for at in [0, 10, 20, 1500, 1600, 1700, 1800, 2400] {
            assert_eq!(c.admit(API, None, ms(t0, at)), Admission::Execute);
        }
        let s = c.stats();
        assert_eq!(s.calls[API], 8);
        assert_eq!(s.limited[API], 0);
        // 1500, 1600, 1700, 1800, 2400 lie within one second of 1500..2499.
        assert_eq!(s.peak_qps[API], 5);
    }

    #[test]
    fn a_reset_zeroes_the_counters_but_not_the_limiter() {
        let mut c = Calls::default();
        let t0 = Instant::now();
        assert_eq!(c.admit(API, Some(1), t0), Admission::Execute);
        c.reset();
        assert_eq!(c.stats().calls[API], 0);
        assert_eq!(c.admit(API, Some(1), ms(t0, 10)), Admission::Limited);
        let s = c.stats();
        assert_eq!((s.calls[API], s.limited[API], s.peak_qps[API]), (1, 1, 0));
        assert_eq!(c.admit(API, Some(1), ms(t0, 1000)), Admission::Execute);
        assert_eq!(c.stats().peak_qps[API], 1);
    }
}
