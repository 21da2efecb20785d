//! 100 concurrent sends of one business id pay once (also when the first trigger's answer is lost).
use integration_tests::cash::{
    assert_agrees, cash_test_on, check_concurrent_answers, new_send, pe, TRIGGER,
};
use integration_tests::TestApp;
use serde_json::Value;
use std::time::Duration;

/// Once the reconciler has finished the business id's entry: it is the one payout on the campaign,
/// agreeing with it.
async fn paid_once(app: &TestApp, business_id: &str, crowd: &str) -> Value {
    let (entries, _) = app
        .reconcile_until_final(&[pe(business_id)], Duration::from_secs(30))
        .await;
    let payouts = app.payouts_on(crowd).await;
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    assert_agrees(&entries[0], &payouts);
    entries.into_iter().next().unwrap()
}

#[tokio::test]
async fn hundred_concurrent_sends_of_one_business_id_pay_once() {
    let (app, _serial, crowd) = cash_test_on("并发", "100.00", 50, "L5").await;
    let (bid, body) = new_send("conc", &crowd);
    let answers = app.send_concurrently(&body, 100).await;
    let fresh = check_concurrent_answers(&answers);
    assert!(fresh <= 1, "{fresh} fresh SENT answers");
    let entry = paid_once(&app, &bid, &crowd).await;
    let biz_no = &entry["outcome"]["bizNo"];
    for a in answers.iter().filter(|a| a.body["state"] == "SENT") {
        assert_eq!(&a.body["outcome"]["bizNo"], biz_no, "{a:?}");
    }
}

#[tokio::test]
async fn hundred_concurrent_sends_pay_once_when_the_first_answer_is_lost() {
    let (app, _serial, crowd) = cash_test_on("并发丢失", "100.00", 50, "L5").await;
    app.sim_fault_once(TRIGGER, "commit_then_drop").await;
    let (bid, body) = new_send("concdrop", &crowd);
    let answers = app.send_concurrently(&body, 100).await;
    check_concurrent_answers(&answers);
    let entry = paid_once(&app, &bid, &crowd).await;
    assert_eq!(entry["outcome"]["repeatTriggerFlag"], true, "{entry}");
}
