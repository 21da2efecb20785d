//! Alipay's rate limit on the money path: a throttled call is "not now", never "no". The entry
//! stays unresolved with the same out_biz_no exactly as after an unknown outcome (it still counts
//! in [`PayoutEntry::attempts`], so a later refusal frees nothing), but it is not counted toward
//! `max_attempts`: a long throttle delays payment, it does not page operators.

use super::PayoutEntry;

impl PayoutEntry {
    /// The calls that count toward the retry budget: those Alipay's rate limit did not answer.
    pub fn counted_attempts(&self) -> u32 {
        self.attempts.saturating_sub(self.throttled_calls)
    }

    /// The entry after one call, counting it as throttled when Alipay's rate limit answered it.
    pub(super) fn after_call(mut self, throttled: bool) -> Self {
        if throttled {
            self.throttled_calls = self.throttled_calls.saturating_add(1);
        }
        self
    }
}

/// Serde's `skip_serializing_if` for a counter that is zero (entries never throttled keep their
/// stored shape).
pub(super) fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::ports::{TransferLookup, TransferOutcome};
    use crate::testkit::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn send_input(bid: &str, transfer: bool) -> SendRequest {
        super::super::timing_tests::send_request_for(bid, transfer)
    }

    fn throttled_transfer() -> TransferStep {
        TransferStep::Answer(TransferOutcome::Throttled("injected 40005".into()))
    }

    /// A long throttle: the entry stays UNKNOWN with its number however many calls Alipay's rate
    /// limit answers, never NEEDS_ATTENTION, and is paid once the limit lifts.
    #[tokio::test]
    async fn a_long_throttle_never_spends_the_retry_budget_on_either_rail() {
        for transfer in [false, true] {
            let (w, mut svc) = World::sending(&[("C1", 200, 10, 1)]).await;
            svc.config.max_attempts = 3;
            let svc = Arc::new(svc);
            let throttled_calls = 8;
            for call in 0..throttled_calls {
                if transfer && call == 0 {
                    w.transfer_gw.script_transfer(throttled_transfer());
                } else if transfer {
                    // Every later call is the query that precedes a re-send.
                    w.transfer_gw
                        .script_query(TransferLookup::Throttled("injected 40005".into()));
                } else {
                    w.cash_gw.fail_next_trigger(GwFault::Throttle);
                }
            }
            let r = svc.send(&send_input("ex", transfer)).await.unwrap();
            let number = r.entry.out_biz_no.clone();
            let rec = Reconciler {
                service: svc.clone(),
                batch: 10,
            };
            for run in 1..throttled_calls {
                w.clock.advance(Duration::from_secs(3600));
                let report = rec.run_once().await.unwrap();
                let e = svc.get(&number).await.unwrap();
                assert_eq!(
                    (e.state.name(), report.needs_attention, e.counted_attempts()),
                    ("UNKNOWN", 0, 0),
                    "transfer {transfer}, run {run}: {e:?}"
                );
            }
            w.clock.advance(Duration::from_secs(3600));
            rec.run_once().await.unwrap();
            let e = svc.get(&number).await.unwrap();
            assert_eq!(e.state.name(), "SENT", "transfer {transfer}: {e:?}");
            assert_eq!(e.out_biz_no, number);
        }
    }

    /// Unknown outcomes still count: throttles in between do not hide a real outage.
    #[tokio::test]
    async fn unknown_outcomes_among_throttles_still_reach_needs_attention() {
        let (w, mut svc) = World::sending(&[("C1", 200, 10, 1)]).await;
        svc.config.max_attempts = 3;
        let svc = Arc::new(svc);
        for fault in [
            GwFault::UnknownBefore,
            GwFault::Throttle,
            GwFault::UnknownBefore,
            GwFault::Throttle,
            GwFault::UnknownBefore,
        ] {
            w.cash_gw.fail_next_trigger(fault);
        }
        let r = svc.send(&send_input("ex", false)).await.unwrap();
        let rec = Reconciler {
            service: svc.clone(),
            batch: 10,
        };
        let mut seen = vec![];
        for _ in 0..4 {
            w.clock.advance(Duration::from_secs(3600));
            rec.run_once().await.unwrap();
            seen.push(svc.get(&r.entry.out_biz_no).await.unwrap().state.name());
        }
        assert_eq!(
            seen,
            ["UNKNOWN", "UNKNOWN", "UNKNOWN", "NEEDS_ATTENTION"],
            "three counted calls spend a budget of three"
        );
    }

    #[derive(Debug, Clone, Copy)]
    enum Answer {
        Throttle,
        Timeout,
        Fine,
    }

    fn answer() -> impl Strategy<Value = Answer> {
        prop_oneof![
            3 => Just(Answer::Throttle),
            1 => Just(Answer::Timeout),
            1 => Just(Answer::Fine),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// No throttle answer ever produces FAILED, a new out_biz_no, or a call counted toward
        /// the retry budget: however the throttles fall among timeouts, the entry keeps its
        /// number and its counted calls are exactly the non-throttled ones.
        #[test]
        fn no_throttle_answer_fails_a_send_or_counts_toward_its_budget(
            transfer in any::<bool>(),
            answers in proptest::collection::vec(answer(), 1..12),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let played = || answers.iter().take_while(|a| !matches!(a, Answer::Fine));
                let timeouts = played().filter(|a| matches!(a, Answer::Timeout)).count();
                let throttles = played().filter(|a| matches!(a, Answer::Throttle)).count();
                let (w, mut svc) = World::sending(&[("C1", 200, 10, 1)]).await;
                // A budget the timeouts alone never spend.
                svc.config.max_attempts = u32::try_from(timeouts + 1).unwrap();
                let svc = Arc::new(svc);
                // On the transfer rail the first call is uni.transfer, every later one the query
                // that precedes a re-send.
                for (call, a) in answers.iter().enumerate() {
                    let first = call == 0;
                    match (transfer, a) {
                        (_, Answer::Fine) => break,
                        (false, Answer::Throttle) => w.cash_gw.fail_next_trigger(GwFault::Throttle),
                        (false, Answer::Timeout) => w.cash_gw.fail_next_trigger(GwFault::UnknownBefore),
                        (true, Answer::Throttle) if first => w.transfer_gw.script_transfer(throttled_transfer()),
                        (true, Answer::Throttle) => w.transfer_gw.script_query(TransferLookup::Throttled("40005".into())),
                        (true, Answer::Timeout) if first => w.transfer_gw.script_transfer(TransferStep::Answer(
                            TransferOutcome::Unknown("timeout".into()),
                        )),
                        (true, Answer::Timeout) => w.transfer_gw.script_query(TransferLookup::Unknown("timeout".into())),
                    }
                }
                let first = svc.send(&send_input("ex", transfer)).await.unwrap().entry;
                let rec = Reconciler { service: svc.clone(), batch: 10 };
                for _ in 0..answers.len() + 1 {
                    w.clock.advance(Duration::from_secs(3600));
                    rec.run_once().await.unwrap();
                    let e = svc.get(&first.out_biz_no).await.unwrap();
                    prop_assert_ne!(e.state.name(), "FAILED");
                    prop_assert_ne!(e.state.name(), "NEEDS_ATTENTION");
                    prop_assert!(e.counted_attempts() <= e.attempts);
                }
                let e = svc.get(&first.out_biz_no).await.unwrap();
                prop_assert_eq!(e.state.name(), "SENT");
                prop_assert_eq!(e.throttled_calls as usize, throttles, "{:?}", e);
                let bid = BusinessId::parse("ex").unwrap();
                let attempts = svc.by_business_id(Reason::PointsExchange, &bid).await.unwrap();
                prop_assert_eq!(attempts.len(), 1, "one out_biz_no, never a new one");
                Ok(())
            })?;
        }
    }
}
