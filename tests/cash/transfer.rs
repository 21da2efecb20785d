//! The transfer rail end to end (`"rail":"transfer"`: `alipay.fund.trans.uni.transfer` from the
//! merchant's balance, `common.query` to resolve, the signed `order.changed` notification posted to
//! our `POST /alipay/notify`):
//! - the fault matrix: every gateway fault kind on uni.transfer, once and repeated, followed by
//!   client retries (the same body) or by the reconciler, also with the query itself faulted;
//! - 100 concurrent sends of one business id make exactly one transfer;
//! - notifications lost, duplicated, out of order (a stale DEALING after SUCCESS) or late leave the
//!   ledger right, and a notification alone records a payment whose answer was lost.
//!
//! Every case ends with our entry agreeing with the simulator's order (`GET /sim/transfers`).
use std::time::{Duration, Instant};

use integration_tests::cash::{
    assert_transfer_agrees, cash_test, check_concurrent_answers, last_refusal, new_business_id, pe,
    settled, transfer_envelope, unresolved_transfer, Recovery, CALL_FAULTS, ORDER_CHANGED,
    TRANSFER, TRANSFER_QUERY,
};
use integration_tests::{new_user_id, Answer, TestApp};
use serde_json::{json, Value};

/// The simulator's payee that Alipay does not know (`alipay_sim::state::PAYEE_NOT_EXIST_USER_ID`).
const PAYEE_NOT_EXIST_USER_ID: &str = "2088000000000404";
/// The simulator's frozen payee (`alipay_sim::state::PAYEE_FROZEN_USER_ID`).
const PAYEE_FROZEN_USER_ID: &str = "2088000000000403";

#[derive(Clone, Copy, Debug)]
struct Case {
    kind: &'static str,
    /// How many uni.transfer calls in a row the fault hits.
    count: u64,
    recovery: Recovery,
    /// The first `common.query` calls answer `isp.unknow-error` too.
    query_faulted: bool,
    /// The order.changed notification is lost (only the retry or the reconciler can settle it).
    notify_lost: bool,
}

/// A case of the matrix: `kind` on `count` uni.transfer calls in a row.
fn case(kind: &'static str, count: u64, recovery: Recovery) -> Case {
    Case {
        kind,
        count,
        recovery,
        query_faulted: false,
        notify_lost: false,
    }
}

/// Runs the reconciler until the entry `no` is settled: (the entry, reconciler runs).
async fn reconciled(app: &TestApp, no: &str) -> (Value, usize) {
    let (entries, runs) = app
        .reconcile_until(&[no.to_string()], settled, Duration::from_secs(60))
        .await;
    (entries.into_iter().next().unwrap(), runs)
}

/// The entry has exactly one transfer order at the simulator, and agrees with it.
async fn assert_one_order(app: &TestApp, entry: &Value, context: &str) {
    let orders = app.transfers_of(entry["outBizNo"].as_str().unwrap()).await;
    assert_eq!(orders.len(), 1, "{context}: exactly one order: {orders:?}");
    assert_transfer_agrees(entry, &orders);
}

/// Sends the same body until the entry is SENT (a caller retrying), within `within`.
async fn retry_until_sent(app: &TestApp, body: &Value, within: Duration) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let a = app.send_envelope(body).await;
        if a.body["state"] == "SENT" {
            return a;
        }
        assert!(
            matches!(a.status, 202 | 409 | 503),
            "unexpected answer while retrying: {a:?}"
        );
        assert!(Instant::now() < deadline, "never SENT: {a:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One case on its own business id and user; returns a one-line summary.
async fn run(app: &TestApp, c: Case) -> String {
    let started = Instant::now();
    let bid = new_business_id(&format!("tx_{}", c.kind));
    let no = pe(&bid);
    app.set_fault(&json!({
        "api": TRANSFER, "kind": c.kind, "count": c.count, "latencyMs": 300, "delayMs": 1500,
    }))
    .await;
    if c.query_faulted {
        app.set_fault(&json!({"api": TRANSFER_QUERY, "kind": "unknown_error", "count": 2}))
            .await;
    }
    if c.notify_lost {
        app.sim_fault_once(ORDER_CHANGED, "notify_lost").await;
    }
    let body = transfer_envelope(&bid, &new_user_id(), "1.00");
    let first = app.send_envelope(&body).await;
    let unresolved =
        first.status == 202 && matches!(first.body["state"].as_str(), Some("PENDING" | "UNKNOWN"));
    match c.kind {
        "latency" if c.count == 1 => assert_eq!(first.status, 201, "{c:?}: {first:?}"),
        // Performed: the simulator's notification may record the payment before the send
        // function has written its own (unknown) outcome, so the first answer may already be SENT.
        "bad_signature" | "commit_then_drop" | "commit_late" if !c.notify_lost => assert!(
            unresolved || (first.status == 201 && first.body["state"] == "SENT"),
            "{c:?}: {first:?}"
        ),
        _ => assert!(unresolved, "{c:?}: {first:?}"),
    }
    if c.kind == "commit_late" {
        app.late_commits_done(Some(&no), Duration::from_secs(30))
            .await;
    }
    let entry = match c.recovery {
        Recovery::ClientRetry => {
            retry_until_sent(app, &body, Duration::from_secs(60))
                .await
                .body
        }
        Recovery::Reconciler => reconciled(app, &no).await.0,
    };
    assert_one_order(app, &entry, &format!("{c:?}")).await;
    // A repeat answers the entry as it is.
    let again = app.send_envelope(&body).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        again.body["outcome"]["orderId"],
        entry["outcome"]["orderId"]
    );
    // A single fault fired (count faults disappear once spent). Repeated ones may not all fire:
    // once an order exists, the query finds it and nothing is sent again.
    let left = app.sim_get("/sim/faults").await.body["faults"].clone();
    app.sim_clear_faults().await;
    if c.count == 1 {
        let unfired = left
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["api"] == TRANSFER)
            .count();
        assert_eq!(unfired, 0, "{c:?}: the fault never fired: {left}");
    }
    format!(
        "{:<16} x{} {:?}{}{} → first {} {}, SENT in {:.1}s",
        c.kind,
        c.count,
        c.recovery,
        if c.query_faulted {
            " (query faulted)"
        } else {
            ""
        },
        if c.notify_lost {
            " (notification lost)"
        } else {
            ""
        },
        first.status,
        first.body["state"].as_str().unwrap_or("?"),
        started.elapsed().as_secs_f64()
    )
}

#[tokio::test]
async fn transfer_fault_matrix_pays_each_business_id_once() {
    let (app, _serial) = cash_test().await;
    let kinds = CALL_FAULTS.into_iter().chain(["commit_late"]);
    let mut cases = Vec::new();
    for kind in kinds {
        for recovery in [Recovery::ClientRetry, Recovery::Reconciler] {
            cases.push(case(kind, 1, recovery));
        }
    }
    // Performed, and the notification lost: the retry or the reconciler must find the payment.
    for kind in ["bad_signature", "commit_then_drop", "commit_late"] {
        for recovery in [Recovery::ClientRetry, Recovery::Reconciler] {
            cases.push(Case {
                notify_lost: true,
                ..case(kind, 1, recovery)
            });
        }
    }
    for kind in [
        "http500",
        "unknown_error",
        "bad_signature",
        "commit_then_drop",
    ] {
        cases.push(case(kind, 3, Recovery::Reconciler));
    }
    for kind in ["unknown_error", "commit_then_drop"] {
        cases.push(Case {
            query_faulted: true,
            notify_lost: true,
            ..case(kind, 1, Recovery::Reconciler)
        });
    }
    let mut lines = Vec::new();
    for c in cases {
        lines.push(run(&app, c).await);
    }
    eprintln!("[transfer matrix]\n{}", lines.join("\n"));
}

#[tokio::test]
async fn hundred_concurrent_transfer_sends_of_one_business_id_make_one_transfer() {
    let (app, _serial) = cash_test().await;
    for lost in [false, true] {
        if lost {
            app.sim_fault_once(TRANSFER, "commit_then_drop").await;
        }
        let bid = new_business_id("txconc");
        let body = transfer_envelope(&bid, &new_user_id(), "0.50");
        let answers = app.send_concurrently(&body, 100).await;
        let fresh = check_concurrent_answers(&answers);
        assert!(fresh <= 1, "{fresh} fresh SENT answers");
        let (entry, _) = reconciled(&app, &pe(&bid)).await;
        assert_one_order(&app, &entry, &bid).await;
        for a in answers.iter().filter(|a| a.body["state"] == "SENT") {
            assert_eq!(a.body["outcome"]["orderId"], entry["outcome"]["orderId"]);
        }
        let of_bid = app.transfers_where(|no| no.ends_with(&bid)).await.len();
        assert_eq!(
            of_bid, 1,
            "one transfer for the business id, whatever its number"
        );
    }
}

/// The simulator's posts of the order.changed notification for `no`, once `done` says they are
/// complete (polled, never timed).
async fn notifications_of(app: &TestApp, no: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: Vec<Value> = app
            .sim_notifications()
            .await
            .into_iter()
            .filter(|n| n["outBizNo"] == no)
            .collect();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "notifications of {no}: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn acknowledged(list: &[Value], status: &str) -> usize {
    list.iter()
        .filter(|n| n["acknowledged"] == true && n["status"] == status)
        .count()
}

#[tokio::test]
async fn a_notification_alone_records_a_payment_whose_answer_was_lost() {
    let (app, _serial) = cash_test().await;
    let (bid, _, _) = unresolved_transfer(&app, "txnote", "commit_then_drop", "1.00").await;
    let no = pe(&bid);
    // No reconciler, no retry: only the notification (acknowledged after the ledger write).
    notifications_of(&app, &no, |l| acknowledged(l, "SUCCESS") == 1).await;
    let entry = app.envelope_entry(&no).await.body;
    assert_transfer_agrees(&entry, &app.transfers_of(&no).await);
}

#[tokio::test]
async fn lost_duplicated_reordered_and_late_notifications_leave_the_ledger_right() {
    let (app, _serial) = cash_test().await;
    // (notification fault, the sync answer lost too, when the simulator is done posting)
    type Done = fn(&[Value]) -> bool;
    let cases: [(&str, bool, Done); 8] = [
        ("notify_lost", false, |l| !l.is_empty()),
        ("notify_lost", true, |l| !l.is_empty()),
        ("notify_duplicate", false, |l| {
            acknowledged(l, "SUCCESS") == 2
        }),
        ("notify_duplicate", true, |l| {
            acknowledged(l, "SUCCESS") == 2
        }),
        ("notify_stale", false, |l| acknowledged(l, "DEALING") == 1),
        ("notify_stale", true, |l| acknowledged(l, "DEALING") == 1),
        ("notify_late", false, |l| acknowledged(l, "SUCCESS") == 1),
        ("notify_late", true, |l| acknowledged(l, "SUCCESS") == 1),
    ];
    let mut lines = Vec::new();
    for (kind, answer_lost, done) in cases {
        app.set_fault(&json!({"api": ORDER_CHANGED, "kind": kind, "count": 1, "delayMs": 1500}))
            .await;
        if answer_lost {
            app.sim_fault_once(TRANSFER, "commit_then_drop").await;
        }
        let bid = new_business_id(&format!("tx{kind}"));
        let no = pe(&bid);
        let body = transfer_envelope(&bid, &new_user_id(), "2.00");
        let first = app.send_envelope(&body).await;
        let posts = notifications_of(&app, &no, done).await;
        // Whatever the notifications did, a repeat and the reconciler finish the entry, once.
        let (entry, runs) = reconciled(&app, &no).await;
        assert_one_order(&app, &entry, kind).await;
        let again = app.send_envelope(&body).await;
        assert_eq!(again.status, 200, "{kind}: {again:?}");
        assert_eq!(again.body["state"], "SENT");
        // The stale DEALING arrived after SUCCESS and changed nothing.
        let entry = app.envelope_entry(&no).await.body;
        assert_eq!(entry["state"], "SENT", "{kind}: {entry}");
        app.sim_clear_faults().await;
        lines.push(format!(
            "{kind:<16} answer lost {answer_lost:<5} → first {} {}, {} posts, {runs} reconciler runs",
            first.status,
            first.body["state"].as_str().unwrap_or("?"),
            posts.len()
        ));
    }
    eprintln!("[transfer notifications]\n{}", lines.join("\n"));
}

#[tokio::test]
async fn transfer_refusals_keep_their_class() {
    let (app, _serial) = cash_test().await;
    // Definite: a payee Alipay does not know, a frozen payee. FAILED, no order, a stable code.
    for payee in [PAYEE_NOT_EXIST_USER_ID, PAYEE_FROZEN_USER_ID] {
        let bid = new_business_id("txpayee");
        let a = app
            .send_envelope(&transfer_envelope(&bid, payee, "1.00"))
            .await;
        assert_eq!(a.status, 422, "{a:?}");
        assert_eq!(a.body["code"], "payee_invalid", "{a:?}");
        let entry = app.envelope_entry(&pe(&bid)).await.body;
        assert_eq!(entry["state"], "FAILED", "{entry}");
        assert!(app.transfers_of(&pe(&bid)).await.is_empty());
    }
    // Retry later: the payer's balance is short. Not paid, not failed; once it is refilled the same
    // out_biz_no is paid, once.
    app.sim_settings(&json!({"payerBalanceFen": 50})).await;
    let bid = new_business_id("txbalance");
    let no = pe(&bid);
    let a = app
        .send_envelope(&transfer_envelope(&bid, &new_user_id(), "1.00"))
        .await;
    assert_eq!(a.status, 202, "{a:?}");
    assert_eq!(
        last_refusal(&a.body).map(|r| r["subCode"].clone()),
        Some(json!("BALANCE_IS_NOT_ENOUGH")),
        "{a:?}"
    );
    assert!(app.transfers_of(&no).await.is_empty());
    app.sim_settings(&json!({"payerBalanceFen": null})).await;
    let (entry, _) = reconciled(&app, &no).await;
    assert_one_order(&app, &entry, &no).await;
}
