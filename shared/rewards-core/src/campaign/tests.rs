use super::*;
use crate::error::DomainError;
use crate::testkit::*;

#[test]
fn frequency_grammar() {
    for ok in ["L1", "D1|L5", "W2|L2", "L100", "M3|L10"] {
        assert!(SendFrequency::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "D1", "D1|W1|L5", "L101", "D6|L5", "L0", "X1|L1", "L1|L2", "L", "D1|L5|",
    ] {
        assert!(SendFrequency::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(SendFrequency::parse("D1|L5").unwrap().lifetime_limit(), 5);
}

fn input() -> NewCampaignInput {
    NewCampaignInput {
        coupon_name: Some("周一红包".into()),
        prize_type: Some("fixed".into()),
        total_money: Some("20.00".into()),
        total_num: Some(10),
        prize_msg: Some("恭喜".into()),
        start_time: Some("NowTime".into()),
        end_time: Some("2024-03-01 00:00:00".into()),
        merchant_link: Some("https://example.com".into()),
        send_frequency: Some("D1|L5".into()),
    }
}

/// The field `validate` names when it refuses `i`.
fn refused_field(i: &NewCampaignInput, now: Timestamp) -> Option<&'static str> {
    match i.validate(now) {
        Err(CampaignError::BadInput { field, .. }) => Some(field),
        _ => None,
    }
}

#[test]
fn input_validation() {
    let now = Timestamp::parse_beijing("2024-01-01 00:00:00").unwrap();
    assert!(input().validate(now).is_ok());
    let mut i = input();
    i.total_money = Some("0.50".into());
    assert_eq!(refused_field(&i, now), Some("totalMoney"));
    let mut i = input();
    i.total_num = Some(3);
    assert_eq!(refused_field(&i, now), Some("totalNum"));
    let mut i = input();
    i.end_time = Some("2024-09-01 00:00:00".into());
    assert_eq!(refused_field(&i, now), Some("endTime"));
    let mut i = input();
    i.prize_type = Some("other".into());
    assert_eq!(refused_field(&i, now), Some("prizeType"));
}

fn plan() -> SchedulePlan {
    SchedulePlan {
        plan_id: "monday".into(),
        coupon_name: "周一红包".into(),
        prize_type: PrizeType::Fixed,
        total_money: AmountFen::from_fen(100_000).unwrap(),
        total_num: 500,
        prize_msg: "恭喜".into(),
        duration_hours: 24,
        merchant_link: "https://example.com".into(),
        send_frequency: None,
    }
}

#[tokio::test]
async fn slot_delivered_twice_creates_one_campaign() {
    let w = World::new();
    let svc = w.campaign_service();
    let a = svc.create_for_slot(&plan(), "2024-06-03").await.unwrap();
    let b = svc.create_for_slot(&plan(), "2024-06-03").await.unwrap();
    let (SlotOutcome::Created(a), SlotOutcome::AlreadyCreated(b)) = (a, b) else {
        panic!()
    };
    assert_eq!(a.crowd_no, b.crowd_no);
    assert_eq!(w.cash_gw.campaigns_created(), 1);
    assert!(a
        .pay_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://")));
    assert_eq!(a.coupon_name, "周一红包 2024-06-03");
}

#[tokio::test]
async fn unknown_slot_is_never_recreated_and_reconciles_by_name() {
    let w = World::new();
    let svc = w.campaign_service();
    w.cash_gw.fail_next_create(GwFault::UnknownAfter);
    // The first create loses its answer; the next delivery of the slot's event is refused, not created.
    for code in ["alipay_unavailable", "slot_needs_reconciliation"] {
        let refused = svc.create_for_slot(&plan(), "2024-06-03").await;
        assert_eq!(refused.unwrap_err().code(), code);
    }
    assert_eq!(w.cash_gw.campaigns_created(), 1);
    let camp = svc
        .reconcile_slot(&plan(), "2024-06-03")
        .await
        .unwrap()
        .unwrap();
    let again = svc.create_for_slot(&plan(), "2024-06-03").await.unwrap();
    assert_eq!(again, SlotOutcome::AlreadyCreated(camp));
    assert_eq!(w.cash_gw.campaigns_created(), 1);
}

#[tokio::test]
async fn unknown_before_send_reconciles_to_free_slot() {
    let w = World::new();
    let svc = w.campaign_service();
    w.cash_gw.fail_next_create(GwFault::UnknownBefore);
    assert!(svc.create_for_slot(&plan(), "s1").await.is_err());
    assert_eq!(svc.reconcile_slot(&plan(), "s1").await.unwrap(), None);
    assert!(matches!(
        svc.create_for_slot(&plan(), "s1").await.unwrap(),
        SlotOutcome::Created(_)
    ));
    assert_eq!(w.cash_gw.campaigns_created(), 1);
}

#[tokio::test]
async fn status_and_refresh() {
    let w = World::new();
    let svc = w.campaign_service();
    let c = svc
        .create(&input().validate(w.clock.now()).unwrap())
        .await
        .unwrap();
    assert_eq!(c.status, CampaignStatus::Created);
    w.cash_gw.set_status(c.crowd_no.as_str(), "READY");
    assert_eq!(
        svc.refresh(&c.crowd_no).await.unwrap().status,
        CampaignStatus::Ready
    );
    assert_eq!(
        svc.set_status(&c.crowd_no, CampaignStatus::Pause)
            .await
            .unwrap()
            .status,
        CampaignStatus::Pause
    );
    assert_eq!(
        svc.set_status(&c.crowd_no, CampaignStatus::Created)
            .await
            .unwrap_err()
            .code(),
        "invalid_status"
    );
    assert_eq!(svc.list(10).await.unwrap().len(), 1);
}
