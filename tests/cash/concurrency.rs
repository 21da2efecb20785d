//! 100 concurrent sends of one business id pay once (also when the first trigger's answer is lost).
use integration_tests::cash::{
    assert_agrees, cash_app, envelope, new_business_id, pe, serial, TRIGGER,
};
use integration_tests::{new_user_id, Answer, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

async fn hundred(app: &TestApp, body: &Value) -> Vec<Answer> {
    let app = Arc::new(TestApp {
        api: app.api.clone(),
        sim: app.sim.clone(),
        http: app.http.clone(),
    });
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (app, body) = (app.clone(), body.clone());
        set.spawn(async move { app.send_envelope(&body).await });
    }
    set.join_all().await
}

fn check_answers(answers: &[Answer]) -> usize {
    let mut fresh = 0;
    for a in answers {
        match a.status {
            201 => {
                fresh += 1;
                assert_eq!(a.body["state"], "SENT", "{a:?}");
            }
            200 => assert_eq!(a.body["state"], "SENT", "{a:?}"),
            202 => assert!(
                matches!(a.body["state"].as_str(), Some("PENDING" | "UNKNOWN")),
                "{a:?}"
            ),
            409 => assert_eq!(a.body["code"], "payout_busy", "{a:?}"),
            _ => panic!("unexpected answer {a:?}"),
        }
    }
    fresh
}

#[tokio::test]
async fn hundred_concurrent_sends_of_one_business_id_pay_once() {
    let app = cash_app();
    let _serial = serial(&app).await;
    let crowd = app.ready_campaign("并发", "100.00", 50, "L5").await;
    let bid = new_business_id("conc");
    let body = envelope(&bid, &new_user_id(), &crowd);
    let answers = hundred(&app, &body).await;
    let fresh = check_answers(&answers);
    assert!(fresh <= 1, "{fresh} fresh SENT answers");
    let (entries, _) = app
        .reconcile_until_final(&[pe(&bid)], Duration::from_secs(30))
        .await;
    let payouts = app.payouts_on(&crowd).await;
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    assert_agrees(&entries[0], &payouts);
    let biz_no = &entries[0]["outcome"]["bizNo"];
    for a in answers.iter().filter(|a| a.body["state"] == "SENT") {
        assert_eq!(&a.body["outcome"]["bizNo"], biz_no, "{a:?}");
    }
}

#[tokio::test]
async fn hundred_concurrent_sends_pay_once_when_the_first_answer_is_lost() {
    let app = cash_app();
    let _serial = serial(&app).await;
    let crowd = app.ready_campaign("并发丢失", "100.00", 50, "L5").await;
    app.set_fault(&json!({"api": TRIGGER, "kind": "commit_then_drop", "count": 1}))
        .await;
    let bid = new_business_id("concdrop");
    let body = envelope(&bid, &new_user_id(), &crowd);
    let answers = hundred(&app, &body).await;
    check_answers(&answers);
    let (entries, _) = app
        .reconcile_until_final(&[pe(&bid)], Duration::from_secs(30))
        .await;
    let payouts = app.payouts_on(&crowd).await;
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    assert_agrees(&entries[0], &payouts);
    assert_eq!(
        entries[0]["outcome"]["repeatTriggerFlag"], true,
        "{entries:?}"
    );
}
