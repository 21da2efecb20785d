//! The transfer rail through `POST /envelopes`, and Alipay's signed `order.changed` notifications
//! through `POST /alipay/notify` (the real alipay-notify binary): the simulator's own notification
//! settles a lost answer; notifications signed here with the test platform key record proof of
//! payment; forged, tampered and unsigned ones answer 4xx and change nothing; duplicates,
//! reordering, unknown orders and other message types are acknowledged without harm.
use integration_tests::cash::{
    cash_test, new_business_id, pe, transfer_envelope, unresolved_transfer, ORDER_CHANGED,
};
use integration_tests::{new_user_id, root, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

use alipay_protocol::sign::string_to_sign;
use alipay_protocol::AppPrivateKey;

/// The content type Alipay is reported to send (malformed: the body must be read as a form anyway).
const ALIPAY_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; text/html; charset=UTF-8";

fn key(file: &str) -> AppPrivateKey {
    let path = root().join("tests/vectors/keys").join(file);
    AppPrivateKey::from_text(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `application/x-www-form-urlencoded` encoding of one component.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The form fields of an order.changed message (unsigned).
fn message(method: &str, biz_content: &Value) -> Vec<(String, String)> {
    [
        ("notify_id", format!("test-{}", new_business_id("n"))),
        ("utc_timestamp", "1764000000000".to_owned()),
        ("msg_method", method.to_owned()),
        ("app_id", integration_tests::APP_ID.to_owned()),
        ("version", "1.1".to_owned()),
        ("charset", "UTF-8".to_owned()),
        ("sign_type", "RSA2".to_owned()),
        ("biz_content", biz_content.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Signs `fields` with the V2 rule (only `sign` left out) and encodes the form.
fn signed_with(signer: &AppPrivateKey, mut fields: Vec<(String, String)>) -> String {
    let content = string_to_sign(
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["sign"],
    );
    fields.push(("sign".into(), signer.sign(content.as_bytes())));
    form(&fields)
}

fn form(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn biz(out_biz_no: &str, status: &str) -> Value {
    json!({
        "out_biz_no": out_biz_no, "order_id": "20261129NOTIFY1", "pay_fund_order_id": "20261129PF1",
        "status": status, "product_code": "STD_RED_PACKET", "biz_scene": "DIRECT_TRANSFER",
        "trans_amount": "1.50", "pay_date": "2026-11-29 10:00:00",
        "origin_interface": "alipay.fund.trans.uni.transfer"
    })
}

/// Posts a raw body to the public notify route (no credentials); (status, body text).
async fn notify(app: &TestApp, body: String) -> (u16, String) {
    let resp = app
        .http
        .post(format!("{}/alipay/notify", app.api))
        .header("content-type", ALIPAY_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn state_of(app: &TestApp, out_biz_no: &str) -> Value {
    let a = app.envelope_entry(out_biz_no).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

#[tokio::test]
async fn a_transfer_is_paid_once_with_its_terms_and_listed_on_its_rail() {
    let (app, _serial) = cash_test().await;
    let bid = new_business_id("xfer");
    let body = transfer_envelope(&bid, &new_user_id(), "1.50");
    let a = app.send_envelope(&body).await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(a.body["rail"], "transfer");
    assert_eq!(a.body["transfer"]["amountFen"], 150);
    assert_eq!(a.body["transfer"]["sceneName"], "现金营销");
    assert!(a.body["outcome"]["orderId"].is_string(), "{a:?}");
    let again = app.send_envelope(&body).await;
    assert_eq!(again.status, 200, "{again:?}");
    let orders = app.transfers_of(&pe(&bid)).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let listed = app.list_all_payouts("rail=transfer").await;
    assert!(listed.iter().any(|e| e["outBizNo"] == pe(&bid)));
    let campaign_only = app.list_all_payouts("rail=campaign").await;
    assert!(campaign_only.iter().all(|e| e["rail"] == "campaign"));
}

#[tokio::test]
async fn bad_transfer_amounts_are_refused_before_anything_is_written() {
    let (app, _serial) = cash_test().await;
    let user = new_user_id();
    for (amount, status, code) in [
        (json!("1.234"), 400, "invalid_amount"),
        (json!("0"), 400, "invalid_amount"),
        (json!("300.00"), 422, "amount_above_cap"),
        (Value::Null, 400, "amount_required"),
    ] {
        let bid = new_business_id("badamount");
        let mut body = transfer_envelope(&bid, &user, "1.00");
        body["amount"] = amount.clone();
        let a = app.send_envelope(&body).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (status, Some(code)),
            "{amount}: {a:?}"
        );
        assert_eq!(app.envelope_entry(&pe(&bid)).await.status, 404);
        assert!(app.transfers_of(&pe(&bid)).await.is_empty());
    }
}

#[tokio::test]
async fn a_lost_answer_is_settled_by_alipays_notification() {
    let (app, _serial) = cash_test().await;
    let (bid, _, _) = unresolved_transfer(&app, "notified", "commit_then_drop", "1.50").await;
    // The simulator posts the signed notification to the notify URL the order carried.
    let mut acknowledged = false;
    for _ in 0..400 {
        let posts = app.sim_notifications().await;
        if posts
            .iter()
            .any(|p| p["outBizNo"] == pe(&bid) && p["acknowledged"] == true)
        {
            acknowledged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(acknowledged, "{:?}", app.sim_notifications().await);
    let entry = state_of(&app, &pe(&bid)).await;
    assert_eq!(entry["state"], "SENT", "{entry}");
    assert_eq!(
        entry["attempts"], 1,
        "settled without another call: {entry}"
    );
    assert_eq!(app.transfers_of(&pe(&bid)).await.len(), 1);
}

#[tokio::test]
async fn only_alipays_signature_moves_the_ledger() {
    let (app, _serial) = cash_test().await;
    // An unknown outcome that never reached Alipay (no order, no notification of its own).
    let (bid, _, _) = unresolved_transfer(&app, "forged", "http500", "1.50").await;
    let no = pe(&bid);
    let alipay = key("alipay_private_pkcs1.pem");
    let app_key = key("app_private_pkcs1.pem");
    let paid = message(ORDER_CHANGED, &biz(&no, "SUCCESS"));

    // Forged (our own key), tampered (Alipay's signature over other content), unsigned, garbage.
    let forged = signed_with(&app_key, paid.clone());
    let mut other = paid.clone();
    other[7].1 = biz(&no, "FAIL").to_string();
    let other_signed = signed_with(&alipay, other);
    let sign = other_signed.rsplit_once("&sign=").unwrap().1;
    let tampered = format!("{}&sign={sign}", form(&paid));
    for (name, body) in [
        ("forged", forged),
        ("tampered", tampered),
        ("unsigned", form(&paid)),
        ("garbage", "%%%{not a form".to_owned()),
        ("empty", String::new()),
    ] {
        let (status, text) = notify(&app, body).await;
        assert!((400..500).contains(&status), "{name}: {status} {text}");
        assert_ne!(text, "success", "{name}");
    }
    assert_eq!(state_of(&app, &no).await["state"], "UNKNOWN");

    // Signed by Alipay: the payment is recorded, answered with exactly `success`.
    assert_eq!(
        notify(&app, signed_with(&alipay, paid.clone())).await,
        (200, "success".to_owned())
    );
    let entry = state_of(&app, &no).await;
    assert_eq!(entry["state"], "SENT", "{entry}");
    assert_eq!(entry["outcome"]["orderId"], "20261129NOTIFY1");
    assert_eq!(entry["outcome"]["amountFen"], 150);

    // A duplicate, a late FAIL, a stale DEALING, an unknown order and another message type:
    // acknowledged, nothing changes.
    for body in [
        signed_with(&alipay, paid.clone()),
        signed_with(&alipay, message(ORDER_CHANGED, &biz(&no, "FAIL"))),
        signed_with(&alipay, message(ORDER_CHANGED, &biz(&no, "DEALING"))),
        signed_with(
            &alipay,
            message(ORDER_CHANGED, &biz("pe_nobody_here", "SUCCESS")),
        ),
        signed_with(
            &alipay,
            message("alipay.trade.order.settle.notify", &json!({})),
        ),
    ] {
        assert_eq!(notify(&app, body).await, (200, "success".to_owned()));
    }
    assert_eq!(state_of(&app, &no).await, entry);
}

#[tokio::test]
async fn a_failed_order_notification_frees_the_business_id() {
    let (app, _serial) = cash_test().await;
    let (bid, user, _) = unresolved_transfer(&app, "notefail", "http500", "1.50").await;
    let mut failed = biz(&pe(&bid), "FAIL");
    failed["error_code"] = json!("PAYEE_NOT_EXIST");
    failed["fail_reason"] = json!("收款方不存在");
    let body = signed_with(
        &key("alipay_private_pkcs1.pem"),
        message(ORDER_CHANGED, &failed),
    );
    assert_eq!(notify(&app, body).await, (200, "success".to_owned()));
    let entry = state_of(&app, &pe(&bid)).await;
    assert_eq!(entry["state"], "FAILED", "{entry}");
    // The business id is free: an explicit retry is attempt 2 with a new number, and it is paid.
    let mut retry = transfer_envelope(&bid, &user, "1.50");
    retry["retryFailed"] = json!(true);
    let r = app.send_envelope(&retry).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["outBizNo"], format!("pe2_{bid}"));
}

#[tokio::test]
async fn the_reconciler_queries_then_sends_the_same_order_again() {
    let (app, _serial) = cash_test().await;
    // The first call never reaches Alipay: no order, no notification.
    let (bid, _, a) = unresolved_transfer(&app, "reconciled", "http500", "2.00").await;
    assert!(app.transfers_of(&pe(&bid)).await.is_empty());
    let (entries, _) = app
        .reconcile_until_final(&[pe(&bid)], Duration::from_secs(30))
        .await;
    assert_eq!(entries[0]["state"], "SENT", "{entries:?}");
    assert_eq!(entries[0]["outBizNo"], pe(&bid), "the same number");
    assert_eq!(entries[0]["transfer"], a.body["transfer"], "the same terms");
    let orders = app.transfers_of(&pe(&bid)).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["amount_fen"], 200, "{orders:?}");
}
