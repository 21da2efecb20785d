//! The public claim callback as an outsider and an unlucky user meet it: forged hits are cheap and
//! leave nothing permanent, one pass per user unless the template says more, an unknown outcome
//! followed by a re-tap (or by nobody) ends with exactly one pass, stored and closable, whatever
//! Alipay answers to a repeated serial; Alipay's refusal text never reaches the caller.
use integration_tests::{dynamo, new_user_id, TestApp, TABLE, TEMPLATE_FAILURE_LIMIT};
use serde_json::{json, Value};

use crate::passes::{claims_lock, sim_passes_for, sim_passes_of, token_for};

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// A forged hit: a known template, any user, a random token, the current timestamp.
async fn forged(app: &TestApp, tpl: &str, user: &str, token: &str) -> (u16, Option<String>, Value) {
    let resp = app
        .http
        .get(format!(
            "{}/alipay/pass-callback?templateId={tpl}&userId={user}&token={token}&timestamp={}",
            app.api,
            now_ms()
        ))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry_after, resp.json().await.unwrap())
}

async fn create_template_with(app: &TestApp, title: &str, extra: Value) -> String {
    let mut body = app.pass_template(title);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = app.post("/templates", &body).await;
    assert_eq!(created.status, 201, "{created:?}");
    created.body["templateId"].as_str().unwrap().to_string()
}

/// Counts the simulator's `instance.add` calls from now on (a zero-latency fault on every call).
async fn count_issue_calls(app: &TestApp) {
    let fault = json!({"api": "alipay.pass.instance.add", "kind": "latency", "latencyMs": 0});
    assert!(app.sim_post("/sim/faults", &fault).await.status < 300);
}

async fn issue_calls(app: &TestApp) -> u64 {
    let faults = app.sim_get("/sim/faults").await;
    faults.body["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "latency")
        .map(|f| f["fired"].as_u64().unwrap_or(0))
        .sum()
}

/// For a test that injects faults on `instance.add`: the write side of the claims lock (no other
/// claim runs meanwhile) and a client, with no fault installed.
async fn alone_without_faults() -> (tokio::sync::RwLockWriteGuard<'static, ()>, TestApp) {
    let guard = claims_lock().write().await;
    let app = TestApp::new();
    app.sim_clear_faults().await;
    (guard, app)
}

/// Alipay issues the next pass but its answer to `instance.add` is lost.
async fn lose_the_next_issue_answer(app: &TestApp) {
    app.sim_fault_once("alipay.pass.instance.add", "commit_then_drop")
        .await;
}

/// The claim account items of a template, as stored.
async fn accounts_of(
    tpl: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let out = dynamo()
        .await
        .scan()
        .table_name(TABLE)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CLAIM#{tpl}#")),
        )
        .send()
        .await
        .unwrap();
    out.items.unwrap_or_default()
}

#[tokio::test]
async fn forged_hits_reach_alipay_at_most_five_times_an_hour_per_user_then_429() {
    let (_g, app) = alone_without_faults().await;
    let tpl = app.create_template("伪造回调预算券").await;
    let victim = new_user_id();
    count_issue_calls(&app).await;
    for i in 0..5 {
        let (status, _, body) = forged(&app, &tpl, &victim, &format!("forged{i}")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("alipay_rejected")),
            "{body}"
        );
        assert_eq!(body["success"], false);
    }
    let (status, retry_after, body) = forged(&app, &tpl, &victim, "forged5").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_failed_claims");
    assert_eq!(body["success"], false, "the component's failure shape");
    assert!(body["message"].as_str().is_some());
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((60..=3900).contains(&wait), "{wait}");
    assert_eq!(
        issue_calls(&app).await,
        5,
        "the sixth forged hit never reached Alipay"
    );
    // The user's genuine tap is held back too until the window passes; another user is not.
    let other = app.claim(&tpl, &new_user_id()).await;
    assert_eq!(other.body["body"]["success"], true, "{other:?}");
    app.sim_clear_faults().await;
}

#[tokio::test]
async fn forged_hits_are_capped_per_template_and_leave_nothing_permanent() {
    let _g = claims_lock().read().await;
    let app = TestApp::new();
    let tpl = app.create_template("伪造回调模板预算券").await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        let (status, retry_after, body) =
            forged(&app, &tpl, &new_user_id(), &format!("random{i}")).await;
        assert_eq!(body["success"], false, "{body}");
        if status == 429 {
            assert_eq!(body["code"], "too_many_failed_claims");
            assert!(retry_after.is_some());
        }
        statuses.push(status);
    }
    let refused = statuses.iter().filter(|s| **s == 422).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused, TEMPLATE_FAILURE_LIMIT as usize, "{statuses:?}");
    assert_eq!(throttled, 20 - refused, "{statuses:?}");
    // Every item the forged hits left expires (TTL on expiresAt, epoch seconds), and none is a pass.
    let items = accounts_of(&tpl).await;
    assert!(!items.is_empty());
    let now_s = (now_ms() / 1000) as i64;
    for it in &items {
        let expires: i64 = it["expiresAt"].as_n().unwrap().parse().unwrap();
        assert!(expires > now_s && expires <= now_s + 2 * 86_400, "{it:?}");
        assert!(!it.contains_key("gsi1pk"), "nothing left in flight: {it:?}");
    }
    let sim = app.sim_passes().await;
    assert!(sim.iter().all(|p| p["tpl_id"] != json!(tpl)));
}

#[tokio::test]
async fn a_refusal_tells_an_outsider_nothing_about_the_token() {
    let _g = claims_lock().read().await;
    let app = TestApp::new();
    let (tpl, user) = app.template_and_user("拒绝文本券").await;
    // A real token minted for someone else, and a token that does not exist: the same answer.
    let someone_elses = app.mint_claim(&tpl, &new_user_id()).await.token;
    let (s1, _, not_match) = forged(&app, &tpl, &user, &someone_elses).await;
    let (s2, _, invalid) = forged(&app, &tpl, &user, "tok_doesnotexist").await;
    assert_eq!((s1, s2), (422, 422));
    for key in ["code", "message", "detail", "title", "success"] {
        assert_eq!(
            not_match[key], invalid[key],
            "{key}: {not_match} vs {invalid}"
        );
    }
    for body in [&not_match, &invalid] {
        let text = body.to_string();
        for leak in ["user_token", "无效", "不匹配", "USER_TOKEN", "40004"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}

#[tokio::test]
async fn one_pass_per_user_unless_the_template_says_more() {
    let _g = claims_lock().read().await;
    let app = TestApp::new();
    let (tpl, user) = app.template_and_user("每人限领一张券").await;
    let first = app.claim(&tpl, &user).await;
    assert_eq!(first.body["body"]["success"], true, "{first:?}");
    let second = app.claim(&tpl, &user).await;
    assert_eq!(second.body["status"], 422, "{second:?}");
    assert_eq!(second.body["body"]["success"], false);
    assert_eq!(second.body["body"]["code"], "pass_limit_reached");
    assert_eq!(
        sim_passes_for(&app.sim_passes().await, &tpl, &user).len(),
        1
    );

    let three = create_template_with(&app, "每人限领三张券", json!({"perUserLimit": 3})).await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let c = app.claim(&three, &user).await;
        assert_eq!(c.body["body"]["success"], true, "{c:?}");
        ids.insert(c.body["body"]["passId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 3);
    let fourth = app.claim(&three, &user).await;
    assert_eq!(
        fourth.body["body"]["code"], "pass_limit_reached",
        "{fourth:?}"
    );
    assert_eq!(
        sim_passes_for(&app.sim_passes().await, &three, &user).len(),
        3
    );
}

/// Alipay issued the pass but the answer was lost; the user re-taps (a new token). Whatever Alipay
/// answers to the repeated serial, the user has one pass, we store it, and it can be read and closed.
#[tokio::test]
async fn an_unknown_outcome_then_a_retap_gives_one_pass_stored_and_closable() {
    let _g = claims_lock().write().await;
    let app = TestApp::new();
    let tpl = app.create_template("未知结果重领券").await;
    for repeated in ["same_pass", "refuse"] {
        app.sim_clear_faults().await;
        let set = app
            .sim_post("/sim/settings", &json!({"repeatedSerial": repeated}))
            .await;
        assert_eq!(set.status, 200, "{set:?}");
        let user = new_user_id();
        lose_the_next_issue_answer(&app).await;
        let lost = app.claim(&tpl, &user).await;
        assert_eq!(lost.body["status"], 503, "{repeated}: {lost:?}");
        assert_eq!(lost.body["body"]["success"], false);
        let retap = app.claim(&tpl, &user).await;
        assert_eq!(
            retap.body["body"]["success"], false,
            "{repeated}: {retap:?}"
        );
        assert_eq!(
            retap.body["body"]["code"], "pass_limit_reached",
            "{repeated}"
        );
        let at_alipay = sim_passes_of(&app, &tpl, &user).await;
        assert_eq!(at_alipay.len(), 1, "{repeated}: one pass at Alipay");
        let pass_id = at_alipay[0]["pass_id"].as_str().unwrap();
        // Ours too: listed for the user, readable, closable (Alipay agrees).
        let mine = app
            .get_with_token(&format!("/users/{user}/passes"), &token_for(&user))
            .await;
        assert_eq!(mine.body["passes"].as_array().unwrap().len(), 1, "{mine:?}");
        assert_eq!(mine.body["passes"][0]["passId"], pass_id);
        assert_eq!(
            mine.body["passes"][0]["serialNumber"],
            at_alipay[0]["serial_number"]
        );
        assert_eq!(app.get(&format!("/passes/{pass_id}")).await.status, 200);
        let closed = app.set_pass_status(pass_id, "CLOSED").await;
        assert_eq!(closed.status, 200, "{repeated}: {closed:?}");
        let at_alipay = app.sim_passes().await;
        let p = at_alipay
            .iter()
            .find(|p| p["pass_id"] == json!(pass_id))
            .unwrap();
        assert_eq!(p["status"], "CLOSED");
    }
    app.sim_clear_faults().await;
}

/// The same callback repeated after a lost answer, with Alipay refusing repeated serials: the serial
/// is looked up and the pass answered.
#[tokio::test]
async fn a_repeated_callback_is_answered_even_when_alipay_refuses_repeated_serials() {
    let (_g, app) = alone_without_faults().await;
    let tpl = app.create_template("重复序列号拒绝券").await;
    app.sim_post("/sim/settings", &json!({"repeatedSerial": "refuse"}))
        .await;
    let user = new_user_id();
    lose_the_next_issue_answer(&app).await;
    let url = app.mint_claim(&tpl, &user).await.url;
    assert_eq!(app.get_url(&url).await.status, 503);
    let again = app.get_url(&url).await.body;
    assert_eq!(again["success"], true, "{again}");
    let at_alipay = sim_passes_of(&app, &tpl, &user).await;
    assert_eq!(at_alipay.len(), 1);
    assert_eq!(again["passId"], at_alipay[0]["pass_id"]);
    app.sim_clear_faults().await;
}

/// Nobody taps again after the lost answer: the reconciler's sweep finds the pass by serial.
#[tokio::test]
async fn the_sweep_stores_a_pass_whose_answer_was_lost() {
    let (_g, app) = alone_without_faults().await;
    let (tpl, user) = app.template_and_user("无人重领券").await;
    lose_the_next_issue_answer(&app).await;
    let lost = app.claim(&tpl, &user).await;
    assert_eq!(lost.body["status"], 503, "{lost:?}");
    let at_alipay = sim_passes_of(&app, &tpl, &user).await;
    assert_eq!(at_alipay.len(), 1);
    let pass_id = at_alipay[0]["pass_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/passes/{pass_id}")).await.status,
        404,
        "not stored yet"
    );
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            integration_tests::root().join("infra/local-stack/events/reconciler-schedule.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let swept = app.invoke("reconciler", &event).await;
    assert_eq!(swept.status, 200, "{swept:?}");
    assert!(
        swept.body["passes"]["stored"].as_u64().unwrap() >= 1,
        "{swept:?}"
    );
    assert_eq!(app.get(&format!("/passes/{pass_id}")).await.status, 200);
    let closed = app.set_pass_status(&pass_id, "CLOSED").await;
    assert_eq!(closed.status, 200, "{closed:?}");
    app.sim_clear_faults().await;
}
