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
