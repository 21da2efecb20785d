//! The transfer port against the real simulator over HTTP: every outcome and lookup the domain
//! matches on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use alipay_client::AmountFen;
use rewards_alipay::AlipayGateway;
use rewards_core::ids::{OpenId, OutBizNo, UserId};
use rewards_core::payout::Recipient;
use rewards_core::ports::{
    RefusalClass, SceneReportInfo, TransferGateway, TransferLookup, TransferOrder, TransferOutcome,
    TransferProduct, TransferStatus,
};

fn gateway(url: &str) -> AlipayGateway {
    common::gateway_with(
        common::config(url).with_timeouts(Duration::from_secs(2), Duration::from_secs(2)),
    )
}

fn order(out: &str, payee: Recipient, product: TransferProduct) -> TransferOrder {
    TransferOrder {
        out_biz_no: OutBizNo::parse(out).unwrap(),
        amount: AmountFen::from_fen(120).unwrap(),
        product,
        payee,
        order_title: "现金红包".into(),
        scene_name: "现金营销".into(),
        scene_report_infos: SceneReportInfo::cash_marketing("新年", "签到"),
        notify_url: None,
    }
}

fn user(u: &str) -> Recipient {
    Recipient::UserId(UserId::parse(u).unwrap())
}

async fn settings(base: &str, body: serde_json::Value) {
    common::control(base, "/sim/settings", body, 200).await;
}

/// One fault of `kind` on the next call of `api`.
async fn fault_once(base: &str, api: &str, kind: &str) {
    let body = serde_json::json!({"api": api, "kind": kind, "count": 1});
    common::control(base, "/sim/faults", body, 201).await;
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
    settings(&sim.base_url, serde_json::json!({"payerBalanceFen": 100})).await;
    let a3 = order(
        "pe_a3",
        user("2088000000000002"),
        TransferProduct::TransAccountNoPwd,
    );
    assert_eq!(
        class(gw.transfer(&a3).await),
        Some(RefusalClass::RetryLater)
    );
    settings(&sim.base_url, serde_json::json!({"payerBalanceFen": 1000})).await;
    assert!(matches!(
        gw.transfer(&a3).await,
        TransferOutcome::Accepted(_)
    ));
    // A platform that does not know, and a body cut after the commit: unknown; the query tells.
    fault_once(
        &sim.base_url,
        "alipay.fund.trans.uni.transfer",
        "commit_then_drop",
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
    // A query the platform cannot answer, or answers unsigned: unknown, whatever Alipay holds.
    for (kind, out) in [("unknown_error", "pe_a4"), ("bad_signature", "pe_zz")] {
        fault_once(&sim.base_url, "alipay.fund.trans.common.query", kind).await;
        assert!(
            matches!(gw.query(&no(out), red).await, TransferLookup::Unknown(_)),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_request_that_never_left_is_unknown() {
    let gw = gateway(&common::unreachable_url());
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
