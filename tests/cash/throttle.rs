//! Alipay's rate limit on `alipay.marketing.campaign.cash.trigger` (the simulator's `qpsLimits`):
//! a throttled send is "not now", never "no". A burst whose every trigger is throttled stays
//! unresolved on its first out_biz_no (none FAILED, a plain repeat does not make it FAILED), and the
//! reconciler pays each exactly once once Alipay lets calls through at its limit, as the
//! simulator's ledger shows.
use std::time::Duration;

use integration_tests::cash::{assert_agrees, cash_test_on, new_send, pe, TRIGGER};
use integration_tests::{Answer, TestApp};
use serde_json::{json, Value};

const SENDS: usize = 8;
/// Alipay's limit once the burst is over (calls per second).
const LIMIT: u64 = 2;

async fn sim_stats(app: &TestApp) -> Value {
    let a = app.sim_get("/sim/stats").await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

async fn reset_sim_stats(app: &TestApp) {
    let r = app
        .http
        .delete(format!("{}/sim/stats", app.sim))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

/// Sends `body`, sent again (the same request, as a caller does) while the store answers
/// `503 store_unavailable`: on a loaded machine moto can be slower than the SDK's timeout, which
/// says nothing about Alipay's rate limit.
async fn send_past_a_slow_store(app: &TestApp, body: &Value) -> Answer {
    for _ in 0..20 {
        let a = app.send_envelope(body).await;
        if !(a.status == 503 && a.body["code"] == "store_unavailable") {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the store stayed unavailable");
}

/// Unresolved, on the first attempt: 202 PENDING / UNKNOWN, never FAILED.
fn assert_unresolved(a: &Answer, out_biz_no: &str) {
    assert_eq!(a.status, 202, "{a:?}");
    assert!(
        matches!(a.body["state"].as_str(), Some("PENDING" | "UNKNOWN")),
        "{a:?}"
    );
    assert_eq!(a.body["outBizNo"], out_biz_no, "{a:?}");
    assert_eq!(a.body["attemptNo"], 1, "{a:?}");
}

#[tokio::test]
async fn a_throttled_burst_is_paid_exactly_once_each_by_the_reconciler() {
    let (app, _serial, crowd) = cash_test_on("限流发放", "20.00", 20, "L5").await;
    reset_sim_stats(&app).await;
    app.sim_settings(&json!({"qpsLimits": {TRIGGER: 0}})).await;

    // The burst: every trigger is throttled.
    let sends: Vec<(String, Value)> = (0..SENDS).map(|_| new_send("throttled", &crowd)).collect();
    let mut set = tokio::task::JoinSet::new();
    for (bid, body) in sends.clone() {
        let app = app.clone();
        set.spawn(async move { (bid, send_past_a_slow_store(&app, &body).await) });
    }
    for (bid, a) in set.join_all().await {
        assert_unresolved(&a, &pe(&bid));
    }
    // A plain repeat stays unresolved on the same out_biz_no (there is no refusal to replay).
    let (bid, body) = &sends[0];
    assert_unresolved(&send_past_a_slow_store(&app, body).await, &pe(bid));
    assert!(app.payouts_on(&crowd).await.is_empty(), "nothing was paid");
    // Each send's first call was limited (the repeat may not call at all: its entry may not be
    // due again yet).
    let stats = sim_stats(&app).await;
    assert!(
        stats["limited"][TRIGGER].as_u64().unwrap() >= SENDS as u64,
        "{stats}"
    );

    // Alipay lets LIMIT calls a second through; the reconciler resolves every entry.
    reset_sim_stats(&app).await;
    app.sim_settings(&json!({"qpsLimits": {TRIGGER: LIMIT}}))
        .await;
    let nos: Vec<String> = sends.iter().map(|(bid, _)| pe(bid)).collect();
    let (entries, runs) = app
        .reconcile_until(&nos, |e| e["state"] == "SENT", Duration::from_secs(180))
        .await;
    let stats = sim_stats(&app).await;
    eprintln!("[throttle] {SENDS} sends SENT after {runs} reconciler runs; simulator: {stats}");
    let payouts = app.payouts_on(&crowd).await;
    assert_eq!(payouts.len(), SENDS, "one payout per send: {payouts:?}");
    for e in &entries {
        assert_agrees(e, &payouts);
        assert_eq!(e["attemptNo"], 1, "the first out_biz_no: {e}");
    }
    for (bid, _) in &sends {
        let second = app.envelope_entry(&format!("pe2_{bid}")).await;
        assert_eq!(second.status, 404, "no attempt 2: {second:?}");
    }
    let peak = stats["peakQps"][TRIGGER].as_u64().unwrap();
    assert!((1..=LIMIT).contains(&peak), "{stats}");
    app.sim_settings(&json!({"qpsLimits": {}})).await;
}
