//! What the payout routes answer when a request was not the one that acted, over real HTTP:
//! - operator retries that lose the takeover to a probe whose call is in flight (held by the
//!   simulator's latency) answer `409 payout_busy` with the lease's `Retry-After`, and once the
//!   probe is over `409 payout_final` with the entry; Alipay is called once;
//! - a repeat of a paid business id with another amount (plain or with `retryFailed`), rail or
//!   campaign answers `409 conflicting_repeat` naming the fields, with the recorded entry, and
//!   pays nothing; the exact repeat answers the entry (200).
use std::time::{Duration, Instant};

use integration_tests::cash::{
    assert_code, assert_state, cash_test_on, envelope, new_business_id, pe, transfer_envelope,
    TRIGGER,
};
use integration_tests::{new_user_id, Answer, TestApp};
use serde_json::{json, Value};

/// Waits until the entry `out_biz_no` is PENDING after `attempts` calls (a probe took it over and
/// its call is in flight).
async fn wait_for_probe_in_flight(app: &TestApp, out_biz_no: &str, attempts: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = app.envelope_entry(out_biz_no).await.body;
        if e["state"] == "PENDING" && e["attempts"] == attempts {
            return;
        }
        assert!(Instant::now() < deadline, "no probe in flight: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_problem_json(a: &Answer) {
    assert_eq!(a.content_type, "application/problem+json", "{a:?}");
}

#[tokio::test]
async fn racing_operator_retries_answer_busy_then_final_and_probe_once() {
    let (app, _serial, crowd) = cash_test_on("重试竞争", "10.00", 10, "L5").await;
    let bid = new_business_id("retry_race");
    let no = pe(&bid);
    app.sim_fault_once(TRIGGER, "unknown_error").await;
    let first = app
        .send_envelope(&envelope(&bid, &new_user_id(), &crowd))
        .await;
    assert_state(&first, 202, "UNKNOWN");

    // One retry takes the entry over; its cash.trigger is slowed at the simulator.
    app.set_fault(&json!({"api": TRIGGER, "kind": "latency", "latencyMs": 5000, "count": 1}))
        .await;
    let winner = {
        let (app, no) = (app.clone(), no.clone());
        tokio::spawn(async move { app.retry_payout(&no).await })
    };
    wait_for_probe_in_flight(&app, &no, 2).await;

    // Two more retries (a second operator, a double click) while that call is in flight.
    let (a, b) = tokio::join!(app.retry_payout(&no), app.retry_payout(&no));
    for busy in [&a, &b] {
        assert_code(busy, 409, "payout_busy");
        assert_problem_json(busy);
        let wait: u64 = busy
            .retry_after
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After: {busy:?}"));
        assert!(
            (1..=30).contains(&wait),
            "Retry-After from the 30 s lease: {busy:?}"
        );
    }

    let won = winner.await.unwrap();
    assert_state(&won, 200, "SENT");
    assert_eq!(won.body["outBizNo"], no.as_str(), "{won:?}");
    assert_eq!(won.body["attempts"], 2, "one probe: {won:?}");

    // Once the probe is over, a retry finds the entry final and answers it.
    let late = app.retry_payout(&no).await;
    assert_code(&late, 409, "payout_final");
    assert_problem_json(&late);
    assert_eq!(late.body["entry"]["state"], "SENT", "{late:?}");
    assert_eq!(late.body["entry"]["outBizNo"], no.as_str(), "{late:?}");
    assert_eq!(late.body["entry"]["attempts"], 2, "{late:?}");
    assert_eq!(app.payouts_of(&no).await.len(), 1);
}

/// Asserts a `conflicting_repeat` naming `fields`, carrying the recorded entry `paid`.
fn assert_conflicting_repeat(a: &Answer, fields: &[&str], paid: &Value) {
    assert_code(a, 409, "conflicting_repeat");
    assert_problem_json(a);
    assert_eq!(a.body["fields"], json!(fields), "{a:?}");
    assert_eq!(&a.body["entry"], paid, "{a:?}");
}

#[tokio::test]
async fn a_repeat_of_a_paid_business_id_with_other_terms_is_a_conflict_and_pays_nothing() {
    let (app, _serial, crowd) = cash_test_on("条款不同的重复", "10.00", 10, "L5").await;

    // A transfer of 1.50 yuan, paid.
    let bid = new_business_id("other_amount");
    let user = new_user_id();
    let paid = app
        .send_envelope(&transfer_envelope(&bid, &user, "1.50"))
        .await;
    assert_state(&paid, 201, "SENT");
    let more = app
        .send_envelope(&transfer_envelope(&bid, &user, "2.00"))
        .await;
    assert_conflicting_repeat(&more, &["amount"], &paid.body);
    let mut retry_failed = transfer_envelope(&bid, &user, "2.00");
    retry_failed["retryFailed"] = json!(true);
    let more = app.send_envelope(&retry_failed).await;
    assert_conflicting_repeat(&more, &["amount"], &paid.body);
    let exact = app
        .send_envelope(&transfer_envelope(&bid, &user, "1.50"))
        .await;
    assert_state(&exact, 200, "SENT");
    assert_eq!(exact.body, paid.body);
    assert_eq!(app.transfers_of(&pe(&bid)).await.len(), 1);

    // An envelope of the campaign, paid; a repeat on the transfer rail or another campaign.
    let bid = new_business_id("other_rail");
    let paid = app.send_envelope(&envelope(&bid, &user, &crowd)).await;
    assert_state(&paid, 201, "SENT");
    let on_transfer = transfer_envelope(&bid, &user, "1.00");
    let a = app.send_envelope(&on_transfer).await;
    assert_conflicting_repeat(&a, &["rail"], &paid.body);
    let a = app
        .send_envelope(&envelope(&bid, &user, "CROWD_SOMEWHERE_ELSE"))
        .await;
    assert_conflicting_repeat(&a, &["crowdNo"], &paid.body);
    let exact = app.send_envelope(&envelope(&bid, &user, &crowd)).await;
    assert_state(&exact, 200, "SENT");
    assert_eq!(app.payouts_of(&pe(&bid)).await.len(), 1);
    assert!(app.transfers_of(&pe(&bid)).await.is_empty());
}
