//! Alipay's rate limit on `alipay.pass.instance.add` (the simulator's `qpsLimits`): a throttled
//! claim is "not now", never "no": it answers `503 alipay_busy` with `Retry-After` and the
//! component's fields. More throttled claims than the template's failed-claims budget leave the
//! template open, and every user who taps again gets exactly one pass.
use integration_tests::{new_user_id, TestApp, TEMPLATE_FAILURE_LIMIT};
use serde_json::{json, Value};

use crate::passes::{claims_lock, sim_passes_of};

const INSTANCE_ADD: &str = "alipay.pass.instance.add";

async fn sim_stats(app: &TestApp) -> Value {
    let a = app.sim_get("/sim/stats").await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

/// Plays the claim component for `user`, again (a new tap) while our store answers
/// `503 store_unavailable`: on a loaded machine moto can be slower than the SDK's timeout, which
/// says nothing about Alipay's rate limit.
async fn claim_past_a_slow_store(
    app: &TestApp,
    tpl: &str,
    user: &str,
) -> integration_tests::Answer {
    for _ in 0..20 {
        let a = app.claim(tpl, user).await;
        if a.body["body"]["code"] != "store_unavailable" {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("the store stayed unavailable");
}

/// One tap as the component makes it (the simulator mints the token, we call the callback URL
/// it built), past a slow store as above: status, `Retry-After`, body.
async fn tap_with_headers(app: &TestApp, tpl: &str, user: &str) -> (u16, Option<String>, Value) {
    for _ in 0..20 {
        let minted = app
            .sim_post(
                "/sim/claim",
                &json!({"templateId": tpl, "userId": user, "call": false}),
            )
            .await;
        assert_eq!(minted.status, 200, "{minted:?}");
        let url = minted.body["url"].as_str().unwrap();
        let resp = app.http.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = resp.json().await.unwrap();
        if body["code"] != "store_unavailable" {
            return (status, retry_after, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("the store stayed unavailable");
}

#[tokio::test]
async fn throttled_claims_are_not_failed_claims_and_leave_no_pass_lost_or_doubled() {
    let _g = claims_lock().write().await;
    let app = TestApp::new();
    app.sim_clear_faults().await;
    let tpl = app.create_template("限流领取券").await;
    let limited_before = sim_stats(&app).await["limited"][INSTANCE_ADD]
        .as_u64()
        .unwrap_or(0);
    let set = app
        .sim_post("/sim/settings", &json!({"qpsLimits": {INSTANCE_ADD: 0}}))
        .await;
    assert_eq!(set.status, 200, "{set:?}");

    // More throttled claims than the template's whole failed-claims budget.
    let users: Vec<String> = (0..TEMPLATE_FAILURE_LIMIT + 3)
        .map(|_| new_user_id())
        .collect();
    for user in &users {
        let (status, retry_after, body) = tap_with_headers(&app, &tpl, user).await;
        let seen = (status, body["code"].as_str(), body["success"].as_bool());
        // Not now, never no: neither a refusal nor the template's lock, and none of Alipay's text.
        assert_eq!(seen, (503, Some("alipay_busy"), Some(false)), "{body}");
        assert!(
            body["message"].is_string(),
            "the component's fields: {body}"
        );
        let wait: u32 = retry_after.expect("Retry-After").parse().unwrap();
        assert!(wait >= 1, "{wait}");
        let text = body.to_string();
        assert!(
            !text.contains("40005") && !text.contains("Call Limited"),
            "{body}"
        );
        assert!(sim_passes_of(&app, &tpl, user).await.is_empty());
    }
    let stats = sim_stats(&app).await;
    let limited = stats["limited"][INSTANCE_ADD].as_u64().unwrap() - limited_before;
    assert!(limited >= users.len() as u64, "{stats}");

    // Alipay lets calls through again: the template is open, for a new user and for each
    // throttled user's next tap, and each of them holds exactly one pass.
    let set = app
        .sim_post("/sim/settings", &json!({"qpsLimits": {}}))
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    let newcomer = new_user_id();
    let a = claim_past_a_slow_store(&app, &tpl, &newcomer).await;
    assert_eq!(
        a.body["body"]["success"], true,
        "the template is not locked: {a:?}"
    );
    for user in &users {
        let a = claim_past_a_slow_store(&app, &tpl, user).await;
        assert_eq!(a.body["body"]["success"], true, "{user}: {a:?}");
        let held = sim_passes_of(&app, &tpl, user).await;
        assert_eq!(held.len(), 1, "{user}: one pass at Alipay: {held:?}");
        assert_eq!(a.body["body"]["passId"], held[0]["pass_id"], "{a:?}");
    }
    assert_eq!(sim_passes_of(&app, &tpl, &newcomer).await.len(), 1);
    app.sim_clear_faults().await;
}
