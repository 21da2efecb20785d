//! `Idempotency-Key` on `POST /envelopes`: same key and body → the same answer; same key, other
//! body → 422; still running → 409; an answer ≥ 500 is not stored.
use std::time::Duration;

use integration_tests::cash::{
    assert_code, assert_state, campaign_body, cash_test_on, cash_test_on_unpaid, envelope,
    new_business_id, new_idempotency_key, new_keyed_send, pe, DETAIL, TRIGGER,
};
use integration_tests::new_user_id;
use serde_json::json;

#[tokio::test]
async fn same_key_same_body_same_answer_other_body_422() {
    let (app, _serial, crowd) = cash_test_on("幂等键", "10.00", 10, "L5").await;
    let user = new_user_id();
    let body = envelope(&new_business_id("idem"), &user, &crowd);
    let key = new_idempotency_key();
    let first = app.send_with_key(&body, &key).await;
    assert_state(&first, 201, "SENT");
    let again = app.send_with_key(&body, &key).await;
    assert_eq!(again.status, first.status, "{again:?}");
    assert_eq!(again.body, first.body);
    // Key order in the body does not matter (the fingerprint is over key-sorted JSON).
    let reordered: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"crowdNo":{},"userId":{},"businessId":{},"reason":"points_exchange"}}"#,
        body["crowdNo"], body["userId"], body["businessId"]
    ))
    .unwrap();
    let third = app.send_with_key(&reordered, &key).await;
    assert_eq!(third.status, first.status, "{third:?}");
    assert_eq!(third.body, first.body);

    let other = envelope(&new_business_id("idem"), &user, &crowd);
    let reused = app.send_with_key(&other, &key).await;
    assert_code(&reused, 422, "idempotency_key_reused");
    assert_eq!(reused.content_type, "application/problem+json");
    assert!(
        app.payouts_of(&pe(other["businessId"].as_str().unwrap()))
            .await
            .is_empty(),
        "the reused key must not send the other body"
    );
    assert_eq!(app.payouts_on(&crowd).await.len(), 1);
}

#[tokio::test]
async fn a_key_still_running_is_409_and_then_answers_the_first_result() {
    let (app, _serial, crowd) = cash_test_on("幂等键运行中", "10.00", 10, "L1").await;
    let (_, body, key) = new_keyed_send("running", &crowd);
    app.set_fault(&json!({"api": TRIGGER, "kind": "latency", "latencyMs": 2500, "count": 1}))
        .await;
    let (first, second) = tokio::join!(app.send_with_key(&body, &key), async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        app.send_with_key(&body, &key).await
    });
    assert_eq!(first.status, 201, "{first:?}");
    assert_code(&second, 409, "idempotency_key_in_use");
    let later = app.send_with_key(&body, &key).await;
    assert_eq!(later.status, 201, "{later:?}");
    assert_eq!(later.body, first.body);
    assert_eq!(app.payouts_on(&crowd).await.len(), 1);
}

#[tokio::test]
async fn an_answer_of_5xx_is_not_stored_under_the_key() {
    // Paid at the simulator, CREATED in our store: the send refreshes it first, and that fails.
    let (app, _serial, crowd) =
        cash_test_on_unpaid(&campaign_body("幂等键重试", "10.00", 10, "L1")).await;
    app.pay_campaign(&crowd).await;
    app.sim_fault_once(DETAIL, "http500").await;
    let (_, body, key) = new_keyed_send("retry5xx", &crowd);
    let first = app.send_with_key(&body, &key).await;
    assert_code(&first, 503, "alipay_unavailable");
    let second = app.send_with_key(&body, &key).await;
    assert_eq!(second.status, 201, "{second:?}");
    assert_eq!(app.payouts_on(&crowd).await.len(), 1);
}
