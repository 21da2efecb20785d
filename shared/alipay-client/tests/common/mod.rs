//! Shared test setup: a simulator started in-process on a free port, and a client pointed at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alipay_client::{AlipayClient, ClientConfig, Keys};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use alipay_sim::{RunningSim, SimConfig};
use serde_json::Value;

/// A test key of the directory the simulator reads its own from by default.
pub fn read_key(name: &str) -> String {
    std::fs::read_to_string(alipay_sim::default_keys_dir().join(name)).unwrap()
}

pub fn keys() -> Keys {
    Keys::new(
        AppPrivateKey::from_text(&read_key("app_private_pkcs1.pem")).unwrap(),
        AlipayPublicKey::from_text(&read_key("alipay_public_spki.pem")).unwrap(),
    )
}

pub struct Env {
    pub sim: RunningSim,
    pub client: AlipayClient,
    pub http: reqwest::Client,
}

pub async fn start() -> Env {
    start_with(Duration::from_secs(5)).await
}

pub async fn start_with(timeout: Duration) -> Env {
    let mut config = SimConfig::from_defaults().unwrap();
    config.hang_limit = Duration::from_secs(5);
    let sim = alipay_sim::start(config).await.unwrap();
    let client = client_for(&sim.url, timeout);
    Env {
        sim,
        client,
        http: reqwest::Client::new(),
    }
}

pub fn client_for(url: &str, timeout: Duration) -> AlipayClient {
    AlipayClient::new(
        ClientConfig::new("2021000000000001", url, keys())
            .with_timeouts(Duration::from_secs(2), timeout),
    )
    .unwrap()
}

impl Env {
    pub fn control(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url, path)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        post_json(&self.http, self.control(path), body).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        get_json(&self.http, self.control(path)).await
    }

    pub async fn payouts(&self) -> Vec<Value> {
        self.get_json("/sim/payouts").await["payouts"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn passes(&self) -> Vec<Value> {
        self.get_json("/sim/passes").await["passes"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn fault(&self, spec: Value) {
        let (status, body) = self.post_json("/sim/faults", spec).await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn clear_faults(&self) {
        let r = self
            .http
            .delete(self.control("/sim/faults"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
}

/// POSTs JSON to `url`: the status, and the answer as JSON (as a JSON string when it is not JSON).
pub async fn post_json(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// GETs `url`: the answer, which must be JSON.
pub async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let text = http.get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}

/// POSTs a form body to the gateway at `url`, as the SDKs do: the answer's text.
pub async fn post_form(http: &reqwest::Client, url: &str, form: String) -> String {
    http.post(url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
