//! Fault injection, set by tests through `POST /sim/faults`.

use serde::{Deserialize, Serialize};

/// What a fault does to one gateway call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Sleep `latencyMs` (default 1000) before handling the call normally. Combines with one other fault.
    Latency,
    /// Never answer (the operation is not performed); the client times out.
    Hang,
    /// Answer HTTP 500 without performing the operation.
    Http500,
    /// Answer a signed `code=20000 isp.unknow-error` without performing the operation.
    UnknownError,
    /// Perform the operation, then answer with a signature that does not verify.
    BadSignature,
    /// Perform the operation, then close the connection without answering.
    CommitThenDrop,
}

/// A fault as posted: `{"api","kind","count"|"probability","latencyMs","seed"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    /// API name (`alipay.marketing.campaign.cash.trigger`); absent or `*` = every API.
    #[serde(default)]
    pub api: Option<String>,
    /// The fault.
    pub kind: FaultKind,
    /// Fire on the next `count` matching calls, then disappear.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fire on each matching call with this probability (deterministic pseudo-random sequence).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Latency in milliseconds for `latency` (default 1000).
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Seed for `probability` (default 1); the same seed gives the same firing sequence.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// An installed fault with its counters.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveFault {
    /// Id (for listing).
    pub id: u64,
    /// The spec as posted.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Remaining firings for count-based faults.
    pub remaining: Option<u64>,
    /// How many times it fired.
    pub fired: u64,
    #[serde(skip)]
    rng: u64,
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// Extra latency before handling.
    pub latency_ms: u64,
    /// The terminal fault, if one fired.
    pub terminal: Option<FaultKind>,
}

/// The installed faults.
#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<ActiveFault>,
    next_id: u64,
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// A spec that cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadFault(pub String);

impl Faults {
    /// Installs a fault.
    ///
    /// # Errors
    /// [`BadFault`] for a probability outside `0..=1`, a zero count, or both count and probability.
    pub fn add(&mut self, spec: FaultSpec) -> Result<ActiveFault, BadFault> {
        if let Some(p) = spec.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(BadFault("probability must be within 0..=1".into()));
            }
        }
        if spec.count == Some(0) {
            return Err(BadFault("count must be at least 1".into()));
        }
        if spec.count.is_some() && spec.probability.is_some() {
            return Err(BadFault("give count or probability, not both".into()));
        }
        self.next_id += 1;
        let seed = spec.seed.unwrap_or(1).max(1);
        let fault = ActiveFault {
            id: self.next_id,
            remaining: spec.count,
            fired: 0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1),
            spec,
        };
        self.list.push(fault.clone());
        Ok(fault)
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// The installed faults.
    pub fn list(&self) -> Vec<ActiveFault> {
        self.list.clone()
    }

    /// Decides the faults for one call of `api`: every matching latency fault adds up; the first
    /// matching terminal fault that fires wins.
    pub fn decide(&mut self, api: &str) -> Decision {
        let mut decision = Decision::default();
        for fault in &mut self.list {
            let matches = match fault.spec.api.as_deref() {
                None | Some("*") | Some("") => true,
                Some(a) => a == api,
            };
            let is_latency = fault.spec.kind == FaultKind::Latency;
            if !matches || (!is_latency && decision.terminal.is_some()) {
                continue;
            }
            let fires = match fault.spec.probability {
                Some(p) => {
                    let draw = (xorshift(&mut fault.rng) >> 11) as f64 / (1u64 << 53) as f64;
                    draw < p
                }
                None => true,
            };
            if !fires {
                continue;
            }
            fault.fired += 1;
            if let Some(r) = fault.remaining.as_mut() {
                *r = r.saturating_sub(1);
            }
            if is_latency {
                decision.latency_ms += fault.spec.latency_ms.unwrap_or(1000);
            } else {
                decision.terminal = Some(fault.spec.kind);
            }
        }
        self.list.retain(|f| f.remaining != Some(0));
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(api: Option<&str>, kind: FaultKind) -> FaultSpec {
        FaultSpec {
            api: api.map(str::to_owned),
            kind,
            count: None,
            probability: None,
            latency_ms: None,
            seed: None,
        }
    }

    #[test]
    fn count_faults_expire_and_match_by_api() {
        let mut f = Faults::default();
        let mut s = spec(Some("a.b"), FaultKind::Http500);
        s.count = Some(2);
        f.add(s).unwrap();
        assert_eq!(f.decide("x.y").terminal, None);
        assert_eq!(f.decide("a.b").terminal, Some(FaultKind::Http500));
        assert_eq!(f.decide("a.b").terminal, Some(FaultKind::Http500));
        assert_eq!(f.decide("a.b").terminal, None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn latency_adds_to_a_terminal_fault() {
        let mut f = Faults::default();
        let mut l = spec(None, FaultKind::Latency);
        l.latency_ms = Some(5);
        f.add(l).unwrap();
        f.add(spec(Some("*"), FaultKind::Hang)).unwrap();
        let d = f.decide("any");
        assert_eq!(
            d,
            Decision {
                latency_ms: 5,
                terminal: Some(FaultKind::Hang)
            }
        );
    }

    #[test]
    fn probability_is_deterministic_and_roughly_right() {
        let run = || {
            let mut f = Faults::default();
            let mut s = spec(None, FaultKind::UnknownError);
            s.probability = Some(0.3);
            f.add(s).unwrap();
            (0..1000)
                .filter(|_| f.decide("a").terminal.is_some())
                .count()
        };
        let n = run();
        assert_eq!(n, run());
        assert!((200..400).contains(&n), "{n}");
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut f = Faults::default();
        let mut s = spec(None, FaultKind::Hang);
        s.probability = Some(1.5);
        assert!(f.add(s.clone()).is_err());
        s.probability = None;
        s.count = Some(0);
        assert!(f.add(s).is_err());
    }
}
