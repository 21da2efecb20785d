//! A DynamoDB that fails now and then, before or after applying a transaction (the caller cannot
//! tell which), as the emulator did under load: every business id is still paid exactly once, on
//! both rails, and nothing is left unresolved once the reconciler has run.
use integration_tests::cash::{envelope, new_business_id, pe, transfer_envelope, CASH_ENV};
use integration_tests::{flaky_store_stack, new_user_id, Answer, TestApp};
use serde_json::Value;
use std::time::Duration;

/// Three TransactWriteItems calls in ten fail. The SDK retries a 500 (three attempts), so a caller
/// sees a store failure when three fail in a row, and a retry of a transaction that was applied
/// before its 500 meets its own write (a failed condition).
const FAULTS_PER_MILLE: u32 = 300;
const SENDS: usize = 30;

fn flaky_app() -> TestApp {
    TestApp::on(flaky_store_stack(FAULTS_PER_MILLE, CASH_ENV))
}

/// Sends `body` the way a caller with retries does: again after every 5xx, at most ten times.
async fn send_with_retries(app: &TestApp, body: &Value) -> (Answer, usize) {
    let mut failures = 0;
    loop {
        let a = app.send_envelope(body).await;
        if a.status < 500 || failures == 10 {
            return (a, failures);
        }
        failures += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the sends, then the reconciler until every entry is final; returns the out_biz_nos and
/// how many 5xx answers the callers saw.
async fn send_all(app: &TestApp, bodies: &[Value]) -> (Vec<String>, usize) {
    let mut out_biz_nos = Vec::new();
    let mut failures = 0;
    for body in bodies {
        let (a, failed) = send_with_retries(app, body).await;
        failures += failed;
        assert!(
            (200..=202).contains(&a.status),
            "a send with retries ends answered: {a:?}"
        );
        out_biz_nos.push(pe(body["businessId"].as_str().unwrap()));
    }
    let (entries, runs) = app
        .reconcile_until_final(&out_biz_nos, Duration::from_secs(120))
        .await;
    for e in &entries {
        assert_eq!(e["state"], "SENT", "{e:?}");
        assert_eq!(e["attemptNo"], 1, "never a second number: {e:?}");
    }
    println!(
        "flaky store: {} sends, {failures} answered 5xx and were retried, {runs} reconciler runs",
        bodies.len()
    );
    (out_biz_nos, failures)
}

#[tokio::test]
async fn a_failing_store_never_pays_a_business_id_twice_on_the_campaign_rail() {
    let app = flaky_app();
    let crowd = loop {
        let a = app
            .create_campaign(&integration_tests::cash::campaign_body(
                "商店故障",
                "100.00",
                100,
                "D100|L100",
            ))
            .await;
        if a.status == 201 {
            break a.body["crowdNo"].as_str().unwrap().to_string();
        }
        assert!(a.status >= 500, "{a:?}");
    };
    app.pay_campaign(&crowd).await;
    let bodies: Vec<Value> = (0..SENDS)
        .map(|_| envelope(&new_business_id("flaky"), &new_user_id(), &crowd))
        .collect();
    let (out_biz_nos, _) = send_all(&app, &bodies).await;
    for no in &out_biz_nos {
        let paid = app.payouts_of(no).await;
        assert_eq!(paid.len(), 1, "{no}: {paid:?}");
    }
    let on_campaign = app.payouts_on(&crowd).await;
    assert_eq!(on_campaign.len(), SENDS, "one payout per business id");
}

#[tokio::test]
async fn a_failing_store_never_pays_a_business_id_twice_on_the_transfer_rail() {
    let app = flaky_app();
    let bodies: Vec<Value> = (0..SENDS)
        .map(|_| transfer_envelope(&new_business_id("flakyt"), &new_user_id(), "0.50"))
        .collect();
    let (out_biz_nos, _) = send_all(&app, &bodies).await;
    for no in &out_biz_nos {
        let orders = app.transfers_of(no).await;
        assert_eq!(orders.len(), 1, "{no}: {orders:?}");
        assert_eq!(orders[0]["status"], "SUCCESS", "{orders:?}");
    }
    let second_attempts = app.transfers_where(|no| no.starts_with("pe2")).await;
    assert_eq!(second_attempts.len(), 0, "{second_attempts:?}");
}
