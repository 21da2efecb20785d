use super::*;
use crate::testkit::*;
use proptest::prelude::*;

fn req(bid: &str, crowd: Option<&str>) -> SendRequest {
    SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some(bid.into()),
        user_id: Some(USER.into()),
        open_id: None,
        crowd_no: crowd.map(Into::into),
        retry_failed: None,
        rail: None,
        amount: None,
    }
    .validate()
    .unwrap()
}

/// SENT for a 2.00 yuan envelope, Alipay's `biz_no` `B1` (`repeat`: answered as a replay).
fn paid_envelope(repeat: bool) -> PayoutState {
    PayoutState::Sent {
        amount_fen: Some(AmountFen::from_fen(200).unwrap()),
        biz_no: Some("B1".into()),
        repeat_trigger_flag: repeat,
        order_id: None,
        pay_fund_order_id: None,
    }
}

/// Sends business id `ex` to campaign C1, the stub Alipay's next trigger meeting `fault`.
async fn send_ex(w: &World, svc: &SendService, fault: GwFault) -> SendResult {
    w.cash_gw.fail_next_trigger(fault);
    svc.send(&req("ex", Some("C1"))).await.unwrap()
}

/// How many attempts the ledger holds for points-exchange business id `bid`.
async fn attempts(svc: &SendService, bid: &str) -> usize {
    let bid = BusinessId::parse(bid).unwrap();
    svc.by_business_id(Reason::PointsExchange, &bid)
        .await
        .unwrap()
        .len()
}

/// `r` answers the replay of the one payment of business id `ex` (its first number), and the stub
/// Alipay paid once.
fn assert_paid_once_by_replay(w: &World, r: &SendResult) {
    assert!(matches!(
        r.entry.state,
        PayoutState::Sent {
            repeat_trigger_flag: true,
            ..
        }
    ));
    assert_eq!(r.entry.out_biz_no.as_str(), "pe_ex");
    assert_eq!(w.cash_gw.payouts().len(), 1);
}

#[test]
fn state_fields_are_camel_case_as_documented() {
    let sent = paid_envelope(true);
    assert_eq!(
        serde_json::to_value(&sent).unwrap(),
        serde_json::json!({"state": "SENT", "amountFen": 200, "bizNo": "B1", "repeatTriggerFlag": true})
    );
    let unknown = PayoutState::Unknown {
        next_retry_at: Timestamp(5),
        last_error: "timeout".into(),
        last_refusal: None,
    };
    let v = serde_json::to_value(&unknown).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"state": "UNKNOWN", "nextRetryAt": 5, "lastError": "timeout"})
    );
    assert_eq!(serde_json::from_value::<PayoutState>(v).unwrap(), unknown);
    let failed = serde_json::json!({"state": "FAILED", "failureReason": "红包已领完", "code": null, "subCode": "X"});
    assert!(matches!(
        serde_json::from_value::<PayoutState>(failed).unwrap(),
        PayoutState::Failed { refusal: Refusal { sub_code: Some(s), .. } } if s == "X"
    ));
    let refused_after_unknown = PayoutState::NeedsAttention {
        next_retry_at: Timestamp(7),
        last_error: "e".into(),
        last_refusal: Some(Refusal {
            failure_reason: "活动已暂停".into(),
            code: Some("40004".into()),
            sub_code: Some("CAMPAIGN_PAUSED".into()),
        }),
    };
    let v = serde_json::to_value(&refused_after_unknown).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"state": "NEEDS_ATTENTION", "nextRetryAt": 7, "lastError": "e",
            "lastRefusal": {"failureReason": "活动已暂停", "code": "40004", "subCode": "CAMPAIGN_PAUSED"}})
    );
    assert_eq!(
        serde_json::from_value::<PayoutState>(v).unwrap(),
        refused_after_unknown
    );
}

#[test]
fn every_entry_state_round_trips_through_json() {
    let bid = BusinessId::parse("ex1").unwrap();
    let entry = |state| PayoutEntry {
        out_biz_no: derive_out_biz_no(Reason::Referral, &bid, 1),
        reason: Reason::Referral,
        business_id: bid.clone(),
        attempt_no: 1,
        rail: PayoutRail::Campaign {
            crowd_no: CrowdNo::parse("C1").unwrap(),
        },
        recipient: Recipient::UserId(UserId::parse(USER).unwrap()),
        state,
        fence: "f".into(),
        lease_until: Timestamp(1),
        attempts: 1,
        throttled_calls: 0,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    for state in [
        PayoutState::Pending,
        PayoutState::Sent {
            amount_fen: None,
            biz_no: None,
            repeat_trigger_flag: false,
            order_id: None,
            pay_fund_order_id: None,
        },
        PayoutState::Failed {
            refusal: Refusal {
                failure_reason: "红包已领完".into(),
                code: Some("10000".into()),
                sub_code: None,
            },
        },
        PayoutState::Unknown {
            next_retry_at: Timestamp(9),
            last_error: "timeout".into(),
            last_refusal: None,
        },
        PayoutState::NeedsAttention {
            next_retry_at: Timestamp(9),
            last_refusal: None,
            last_error: "budget".into(),
        },
    ] {
        let e = entry(state);
        let text = serde_json::to_string(&e).unwrap();
        let back: PayoutEntry = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{text} does not read back: {err}"));
        assert_eq!(back, e);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["reason"], "referral", "{text}");
        // The public view is the entry without fence and lease, its outcome beside it.
        let mut expected = v.clone();
        let o = expected.as_object_mut().unwrap();
        o.remove("fence");
        o.remove("leaseUntil");
        o.insert("state".into(), serde_json::json!(e.state.name()));
        o.insert("outcome".into(), serde_json::to_value(&e.state).unwrap());
        let view = serde_json::to_value(e.view()).unwrap();
        assert_eq!(view, expected);
    }
}

#[test]
fn out_biz_no_derivation() {
    let b = |s: &str| BusinessId::parse(s).unwrap();
    assert_eq!(
        derive_out_biz_no(Reason::PointsExchange, &b("ex123"), 1).as_str(),
        "pe_ex123"
    );
    assert_eq!(
        derive_out_biz_no(Reason::Referral, &b("ex123"), 2).as_str(),
        "rf2_ex123"
    );
    assert_ne!(
        derive_out_biz_no(Reason::PointsExchange, &b("a_2"), 1),
        derive_out_biz_no(Reason::PointsExchange, &b("a"), 2)
    );
    let hashed = derive_out_biz_no(Reason::PointsExchange, &b("ex-1.2"), 1);
    assert!(hashed.as_str().starts_with("peh_"), "{hashed}");
    assert_ne!(
        hashed,
        derive_out_biz_no(Reason::PointsExchange, &b("ex_1_2"), 1)
    );
    let long = "x".repeat(100);
    assert!(
        derive_out_biz_no(Reason::PointsExchange, &b(&long), 12)
            .as_str()
            .len()
            <= 64
    );
}

proptest! {
    #[test]
    fn out_biz_no_always_valid_and_deterministic(id in "[A-Za-z0-9_.:-]{1,128}", n in 1u32..1000) {
        let b = BusinessId::parse(&id).unwrap();
        let a = derive_out_biz_no(Reason::Referral, &b, n);
        prop_assert!(OutBizNo::parse(a.as_str()).is_ok());
        prop_assert_eq!(a, derive_out_biz_no(Reason::Referral, &b, n));
    }

    #[test]
    fn send_input_never_panics(r in ".{0,20}", b in ".{0,40}", u in ".{0,20}") {
        let _ = SendInput { reason: Some(r), business_id: Some(b), user_id: Some(u), ..Default::default() }.validate();
    }
}

#[tokio::test]
async fn happy_path_and_repeat() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 5)]).await;
    let r = svc.send(&req("ex1", Some("C1"))).await.unwrap();
    assert!(!r.replayed);
    assert_eq!(r.entry.out_biz_no.as_str(), "pe_ex1");
    assert!(
        matches!(r.entry.state, PayoutState::Sent { amount_fen: Some(a), repeat_trigger_flag: false, .. } if a.fen() == 200)
    );
    let again = svc.send(&req("ex1", Some("C1"))).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.entry, r.entry);
    assert_eq!(w.cash_gw.trigger_calls(), 1);
    assert_eq!(attempts(&svc, "ex1").await, 1);
    let who = Recipient::UserId(UserId::parse(USER).unwrap());
    assert_eq!(svc.by_recipient(&who, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn campaign_state_errors_are_stable() {
    let (w, svc) = World::sending(&[("C1", 200, 1, 1)]).await;
    assert_eq!(
        svc.send(&req("a", Some("NOPE"))).await.unwrap_err().code(),
        "campaign_not_found"
    );
    assert_eq!(
        svc.send(&req("a", None)).await.unwrap_err().code(),
        "no_campaign_for_reason"
    );
    // Unpaid: created through the service, stays CREATED at Alipay.
    let camp = w
        .campaign_service()
        .create(
            &crate::campaign::NewCampaignInput {
                coupon_name: Some("x".into()),
                prize_type: Some("fixed".into()),
                total_money: Some("2.00".into()),
                total_num: Some(1),
                prize_msg: Some("m".into()),
                start_time: None,
                end_time: Some("2024-03-01 00:00:00".into()),
                merchant_link: Some("https://e.example".into()),
                send_frequency: None,
            }
            .validate(w.clock.now())
            .unwrap(),
        )
        .await
        .unwrap();
    let e = svc
        .send(&req("a", Some(camp.crowd_no.as_str())))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("campaign_not_paid", ErrorKind::Unprocessable)
    );
    // Paid at Alipay → the send refreshes and goes through.
    w.cash_gw.set_status(camp.crowd_no.as_str(), "READY");
    assert!(matches!(
        svc.send(&req("a", Some(camp.crowd_no.as_str())))
            .await
            .unwrap()
            .entry
            .state,
        PayoutState::Sent { .. }
    ));
    // Budget exhausted → FAILED with the reason verbatim.
    assert!(matches!(
        svc.send(&req("b", Some("C1"))).await.unwrap().entry.state,
        PayoutState::Sent { .. }
    ));
    let r = svc.send(&req("c", Some("C1"))).await.unwrap();
    assert!(
        matches!(&r.entry.state, PayoutState::Failed { refusal } if refusal.failure_reason == "红包已领完")
    );
    // Paused / closed.
    let cs = w.campaign_service();
    for (status, code) in [
        (CampaignStatus::Pause, "campaign_paused"),
        (CampaignStatus::Closed, "campaign_closed"),
    ] {
        let c1 = CrowdNo::parse("C1").unwrap();
        cs.set_status(&c1, status).await.unwrap();
        assert_eq!(
            svc.send(&req("d", Some("C1"))).await.unwrap_err().code(),
            code
        );
    }
    // No ledger item was written for refused-before-send requests.
    assert_eq!(attempts(&svc, "d").await, 0);
}

#[tokio::test]
async fn only_definite_failure_frees_the_business_id() {
    let (w, svc) = World::sending(&[("C1", 200, 1, 1), ("C2", 200, 10, 1)]).await;
    let r = send_ex(&w, &svc, GwFault::Refuse).await;
    assert!(
        matches!(&r.entry.state, PayoutState::Failed { refusal: Refusal { code: Some(c), sub_code: Some(s), .. } } if c == "40004" && s == "INJECTED_REFUSAL")
    );
    // Same campaign, no flag → the recorded failure.
    let again = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert!(again.replayed);
    // Another campaign → attempt 2 with a new number.
    let second = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert_eq!(second.entry.out_biz_no.as_str(), "pe2_ex");
    assert!(matches!(second.entry.state, PayoutState::Sent { .. }));
    // Now SENT: another campaign pays nothing and is told so; the exact repeat is answered.
    w.seed_campaign("C3", 200, 10, 1).await;
    let third = svc.send(&req("ex", Some("C3"))).await.unwrap_err();
    assert_eq!(third.code(), "conflicting_repeat");
    let exact = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert!(exact.replayed);
    assert_eq!(exact.entry.out_biz_no.as_str(), "pe2_ex");
    assert_eq!(w.cash_gw.payouts().len(), 1);
    assert_eq!(attempts(&svc, "ex").await, 2);
}

#[tokio::test]
async fn unknown_stays_bound_to_its_number_and_campaign() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 1), ("C2", 200, 10, 1)]).await;
    let r = send_ex(&w, &svc, GwFault::UnknownAfter).await;
    assert!(matches!(r.entry.state, PayoutState::Unknown { .. }));
    // Another campaign while unknown: the same entry, no call.
    let calls = w.cash_gw.trigger_calls();
    let r2 = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert_eq!(r2.entry.out_biz_no, r.entry.out_biz_no);
    assert_eq!(r2.entry.rail.crowd_no().unwrap().as_str(), "C1");
    assert_eq!(w.cash_gw.trigger_calls(), calls);
    // After the backoff a repeat re-triggers with the same number; Alipay replays.
    w.clock.advance(Duration::from_secs(31));
    let r3 = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert_paid_once_by_replay(&w, &r3);
}

#[tokio::test]
async fn other_recipient_for_same_business_id_is_refused() {
    let (_, svc) = World::sending(&[("C1", 200, 10, 1)]).await;
    svc.send(&req("ex", Some("C1"))).await.unwrap();
    let mut other = req("ex", Some("C1"));
    other.recipient = Recipient::UserId(UserId::parse("2088000000000002").unwrap());
    assert_eq!(
        svc.send(&other).await.unwrap_err().code(),
        "business_id_conflict"
    );
}

/// Crash (or lose the answer) at every step; retries and the reconciler end with exactly one
/// payout at Alipay and a SENT entry under the first out_biz_no.
#[tokio::test]
async fn crash_at_every_step_pays_once() {
    let steps = [
        "get_pointer",
        "start_attempt",
        "start_attempt:after",
        "trigger:UnknownBefore",
        "trigger:UnknownAfter",
        "cas_payout",
        "cas_payout:after",
        "trigger:RefuseBeforeReplay",
    ];
    for step in steps {
        for recover_with_reconciler in [false, true] {
            let (w, svc) = World::sending(&[("C1", 200, 10, 1)]).await;
            let svc = Arc::new(svc);
            match step {
                "trigger:UnknownBefore" => w.cash_gw.fail_next_trigger(GwFault::UnknownBefore),
                "trigger:UnknownAfter" => w.cash_gw.fail_next_trigger(GwFault::UnknownAfter),
                "trigger:RefuseBeforeReplay" => {
                    w.cash_gw.fail_next_trigger(GwFault::UnknownAfter);
                    w.cash_gw.fail_next_trigger(GwFault::RefuseBeforeReplay);
                }
                s if s.ends_with(":after") => w.store.fail_next_after(s.trim_end_matches(":after")),
                s => w.store.fail_next(s),
            }
            let _ = svc.send(&req("ex", Some("C1"))).await;
            let rec = Reconciler {
                service: svc.clone(),
                batch: 100,
            };
            let mut final_entry = None;
            for _ in 0..20 {
                w.clock.advance(Duration::from_secs(61));
                if recover_with_reconciler {
                    rec.run_once().await.unwrap();
                }
                let r = svc.send(&req("ex", Some("C1"))).await.unwrap();
                if matches!(r.entry.state, PayoutState::Sent { .. }) {
                    final_entry = Some(r.entry);
                    break;
                }
            }
            let e = final_entry.unwrap_or_else(|| panic!("{step}: not resolved"));
            assert_eq!(e.out_biz_no.as_str(), "pe_ex", "{step}");
            let paid = w.cash_gw.payouts();
            assert_eq!(paid.len(), 1, "{step}");
            assert_eq!(paid[0].1, "pe_ex", "{step}");
        }
    }
}

#[tokio::test]
async fn past_the_budget_an_entry_is_flagged_and_still_probed_with_its_number() {
    let (w, mut svc) = World::sending(&[("C1", 200, 10, 1)]).await;
    svc.config.max_attempts = 3;
    let svc = Arc::new(svc);
    for _ in 0..6 {
        w.cash_gw.fail_next_trigger(GwFault::UnknownBefore);
    }
    let r = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert!(matches!(r.entry.state, PayoutState::Unknown { .. }));
    let rec = Reconciler {
        service: svc.clone(),
        batch: 10,
    };
    let mut flagged = 0;
    let mut open_attention = 0;
    for _ in 0..5 {
        w.clock.advance(Duration::from_secs(3600));
        let report = rec.run_once().await.unwrap();
        flagged += report.needs_attention;
        open_attention = open_attention.max(report.open.needs_attention);
    }
    assert!(flagged >= 1, "the entry was flagged");
    assert_eq!(open_attention, 1, "the metric counted it");
    // The outage ends: the next probe at the cap pays, with the same number.
    for _ in 0..3 {
        w.clock.advance(Duration::from_secs(3600));
        rec.run_once().await.unwrap();
    }
    let all = w.store.all_payouts();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].out_biz_no.as_str(), "pe_ex");
    assert_eq!(all[0].state.name(), "SENT");
    assert_eq!(w.cash_gw.trigger_calls(), 7);
    assert_eq!(w.cash_gw.payouts().len(), 1);
    assert_eq!(
        rec.run_once().await.unwrap().open,
        UnresolvedCounts::default()
    );
}

#[tokio::test]
async fn a_run_out_of_time_defers_the_rest_and_still_counts_every_open_entry() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 3)]).await;
    let svc = Arc::new(svc);
    for id in ["d1", "d2", "d3"] {
        w.cash_gw.fail_next_trigger(GwFault::UnknownBefore);
        let r = svc.send(&req(id, Some("C1"))).await.unwrap();
        assert!(matches!(r.entry.state, PayoutState::Unknown { .. }));
    }
    let rec = Reconciler {
        service: svc.clone(),
        batch: 10,
    };
    w.clock.advance(Duration::from_secs(3600));
    let started = std::sync::atomic::AtomicUsize::new(0);
    let report = rec
        .run_while(|| started.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 1)
        .await
        .unwrap();
    assert_eq!((report.sent, report.deferred), (1, 2));
    assert_eq!(
        report.open.unresolved, 2,
        "the deferred entries are still counted"
    );
    let rest = rec.run_once().await.unwrap();
    assert_eq!((rest.sent, rest.deferred), (2, 0), "{rest:?}");
    assert_eq!(w.cash_gw.payouts().len(), 3);
}

/// The review's double payment: the first call is paid but its answer is lost; the probe meets a
/// platform that checks the paused campaign before replaying, and is refused. That refusal must not
/// free the business id: neither `retryFailed` nor another campaign starts attempt 2, and the next
/// probe learns the payment.
#[tokio::test]
async fn a_refusal_after_an_unknown_outcome_does_not_free_the_business_id() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 1), ("C2", 200, 10, 1)]).await;
    let first = send_ex(&w, &svc, GwFault::UnknownAfter).await;
    assert_eq!(first.entry.state.name(), "UNKNOWN");
    w.clock.advance(Duration::from_secs(31));
    let probed = send_ex(&w, &svc, GwFault::RefuseBeforeReplay).await;
    match &probed.entry.state {
        PayoutState::Unknown {
            last_refusal: Some(r),
            ..
        } => assert_eq!(r.sub_code.as_deref(), Some("CAMPAIGN_PAUSED")),
        other => panic!("expected UNKNOWN with the refusal, got {other:?}"),
    }
    let calls = w.cash_gw.trigger_calls();
    let mut retry = req("ex", Some("C1"));
    retry.retry_failed = true;
    for r in [retry, req("ex", Some("C2"))] {
        let again = svc.send(&r).await.unwrap();
        assert_eq!(again.entry.out_biz_no.as_str(), "pe_ex");
        assert!(again.replayed);
    }
    assert_eq!(
        w.cash_gw.trigger_calls(),
        calls,
        "no call before the backoff"
    );
    w.clock.advance(Duration::from_secs(120));
    let settled = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert_paid_once_by_replay(&w, &settled);
    assert_eq!(
        attempts(&svc, "ex").await,
        1,
        "no second attempt was ever started"
    );
}

/// Proof of payment wins whatever the entry holds when it arrives.
#[tokio::test]
async fn a_verified_sent_answer_is_recorded_over_any_state() {
    let refusal = Refusal {
        failure_reason: "活动已暂停".into(),
        code: Some("40004".into()),
        sub_code: Some("CAMPAIGN_PAUSED".into()),
    };
    let others = [
        PayoutState::Pending,
        PayoutState::Unknown {
            next_retry_at: Timestamp(0),
            last_error: "x".into(),
            last_refusal: Some(refusal.clone()),
        },
        PayoutState::Failed {
            refusal: refusal.clone(),
        },
        PayoutState::NeedsAttention {
            next_retry_at: Timestamp(0),
            last_error: "x".into(),
            last_refusal: None,
        },
    ];
    for other in others {
        let (_, svc) = World::sending(&[("C1", 200, 10, 1)]).await;
        let held = svc.new_entry(
            &req("ex", Some("C1")),
            PayoutRail::Campaign {
                crowd_no: CrowdNo::parse("C1").unwrap(),
            },
            1,
        );
        assert!(svc.payouts.start_attempt(&held, None).await.unwrap());
        // Another holder took the lease and wrote `other` under its own fence.
        let moved = PayoutEntry {
            state: other.clone(),
            fence: "someone-else".into(),
            attempts: 2,
            ..held.clone()
        };
        assert_eq!(
            svc.payouts.cas_payout(&moved, &held.fence).await.unwrap(),
            CasOutcome::Written
        );
        let sent = paid_envelope(false);
        let outcome = Outcome {
            state: sent.clone(),
            at: svc.clock.now(),
        };
        let answered = svc.record(held.clone(), outcome).await.unwrap();
        assert_eq!(answered.state, sent, "over {}", other.name());
        let stored = svc.get(&held.out_biz_no).await.unwrap();
        assert_eq!(stored.state, sent, "over {}", other.name());
        assert_eq!(stored.due_at(), None);
    }
}

#[tokio::test]
async fn a_corrected_recipient_may_follow_a_definite_failure() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 1)]).await;
    let failed = send_ex(&w, &svc, GwFault::Refuse).await;
    assert_eq!(failed.entry.state.name(), "FAILED");
    let mut corrected = req("ex", Some("C1"));
    corrected.recipient = Recipient::UserId(UserId::parse("2088000000000002").unwrap());
    let second = svc.send(&corrected).await.unwrap();
    assert_eq!(second.entry.out_biz_no.as_str(), "pe2_ex");
    assert_eq!(second.entry.recipient, corrected.recipient);
    assert_eq!(second.entry.state.name(), "SENT");
    // The failed attempt stays as it was; the original recipient is now the conflict.
    assert_eq!(
        svc.get(&failed.entry.out_biz_no).await.unwrap(),
        failed.entry
    );
    assert_eq!(
        svc.send(&req("ex", Some("C1"))).await.unwrap_err().code(),
        "business_id_conflict"
    );
}

#[tokio::test]
async fn the_operator_retry_probes_unresolved_entries_only() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 10)]).await;
    let sent = svc.send(&req("a", Some("C1"))).await.unwrap().entry;
    assert_eq!(
        svc.probe_now(&sent.out_biz_no).await.unwrap_err().code(),
        "payout_final"
    );
    assert_eq!(
        svc.probe_now(&OutBizNo::parse("pe_nothing").unwrap())
            .await
            .unwrap_err()
            .code(),
        "payout_not_found"
    );
    w.cash_gw.fail_next_trigger(GwFault::UnknownAfter);
    let unknown = svc.send(&req("b", Some("C1"))).await.unwrap().entry;
    assert_eq!(unknown.state.name(), "UNKNOWN");
    // Not due yet, but the operator asks: probed at once with the same number.
    let probed = svc.probe_now(&unknown.out_biz_no).await.unwrap();
    assert_eq!(probed.entry.out_biz_no, unknown.out_biz_no);
    assert_eq!(probed.entry.state.name(), "SENT");
    // A call in flight is not disturbed.
    let held = svc.new_entry(
        &req("c", Some("C1")),
        PayoutRail::Campaign {
            crowd_no: CrowdNo::parse("C1").unwrap(),
        },
        1,
    );
    assert!(svc.payouts.start_attempt(&held, None).await.unwrap());
    assert_eq!(
        svc.probe_now(&held.out_biz_no).await.unwrap_err().code(),
        "payout_busy"
    );
    assert_eq!(w.cash_gw.payouts().len(), 2);
}

#[tokio::test]
async fn the_listing_filters_and_pages_newest_first() {
    let (w, svc) = World::sending(&[("C1", 200, 100, 10), ("C2", 200, 100, 10)]).await;
    for i in 0..7 {
        let crowd = if i % 2 == 0 { "C1" } else { "C2" };
        if i == 3 {
            w.cash_gw.fail_next_trigger(GwFault::UnknownBefore);
        }
        svc.send(&req(&format!("l{i}"), Some(crowd))).await.unwrap();
        w.clock.advance(Duration::from_secs(1));
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = listed(&svc, PayoutFilter::default(), cursor.clone(), 3).await;
        seen.extend(page.entries.iter().map(|e| e.business_id.to_string()));
        match page.next {
            Some(c) => cursor = PayoutCursor::parse(&c.encode()),
            None => break,
        }
    }
    assert_eq!(seen, ["l6", "l5", "l4", "l3", "l2", "l1", "l0"]);
    let c1 = PayoutFilter {
        crowd_no: Some(CrowdNo::parse("C1").unwrap()),
        ..Default::default()
    };
    assert_eq!(listed(&svc, c1, None, 100).await.entries.len(), 4);
    let unknown = PayoutFilter {
        state: Some(PayoutStateName::Unknown),
        ..Default::default()
    };
    let page = listed(&svc, unknown, None, 100).await;
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].business_id.as_str(), "l3");
    let today = PayoutFilter {
        created: Some(beijing_day(&w.clock.now().beijing_date()).unwrap()),
        ..Default::default()
    };
    assert_eq!(listed(&svc, today, None, 100).await.entries.len(), 7);
    let other_day = PayoutFilter {
        created: Some(beijing_day("2001-01-01").unwrap()),
        ..Default::default()
    };
    assert!(listed(&svc, other_day, None, 100).await.entries.is_empty());
}

/// One page of the operator's listing.
async fn listed(
    svc: &SendService,
    filter: PayoutFilter,
    cursor: Option<PayoutCursor>,
    limit: usize,
) -> PayoutPage {
    let request = ListRequest {
        filter,
        cursor,
        limit,
    };
    svc.list(&request).await.unwrap()
}

#[test]
fn a_lease_that_lets_our_own_calls_overlap_is_refused() {
    let prod = SendConfig::default();
    assert!(prod.check(Duration::from_secs(10)).is_ok());
    let short = SendConfig {
        lease: Duration::from_secs(2),
        ..prod
    };
    let err = short.check(Duration::from_secs(6)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("PAYOUT_LEASE_MS") && text.contains("ALIPAY_TIMEOUT_MS"),
        "{text}"
    );
    // Equal to timeout + margin is still too short: the margin is the minimum gap.
    let edge = SendConfig {
        lease: Duration::from_secs(15),
        ..prod
    };
    assert!(edge.check(Duration::from_secs(10)).is_err());
}

#[test]
fn backoff_is_capped_exponential() {
    let c = SendConfig::default();
    assert_eq!(c.backoff(1), Duration::from_secs(30));
    assert_eq!(c.backoff(2), Duration::from_secs(60));
    assert_eq!(c.backoff(4), Duration::from_secs(240));
    assert_eq!(c.backoff(40), Duration::from_secs(3600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_sends_pay_once() {
    let w = World::new_real_time();
    w.seed_campaign("C1", 200, 1000, 100).await;
    let svc = Arc::new(w.send_service());
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            svc.send(&req("same", Some("C1"))).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.entry.out_biz_no.as_str(), "pe_same");
    }
    assert_eq!(w.cash_gw.payouts().len(), 1);
}

/// A randomized schedule of faulty sends, repeats and reconciler runs: every business id pays at
/// most once, and our ledger agrees with the stub Alipay's.
#[tokio::test]
async fn randomized_fault_schedule() {
    let (w, mut svc) = World::sending(&[("C1", 100, 100_000, 100_000)]).await;
    svc.config.max_attempts = 30;
    let svc = Arc::new(svc);
    let rec = Reconciler {
        service: svc.clone(),
        batch: 1000,
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let store_ops = ["get_pointer", "start_attempt", "get_payout", "cas_payout"];
    for i in 0..1000u64 {
        let bid = format!("b{}", next() % 300);
        match next() % 10 {
            0 => w.cash_gw.fail_next_trigger(GwFault::UnknownBefore),
            1 => w.cash_gw.fail_next_trigger(GwFault::UnknownAfter),
            2 => w.cash_gw.fail_next_trigger(GwFault::Refuse),
            9 => w.cash_gw.fail_next_trigger(GwFault::RefuseBeforeReplay),
            3 => w.store.fail_next(store_ops[(next() % 4) as usize]),
            4 => w.store.fail_next_after(store_ops[(next() % 4) as usize]),
            _ => {}
        }
        let _ = svc.send(&req(&bid, Some("C1"))).await;
        w.clock.advance(Duration::from_secs(next() % 40));
        if i % 50 == 0 {
            let _ = rec.run_once().await;
        }
    }
    // Drain: no more faults; run the reconciler until nothing is due.
    w.cash_gw.clear_faults();
    w.store.clear_faults();
    for _ in 0..50 {
        w.clock.advance(Duration::from_secs(3600));
        let _ = rec.run_once().await;
    }
    let paid = w.cash_gw.payouts();
    let mut per_bid: BTreeMap<String, usize> = BTreeMap::new();
    for (_, out, _, _) in &paid {
        let e = svc.get(&OutBizNo::parse(out).unwrap()).await.unwrap();
        *per_bid.entry(e.business_id.to_string()).or_default() += 1;
        assert!(
            matches!(e.state, PayoutState::Sent { .. }),
            "{out} paid at Alipay but {:?} here",
            e.state
        );
    }
    assert!(
        per_bid.values().all(|&n| n == 1),
        "a business id paid twice"
    );
    for e in w.store.all_payouts() {
        let at_alipay = paid.iter().any(|p| p.1 == e.out_biz_no.as_str());
        match e.state {
            PayoutState::Sent { .. } => assert!(at_alipay),
            PayoutState::Failed { .. } => assert!(!at_alipay),
            ref s => panic!("{} left {}", e.out_biz_no, s.name()),
        }
    }
    assert!(!paid.is_empty());
}

#[test]
fn refusals_map_to_stable_codes() {
    let r = |code: Option<&str>, sub: Option<&str>, text: &str| Refusal {
        failure_reason: text.into(),
        code: code.map(Into::into),
        sub_code: sub.map(Into::into),
    };
    let cases = [
        (
            r(Some("40004"), Some("CAMPAIGN_PAUSED"), "x"),
            "campaign_paused",
        ),
        (
            r(Some("40004"), Some("CAMPAIGN_CLOSED"), "x"),
            "campaign_closed",
        ),
        (
            r(Some("40004"), Some("CAMPAIGN_NOT_EXIST"), "x"),
            "campaign_not_ready",
        ),
        (
            r(Some("40004"), Some("CAMPAIGN_NOT_STARTED"), "x"),
            "campaign_not_started",
        ),
        (r(None, None, "现金活动不存在"), "campaign_not_ready"),
        (r(None, None, "红包已领完"), "budget_exhausted"),
        (r(None, None, "商户余额不足"), "budget_exhausted"),
        (r(None, None, "超过领取次数限制"), "user_limit_reached"),
        (r(None, None, "活动已结束"), "campaign_closed"),
        (r(Some("NOT_SENT"), None, "x"), "envelope_not_sent"),
        (
            r(Some("40004"), Some("SOMETHING_NEW"), "新的原因"),
            "envelope_refused",
        ),
    ];
    for (refusal, code) in cases {
        assert_eq!(refusal.stable_code(), code, "{refusal:?}");
    }
}

#[test]
fn campaign_states_follow_alipay_spelling_and_keep_the_unknown() {
    use crate::campaign::CampaignStatus;
    assert_eq!(CampaignStatus::parse("SETTLED"), CampaignStatus::Settled);
    assert_eq!(CampaignStatus::parse("SETTLE"), CampaignStatus::Settled);
    assert_eq!(CampaignStatus::Settled.as_str(), "SETTLED");
    let novel = CampaignStatus::parse("FROZEN");
    assert_eq!(novel, CampaignStatus::Unrecognised("FROZEN".into()));
    assert_eq!(
        serde_json::to_value(&novel).unwrap(),
        serde_json::json!("FROZEN")
    );
    assert_eq!(
        serde_json::from_value::<CampaignStatus>(serde_json::json!("FROZEN")).unwrap(),
        novel
    );
}

#[tokio::test]
async fn a_settled_or_unrecognised_campaign_is_never_sent_to() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 1)]).await;
    for (status, code) in [
        ("SETTLED", "campaign_closed"),
        ("FROZEN", "campaign_state_unrecognised"),
    ] {
        let mut c = w
            .store
            .get_campaign(&CrowdNo::parse("C1").unwrap())
            .await
            .unwrap()
            .unwrap();
        c.status = crate::campaign::CampaignStatus::parse(status);
        w.store.put_campaign(&c).await.unwrap();
        assert_eq!(
            svc.send(&req(&format!("s_{status}"), Some("C1")))
                .await
                .unwrap_err()
                .code(),
            code
        );
    }
    assert_eq!(w.cash_gw.trigger_calls(), 0);
}
