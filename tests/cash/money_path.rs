//! The money path against the Alipay that hurts us: a simulator that checks the campaign before it
//! replays a known out_biz_no (`triggerReplay: after_checks`) or pays a request after our client gave
//! up on it (`commit_late`), an outage longer than the retry budget, repeated idempotency keys, a
//! corrected recipient, the (reason, business id) rule, the logs and pay instructions an operator
//! needs, and Alipay's `SETTLED` state. Production lease (30 s); no test relies on a short one.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use integration_tests::cash::{
    assert_agrees, assert_code, assert_state, cash_test_on, envelope, function_log_lines,
    last_refusal, log_text, new_business_id, new_keyed_send, new_send, pe, TRIGGER,
};
use integration_tests::{beijing_in_days, new_user_id, root, Answer, TestApp};
use serde_json::{json, Value};

const SENT: fn(&Value) -> bool = |e| e["state"] == "SENT";

/// The simulator's payouts for every attempt of a points-exchange business id (`pe_`, `pe2_`, …).
async fn payouts_of_business_id(app: &TestApp, business_id: &str) -> Vec<Value> {
    app.payouts()
        .await
        .into_iter()
        .filter(|p| {
            let no = p["out_biz_no"].as_str().unwrap_or("");
            no.starts_with("pe") && no.split_once('_').is_some_and(|(_, id)| id == business_id)
        })
        .collect()
}

/// Repeats `body` until the answer carries the refusal Alipay gave to the probe of an entry whose
/// first call had an unknown outcome (the entry is due 100 ms after its last call).
async fn repeat_until_refused(app: &TestApp, body: &Value) -> Answer {
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let a = app.send_envelope(body).await;
        if a.status != 202 || last_refusal(&a.body).is_some() {
            return a;
        }
    }
    panic!("the repeat never reached Alipay");
}

/// An answer that keeps the business id on its first out_biz_no: 200/201 SENT, 202 unresolved or
/// 409 `conflicting_repeat` with the paid entry; never attempt 2.
fn assert_same_attempt(a: &Answer, out_biz_no: &str) {
    // The entry itself (200–202), or, once it is SENT, a repeat with other terms refused with it.
    let entry = match a.status {
        200..=202 => &a.body,
        409 if a.body["code"] == "conflicting_repeat" => &a.body["entry"],
        _ => panic!("neither the entry nor conflicting_repeat: {a:?}"),
    };
    assert_eq!(entry["outBizNo"], out_biz_no, "{a:?}");
    assert_eq!(entry["attemptNo"], 1, "{a:?}");
}

/// Ends with exactly one payout for the business id: the first attempt, SENT, agreeing with ours.
async fn assert_paid_once_on_attempt_one(app: &TestApp, business_id: &str) -> Value {
    let no = pe(business_id);
    let (entries, _) = app
        .reconcile_until(std::slice::from_ref(&no), SENT, Duration::from_secs(60))
        .await;
    let entry = entries[0].clone();
    let payouts = payouts_of_business_id(app, business_id).await;
    assert_eq!(payouts.len(), 1, "one payout per business id: {payouts:?}");
    assert_agrees(&entry, &payouts);
    assert_eq!(entry["attemptNo"], 1, "{entry}");
    let second = app.envelope_entry(&format!("pe2_{business_id}")).await;
    assert_eq!(second.status, 404, "no attempt 2: {second:?}");
    entry
}

#[tokio::test]
async fn a_refusal_after_a_lost_answer_does_not_free_the_business_id() {
    let (app, _serial, crowd) = cash_test_on("检查在前", "10.00", 10, "L5").await;
    let other_crowd = app.ready_campaign("另一个活动", "10.00", 10, "L5").await;
    app.sim_settings(&json!({"triggerReplay": "after_checks"}))
        .await;
    let bid = new_business_id("after_checks");
    let user = new_user_id();
    let body = envelope(&bid, &user, &crowd);

    // Alipay pays, the answer is lost.
    app.sim_fault_once(TRIGGER, "commit_then_drop").await;
    let first = app.send_envelope(&body).await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(app.payouts_of(&pe(&bid)).await.len(), 1);

    // The campaign is paused; the probe with the same out_biz_no is refused although it was paid.
    app.set_campaign_status(&crowd, "PAUSE").await;
    let refused = repeat_until_refused(&app, &body).await;
    // A refusal after an unknown outcome is not a failure.
    assert_state(&refused, 202, "UNKNOWN");
    let refusal = last_refusal(&refused.body).unwrap();
    assert_eq!(refusal["subCode"], "CAMPAIGN_PAUSED", "{refused:?}");

    // Neither retryFailed nor another campaign starts attempt 2.
    app.set_campaign_status(&crowd, "READY").await;
    let mut retry = body.clone();
    retry["retryFailed"] = json!(true);
    assert_same_attempt(&app.send_envelope(&retry).await, &pe(&bid));
    let mut elsewhere = body.clone();
    elsewhere["crowdNo"] = json!(other_crowd);
    assert_same_attempt(&app.send_envelope(&elsewhere).await, &pe(&bid));

    let entry = assert_paid_once_on_attempt_one(&app, &bid).await;
    assert_eq!(entry["outcome"]["repeatTriggerFlag"], true, "{entry}");
    assert!(app.payouts_on(&other_crowd).await.is_empty());
}

#[tokio::test]
async fn a_payment_alipay_commits_after_we_gave_up_is_recorded_not_paid_again() {
    let (app, _serial, crowd) = cash_test_on("迟到的提交", "10.00", 10, "L5").await;
    let (bid, body) = new_send("late", &crowd);
    let no = pe(&bid);

    // Alipay holds the call past our timeout and pays it 15 s after it arrived: long after our
    // client gave up (6 s), the pause, the refused probe and the resume below.
    app.set_fault(&json!({"api": TRIGGER, "kind": "commit_late", "delayMs": 15000, "count": 1}))
        .await;
    assert_state(&app.send_envelope(&body).await, 202, "UNKNOWN");

    app.set_campaign_status(&crowd, "PAUSE").await;
    let refused = repeat_until_refused(&app, &body).await;
    assert!(
        app.late_commits()
            .await
            .iter()
            .any(|l| l["outBizNo"] == no.as_str() && l["done"] == false),
        "the probe must come before the late commit"
    );
    assert_state(&refused, 202, "UNKNOWN");
    assert_eq!(
        last_refusal(&refused.body).unwrap()["subCode"],
        "CAMPAIGN_PAUSED",
        "{refused:?}"
    );
    app.set_campaign_status(&crowd, "READY").await;

    let held = app
        .late_commits_done(Some(&no), Duration::from_secs(40))
        .await;
    assert_eq!(held[0]["outcome"], "ok", "Alipay paid it late: {held:?}");
    let mut retry = body.clone();
    retry["retryFailed"] = json!(true);
    assert_same_attempt(&app.send_envelope(&retry).await, &no);

    let entry = assert_paid_once_on_attempt_one(&app, &bid).await;
    let paid = app.payouts_of(&no).await;
    assert_eq!(entry["outcome"]["bizNo"], paid[0]["biz_no"], "{entry}");
}

#[tokio::test]
async fn entries_past_their_retry_budget_are_probed_listed_and_re_armed() {
    let (app, _serial, crowd) = cash_test_on("长时间故障", "10.00", 10, "L5").await;
    let (paid_bid, paid_body) = new_send("outage_paid", &crowd);
    let (unpaid_bid, unpaid_body) = new_send("outage_unpaid", &crowd);
    let (armed_bid, armed_body) = new_send("outage_armed", &crowd);

    // The outage: the first call is paid but its answer lost, then nothing answers.
    app.sim_fault_once(TRIGGER, "commit_then_drop").await;
    assert_eq!(app.send_envelope(&paid_body).await.status, 202);
    app.set_fault(&json!({"api": TRIGGER, "kind": "unknown_error"}))
        .await;
    assert_eq!(app.send_envelope(&unpaid_body).await.status, 202);
    assert_eq!(app.send_envelope(&armed_body).await.status, 202);
    let nos: Vec<String> = [&paid_bid, &unpaid_bid, &armed_bid]
        .iter()
        .map(|b| pe(b))
        .collect();
    let (entries, runs) = app
        .reconcile_until(
            &nos,
            |e| e["state"] == "NEEDS_ATTENTION",
            Duration::from_secs(90),
        )
        .await;
    eprintln!("[money] NEEDS_ATTENTION after {runs} reconciler runs");
    for e in &entries {
        assert_eq!(e["attemptNo"], 1, "{e}");
    }
    let repeat = app.send_envelope(&unpaid_body).await;
    assert_eq!(repeat.status, 202, "{repeat:?}");

    // The operator sees them: by state, campaign, reason and Beijing day, newest first, paginated.
    let listed = app
        .list_all_payouts(&format!("state=NEEDS_ATTENTION&crowdNo={crowd}&limit=1"))
        .await;
    let listed_nos: BTreeSet<&str> = listed
        .iter()
        .map(|e| e["outBizNo"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = nos.iter().map(String::as_str).collect();
    assert_eq!(listed_nos, expected, "{listed:?}");
    let created: Vec<i64> = listed
        .iter()
        .map(|e| e["createdAt"].as_i64().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {created:?}"
    );
    let today = &beijing_in_days(0)[..10];
    let by_day = app
        .list_all_payouts(&format!(
            "crowdNo={crowd}&reason=points_exchange&day={today}"
        ))
        .await;
    assert_eq!(by_day.len(), 3, "{by_day:?}");
    assert!(app
        .list_all_payouts(&format!("crowdNo={crowd}&day=2001-01-01"))
        .await
        .is_empty());
    assert!(app
        .list_all_payouts(&format!("crowdNo={crowd}&state=SENT"))
        .await
        .is_empty());
    for bad in ["state=LOST", "day=2024-13-01", "reason=birthday"] {
        let a = app.list_payouts(bad).await;
        assert_eq!(a.status, 400, "{bad}: {a:?}");
        assert_eq!(a.content_type, "application/problem+json", "{a:?}");
    }

    // The reconciler reports them as metrics.
    let report = app.reconcile().await;
    assert!(report["needsAttention"].as_u64().is_some(), "{report}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // One EMF line per metric.
        let lines: Vec<Value> = function_log_lines()
            .into_iter()
            .filter(|(f, l)| f == "reconciler" && l.get("_aws").is_some())
            .map(|(_, l)| l)
            .collect();
        let emitted = lines
            .iter()
            .any(|l| l["PayoutsNeedingAttention"].as_f64().unwrap_or(0.0) >= 3.0)
            && lines.iter().any(|l| l.get("UnresolvedPayouts").is_some());
        if emitted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no EMF line with UnresolvedPayouts and PayoutsNeedingAttention ≥ 3"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The outage ends. The operator re-arms one entry: probed at once with the same out_biz_no.
    app.sim_clear_faults().await;
    let armed = app.retry_payout(&pe(&armed_bid)).await;
    assert_state(&armed, 200, "SENT");
    assert_eq!(armed.body["outBizNo"], pe(&armed_bid).as_str(), "{armed:?}");
    let again = app.retry_payout(&pe(&armed_bid)).await;
    assert_code(&again, 409, "payout_final");
    let missing = app.retry_payout(&pe(&new_business_id("nobody"))).await;
    assert_code(&missing, 404, "payout_not_found");

    // The others converge by themselves: the paid one is recorded, the unpaid one paid once.
    let paid = assert_paid_once_on_attempt_one(&app, &paid_bid).await;
    assert_eq!(paid["outcome"]["repeatTriggerFlag"], true, "{paid}");
    let unpaid = assert_paid_once_on_attempt_one(&app, &unpaid_bid).await;
    assert_eq!(unpaid["outcome"]["repeatTriggerFlag"], false, "{unpaid}");
    assert_paid_once_on_attempt_one(&app, &armed_bid).await;
    assert_state(&app.send_envelope(&unpaid_body).await, 200, "SENT");

    // A call in flight cannot be re-armed.
    let (busy_bid, busy_body) = new_send("busy", &crowd);
    app.set_fault(&json!({"api": TRIGGER, "kind": "latency", "latencyMs": 4000, "count": 1}))
        .await;
    let sender = app.send_in_flight(&busy_body, &pe(&busy_bid)).await;
    assert_code(&app.retry_payout(&pe(&busy_bid)).await, 409, "payout_busy");
    let sent = sender.await.unwrap();
    assert_eq!(sent.status, 201, "{sent:?}");
    assert_eq!(app.payouts_of(&pe(&busy_bid)).await.len(), 1);
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_entry_as_it_is_now() {
    let (app, _serial, crowd) = cash_test_on("幂等键现状", "10.00", 10, "L5").await;

    // A stored 202 UNKNOWN: once the entry is SENT, the key answers SENT.
    let (bid, body, key) = new_keyed_send("idem_unknown", &crowd);
    app.sim_fault_once(TRIGGER, "commit_then_drop").await;
    let first = app.send_with_key(&body, &key).await;
    assert_eq!(first.status, 202, "{first:?}");
    let entry = assert_paid_once_on_attempt_one(&app, &bid).await;
    let again = app.send_with_key(&body, &key).await;
    assert_state(&again, 200, "SENT");
    assert_eq!(again.body["outcome"]["bizNo"], entry["outcome"]["bizNo"]);

    // A stored 202 PENDING (another send of the id in flight): likewise.
    let (bid, body, key) = new_keyed_send("idem_pending", &crowd);
    app.set_fault(&json!({"api": TRIGGER, "kind": "latency", "latencyMs": 3000, "count": 1}))
        .await;
    let sender = app.send_in_flight(&body, &pe(&bid)).await;
    let during = app.send_with_key(&body, &key).await;
    assert!(matches!(during.status, 202 | 409), "{during:?}");
    assert_eq!(sender.await.unwrap().status, 201);
    let after = app.send_with_key(&body, &key).await;
    assert_state(&after, 200, "SENT");
    // Final answers are stored: the same key keeps answering them.
    let stored = app.send_with_key(&body, &key).await;
    assert_eq!((stored.status, &stored.body), (after.status, &after.body));
    assert_eq!(app.payouts_of(&pe(&bid)).await.len(), 1);
}

#[tokio::test]
async fn a_corrected_recipient_may_follow_a_definite_failure() {
    let (app, _serial, crowd) = cash_test_on("更正收款人", "10.00", 10, "L1").await;
    // The wrong recipient already had their envelope: a definite failure on the first call.
    let (wrong, bid, _) = app.over_the_user_limit("corrected", &crowd).await;

    let right = new_user_id();
    let corrected = app.send_points(&bid, &right, &crowd).await;
    assert_state(&corrected, 201, "SENT");
    assert_eq!(corrected.body["attemptNo"], 2, "{corrected:?}");
    assert_eq!(corrected.body["recipient"]["userId"], right.as_str());
    let second = corrected.body["outBizNo"].as_str().unwrap().to_string();
    assert_ne!(second, pe(&bid));
    let failed = app.envelope_entry(&pe(&bid)).await.body;
    assert_eq!(
        failed["state"], "FAILED",
        "the failed attempt stays: {failed}"
    );
    assert_eq!(failed["recipient"]["userId"], wrong.as_str(), "{failed}");
    let payouts = payouts_of_business_id(&app, &bid).await;
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    assert_eq!(payouts[0]["out_biz_no"], second.as_str());
    assert_eq!(payouts[0]["user_id"], right.as_str());

    // Once paid, the id belongs to the corrected recipient.
    let third = app.send_points(&bid, &new_user_id(), &crowd).await;
    assert_code(&third, 422, "business_id_conflict");
    let repeat = app.send_points(&bid, &right, &crowd).await;
    assert_eq!(repeat.status, 200, "{repeat:?}");
    assert_eq!(repeat.body["outBizNo"], second.as_str());

    // While an attempt is unresolved, another recipient is still a conflict.
    let bid = new_business_id("unresolved");
    app.sim_fault_once(TRIGGER, "commit_then_drop").await;
    let first = app.send_points(&bid, &new_user_id(), &crowd).await;
    assert_eq!(first.status, 202, "{first:?}");
    let other = app.send_points(&bid, &new_user_id(), &crowd).await;
    assert_code(&other, 422, "business_id_conflict");
    assert_paid_once_on_attempt_one(&app, &bid).await;
}

#[tokio::test]
async fn each_reason_and_business_id_pays_at_most_once() {
    let (app, _serial, crowd) = cash_test_on("两个理由", "10.00", 10, "L5").await;
    let bid = new_business_id("two_reasons");
    let user = new_user_id();
    let exchange = envelope(&bid, &user, &crowd);
    let mut referral = exchange.clone();
    referral["reason"] = json!("referral");
    let a = app.send_envelope(&exchange).await;
    let b = app.send_envelope(&referral).await;
    assert_eq!((a.status, b.status), (201, 201), "{a:?} {b:?}");
    assert_ne!(a.body["outBizNo"], b.body["outBizNo"]);
    for body in [&exchange, &referral] {
        let again = app.send_envelope(body).await;
        assert_eq!(again.status, 200, "{again:?}");
    }
    let paid: Vec<Value> = app
        .payouts_on(&crowd)
        .await
        .into_iter()
        .filter(|p| p["user_id"] == user.as_str())
        .collect();
    assert_eq!(paid.len(), 2, "one per (reason, business id): {paid:?}");

    // The README says so.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("(reason, business id)"),
        "README must state the rule per (reason, business id)"
    );
    assert!(
        !readme.contains("Each business id pays at most once"),
        "README still says each business id pays once"
    );
}

/// Waits for log lines of the named functions carrying `outBizNo` = `no`.
async fn money_lines(no: &str, functions: &[&str], biz_no: &str) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<(String, Value)> = function_log_lines()
            .into_iter()
            .filter(|(_, l)| log_text(l, "outBizNo").as_deref() == Some(no))
            .collect();
        let all_there = functions.iter().all(|f| lines.iter().any(|(g, _)| g == f))
            && lines
                .iter()
                .any(|(_, l)| log_text(l, "bizNo").as_deref() == Some(biz_no));
        if all_there {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no money-path lines for {no} from {functions:?} with bizNo {biz_no}: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn money_path_logs_carry_the_ids_that_find_a_payment() {
    let (app, _serial, crowd) = cash_test_on("日志", "10.00", 10, "L5").await;
    let bid = new_business_id("logged");
    app.sim_fault_once(TRIGGER, "commit_then_drop").await;
    let first = app.send_points(&bid, &new_user_id(), &crowd).await;
    assert_eq!(first.status, 202, "{first:?}");
    let entry = assert_paid_once_on_attempt_one(&app, &bid).await;
    let biz_no = entry["outcome"]["bizNo"].as_str().unwrap();

    let lines = money_lines(&pe(&bid), &["send-trigger", "reconciler"], biz_no).await;
    for (function, line) in &lines {
        for (key, want) in [
            ("crowdNo", crowd.as_str()),
            ("reason", "points_exchange"),
            ("businessId", bid.as_str()),
        ] {
            assert_eq!(
                log_text(line, key).as_deref(),
                Some(want),
                "{function}: {key} missing in {line}"
            );
        }
    }
}

#[tokio::test]
async fn a_settled_campaign_is_recognised() {
    let (app, _serial, crowd) = cash_test_on("已结算", "10.00", 10, "L5").await;
    app.set_campaign_status(&crowd, "CLOSED").await;
    let settled = app
        .sim_post(&format!("/sim/campaigns/{crowd}/settle"), &json!({}))
        .await;
    assert_eq!(settled.status, 200, "{settled:?}");
    let read = app.get(&format!("/campaigns/{crowd}")).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["status"], "SETTLED", "{read:?}");
    let (bid, refused) = app.send_new("settled", &crowd).await;
    assert_code(&refused, 422, "campaign_closed");
    assert_eq!(app.envelope_entry(&pe(&bid)).await.status, 404);
}
