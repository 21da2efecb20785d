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
    /// Hold the connection without answering (like `hang`) and perform the operation `delayMs`
    /// after the request arrived, with the rules and state of that moment, as a platform that
    /// processes a request after the caller gave up on it.
    CommitLate,
    /// Notification faults (api `alipay.fund.trans.order.changed`; they never fire on a gateway
    /// call, and the gateway faults never fire on a notification). `notify_lost`: the
    /// notification is never posted.
    NotifyLost,
    /// The notification is posted again after the receiver acknowledged it.
    NotifyDuplicate,
    /// After the real notification, a stale one (`status=DEALING`) is posted: out of order.
    NotifyStale,
    /// The notification is posted `delayMs` (default 1000) later than it would be.
    NotifyLate,
}

/// The `msg_method` notification faults are matched against.
pub const NOTIFY_API: &str = "alipay.fund.trans.order.changed";

impl FaultKind {
    /// A fault on the order.changed notification, not on a gateway call.
    pub fn is_notify(self) -> bool {
        matches!(
            self,
            FaultKind::NotifyLost
                | FaultKind::NotifyDuplicate
                | FaultKind::NotifyStale
                | FaultKind::NotifyLate
        )
    }
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
    /// For `commit_late`: how long after the request arrived the operation is performed
    /// (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
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
    /// For a `commit_late` terminal fault: the delay from arrival to the operation.
    pub delay_ms: u64,
    /// The id of the terminal fault (0 when none fired).
    pub fault_id: u64,
}

/// A call held by a `commit_late` fault and performed later (`GET /sim/faults` → `lateCommits`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LateCommit {
    /// Id, in order of arrival.
    pub id: u64,
    /// The fault that held it.
    pub fault_id: u64,
    /// The API called.
    pub api: String,
    /// `crowd_no` of the call, when its `biz_content` has one.
    pub crowd_no: Option<String>,
    /// `out_biz_no` of the call, when its `biz_content` has one.
    pub out_biz_no: Option<String>,
    /// The delay from arrival to the operation.
    pub delay_ms: u64,
    /// `true` once the operation was performed.
    pub done: bool,
    /// The outcome class of the operation once performed (`ok`, `api-failure`, `business-error`,
    /// `gateway-error`); nobody receives it.
    pub outcome: Option<String>,
    /// The `sub_code` of a refused operation (`BALANCE_IS_NOT_ENOUGH`,
    /// `PAYMENT_INFO_INCONSISTENCY`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
}

/// The installed faults.
#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<ActiveFault>,
    next_id: u64,
    late: Vec<LateCommit>,
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

    /// Removes every fault. Late commits already held still happen (the request has arrived).
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Records a call held by `commit_late`; returns its id for [`Faults::late_commit_done`].
    pub fn late_commit_held(
        &mut self,
        fault_id: u64,
        api: &str,
        crowd_no: Option<String>,
        out_biz_no: Option<String>,
        delay_ms: u64,
    ) -> u64 {
        let id = self.late.len() as u64 + 1;
        self.late.push(LateCommit {
            id,
            fault_id,
            api: api.to_string(),
            crowd_no,
            out_biz_no,
            delay_ms,
            done: false,
            outcome: None,
            sub_code: None,
        });
        id
    }

    /// Records the `sub_code` a held call was refused with (after [`Faults::late_commit_done`]).
    pub fn late_commit_refused(&mut self, id: u64, sub_code: &str) {
        if let Some(l) = self.late.iter_mut().find(|l| l.id == id) {
            l.sub_code = Some(sub_code.to_string());
        }
    }

    /// Marks a held call as performed with its outcome class.
    pub fn late_commit_done(&mut self, id: u64, outcome: &str) {
        if let Some(l) = self.late.iter_mut().find(|l| l.id == id) {
            l.done = true;
            l.outcome = Some(outcome.to_string());
        }
    }

    /// Every call held by `commit_late` since the start (kept across [`Faults::clear`]).
    pub fn late_commits(&self) -> Vec<LateCommit> {
        self.late.clone()
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
            if fault.spec.kind.is_notify() != (api == NOTIFY_API) {
                continue;
            }
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
                decision.fault_id = fault.id;
                if matches!(
                    fault.spec.kind,
                    FaultKind::CommitLate | FaultKind::NotifyLate
                ) {
                    decision.delay_ms = fault.spec.delay_ms.unwrap_or(1000);
                }
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
            delay_ms: None,
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
        assert_eq!(d.latency_ms, 5);
        assert_eq!(d.terminal, Some(FaultKind::Hang));
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
    fn commit_late_carries_its_delay_and_is_listed_once_held() {
        let mut f = Faults::default();
        let posted: FaultSpec = serde_json::from_value(serde_json::json!(
            {"api": "a.b", "kind": "commit_late", "delayMs": 12000, "count": 1}
        ))
        .unwrap();
        let id = f.add(posted).unwrap().id;
        let d = f.decide("a.b");
        assert_eq!(d.terminal, Some(FaultKind::CommitLate));
        assert_eq!((d.delay_ms, d.fault_id), (12000, id));
        let held = f.late_commit_held(id, "a.b", Some("c".into()), Some("pe_1".into()), 12000);
        f.clear();
        assert!(!f.late_commits()[0].done);
        f.late_commit_done(held, "ok");
        let listed = serde_json::to_value(f.late_commits()).unwrap();
        assert_eq!(listed[0]["outBizNo"], "pe_1");
        assert_eq!(listed[0]["done"], true);
        assert_eq!(listed[0]["outcome"], "ok");
        let mut default_delay = spec(None, FaultKind::CommitLate);
        default_delay.count = Some(1);
        f.add(default_delay).unwrap();
        assert_eq!(f.decide("x").delay_ms, 1000);
    }

    #[test]
    fn notify_faults_fire_only_on_notifications() {
        let mut f = Faults::default();
        f.add(spec(None, FaultKind::NotifyLost)).unwrap();
        f.add(spec(None, FaultKind::Http500)).unwrap();
        assert_eq!(f.decide("a.b").terminal, Some(FaultKind::Http500));
        assert_eq!(f.decide(NOTIFY_API).terminal, Some(FaultKind::NotifyLost));
        let mut late = spec(Some(NOTIFY_API), FaultKind::NotifyLate);
        late.delay_ms = Some(30);
        let mut g = Faults::default();
        g.add(late).unwrap();
        let d = g.decide(NOTIFY_API);
        assert_eq!((d.terminal, d.delay_ms), (Some(FaultKind::NotifyLate), 30));
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
