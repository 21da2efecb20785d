//! Clear, stable refusals: an unpaid campaign, an exhausted budget, a per-user limit, a paused and a
//! closed campaign, a business id reused for another user, a bad request.
use integration_tests::cash::{
    assert_code, assert_state, campaign_body, cash_test_on, cash_test_on_unpaid, envelope,
    new_business_id, new_send, pe,
};
use integration_tests::{new_user_id, Answer, TestApp};
use serde_json::json;

/// A problem+json answer with this status and code.
fn assert_problem(a: &Answer, status: u16, code: &str) {
    assert_code(a, status, code);
    assert_eq!(a.content_type, "application/problem+json", "{a:?}");
    assert_eq!(a.body["status"], status, "{a:?}");
    for field in ["type", "title", "detail"] {
        assert!(a.body[field].is_string(), "{field} missing: {a:?}");
    }
}

async fn assert_no_entry(app: &TestApp, business_id: &str) {
    let a = app.envelope_entry(&pe(business_id)).await;
    assert_problem(&a, 404, "payout_not_found");
    assert!(app.payouts_of(&pe(business_id)).await.is_empty());
}

#[tokio::test]
async fn an_unpaid_campaign_is_refused_before_the_ledger_write() {
    let (app, _serial, crowd) =
        cash_test_on_unpaid(&campaign_body("未付款活动", "10.00", 5, "L1")).await;
    let (bid, body) = new_send("unpaid", &crowd);
    for _ in 0..2 {
        let a = app.send_envelope(&body).await;
        assert_problem(&a, 422, "campaign_not_paid");
    }
    assert_no_entry(&app, &bid).await;
    // Once paid, the same send goes through.
    app.pay_campaign(&crowd).await;
    assert_state(&app.send_envelope(&body).await, 201, "SENT");
    assert_eq!(app.payouts_of(&pe(&bid)).await.len(), 1);
}

#[tokio::test]
async fn an_exhausted_budget_is_a_definite_failure_with_a_stable_code() {
    let (app, _serial, crowd) = cash_test_on("一个红包", "1.00", 1, "L1").await;
    app.paid_send("budget", &new_user_id(), &crowd).await;
    let (bid, body) = new_send("budget", &crowd);
    let a = app.send_envelope(&body).await;
    assert_problem(&a, 422, "budget_exhausted");
    assert_eq!(a.body["entry"]["state"], "FAILED", "{a:?}");
    assert_eq!(
        a.body["entry"]["outcome"]["failureReason"], "红包已领完",
        "{a:?}"
    );
    // A repeat answers the recorded failure (same code), still no payout.
    let again = app.send_envelope(&body).await;
    assert_problem(&again, 422, "budget_exhausted");
    assert_eq!(app.envelope_entry(&pe(&bid)).await.body["state"], "FAILED");
    assert!(app.payouts_of(&pe(&bid)).await.is_empty());
    assert_eq!(app.payouts_on(&crowd).await.len(), 1);

    // Only a definite failure frees the business id: on a new campaign it is attempt 2.
    let next = app.ready_campaign("下一批", "10.00", 5, "L1").await;
    let mut body = body;
    body["crowdNo"] = json!(next);
    let retried = app.send_envelope(&body).await;
    assert_eq!(retried.status, 201, "{retried:?}");
    assert_eq!(
        retried.body["outBizNo"],
        format!("pe2_{bid}"),
        "{retried:?}"
    );
    assert_eq!(retried.body["attemptNo"], 2, "{retried:?}");
    assert_eq!(app.payouts_of(&format!("pe2_{bid}")).await.len(), 1);
    assert!(app.payouts_of(&pe(&bid)).await.is_empty());
    let repeat = app.send_envelope(&body).await;
    assert_eq!(repeat.status, 200, "{repeat:?}");
    assert_eq!(repeat.body["outBizNo"], format!("pe2_{bid}"), "{repeat:?}");
}

#[tokio::test]
async fn a_per_user_limit_is_a_definite_failure_with_a_stable_code() {
    let (app, _serial, crowd) = cash_test_on("每人一次", "10.00", 10, "L1").await;
    let (user, bid, a) = app.over_the_user_limit("limit", &crowd).await;
    assert_problem(&a, 422, "user_limit_reached");
    assert_eq!(
        a.body["entry"]["outcome"]["failureReason"], "超过领取次数限制",
        "{a:?}"
    );
    let again = app.send_points(&bid, &user, &crowd).await;
    assert_problem(&again, 422, "user_limit_reached");
    assert!(app.payouts_of(&pe(&bid)).await.is_empty());
    // Another user is still paid.
    app.paid_send("limit", &new_user_id(), &crowd).await;
}

#[tokio::test]
async fn paused_and_closed_campaigns_are_refused_with_stable_codes() {
    let (app, _serial, crowd) = cash_test_on("暂停后关闭", "10.00", 10, "L1").await;
    app.set_campaign_status(&crowd, "PAUSE").await;
    let (bid, a) = app.send_new("paused", &crowd).await;
    assert_problem(&a, 422, "campaign_paused");
    assert_no_entry(&app, &bid).await;

    let closed = app.set_campaign_status(&crowd, "CLOSED").await;
    assert_eq!(closed.body["status"], "CLOSED", "{closed:?}");
    let (bid, a) = app.send_new("closed", &crowd).await;
    assert_problem(&a, 422, "campaign_closed");
    assert_no_entry(&app, &bid).await;
}

#[tokio::test]
async fn a_business_id_belongs_to_one_user_and_bad_input_names_the_field() {
    let (app, _serial, crowd) = cash_test_on("归属", "10.00", 10, "L1").await;
    let (bid, first) = app.send_new("owner", &crowd).await;
    assert_eq!(first.status, 201, "{first:?}");
    let other = app.send_points(&bid, &new_user_id(), &crowd).await;
    assert_problem(&other, 422, "business_id_conflict");
    assert_eq!(app.payouts_of(&pe(&bid)).await.len(), 1);

    let mut bad = envelope(&new_business_id("bad"), "12345", &crowd);
    assert_problem(&app.send_envelope(&bad).await, 400, "invalid_user_id");
    bad["userId"] = json!(new_user_id());
    bad["reason"] = json!("birthday");
    assert_problem(&app.send_envelope(&bad).await, 400, "invalid_reason");
    bad["reason"] = json!("referral");
    bad["businessId"] = json!("has#hash");
    assert_problem(&app.send_envelope(&bad).await, 400, "invalid_business_id");
    bad["businessId"] = json!(new_business_id("bad"));
    bad["crowdNo"] = json!("NO_SUCH_CAMPAIGN");
    assert_problem(&app.send_envelope(&bad).await, 404, "campaign_not_found");
}
