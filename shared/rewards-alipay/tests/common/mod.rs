//! Shared test setup: the adapter pointed at a simulator (or at a port nobody listens on), with the
//! test keys the simulator pairs with by default, and its control routes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use alipay_client::{AlipayClient, ClientConfig, Keys};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use rewards_alipay::AlipayGateway;

fn key(name: &str) -> String {
    std::fs::read_to_string(alipay_sim::default_keys_dir().join(name)).unwrap()
}

/// A client configuration for `url` with the keys of a simulator started from its defaults.
pub fn config(url: &str) -> ClientConfig {
    let keys = Keys::new(
        AppPrivateKey::from_text(&key("app_private_pkcs1.pem")).unwrap(),
        AlipayPublicKey::from_text(&key("alipay_public_spki.pem")).unwrap(),
    );
    ClientConfig::new("2021000000000001", url, keys)
}

/// The adapter over a client made from `config`.
pub fn gateway_with(config: ClientConfig) -> AlipayGateway {
    AlipayGateway::new(AlipayClient::new(config).unwrap())
}

/// A gateway URL on a port nobody listens on: the connection is refused before anything is sent.
pub fn unreachable_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/gateway.do")
}

/// POSTs `body` to the simulator's control route `path` and checks the status it answers.
pub async fn control(base: &str, path: &str, body: serde_json::Value, status: u16) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), status, "{path} {body}");
}
