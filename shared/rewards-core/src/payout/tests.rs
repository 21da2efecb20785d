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
    }
    .validate()
    .unwrap()
}

#[test]
fn state_fields_are_camel_case_as_documented() {
    let sent = PayoutState::Sent {
        amount_fen: Some(AmountFen::from_fen(200).unwrap()),
        biz_no: Some("B1".into()),
        repeat_trigger_flag: true,
    };
    assert_eq!(
        serde_json::to_value(&sent).unwrap(),
        serde_json::json!({"state": "SENT", "amountFen": 200, "bizNo": "B1", "repeatTriggerFlag": true})
    );
    let unknown = PayoutState::Unknown {
        next_retry_at: Timestamp(5),
        last_error: "timeout".into(),
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
        PayoutState::Failed { sub_code: Some(s), .. } if s == "X"
    ));
}

#[test]
fn every_entry_state_round_trips_through_json() {
    let bid = BusinessId::parse("ex1").unwrap();
    let entry = |state| PayoutEntry {
        out_biz_no: derive_out_biz_no(Reason::Referral, &bid, 1),
        reason: Reason::Referral,
        business_id: bid.clone(),
        attempt_no: 1,
        crowd_no: CrowdNo::parse("C1").unwrap(),
        recipient: Recipient::UserId(UserId::parse(USER).unwrap()),
        state,
        fence: "f".into(),
        lease_until: Timestamp(1),
        attempts: 1,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    for state in [
        PayoutState::Pending,
        PayoutState::Sent {
            amount_fen: None,
            biz_no: None,
            repeat_trigger_flag: false,
        },
        PayoutState::Failed {
            reason: "红包已领完".into(),
            code: Some("10000".into()),
            sub_code: None,
        },
        PayoutState::Unknown {
            next_retry_at: Timestamp(9),
            last_error: "timeout".into(),
        },
        PayoutState::NeedsAttention {
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
    let w = World::new();
    w.seed_campaign("C1", 200, 10, 5).await;
    let svc = w.send_service();
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
    assert_eq!(
        svc.by_business_id(Reason::PointsExchange, &BusinessId::parse("ex1").unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    let who = Recipient::UserId(UserId::parse(USER).unwrap());
    assert_eq!(svc.by_recipient(&who, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn campaign_state_errors_are_stable() {
    let w = World::new();
    w.seed_campaign("C1", 200, 1, 1).await;
    let svc = w.send_service();
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
    assert!(matches!(&r.entry.state, PayoutState::Failed { reason, .. } if reason == "红包已领完"));
    // Paused / closed.
    let cs = w.campaign_service();
    cs.set_status(&CrowdNo::parse("C1").unwrap(), CampaignStatus::Pause)
        .await
        .unwrap();
    assert_eq!(
        svc.send(&req("d", Some("C1"))).await.unwrap_err().code(),
        "campaign_paused"
    );
    cs.set_status(&CrowdNo::parse("C1").unwrap(), CampaignStatus::Closed)
        .await
        .unwrap();
    assert_eq!(
        svc.send(&req("d", Some("C1"))).await.unwrap_err().code(),
        "campaign_closed"
    );
    // No ledger item was written for refused-before-send requests.
    assert!(svc
        .by_business_id(Reason::PointsExchange, &BusinessId::parse("d").unwrap())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn only_definite_failure_frees_the_business_id() {
    let w = World::new();
    w.seed_campaign("C1", 200, 1, 1).await;
    w.seed_campaign("C2", 200, 10, 1).await;
    let svc = w.send_service();
    w.cash_gw.fail_next_trigger(GwFault::Refuse);
    let r = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert!(
        matches!(&r.entry.state, PayoutState::Failed { code: Some(c), sub_code: Some(s), .. } if c == "40004" && s == "INJECTED_REFUSAL")
    );
    // Same campaign, no flag → the recorded failure.
    let again = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert!(again.replayed);
    // Another campaign → attempt 2 with a new number.
    let second = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert_eq!(second.entry.out_biz_no.as_str(), "pe2_ex");
    assert!(matches!(second.entry.state, PayoutState::Sent { .. }));
    // Now SENT: even another campaign gets the recorded entry.
    w.seed_campaign("C3", 200, 10, 1).await;
    let third = svc.send(&req("ex", Some("C3"))).await.unwrap();
    assert!(third.replayed);
    assert_eq!(third.entry.out_biz_no.as_str(), "pe2_ex");
    assert_eq!(w.cash_gw.payouts().len(), 1);
    assert_eq!(
        svc.by_business_id(Reason::PointsExchange, &BusinessId::parse("ex").unwrap())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn unknown_stays_bound_to_its_number_and_campaign() {
    let w = World::new();
    w.seed_campaign("C1", 200, 10, 1).await;
    w.seed_campaign("C2", 200, 10, 1).await;
    let svc = w.send_service();
    w.cash_gw.fail_next_trigger(GwFault::UnknownAfter);
    let r = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert!(matches!(r.entry.state, PayoutState::Unknown { .. }));
    // Another campaign while unknown: the same entry, no call.
    let calls = w.cash_gw.trigger_calls();
    let r2 = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert_eq!(r2.entry.out_biz_no, r.entry.out_biz_no);
    assert_eq!(r2.entry.crowd_no.as_str(), "C1");
    assert_eq!(w.cash_gw.trigger_calls(), calls);
    // After the backoff a repeat re-triggers with the same number; Alipay replays.
    w.clock.advance(Duration::from_secs(31));
    let r3 = svc.send(&req("ex", Some("C2"))).await.unwrap();
    assert!(matches!(
        r3.entry.state,
        PayoutState::Sent {
            repeat_trigger_flag: true,
            ..
        }
    ));
    assert_eq!(r3.entry.out_biz_no.as_str(), "pe_ex");
    assert_eq!(w.cash_gw.payouts().len(), 1);
}

#[tokio::test]
async fn other_recipient_for_same_business_id_is_refused() {
    let w = World::new();
    w.seed_campaign("C1", 200, 10, 1).await;
    let svc = w.send_service();
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
    ];
    for step in steps {
        for recover_with_reconciler in [false, true] {
            let w = World::new();
            w.seed_campaign("C1", 200, 10, 1).await;
            let svc = Arc::new(w.send_service());
            match step {
                "trigger:UnknownBefore" => w.cash_gw.fail_next_trigger(GwFault::UnknownBefore),
                "trigger:UnknownAfter" => w.cash_gw.fail_next_trigger(GwFault::UnknownAfter),
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
async fn reconciler_flags_after_budget_and_never_mints_a_number() {
    let w = World::new();
    w.seed_campaign("C1", 200, 10, 1).await;
    let mut svc = w.send_service();
    svc.config.max_attempts = 3;
    let svc = Arc::new(svc);
    for _ in 0..10 {
        w.cash_gw.fail_next_trigger(GwFault::UnknownBefore);
    }
    let r = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert!(matches!(r.entry.state, PayoutState::Unknown { .. }));
    let rec = Reconciler {
        service: svc.clone(),
        batch: 10,
    };
    let mut flagged = 0;
    for _ in 0..10 {
        w.clock.advance(Duration::from_secs(3600));
        flagged += rec.run_once().await.unwrap().needs_attention;
    }
    assert_eq!(flagged, 1);
    let all = w.store.all_payouts();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state.name(), "NEEDS_ATTENTION");
    assert_eq!(all[0].attempts, 3);
    assert_eq!(w.cash_gw.trigger_calls(), 3);
    // A repeat answers the flagged entry, no call.
    let again = svc.send(&req("ex", Some("C1"))).await.unwrap();
    assert_eq!(again.entry.state.name(), "NEEDS_ATTENTION");
    assert_eq!(w.cash_gw.trigger_calls(), 3);
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
    let w = World::new();
    w.seed_campaign("C1", 100, 100_000, 100_000).await;
    let mut svc = w.send_service();
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
