//! The flows in certificate mode (公钥证书模式), end to end: the stack's simulator runs in certificate
//! mode and the keys secret holds its certificates, so every function signs with `app_cert_sn` and
//! `alipay_root_cert_sn` and verifies every answer with the certificate it names. Template creation,
//! a claim, the session exchange and envelope sends, with Alipay rotating its certificate in the
//! middle of the sends: every send resolves, nothing stays unknown after the reconciler.
use std::time::Duration;

use integration_tests::cash::{
    assert_agrees, envelope, new_business_id, pe, transfer_envelope, CASH_ENV,
};
use integration_tests::{cert_stack, new_user_id, set_stack_env, TestApp};
use serde_json::{json, Value};

fn app() -> TestApp {
    set_stack_env(CASH_ENV);
    TestApp::on(cert_stack())
}

async fn certs(app: &TestApp) -> Value {
    let a = app.sim_get("/sim/certs").await;
    assert_eq!(
        a.status, 200,
        "the simulator is not in certificate mode: {a:?}"
    );
    a.body
}

async fn rotate(app: &TestApp) {
    let a = app
        .sim_post("/sim/settings", &json!({"rotateAlipayCert": true}))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

/// `n` sends (`body` for a new business id tagged `tag` and a new user) across a rotation, then the
/// reconciler until every entry is final: (out_biz_nos, entries).
async fn send_and_settle_across_a_rotation(
    app: &TestApp,
    n: usize,
    tag: &str,
    body: impl Fn(&str, &str) -> Value,
) -> (Vec<String>, Vec<Value>) {
    let sends: Vec<(String, String)> = (0..n)
        .map(|_| (new_business_id(tag), new_user_id()))
        .collect();
    send_across_a_rotation(app, sends.iter().map(|(b, u)| body(b, u)).collect()).await;
    let nos: Vec<String> = sends.iter().map(|(b, _)| pe(b)).collect();
    let (entries, _) = app
        .reconcile_until_final(&nos, Duration::from_secs(40))
        .await;
    (nos, entries)
}

/// Sends the first half of `bodies` concurrently while Alipay rotates its certificate, then the
/// rest; every send is paid or pending (never refused because of the rotation).
async fn send_across_a_rotation(app: &TestApp, bodies: Vec<Value>) {
    let send_all = |batch: &[Value]| {
        let mut set = tokio::task::JoinSet::new();
        for body in batch {
            let body = body.clone();
            set.spawn(async move { TestApp::on(cert_stack()).send_envelope(&body).await });
        }
        set.join_all()
    };
    let half = bodies.len() / 2;
    let (early, ()) = tokio::join!(send_all(&bodies[..half]), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rotate(app).await
    });
    let late = send_all(&bodies[half..]).await;
    for a in early.iter().chain(&late) {
        assert!(
            matches!(a.status, 201 | 202),
            "a send neither paid nor pending: {a:?}"
        );
    }
}

#[tokio::test]
async fn templates_claims_sessions_and_sends_run_in_certificate_mode_across_rotations() {
    let app = app();
    let first = certs(&app).await["alipayCertSn"].clone();

    // A template, and a claim through the component (instance.add in certificate mode).
    let template = app.create_template("证书模式").await;
    let user = new_user_id();
    let claim = app.claim(&template, &user).await;
    assert_eq!(claim.body["body"]["success"], true, "{claim:?}");

    // Alipay rotates its certificate: the session exchange's answer names the new one.
    rotate(&app).await;
    let code = app
        .sim_post("/sim/auth-codes", &json!({"userId": user}))
        .await;
    let session = app
        .post_public("/session", &json!({"authCode": code.body["code"]}))
        .await;
    assert_eq!(session.status, 200, "{session:?}");
    assert_eq!(session.body["userId"], user.as_str());

    // Sends on a campaign, with another rotation while they run.
    let crowd = app.ready_campaign("证书红包", "12.00", 12, "L1").await;
    let (_, entries) = send_and_settle_across_a_rotation(&app, 8, "cert", |business, user| {
        envelope(business, user, &crowd)
    })
    .await;
    let payouts = app.payouts_on(&crowd).await;
    for entry in &entries {
        assert_agrees(entry, &payouts);
    }
    assert_eq!(payouts.len(), entries.len());

    let after = certs(&app).await;
    assert_ne!(after["alipayCertSn"], first);
    // Two rotations here (the transfer test beside this one rotates too).
    assert!(after["alipayCerts"].as_array().unwrap().len() >= 3);
}

/// The transfer rail in certificate mode, with Alipay rotating its certificate while the sends run:
/// every order is paid once, and the simulator's order.changed notifications, signed by whichever
/// certificate was current, are verified (the notify function downloads the new certificate) and
/// acknowledged.
#[tokio::test]
async fn transfers_and_their_notifications_verify_in_certificate_mode_across_a_rotation() {
    let app = app();
    let (nos, entries) = send_and_settle_across_a_rotation(&app, 6, "certt", |business, user| {
        transfer_envelope(business, user, "0.88")
    })
    .await;
    for (entry, no) in entries.iter().zip(&nos) {
        assert_eq!(entry["state"], "SENT", "{entry:?}");
        let orders = app.transfers_of(no).await;
        assert_eq!(orders.len(), 1, "{no}: {orders:?}");
    }
    // Every order's notification was acknowledged (`success` after the ledger write).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let notes = app.sim_notifications().await;
        let unacknowledged: Vec<&String> = nos
            .iter()
            .filter(|no| {
                !notes
                    .iter()
                    .any(|n| n["outBizNo"] == no.as_str() && n["acknowledged"] == true)
            })
            .collect();
        if unacknowledged.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "notifications not acknowledged for {unacknowledged:?}: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
