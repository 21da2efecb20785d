//! The simulator plays a launch: per-API QPS limits answered with a signed `40005 Call Limited`,
//! a latency on every answer, and `GET`/`DELETE /sim/stats`. Over real HTTP with signed requests.
//! No assertion depends on how fast this machine is: a limit of 0 limits every call, and a burst
//! is checked only for what holds at any speed (no window over its limit, every call counted once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use alipay_protocol::request::{sign_request, AppConfig, UnsignedRequest};
use alipay_protocol::response::{ResponseVerifier, Root};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, GatewayTimestamp};
use alipay_sim::{RunningSim, SimConfig};
use serde_json::{json, Value};

const LIST: &str = "alipay.marketing.campaign.cash.list.query";
const TRIGGER: &str = "alipay.marketing.campaign.cash.trigger";

fn key(name: &str) -> String {
    std::fs::read_to_string(alipay_sim::default_keys_dir().join(name)).unwrap()
}

async fn sim() -> RunningSim {
    alipay_sim::start(SimConfig::from_defaults().unwrap())
        .await
        .unwrap()
}

/// A signed call of `method`; the verified node (the answer's signature is checked).
async fn call(sim: &RunningSim, method: &str, biz: Value) -> (Root, Value) {
    let app = AppConfig {
        app_id: alipay_sim::DEFAULT_APP_ID.into(),
        cert_mode: None,
    };
    let app_key = AppPrivateKey::from_text(&key("app_private_pkcs1.pem")).unwrap();
    let biz = biz.to_string();
    let req = UnsignedRequest {
        method,
        biz_content: Some(&biz),
        params: vec![],
        encrypt: false,
    };
    let signed = sign_request(&app, &app_key, None, &req, GatewayTimestamp::now()).unwrap();
    let body = reqwest::Client::new()
        .post(signed.url(&sim.url))
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(signed.form_body())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier =
        ResponseVerifier::new(AlipayPublicKey::from_text(&key("alipay_public_spki.pem")).unwrap());
    let verified = verifier
        .verify(&body, method)
        .unwrap_or_else(|e| panic!("{e}: {body}"));
    (
        verified.root,
        serde_json::from_str(&verified.content).unwrap(),
    )
}

async fn control(sim: &RunningSim, verb: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(verb, format!("{}{path}", sim.base_url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn settings(sim: &RunningSim, patch: Value) -> Value {
    let (status, body) = control(sim, reqwest::Method::POST, "/sim/settings", patch).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn stats(sim: &RunningSim) -> Value {
    let (status, body) = control(sim, reqwest::Method::GET, "/sim/stats", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A trigger the simulator's rules refuse (no such campaign) when it is executed at all.
async fn trigger_unknown_campaign(sim: &RunningSim) -> (Root, Value) {
    call(
        sim,
        TRIGGER,
        json!({"crowd_no": "NO_SUCH", "user_id": "2088000000000001"}),
    )
    .await
}

fn list_biz() -> Value {
    json!({"page_index": "1", "page_size": "10"})
}

#[tokio::test]
async fn a_call_over_its_limit_gets_a_signed_call_limited_and_is_not_executed() {
    let sim = sim().await;
    // Without a limit the trigger is executed: an unknown campaign is refused by the rules.
    let (_, node) = trigger_unknown_campaign(&sim).await;
    assert_eq!(node["sub_code"], "CAMPAIGN_NOT_EXIST", "{node}");
    let s = settings(&sim, json!({"qpsLimits": {TRIGGER: 0}})).await;
    assert_eq!(s["qpsLimits"], json!({TRIGGER: 0}));
    for _ in 0..3 {
        let (root, node) = trigger_unknown_campaign(&sim).await;
        // In the API's node, signed (verified above), no sub_code: not executed at all.
        assert_eq!(root, Root::Method, "{node}");
        assert_eq!(node, json!({"code": "40005", "msg": "Call Limited"}));
    }
    // Another API is not limited.
    let (_, node) = call(&sim, LIST, list_biz()).await;
    assert_eq!(node["code"], "10000", "{node}");
    let st = stats(&sim).await;
    assert_eq!(st["calls"][TRIGGER], 4, "{st}");
    assert_eq!(st["limited"][TRIGGER], 3, "{st}");
    assert_eq!(st["peakQps"][TRIGGER], 1, "{st}");
    assert_eq!(st["calls"][LIST], 1, "{st}");
    assert_eq!(st["limited"][LIST], 0, "{st}");
    // `{}` clears every limit.
    let s = settings(&sim, json!({"qpsLimits": {}})).await;
    assert_eq!(s["qpsLimits"], json!({}));
    let (_, node) = trigger_unknown_campaign(&sim).await;
    assert_eq!(node["sub_code"], "CAMPAIGN_NOT_EXIST", "{node}");
    // DELETE /sim/stats resets the counters.
    let (status, _) = control(&sim, reqwest::Method::DELETE, "/sim/stats", Value::Null).await;
    assert_eq!(status, 204);
    assert_eq!(
        stats(&sim).await,
        json!({"calls": {TRIGGER: 0, LIST: 0}, "limited": {TRIGGER: 0, LIST: 0}, "peakQps": {TRIGGER: 0, LIST: 0}})
    );
    // A bad limit is refused like any bad switch.
    let (status, _) = control(
        &sim,
        reqwest::Method::POST,
        "/sim/settings",
        json!({"qpsLimits": {LIST: "many"}}),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_burst_never_puts_more_than_the_limit_in_one_second() {
    let sim = sim().await;
    settings(&sim, json!({"qpsLimits": {LIST: 3}})).await;
    let mut set = tokio::task::JoinSet::new();
    let sim = std::sync::Arc::new(sim);
    for _ in 0..24 {
        let sim = sim.clone();
        set.spawn(async move { call(&sim, LIST, list_biz()).await.1 });
    }
    let answers = set.join_all().await;
    let executed = answers.iter().filter(|n| n["code"] == "10000").count() as u64;
    let limited = answers.iter().filter(|n| n["code"] == "40005").count() as u64;
    assert_eq!(executed + limited, 24, "{answers:?}");
    let st = stats(&sim).await;
    assert_eq!(st["calls"][LIST], 24, "{st}");
    assert_eq!(st["limited"][LIST], limited, "{st}");
    let peak = st["peakQps"][LIST].as_u64().unwrap();
    assert!((1..=3).contains(&peak), "{st}");
}

#[tokio::test]
async fn every_answer_waits_the_latency() {
    let sim = sim().await;
    assert_eq!(settings(&sim, json!({})).await["latencyMs"], 0);
    settings(&sim, json!({"latencyMs": 300, "qpsLimits": {LIST: 0}})).await;
    // A lower bound only (a sleep never ends early): executed and limited answers alike.
    for method in [TRIGGER, LIST] {
        let started = Instant::now();
        let _ = call(&sim, method, list_biz()).await;
        assert!(started.elapsed() >= Duration::from_millis(300), "{method}");
    }
    // DELETE /sim/faults resets every setting, these included.
    let (status, _) = control(&sim, reqwest::Method::DELETE, "/sim/faults", Value::Null).await;
    assert_eq!(status, 204);
    let s = settings(&sim, json!({})).await;
    assert_eq!(
        (s["latencyMs"].clone(), s["qpsLimits"].clone()),
        (json!(0), json!({}))
    );
}
