//! The adapter against the real simulator over HTTP: outcomes keep their class and fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use rewards_alipay::AlipayGateway;
use rewards_core::ids::{CrowdNo, OutBizNo, UserId};
use rewards_core::payout::Recipient;
use rewards_core::ports::{CashGateway, TriggerRequest};
use rewards_core::GatewayOutcome;

fn gateway(url: &str) -> AlipayGateway {
    common::gateway_with(common::config(url))
}

fn trigger(crowd: &str) -> TriggerRequest {
    TriggerRequest {
        crowd_no: CrowdNo::parse(crowd).unwrap(),
        recipient: Recipient::UserId(UserId::parse("2088000000000001").unwrap()),
        out_biz_no: OutBizNo::parse("pe_adapter_1").unwrap(),
        order_price: None,
    }
}

#[tokio::test]
async fn a_definite_refusal_keeps_its_codes() {
    let sim = alipay_sim::start(alipay_sim::SimConfig::from_defaults().unwrap())
        .await
        .unwrap();
    match gateway(&sim.url).trigger(&trigger("NO_SUCH_CROWD")).await {
        GatewayOutcome::Failed(f) => {
            assert_eq!(f.code, "40004");
            assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_NOT_EXIST"));
            assert!(f.reason().contains("现金活动不存在"), "{f:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_request_that_never_left_is_unknown_not_a_refusal() {
    // A port nobody listens on: the connection is refused before anything is sent.
    let url = common::unreachable_url();
    assert!(matches!(
        gateway(&url).trigger(&trigger("C1")).await,
        GatewayOutcome::Unknown(_)
    ));
}

/// A rate-limit answer is "not now": every port answers Throttled (never Failed), with a diagnostic
/// that says it was throttled and carries none of Alipay's text.
#[tokio::test]
async fn a_throttled_call_is_throttled_on_every_port() {
    use rewards_core::ids::TemplateId;
    use rewards_core::ids::UserToken;
    use rewards_core::ports::{IssuePassRequest, PassGateway, TransferGateway, TransferLookup};
    use rewards_core::ports::{TransferOutcome, TransferProduct};

    let sim = alipay_sim::start(alipay_sim::SimConfig::from_defaults().unwrap())
        .await
        .unwrap();
    let limits = serde_json::json!({"qpsLimits": {
        "alipay.marketing.campaign.cash.trigger": 0,
        "alipay.pass.instance.add": 0,
        "alipay.fund.trans.uni.transfer": 0,
        "alipay.fund.trans.common.query": 0,
    }});
    common::control(&sim.base_url, "/sim/settings", limits, 200).await;
    let gw = gateway(&sim.url);
    let check = |diagnostic: String| {
        assert!(
            diagnostic.starts_with(rewards_alipay::THROTTLED),
            "{diagnostic}"
        );
        assert!(diagnostic.contains("40005"), "{diagnostic}");
        assert!(!diagnostic.contains("Call Limited"), "{diagnostic}");
    };
    match gw.trigger(&trigger("ANY_CROWD")).await {
        GatewayOutcome::Throttled(d) => check(d),
        other => panic!("{other:?}"),
    }
    let issue = IssuePassRequest {
        tpl_id: TemplateId::parse("2024010200000000000000001").unwrap(),
        tpl_params: std::collections::BTreeMap::from([("serialNumber".into(), "S1".into())]),
        user_id: UserId::parse("2088000000000001").unwrap(),
        user_token: UserToken::parse("token-1").unwrap(),
    };
    match gw.issue_pass(&issue).await {
        GatewayOutcome::Throttled(d) => check(d),
        other => panic!("{other:?}"),
    }
    let order = rewards_core::ports::TransferOrder {
        out_biz_no: OutBizNo::parse("pe_throttled_1").unwrap(),
        amount: alipay_client::AmountFen::from_fen(120).unwrap(),
        product: TransferProduct::StdRedPacket,
        payee: Recipient::UserId(UserId::parse("2088000000000001").unwrap()),
        order_title: "现金红包".into(),
        scene_name: "现金营销".into(),
        scene_report_infos: rewards_core::ports::SceneReportInfo::cash_marketing("新年", "签到"),
        notify_url: None,
    };
    match gw.transfer(&order).await {
        TransferOutcome::Throttled(d) => check(d),
        other => panic!("{other:?}"),
    }
    match gw
        .query(&order.out_biz_no, TransferProduct::StdRedPacket)
        .await
    {
        TransferLookup::Throttled(d) => check(d),
        other => panic!("{other:?}"),
    }
    // Nothing was executed: no payout, no pass, no transfer order.
    for (path, field) in [
        ("/sim/payouts", "payouts"),
        ("/sim/passes", "passes"),
        ("/sim/transfers", "transfers"),
    ] {
        let body: serde_json::Value = reqwest::get(format!("{}{path}", sim.base_url))
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        assert_eq!(body[field], serde_json::json!([]), "{path}");
    }
}
