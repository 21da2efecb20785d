//! A schedule event delivered twice (or concurrently, or after a lost answer) creates one campaign.
use integration_tests::cash::cash_test;
use integration_tests::{root, TestApp};
use serde_json::{json, Value};

fn schedule_event(scheduled_time: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("infra/local-stack/events/campaign-schedule.json"))
            .unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["scheduledTime"] = json!(scheduled_time);
    event
}

/// The campaigns of a listing whose `field` is `name`.
fn named(listing: &Value, field: &str, name: &str) -> Vec<Value> {
    listing["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[field] == name)
        .cloned()
        .collect()
}

/// Campaigns named `<couponName> <slot>` in our store and at the simulator.
async fn campaigns_named(app: &TestApp, name: &str) -> (Vec<Value>, Vec<Value>) {
    let ours = app.get("/campaigns").await;
    assert_eq!(ours.status, 200, "{ours:?}");
    let sim = app.sim_get("/sim/campaigns").await;
    (
        named(&ours.body, "couponName", name),
        named(&sim.body, "coupon_name", name),
    )
}

#[tokio::test]
async fn a_schedule_event_delivered_twice_creates_one_campaign() {
    let (app, _serial) = cash_test().await;
    // 2026-11-23T01:00:00Z is 09:00 on 2026-11-23 in Beijing: the slot.
    let event = schedule_event("2026-11-23T01:00:00Z");
    let first = app.invoke("campaign-creator", &event).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["created"], true, "{first:?}");
    assert_eq!(first.body["slot"], "2026-11-23", "{first:?}");
    let crowd = first.body["campaign"]["crowdNo"]
        .as_str()
        .unwrap()
        .to_string();
    let second = app.invoke("campaign-creator", &event).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body["created"], false, "{second:?}");
    assert_eq!(
        second.body["campaign"]["crowdNo"],
        crowd.as_str(),
        "{second:?}"
    );

    let (ours, sim) = campaigns_named(&app, "每周红包 2026-11-23").await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(sim.len(), 1, "{sim:?}");
    assert_eq!(ours[0]["crowdNo"], crowd.as_str());
    assert_eq!(sim[0]["crowd_no"], crowd.as_str());
    assert_eq!(
        ours[0]["status"], "CREATED",
        "the operator has not paid yet"
    );
    assert!(ours[0]["payUrl"]
        .as_str()
        .unwrap()
        .contains(&format!("/sim/campaigns/{crowd}/pay")));
}

#[tokio::test]
async fn concurrent_deliveries_of_one_slot_create_one_campaign() {
    let (app, _serial) = cash_test().await;
    let event = schedule_event("2026-11-30T01:00:00Z");
    let (a, b) = tokio::join!(
        app.invoke("campaign-creator", &event),
        app.invoke("campaign-creator", &event)
    );
    // The loser either sees the created campaign or fails (EventBridge retries it) while the
    // winner still holds the slot; a redelivery then finds the campaign.
    let again = app.invoke("campaign-creator", &event).await;
    assert_eq!(again.body["created"], false, "{again:?}");
    let created = [&a, &b]
        .iter()
        .filter(|x| x.body["created"] == true)
        .count();
    assert_eq!(created, 1, "{a:?} {b:?}");
    let (ours, sim) = campaigns_named(&app, "每周红包 2026-11-30").await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(sim.len(), 1, "{sim:?}");
}

#[tokio::test]
async fn a_slot_whose_create_answer_was_lost_is_never_created_twice() {
    let (app, _serial) = cash_test().await;
    app.set_fault(&json!({
        "api": "alipay.marketing.campaign.cash.create",
        "kind": "commit_then_drop",
        "count": 1
    }))
    .await;
    let event = schedule_event("2026-12-07T01:00:00Z");
    let first = app.invoke("campaign-creator", &event).await;
    assert!(
        first.body.get("created").is_none(),
        "an unknown outcome fails the invocation: {first:?}"
    );
    // The redelivery finds the slot unknown, looks the campaign up by the slot's coupon name
    // (list.query) and records it instead of creating a second one.
    for _ in 0..2 {
        let again = app.invoke("campaign-creator", &event).await;
        assert_eq!(again.body["created"], false, "{again:?}");
    }
    let (ours, sim) = campaigns_named(&app, "每周红包 2026-12-07").await;
    assert_eq!(sim.len(), 1, "Alipay created it once: {sim:?}");
    assert_eq!(ours.len(), 1, "{ours:?}");
    // The operator can still pay it: Alipay's detail and list answers carry no pay URL, so the
    // record says how instead of holding an empty one.
    let crowd = sim[0]["crowd_no"].as_str().unwrap();
    match &ours[0]["payUrl"] {
        Value::String(url) => assert!(
            url.contains(&format!("/sim/campaigns/{crowd}/pay")),
            "{ours:?}"
        ),
        Value::Null => {
            let how = ours[0]["payInstructions"].as_str().unwrap_or("");
            assert!(
                !how.trim().is_empty(),
                "no payUrl and no payInstructions: {ours:?}"
            );
        }
        other => panic!("payUrl must be a URL or null, got {other}"),
    }
}
