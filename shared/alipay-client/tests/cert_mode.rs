//! Certificate mode against the simulator in certificate mode over HTTP: requests carry the SNs,
//! answers verify with the certificate they name, a rotation is followed by one download, and an
//! answer whose certificate cannot be trusted is unknown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use alipay_client::cash::CashDetailQuery;
use alipay_client::oauth::{Grant, OauthToken};
use alipay_client::{
    AlipayClient, AlipayKeyError, ClientConfig, FailureKind, Outcome, UnknownReason,
};
use alipay_protocol::cert::CertModeSet;
use alipay_protocol::request::{sign_request, AppConfig, CertModeSns, UnsignedRequest};
use alipay_protocol::{AppPrivateKey, GatewayTimestamp};
use alipay_sim::{RunningSim, SimConfig};
use serde_json::{json, Value};

const USER: &str = "2088000000000077";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn app_key() -> Arc<AppPrivateKey> {
    Arc::new(AppPrivateKey::from_text(&common::read_key("app_private_pkcs1.pem")).unwrap())
}

async fn cert_sim() -> RunningSim {
    let mut config = SimConfig::from_defaults().unwrap();
    config.cert_mode = true;
    config.hang_limit = Duration::from_secs(5);
    alipay_sim::start(config).await.unwrap()
}

/// A client configured with the certificates `certs_of` handed out, talking to `sim`.
fn client(certs_of: &RunningSim, sim: &RunningSim) -> AlipayClient {
    let pems = certs_of.certs.clone().expect("certificate mode");
    let key = app_key();
    let set = CertModeSet::load(
        pems.app_cert.as_bytes(),
        pems.alipay_cert.as_bytes(),
        pems.alipay_root_cert.as_bytes(),
        &key,
        now(),
    )
    .unwrap();
    AlipayClient::new(ClientConfig::new_cert_mode(
        "2021000000000001",
        &sim.url,
        key,
        Arc::new(set),
    ))
    .unwrap()
}

fn token() -> OauthToken {
    OauthToken {
        grant: Grant::AuthorizationCode(format!("sim_code_{USER}")),
    }
}

async fn post(sim: &RunningSim, path: &str, body: Value) -> (u16, Value) {
    common::post_json(
        &reqwest::Client::new(),
        format!("{}{path}", sim.base_url),
        body,
    )
    .await
}

async fn get(sim: &RunningSim, path: &str) -> Value {
    common::get_json(&reqwest::Client::new(), format!("{}{path}", sim.base_url)).await
}

#[tokio::test]
async fn answers_verify_with_the_certificate_they_name_and_refusals_stay_refusals() {
    let sim = cert_sim().await;
    let client = client(&sim, &sim);
    match client.execute(&token()).await {
        Outcome::Success(t) => assert_eq!(t.user_id.as_deref(), Some(USER)),
        other => panic!("{other:?}"),
    }
    match client
        .execute(&CashDetailQuery {
            crowd_no: "nope".into(),
        })
        .await
    {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Business);
            assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_NOT_EXIST"));
        }
        other => panic!("{other:?}"),
    }
    let certs = get(&sim, "/sim/certs").await;
    assert_eq!(certs["alipayCerts"].as_array().unwrap().len(), 1);
    // The configured certificate's key, by SN or without one.
    let configured = client.alipay_key_for(None).await.unwrap();
    let by_sn = client
        .alipay_key_for(certs["alipayCertSn"].as_str())
        .await
        .unwrap();
    assert_eq!(configured.pkcs1_der(), by_sn.pkcs1_der());
}

#[tokio::test]
async fn a_rotation_is_followed_by_one_download_shared_by_concurrent_calls() {
    let sim = cert_sim().await;
    let client = client(&sim, &sim);
    let before = get(&sim, "/sim/certs").await["alipayCertSn"].clone();
    let (status, body) = post(&sim, "/sim/settings", json!({"rotateAlipayCert": true})).await;
    assert_eq!(status, 200, "{body}");
    let after = get(&sim, "/sim/certs").await;
    assert_ne!(after["alipayCertSn"], before);
    // Count the downloads: a latency fault on the download API fires once per call.
    let (status, _) = post(
        &sim,
        "/sim/faults",
        json!({"api": "alipay.open.app.alipaycert.download", "kind": "latency", "latencyMs": 200}),
    )
    .await;
    assert_eq!(status, 201);
    let calls = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.execute(&token()).await })
    });
    for call in calls {
        match call.await.unwrap() {
            Outcome::Success(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let faults = get(&sim, "/sim/faults").await;
    assert_eq!(faults["faults"][0]["fired"], 1, "{faults}");
    // The new key is cached: notifications naming it need no download.
    let new_key = client
        .alipay_key_for(after["alipayCertSn"].as_str())
        .await
        .unwrap();
    let old_key = client.alipay_key_for(before.as_str()).await.unwrap();
    assert_ne!(new_key.pkcs1_der(), old_key.pkcs1_der());
    assert_eq!(get(&sim, "/sim/faults").await["faults"][0]["fired"], 1);
    // An SN the platform never issued cannot be had; asked again at once, the failure is
    // answered from memory without another gateway call.
    let forged = "0123456789abcdef0123456789abcdef";
    assert!(matches!(
        client.alipay_key_for(Some(forged)).await,
        Err(AlipayKeyError::Download { .. })
    ));
    assert!(matches!(
        client.alipay_key_for(Some(forged)).await,
        Err(AlipayKeyError::RecentlyFailed { .. })
    ));
    assert_eq!(get(&sim, "/sim/faults").await["faults"][0]["fired"], 2);
}

#[tokio::test]
async fn an_answer_whose_certificate_cannot_be_had_is_unknown() {
    // The client holds simulator A's certificates but talks to simulator B (its own hierarchy):
    // B's answer names B's certificate, whose download B refuses (A's app certificate is unknown
    // there). Whether refused or untrusted (tested in the unit tests), the answer stays unknown.
    let a = cert_sim().await;
    let b = cert_sim().await;
    let client = client(&a, &b);
    match client.execute(&token()).await {
        Outcome::Unknown(UnknownReason::Unverified(why)) => {
            assert!(why.contains("gave no certificate"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_mode_success_that_names_no_certificate_is_unknown() {
    // A public-key-mode simulator signs with the test vectors' Alipay key, which is the key of the
    // fixture certificate, but names no certificate.
    let sim = alipay_sim::start(SimConfig::from_defaults().unwrap())
        .await
        .unwrap();
    let certs = |n: &str| alipay_protocol::fixtures::cert(n).unwrap();
    let key = app_key();
    let alipay_cert = [certs("alipay_cert.pem"), certs("class2.pem")].concat();
    let set = CertModeSet::load(
        &certs("app_cert.pem"),
        &alipay_cert,
        &certs("root_bundle.pem"),
        &key,
        now(),
    )
    .unwrap();
    let client = AlipayClient::new(ClientConfig::new_cert_mode(
        "2021000000000001",
        &sim.url,
        key,
        Arc::new(set),
    ))
    .unwrap();
    match client.execute(&token()).await {
        Outcome::Unknown(UnknownReason::Unverified(why)) => {
            assert!(why.contains("without alipay_cert_sn"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // A verified refusal without an SN is still a refusal.
    match client
        .execute(&CashDetailQuery {
            crowd_no: "nope".into(),
        })
        .await
    {
        Outcome::Failed(f) => assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_NOT_EXIST")),
        other => panic!("{other:?}"),
    }
}

/// A signed request with these certificate SNs (or none), answered as raw JSON.
async fn raw(sim: &RunningSim, sns: Option<(&str, &str)>) -> Value {
    let app = AppConfig {
        app_id: "2021000000000001".into(),
        cert_mode: sns.map(|(app, root)| CertModeSns {
            app_cert_sn: app.into(),
            alipay_root_cert_sn: root.into(),
        }),
    };
    let request = UnsignedRequest {
        method: "alipay.marketing.campaign.cash.detail.query",
        biz_content: Some(r#"{"crowd_no":"x"}"#),
        ..Default::default()
    };
    let signed = sign_request(&app, &app_key(), None, &request, GatewayTimestamp::now()).unwrap();
    let text = common::post_form(
        &reqwest::Client::new(),
        &signed.url(&sim.url),
        signed.form_body(),
    )
    .await;
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_simulator_refuses_requests_without_its_certificate_sns() {
    let sim = cert_sim().await;
    let certs = get(&sim, "/sim/certs").await;
    let app_sn = certs["appCertSn"].as_str().unwrap();
    let root_sn = certs["alipayRootCertSn"].as_str().unwrap();
    let sub_code = |v: &Value| v["error_response"]["sub_code"].as_str().map(str::to_string);
    assert_eq!(
        sub_code(&raw(&sim, None).await).as_deref(),
        Some("isv.missing-app-cert-sn")
    );
    assert_eq!(
        sub_code(&raw(&sim, Some(("0".repeat(32).as_str(), root_sn))).await).as_deref(),
        Some("isv.app-cert-not-exist")
    );
    assert_eq!(
        sub_code(&raw(&sim, Some((app_sn, "1".repeat(32).as_str()))).await).as_deref(),
        Some("isv.invalid-alipay-root-cert-sn")
    );
    let ok = raw(&sim, Some((app_sn, root_sn))).await;
    let node = &ok["alipay_marketing_campaign_cash_detail_query_response"];
    assert_eq!(node["sub_code"], "CAMPAIGN_NOT_EXIST", "{ok}");
    // Every answer names the signing certificate, refusals too.
    assert_eq!(ok["alipay_cert_sn"], certs["alipayCertSn"]);
    assert_eq!(
        raw(&sim, None).await["alipay_cert_sn"],
        certs["alipayCertSn"]
    );
    // Rotation in public-key mode is refused.
    let plain = alipay_sim::start(SimConfig::from_defaults().unwrap())
        .await
        .unwrap();
    let (status, _) = post(&plain, "/sim/settings", json!({"rotateAlipayCert": true})).await;
    assert_eq!(status, 422);
}
