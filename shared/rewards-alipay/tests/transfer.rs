//! The transfer port against the real simulator over HTTP: every outcome and lookup the domain
//! matches on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alipay_client::{AlipayClient, AmountFen, ClientConfig, Keys};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use rewards_alipay::AlipayGateway;
use rewards_core::ids::{OpenId, OutBizNo, UserId};
use rewards_core::payout::Recipient;
use rewards_core::ports::{
    RefusalClass, SceneReportInfo, TransferGateway, TransferLookup, TransferOrder, TransferOutcome,
    TransferProduct, TransferStatus,
};

fn key(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../tests/vectors/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn gateway(url: &str) -> AlipayGateway {
    let keys = Keys::new(
        AppPrivateKey::from_text(&key("app_private_pkcs1.pem")).unwrap(),
        AlipayPublicKey::from_text(&key("alipay_public_spki.pem")).unwrap(),
    );
    let config = ClientConfig::new("2021000000000001", url, keys)
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
    AlipayGateway::new(AlipayClient::new(config).unwrap())
}

fn order(out: &str, payee: Recipient, product: TransferProduct) -> TransferOrder {
    TransferOrder {
        out_biz_no: OutBizNo::parse(out).unwrap(),
        amount: AmountFen::from_fen(120).unwrap(),
        product,
        payee,
        order_title: "现金红包".into(),
        scene_name: "现金营销".into(),
        scene_report_infos: vec![
            SceneReportInfo {
                info_type: "活动名称".into(),
                info_content: "新年".into(),
            },
            SceneReportInfo {
                info_type: "奖励说明".into(),
                info_content: "签到".into(),
            },
        ],
        notify_url: None,
    }
}

fn user(u: &str) -> Recipient {
    Recipient::UserId(UserId::parse(u).unwrap())
}

async fn settings(base: &str, body: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/sim/settings"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

async fn fault(base: &str, body: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/sim/faults"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

fn class(o: TransferOutcome) -> Option<RefusalClass> {
    match o {
        TransferOutcome::Refused(r) => Some(r.class),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn outcomes_and_lookups_keep_their_meaning() {
    let sim = alipay_sim::start(alipay_sim::SimConfig::from_defaults().unwrap())
        .await
        .unwrap();
    let gw = gateway(&sim.url);
    let red = TransferProduct::StdRedPacket;
    let no = |s: &str| OutBizNo::parse(s).unwrap();

    // Nothing there yet: a signed ORDER_NOT_EXIST.
    assert_eq!(gw.query(&no("pe_a1"), red).await, TransferLookup::NotFound);
    // Paid, with its receipt.
    match gw
        .transfer(&order("pe_a1", user("2088000000000001"), red))
        .await
    {
        TransferOutcome::Accepted(r) => {
            assert_eq!(r.status, Some(TransferStatus::Success));
            assert_eq!(r.out_biz_no.as_deref(), Some("pe_a1"));
            assert!(r.order_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    match gw.query(&no("pe_a1"), red).await {
        TransferLookup::Found(r) => {
            assert_eq!(r.status, Some(TransferStatus::Success));
            assert_eq!(r.amount, Some(AmountFen::from_fen(120).unwrap()));
        }
        other => panic!("{other:?}"),
    }
    // Asked under the other product, Alipay holds nothing.
    assert_eq!(
        gw.query(&no("pe_a1"), TransferProduct::TransAccountNoPwd)
            .await,
        TransferLookup::NotFound
    );
    // Same number, other parameters: unknown, never a refusal.
    let mut changed = order("pe_a1", user("2088000000000001"), red);
    changed.amount = AmountFen::from_fen(121).unwrap();
    assert!(matches!(
        gw.transfer(&changed).await,
        TransferOutcome::Unknown(_)
    ));
    // A payee Alipay does not know: definite.
    let nobody =
        Recipient::OpenId(OpenId::parse(alipay_sim::state::PAYEE_NOT_EXIST_OPEN_ID).unwrap());
    assert_eq!(
        class(gw.transfer(&order("pe_a2", nobody, red)).await),
        Some(RefusalClass::Definite)
    );
    // The payer's balance: retry later, then the same order goes through.
    settings(&sim.base_url, r#"{"payerBalanceFen":100}"#).await;
    let a3 = order(
        "pe_a3",
        user("2088000000000002"),
        TransferProduct::TransAccountNoPwd,
    );
    assert_eq!(
        class(gw.transfer(&a3).await),
        Some(RefusalClass::RetryLater)
    );
    settings(&sim.base_url, r#"{"payerBalanceFen":1000}"#).await;
    assert!(matches!(
        gw.transfer(&a3).await,
        TransferOutcome::Accepted(_)
    ));
    // A platform that does not know, and a body cut after the commit: unknown; the query tells.
    fault(
        &sim.base_url,
        r#"{"api":"alipay.fund.trans.uni.transfer","kind":"commit_then_drop","count":1}"#,
    )
    .await;
    let a4 = order("pe_a4", user("2088000000000003"), red);
    assert!(matches!(
        gw.transfer(&a4).await,
        TransferOutcome::Unknown(_)
    ));
    assert!(matches!(
        gw.query(&no("pe_a4"), red).await,
        TransferLookup::Found(_)
    ));
    fault(
        &sim.base_url,
        r#"{"api":"alipay.fund.trans.common.query","kind":"unknown_error","count":1}"#,
    )
    .await;
    assert!(matches!(
        gw.query(&no("pe_a4"), red).await,
        TransferLookup::Unknown(_)
    ));
    fault(
        &sim.base_url,
        r#"{"api":"alipay.fund.trans.common.query","kind":"bad_signature","count":1}"#,
    )
    .await;
    assert!(matches!(
        gw.query(&no("pe_zz"), red).await,
        TransferLookup::Unknown(_)
    ));
}

#[tokio::test]
async fn a_request_that_never_left_is_unknown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = gateway(&format!("http://127.0.0.1:{port}/gateway.do"));
    let red = TransferProduct::StdRedPacket;
    assert!(matches!(
        gw.transfer(&order("pe_b1", user("2088000000000001"), red))
            .await,
        TransferOutcome::Unknown(_)
    ));
    assert!(matches!(
        gw.query(&OutBizNo::parse("pe_b1").unwrap(), red).await,
        TransferLookup::Unknown(_)
    ));
}
