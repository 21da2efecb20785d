//! Every answer in time, in our format: a hanging Alipay, DynamoDB or Secrets Manager gives a 503
//! problem+json with `Retry-After` from the function itself, before the function timeout (where
//! local-stack, like API Gateway, would answer `504 {"message":"Endpoint request timed out"}`).
//! The hanging AWS services are TCP listeners that accept and never answer, set as the endpoint of
//! one service for a stack of their own.
use integration_tests::{new_user_id, stack_named, Answer, Dependency, Stack, TestApp};
use serde_json::json;

use crate::passes::{claims_lock, token_for};

fn hanging(service_endpoint_var: &str) -> Vec<(String, Dependency)> {
    vec![(service_endpoint_var.to_string(), Dependency::BlackHole)]
}

fn hanging_dynamodb() -> &'static Stack {
    stack_named("hanging-dynamodb", hanging("AWS_ENDPOINT_URL_DYNAMODB"))
}

fn hanging_secrets() -> &'static Stack {
    stack_named(
        "hanging-secrets-manager",
        hanging("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
    )
}

/// Our 503: problem+json with a stable code and `Retry-After` (never the front's 504).
fn assert_retryable_503(a: &Answer, code: &str) {
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.content_type, "application/problem+json", "{a:?}");
    assert_eq!(a.body["code"], code, "{a:?}");
    assert_eq!(a.body["status"], 503, "{a:?}");
    let seconds: u32 = a
        .retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {a:?}"));
    assert!(seconds >= 1, "{a:?}");
}

/// The claim component's fields beside the problem.
fn assert_component_failure(a: &Answer) {
    assert_eq!(a.body["success"], false, "{a:?}");
    assert!(a.body["message"].as_str().is_some(), "{a:?}");
}

#[tokio::test]
async fn a_hanging_alipay_answers_the_claim_component_within_its_budget_and_loses_no_claim() {
    let _g = claims_lock().write().await;
    let app = TestApp::new();
    let (tpl, user) = app.template_and_user("准时应答券").await;
    app.sim_fault_once("alipay.pass.instance.add", "hang").await;
    let url = app.mint_claim(&tpl, &user).await.url;

    // The component gets our answer (the callback's budget, ClaimAnswerBudgetMs, is far below the
    // function timeout, so a 503 here was written by the function, not by the front).
    let first = app.get_url(&url).await;
    assert_retryable_503(&first, "alipay_unavailable");
    assert_component_failure(&first);
    app.sim_clear_faults().await;

    // The claim record was written before Alipay was called: the retry issues exactly one pass.
    let retry = app.get_url(&url).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.body["success"], true, "{retry:?}");
    let held: Vec<_> = app
        .sim_passes()
        .await
        .into_iter()
        .filter(|p| p["tpl_id"] == json!(tpl) && p["user_id"] == json!(user))
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["pass_id"], retry.body["passId"]);
}

#[tokio::test]
async fn a_hanging_dynamodb_gives_503_on_every_route() {
    let app = TestApp::on(hanging_dynamodb());
    let user = new_user_id();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mine_path = format!("/users/{user}/passes");
    let token = token_for(&user);
    let claim_path =
        format!("/alipay/pass-callback?templateId=tpl1&userId={user}&token=t&timestamp={now_ms}");
    let send_body =
        json!({"reason": "referral", "businessId": "hang-1", "userId": user, "crowdNo": "C1"});
    let (by_id, mine, claim, send) = tokio::join!(
        app.get("/passes/20260101000000000001"),
        app.get_with_token(&mine_path, &token),
        app.get_public(&claim_path),
        app.post("/envelopes", &send_body),
    );
    assert_retryable_503(&by_id, "store_unavailable");
    assert_retryable_503(&mine, "store_unavailable");
    assert_retryable_503(&claim, "store_unavailable");
    assert_component_failure(&claim);
    assert_eq!(send.status, 503, "{send:?}");
    assert_eq!(send.content_type, "application/problem+json", "{send:?}");
    assert!(send.retry_after.is_some(), "{send:?}");
}

#[tokio::test]
async fn a_hanging_alipay_gives_503_to_post_session() {
    // This stack's own simulator, so the fault touches no other test's session.
    let app = TestApp::on(hanging_dynamodb());
    let fault = json!({"api": "alipay.system.oauth.token", "kind": "hang"});
    assert!(app.sim_post("/sim/faults", &fault).await.status < 300);
    let code = app
        .sim_post("/sim/auth-codes", &json!({"userId": new_user_id()}))
        .await;
    let code = code.body["code"].as_str().unwrap().to_string();
    let a = app
        .post_public("/session", &json!({"authCode": code}))
        .await;
    assert_retryable_503(&a, "alipay_unavailable");
}

#[tokio::test]
async fn a_hanging_secrets_manager_gives_503_not_a_crash() {
    let app = TestApp::on(hanging_secrets());
    let user = new_user_id();
    let claim_path =
        format!("/alipay/pass-callback?templateId=tpl1&userId={user}&token=t&timestamp=1");
    let session_body = json!({"authCode": "abc"});
    let (session, claim) = tokio::join!(
        app.post_public("/session", &session_body),
        app.get_public(&claim_path),
    );
    assert_retryable_503(&session, "dependency_unavailable");
    assert_retryable_503(&claim, "dependency_unavailable");
    assert_component_failure(&claim);
}
