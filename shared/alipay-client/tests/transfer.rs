//! The transfer rail against the real simulator over HTTP: uni.transfer, common.query, their faults,
//! and the signed order.changed notification (verified here with the protocol crate and read with
//! `OrderChanged`), including its faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use alipay_client::transfer::{
    classify, OrderChanged, Payee, ProductCode, SceneReportInfo, TransferApi, TransferClass,
    TransferQuery, TransferState, UniTransfer,
};
use alipay_client::{AmountFen, Outcome, UnknownReason};
use alipay_protocol::notify::{NotifyParams, NotifyPolicy, NotifyRule};
use alipay_protocol::AlipayPublicKey;
use common::{read_key, start, Env};
use serde_json::{json, Value};

const USER: &str = "2088000000000001";

/// A notify receiver: records every form body, answers `success` unless told otherwise.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    answer: Arc<Mutex<&'static str>>,
}

async fn receiver() -> Receiver {
    use axum::extract::State;
    type Shared = (Arc<Mutex<Vec<Vec<u8>>>>, Arc<Mutex<&'static str>>);
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let answer = Arc::new(Mutex::new("success"));
    let app = axum::Router::new()
        .route(
            "/notify",
            axum::routing::post(
                |State((bodies, answer)): State<Shared>, body: axum::body::Bytes| async move {
                    bodies.lock().unwrap().push(body.to_vec());
                    let a: &'static str = *answer.lock().unwrap();
                    a
                },
            ),
        )
        .with_state((bodies.clone(), answer.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url: format!("http://{addr}/notify"),
        bodies,
        answer,
    }
}

fn order(out_biz_no: &str, notify_url: Option<&str>) -> UniTransfer {
    UniTransfer {
        out_biz_no: out_biz_no.into(),
        trans_amount: AmountFen::from_fen(100).unwrap(),
        product: ProductCode::StdRedPacket,
        payee: Payee::UserId(USER.into()),
        order_title: "现金红包".into(),
        scene_name: Some("现金营销".into()),
        scene_report_infos: vec![
            SceneReportInfo {
                info_type: "活动名称".into(),
                info_content: "新年活动".into(),
            },
            SceneReportInfo {
                info_type: "奖励说明".into(),
                info_content: "签到奖励".into(),
            },
        ],
        notify_url: notify_url.map(str::to_owned),
    }
}

fn paid(o: Outcome<TransferState>) -> TransferState {
    match o {
        Outcome::Success(s) => s,
        other => panic!("{other:?}"),
    }
}

fn refused(o: Outcome<TransferState>, api: TransferApi) -> (String, TransferClass) {
    match o {
        Outcome::Failed(f) => {
            let sub = f.sub_code.clone().unwrap_or_default();
            (sub, classify(api, &f.code, f.sub_code.as_deref()))
        }
        other => panic!("{other:?}"),
    }
}

async fn transfers(env: &Env) -> Vec<Value> {
    env.get_json("/sim/transfers").await["transfers"]
        .as_array()
        .unwrap()
        .clone()
}

async fn notifications(env: &Env) -> Vec<Value> {
    env.get_json("/sim/notifications").await["notifications"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits (by polling the simulator's own record, never by a timed assertion) until `n`
/// notification posts for `out_biz_no` are recorded.
async fn wait_notifications(env: &Env, out_biz_no: &str, n: usize) -> Vec<Value> {
    loop {
        let list: Vec<Value> = notifications(env)
            .await
            .into_iter()
            .filter(|d| d["outBizNo"] == out_biz_no)
            .collect();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn alipay_key() -> AlipayPublicKey {
    AlipayPublicKey::from_text(&read_key("alipay_public_spki.pem")).unwrap()
}

fn read_notification(body: &[u8]) -> OrderChanged {
    let form = NotifyParams::parse_form(body).unwrap();
    assert_eq!(
        form.verify(&alipay_key(), NotifyPolicy::default()),
        Ok(NotifyRule::V2)
    );
    assert_eq!(
        form.get("msg_method"),
        Some("alipay.fund.trans.order.changed")
    );
    OrderChanged::from_biz_content(form.get("biz_content").unwrap()).unwrap()
}

#[tokio::test]
async fn a_transfer_is_paid_replayed_queried_and_listed() {
    let env = start().await;
    let first = paid(env.client.execute(&order("pe_t1", None)).await);
    assert_eq!(first.status.as_deref(), Some("SUCCESS"));
    assert_eq!(first.out_biz_no.as_deref(), Some("pe_t1"));
    let again = paid(env.client.execute(&order("pe_t1", None)).await);
    assert_eq!(again.order_id, first.order_id);
    let found = paid(
        env.client
            .execute(&TransferQuery::by_out_biz_no(
                "pe_t1",
                ProductCode::StdRedPacket,
            ))
            .await,
    );
    assert_eq!(found.order_id, first.order_id);
    assert_eq!(found.amount, Some(AmountFen::from_fen(100).unwrap()));
    let listed = transfers(&env).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["out_biz_no"], "pe_t1");
    assert_eq!(listed[0]["payee_type"], "ALIPAY_USER_ID");
    assert_eq!(listed[0]["payee"], USER);
    assert_eq!(listed[0]["amount"], "1.00");
    assert_eq!(listed[0]["status"], "SUCCESS");
    assert_eq!(listed[0]["order_id"], first.order_id.unwrap().as_str());

    let missing = env
        .client
        .execute(&TransferQuery::by_out_biz_no(
            "pe_none",
            ProductCode::StdRedPacket,
        ))
        .await;
    assert_eq!(
        refused(missing, TransferApi::Query),
        ("ORDER_NOT_EXIST".into(), TransferClass::NoSuchOrder)
    );
}

#[tokio::test]
async fn each_class_can_be_driven() {
    let env = start().await;
    // Same number, other parameters: never definite.
    let _ = paid(env.client.execute(&order("pe_c1", None)).await);
    let mut other = order("pe_c1", None);
    other.trans_amount = AmountFen::from_fen(200).unwrap();
    assert_eq!(
        refused(env.client.execute(&other).await, TransferApi::Transfer),
        ("PAYMENT_INFO_INCONSISTENCY".into(), TransferClass::Unknown)
    );
    // A payee Alipay does not know.
    let mut nobody = order("pe_c2", None);
    nobody.payee = Payee::UserId(alipay_sim::state::PAYEE_NOT_EXIST_USER_ID.into());
    assert_eq!(
        refused(env.client.execute(&nobody).await, TransferApi::Transfer),
        ("PAYEE_NOT_EXIST".into(), TransferClass::Definite)
    );
    // The payer's balance.
    let (status, _) = env
        .post_json("/sim/settings", json!({"payerBalanceFen": 50}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        refused(
            env.client.execute(&order("pe_c3", None)).await,
            TransferApi::Transfer
        ),
        ("BALANCE_IS_NOT_ENOUGH".into(), TransferClass::RetryLater)
    );
    env.post_json("/sim/settings", json!({"payerBalanceFen": null}))
        .await;
    let _ = paid(env.client.execute(&order("pe_c3", None)).await);
    // A product the merchant has not signed is a configuration problem: sent through a request the
    // client cannot build, so checked on the table alone.
    assert_eq!(
        classify(TransferApi::Transfer, "40004", Some("PRODUCT_NOT_SIGN")),
        TransferClass::Configuration
    );
    // The open id payee.
    let mut open = order("pe_c4", None);
    let open_id = env.get_json(&format!("/sim/users/{USER}")).await["openId"]
        .as_str()
        .unwrap()
        .to_string();
    open.payee = Payee::OpenId(open_id.clone());
    let _ = paid(env.client.execute(&open).await);
    let listed = transfers(&env).await;
    let row = listed.iter().find(|t| t["out_biz_no"] == "pe_c4").unwrap();
    assert_eq!(row["payee_type"], "ALIPAY_OPEN_ID");
    assert_eq!(row["payee"], open_id.as_str());
}

#[tokio::test]
async fn gateway_faults_apply_and_the_query_resolves_them() {
    let env = start().await;
    let api = "alipay.fund.trans.uni.transfer";
    for (i, kind) in ["http500", "unknown_error"].into_iter().enumerate() {
        env.fault(json!({"api": api, "kind": kind, "count": 1}))
            .await;
        let out = format!("pe_f{i}");
        assert!(matches!(
            env.client.execute(&order(&out, None)).await,
            Outcome::Unknown(_)
        ));
        // Not performed: the query says so, and a re-send of the same number pays once.
        let q = env
            .client
            .execute(&TransferQuery::by_out_biz_no(
                &out,
                ProductCode::StdRedPacket,
            ))
            .await;
        assert_eq!(refused(q, TransferApi::Query).1, TransferClass::NoSuchOrder);
        let _ = paid(env.client.execute(&order(&out, None)).await);
    }
    for (i, kind) in ["commit_then_drop", "bad_signature"]
        .into_iter()
        .enumerate()
    {
        env.fault(json!({"api": api, "kind": kind, "count": 1}))
            .await;
        let out = format!("pe_g{i}");
        match env.client.execute(&order(&out, None)).await {
            Outcome::Unknown(UnknownReason::Connection | UnknownReason::BadSignature) => {}
            other => panic!("{kind}: {other:?}"),
        }
        // Performed: the query finds it, a re-send replays it.
        let q = paid(
            env.client
                .execute(&TransferQuery::by_out_biz_no(
                    &out,
                    ProductCode::StdRedPacket,
                ))
                .await,
        );
        assert_eq!(q.status.as_deref(), Some("SUCCESS"));
        let again = paid(env.client.execute(&order(&out, None)).await);
        assert_eq!(again.order_id, q.order_id);
    }
    env.fault(
        json!({"api": "alipay.fund.trans.common.query", "kind": "unknown_error", "count": 1}),
    )
    .await;
    assert!(matches!(
        env.client
            .execute(&TransferQuery::by_out_biz_no(
                "pe_g0",
                ProductCode::StdRedPacket
            ))
            .await,
        Outcome::Unknown(UnknownReason::Platform { .. })
    ));
    let paid_orders = transfers(&env).await;
    assert_eq!(paid_orders.len(), 4);
}

#[tokio::test]
async fn the_notification_is_signed_posted_and_retried_until_success() {
    let env = start().await;
    let rx = receiver().await;
    *rx.answer.lock().unwrap() = "fail";
    let _ = paid(env.client.execute(&order("pe_n1", Some(&rx.url))).await);
    let posts = wait_notifications(&env, "pe_n1", 3).await;
    assert!(posts.iter().all(|p| p["acknowledged"] == false));
    assert_eq!(posts[2]["attempt"], 3);
    let bodies = rx.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    let n = read_notification(&bodies[0]);
    assert_eq!(n.out_biz_no, "pe_n1");
    assert_eq!(n.status.as_deref(), Some("SUCCESS"));
    assert_eq!(n.trans_amount, Some(AmountFen::from_fen(100).unwrap()));
    assert_eq!(n.product_code.as_deref(), Some("STD_RED_PACKET"));
    assert!(n.order_id.is_some() && n.pay_date.is_some());
    // A tampered notification does not verify.
    let tampered = String::from_utf8(bodies[0].clone())
        .unwrap()
        .replace("SUCCESS", "FAIL");
    let form = NotifyParams::parse_form(tampered.as_bytes()).unwrap();
    assert!(form.verify(&alipay_key(), NotifyPolicy::default()).is_err());

    *rx.answer.lock().unwrap() = "success";
    let _ = paid(env.client.execute(&order("pe_n2", Some(&rx.url))).await);
    let posts = wait_notifications(&env, "pe_n2", 1).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["acknowledged"], true);
    // A replay posts nothing new.
    let _ = paid(env.client.execute(&order("pe_n2", Some(&rx.url))).await);
    let _ = paid(env.client.execute(&order("pe_n3", Some(&rx.url))).await);
    wait_notifications(&env, "pe_n3", 1).await;
    assert_eq!(wait_notifications(&env, "pe_n2", 1).await.len(), 1);
}

#[tokio::test]
async fn notification_faults_lose_duplicate_reorder_and_delay() {
    let env = start().await;
    let rx = receiver().await;
    let api = "alipay.fund.trans.order.changed";
    // Lost: recorded as such, nothing posted.
    env.fault(json!({"api": api, "kind": "notify_lost", "count": 1}))
        .await;
    let _ = paid(env.client.execute(&order("pe_l1", Some(&rx.url))).await);
    let lost = wait_notifications(&env, "pe_l1", 1).await;
    assert_eq!(lost[0]["fault"], "notify_lost");
    assert_eq!(lost[0]["attempt"], 0);
    // Duplicated: the same notify_id twice, both acknowledged.
    env.fault(json!({"api": api, "kind": "notify_duplicate", "count": 1}))
        .await;
    let _ = paid(env.client.execute(&order("pe_d1", Some(&rx.url))).await);
    let dup = wait_notifications(&env, "pe_d1", 2).await;
    assert_eq!(dup[0]["notifyId"], dup[1]["notifyId"]);
    // Out of order: a stale DEALING after the SUCCESS.
    env.fault(json!({"api": api, "kind": "notify_stale", "count": 1}))
        .await;
    let _ = paid(env.client.execute(&order("pe_s1", Some(&rx.url))).await);
    let stale = wait_notifications(&env, "pe_s1", 2).await;
    assert_eq!(stale[0]["status"], "SUCCESS");
    assert_eq!(stale[1]["status"], "DEALING");
    // Late: posted delayMs later, and still acknowledged.
    env.fault(json!({"api": api, "kind": "notify_late", "delayMs": 50, "count": 1}))
        .await;
    let _ = paid(env.client.execute(&order("pe_late", Some(&rx.url))).await);
    let late = wait_notifications(&env, "pe_late", 1).await;
    assert_eq!(late[0]["fault"], "notify_late");
    assert_eq!(late[0]["acknowledged"], true);
    // Every posted body verifies; none was posted for the lost one.
    let bodies = rx.bodies.lock().unwrap().clone();
    let read: Vec<OrderChanged> = bodies.iter().map(|b| read_notification(b)).collect();
    assert!(read.iter().all(|n| n.out_biz_no != "pe_l1"));
    assert_eq!(read.iter().filter(|n| n.out_biz_no == "pe_d1").count(), 2);
    // Gateway faults never fire on notifications, nor notification faults on calls.
    env.fault(json!({"kind": "http500", "count": 1})).await;
    assert!(matches!(
        env.client.execute(&order("pe_x1", Some(&rx.url))).await,
        Outcome::Unknown(UnknownReason::HttpStatus(500))
    ));
}
