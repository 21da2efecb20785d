//! Passes end to end: template creator, claim callback, pass store, tunnel reader — over real HTTP
//! against the function binaries, moto and the simulator.
use std::sync::OnceLock;

use integration_tests::{new_user_id, TestApp, SESSION_KEY_B64};
use serde_json::{json, Value};
use tokio::sync::RwLock;

/// Claims take the read side; tests that inject faults on `instance.add` take the write side, so a
/// fault never hits another test's claim.
pub(crate) fn claims_lock() -> &'static RwLock<()> {
    static LOCK: OnceLock<RwLock<()>> = OnceLock::new();
    LOCK.get_or_init(|| RwLock::new(()))
}

/// A session token for `user`, minted the way `POST /session` does (the test knows the key).
pub(crate) fn token_for(user: &str) -> String {
    let key = lambda_http_kit::session::SessionKey::from_base64(SESSION_KEY_B64).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    key.issue(user, now, 600).unwrap()
}

async fn claimed_pass(app: &TestApp, tpl: &str, user: &str) -> String {
    let claim = app.claim(tpl, user).await;
    assert_eq!(claim.status, 200, "{claim:?}");
    assert_eq!(claim.body["status"], 200, "{claim:?}");
    assert_eq!(claim.body["body"]["success"], true, "{claim:?}");
    claim.body["body"]["passId"].as_str().unwrap().to_string()
}

pub(crate) fn sim_passes_for<'a>(all: &'a [Value], tpl: &str, user: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|p| p["tpl_id"] == json!(tpl) && p["user_id"] == json!(user))
        .collect()
}

/// The passes Alipay holds for `user` from `tpl`, as the simulator shows them now.
pub(crate) async fn sim_passes_of(app: &TestApp, tpl: &str, user: &str) -> Vec<Value> {
    let all = app.sim_passes().await;
    sim_passes_for(&all, tpl, user)
        .into_iter()
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_claimed_pass_is_stored_by_user_and_read_back_through_every_route() {
    let _g = claims_lock().read().await;
    let app = TestApp::new();
    let mut body = app.pass_template("新人专享券");
    body["perUserLimit"] = json!(2);
    let created = app.post("/templates", &body).await;
    assert_eq!(created.status, 201, "{created:?}");
    let tpl = created.body["templateId"].as_str().unwrap().to_string();
    let user = new_user_id();
    let first = claimed_pass(&app, &tpl, &user).await;
    let second = claimed_pass(&app, &tpl, &user).await;
    assert_ne!(
        first, second,
        "two claims (two tokens) are two passes where the template allows two"
    );

    // The mini-program route, with a session token for this user: newest first.
    let token = token_for(&user);
    let mine = app
        .get_with_token(&format!("/users/{user}/passes"), &token)
        .await;
    assert_eq!(mine.status, 200, "{mine:?}");
    let ids: Vec<&str> = mine.body["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["passId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let p = &mine.body["passes"][0];
    assert_eq!(p["templateId"], json!(tpl));
    assert_eq!(p["status"], "ACTIVE");
    assert!(p["serialNumber"].as_str().is_some());

    // The apifm-compatible data tunnel.
    let pulled = app.pull_pass_ids(&user, &token).await;
    assert_eq!(pulled.status, 200, "{pulled:?}");
    assert_eq!(pulled.body["code"], 0);
    assert_eq!(pulled.body["data"]["passIds"], json!([second, first]));

    // Backend lookup by pass id, then mark it used: Alipay's instance.update and our store agree.
    let one = app.get(&format!("/passes/{first}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["userId"], json!(user));
    let used = app.set_pass_status(&first, "USED").await;
    assert_eq!(used.status, 200, "{used:?}");
    assert_eq!(used.body["status"], "USED");
    assert_eq!(
        app.get(&format!("/passes/{first}")).await.body["status"],
        "USED"
    );
    let sim = app.sim_passes().await;
    let at_alipay = sim.iter().find(|p| p["pass_id"] == json!(first)).unwrap();
    assert_eq!(at_alipay["status"], "USED");
    let closed = app.set_pass_status(&second, "CLOSED").await;
    assert_eq!(closed.body["status"], "CLOSED");
}

#[tokio::test]
async fn templates_are_listed_fetched_and_updated() {
    let app = TestApp::new();
    let tpl = app.create_template("列表测试券").await;
    let listed = app.get("/templates").await;
    assert_eq!(listed.status, 200);
    assert!(listed.body["templates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["templateId"] == json!(tpl)));
    let one = app.get(&format!("/templates/{tpl}")).await;
    assert_eq!(one.status, 200);
    assert!(one.body["tplParams"]
        .as_array()
        .unwrap()
        .contains(&json!("serialNumber")));
    let mut changed = app.pass_template("列表测试券 v2");
    changed["paramRules"] = json!({"expireTime": {"kind": "nowPlus", "hours": 24}});
    let updated = app.put(&format!("/templates/{tpl}"), &changed).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.body["templateId"], json!(tpl));
    // The same content again gets the same template (deterministic unique_id).
    let again = app
        .post("/templates", &app.pass_template("列表测试券"))
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["templateId"], json!(tpl));
}

#[tokio::test]
async fn fifty_concurrent_repeats_of_one_claim_give_one_pass() {
    let _g = claims_lock().read().await;
    let app = TestApp::new();
    let (tpl, user) = app.template_and_user("并发领取券").await;
    let url = app.mint_claim(&tpl, &user).await.url;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (http, url) = (app.http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut pass_ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => {
                pass_ids.insert(body["passId"].as_str().unwrap().to_string());
            }
            // A loser that waited past the bound is told to retry; it never issues a second pass.
            409 => assert_eq!(body["code"], "claim_in_progress", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(pass_ids.len(), 1, "{pass_ids:?}");
    let sim = app.sim_passes().await;
    assert_eq!(sim_passes_for(&sim, &tpl, &user).len(), 1);
    // A late repeat answers the same pass.
    let again = app.get_url(&url).await.body;
    assert_eq!(again["passId"].as_str().unwrap(), pass_ids.first().unwrap());
}

#[tokio::test]
async fn a_crash_after_alipay_issued_the_pass_is_recovered_without_a_second_pass() {
    let _g = claims_lock().write().await;
    let app = TestApp::new();
    let tpl = app.create_template("崩溃恢复券").await;
    for kind in [
        "commit_then_drop",
        "bad_signature",
        "http500",
        "unknown_error",
    ] {
        let user = new_user_id();
        app.sim_fault_once("alipay.pass.instance.add", kind).await;
        let url = app.mint_claim(&tpl, &user).await.url;
        let first = app.get_url(&url).await;
        let body = first.body;
        assert!(
            first.status >= 400,
            "{kind}: the first try must not look like success: {body}"
        );
        assert_eq!(body["success"], false, "{kind}: {body}");
        // The component (or the user) tries again with the same token.
        let retry = app.get_url(&url).await;
        assert_eq!(retry.status, 200, "{kind}");
        let body = retry.body;
        assert_eq!(body["success"], true, "{kind}: {body}");
        let sim = app.sim_passes().await;
        let issued = sim_passes_for(&sim, &tpl, &user);
        assert_eq!(issued.len(), 1, "{kind}: exactly one pass at Alipay");
        assert_eq!(issued[0]["pass_id"], body["passId"], "{kind}");
        let stored = app
            .get(&format!("/passes/{}", body["passId"].as_str().unwrap()))
            .await;
        assert_eq!(stored.status, 200, "{kind}");
    }
    app.sim_clear_faults().await;
}

#[tokio::test]
async fn malformed_callbacks_get_problem_details_and_never_a_pass() {
    let app = TestApp::new();
    let (tpl, user) = app.template_and_user("恶意回调券").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let stale = now - 60 * 60 * 1000;
    let cases = [
        (
            format!("templateId={tpl}&userId={user}&token=t&timestamp={now}"),
            "forged token",
        ),
        (
            format!("templateId=999999&userId={user}&token=t&timestamp={now}"),
            "unknown template",
        ),
        (
            format!("templateId={tpl}&userId=12345&token=t&timestamp={now}"),
            "bad user id",
        ),
        (
            format!("templateId={tpl}&userId={user}&token=t&timestamp={stale}"),
            "replayed (stale)",
        ),
        (
            format!("templateId={tpl}&userId={user}&timestamp={now}"),
            "no token",
        ),
        (
            format!("templateId={tpl}&userId={user}&token=t&timestamp=soon"),
            "bad timestamp",
        ),
        (String::new(), "empty query"),
    ];
    let mut codes = Vec::new();
    for (query, what) in &cases {
        let a = app
            .get_public(&format!("/alipay/pass-callback?{query}"))
            .await;
        assert!((400..500).contains(&a.status), "{what}: {a:?}");
        assert_eq!(a.content_type, "application/problem+json", "{what}");
        assert_eq!(a.body["success"], false, "{what}");
        let code = a.body["code"].as_str().unwrap().to_string();
        assert!(!code.is_empty(), "{what}");
        codes.push((what.to_string(), code));
    }
    println!("callback error codes: {codes:?}");
    let sim = app.sim_passes().await;
    assert!(sim_passes_for(&sim, &tpl, &user).is_empty());
}

#[tokio::test]
async fn bad_templates_and_bodies_get_problem_details_pointing_at_the_field() {
    let app = TestApp::new();
    let mut no_serial = app.pass_template("坏模板");
    no_serial["fileInfo"]["serialNumber"] = json!("FIXED-1");
    let a = app.post("/templates", &no_serial).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.body["code"], "invalid_template");
    assert!(
        a.has_issue(|e| e["pointer"] == "/content/fileInfo/serialNumber"),
        "{a:?}"
    );

    let mut foreign_callback = app.pass_template("坏模板");
    foreign_callback["merchant"]["mcallbackUrl"] = json!("https://evil.example/cb");
    let a = app.post("/templates", &foreign_callback).await;
    assert_eq!(a.status, 400);
    assert!(a.has_issue(|e| e["code"] == "callback_mismatch"), "{a:?}");

    let a = app.post_raw("/templates", b"{not json".to_vec()).await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (400, Some("body_invalid")),
        "{a:?}"
    );
    let a = app.post_raw("/templates", vec![b' '; 200 * 1024]).await;
    assert_eq!(a.status, 413, "{a:?}");
    let a = app.get("/templates/not%20an%20id").await;
    assert!((400..500).contains(&a.status), "{a:?}");
    let a = app.get("/passes/nope-404").await;
    assert_eq!(a.status, 404, "{a:?}");
    assert_eq!(a.content_type, "application/problem+json");
    let a = app
        .post("/passes/nope-404/status", &json!({"status": "LOST"}))
        .await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (400, Some("invalid_status")),
        "{a:?}"
    );
}

#[tokio::test]
async fn a_session_reads_only_its_own_passes() {
    let app = TestApp::new();
    let user = new_user_id();
    let other = new_user_id();
    // The mini-program's my.getAuthCode, played by the simulator, then POST /session.
    let code = app
        .sim_post("/sim/auth-codes", &json!({"userId": user}))
        .await;
    let auth_code = code.body["authCode"]
        .as_str()
        .or(code.body["code"].as_str())
        .unwrap()
        .to_string();
    let session = app.post("/session", &json!({"authCode": auth_code})).await;
    assert_eq!(session.status, 200, "{session:?}");
    assert_eq!(session.body["userId"], json!(user));
    let token = session.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get_with_token(&format!("/users/{user}/passes"), &token)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_with_token(&format!("/users/{other}/passes"), &token)
            .await
            .status,
        403
    );
    let foreign_key = format!("/channelData/pull?key=channelData_alipayPass_fetch_{other}");
    assert_eq!(app.get_with_token(&foreign_key, &token).await.status, 403);
    assert_eq!(
        app.get_public(&format!("/users/{user}/passes"))
            .await
            .status,
        401
    );
    assert_eq!(
        app.get_with_token(&format!("/users/{user}/passes"), "v1.x.1.forged")
            .await
            .status,
        403
    );
    // An unknown or reused auth code is refused with a stable code.
    let again = app.post("/session", &json!({"authCode": auth_code})).await;
    assert!((400..500).contains(&again.status), "{again:?}");
    let bad = app.post("/session", &json!({"authCode": "../etc"})).await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (400, Some("invalid_auth_code"))
    );
}
