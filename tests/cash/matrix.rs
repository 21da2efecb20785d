//! The fault-injection matrix: every fault kind of the simulator at every step of a send, each
//! followed by client retries (the same body) or by the reconciler, ends with exactly one payout per
//! business id in the simulator's ledger and our ledger agreeing with it.
//!
//! Steps:
//! - **before the ledger write**: the send refreshes a campaign our store still knows as CREATED
//!   (paid at the simulator) with `cash.detail.query`; faults there must leave no ledger item and no
//!   payout (and a bad request with every fault armed never reaches Alipay at all);
//! - **after the ledger write**: the refresh takes ~5 s, then `cash.trigger` hangs past the function's
//!   deadline: the call is abandoned before the 10 s timeout and the entry is left UNKNOWN (or PENDING);
//! - **during the Alipay call**: latency, hang, HTTP 500, `isp.unknow-error` (not performed);
//! - **after Alipay committed, before our write**: a bad signature, a dropped connection (performed);
//! - the same faults repeated on the retries (count 3).
use std::time::{Duration, Instant};

use integration_tests::cash::{
    assert_agrees, campaign_body, cash_test_on, envelope, new_business_id, pe, Recovery,
    CALL_FAULTS, CLIENT_TIMEOUT_MS, DETAIL, LEASE_MS, TRIGGER,
};
use integration_tests::{new_user_id, TestApp};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    BeforeLedger,
    AfterLedger,
    DuringCall,
    AfterCommit,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    step: Step,
    kind: &'static str,
    latency_ms: u64,
    /// How many calls in a row the fault hits.
    count: u64,
    recovery: Recovery,
}

fn case(step: Step, kind: &'static str, recovery: Recovery) -> Case {
    Case {
        step,
        kind,
        latency_ms: 300,
        count: 1,
        recovery,
    }
}

/// The business id of an out_biz_no `{pe|rf}[n][h]_{id}` (plain ids only).
fn business_id_of(out_biz_no: &str) -> &str {
    out_biz_no.split_once('_').map_or("", |(_, id)| id)
}

fn fault(api: &str, c: &Case) -> Value {
    json!({"api": api, "kind": c.kind, "count": c.count, "latencyMs": c.latency_ms})
}

/// Runs one case on its own business id and user; returns a one-line summary.
async fn run(app: &TestApp, ready_crowd: &str, c: Case) -> String {
    let started = Instant::now();
    let bid = new_business_id(&format!("mx_{}", c.kind));
    let user = new_user_id();
    let crowd = match c.step {
        Step::BeforeLedger | Step::AfterLedger => {
            // Paid at the simulator, still CREATED in our store: the send refreshes it first.
            let crowd = app
                .unpaid_campaign(&campaign_body("矩阵", "10.00", 5, "L1"))
                .await;
            app.pay_campaign(&crowd).await;
            crowd
        }
        _ => ready_crowd.to_string(),
    };
    let body = envelope(&bid, &user, &crowd);
    let no = pe(&bid);
    match c.step {
        Step::BeforeLedger => app.set_fault(&fault(DETAIL, &c)).await,
        Step::AfterLedger => {
            app.set_fault(
                &json!({"api": DETAIL, "kind": "latency", "latencyMs": 4800, "count": 1}),
            )
            .await;
            app.set_fault(&fault(TRIGGER, &c)).await;
        }
        Step::DuringCall | Step::AfterCommit => app.set_fault(&fault(TRIGGER, &c)).await,
    }
    let ctx = format!("{c:?} {no}");

    // The faulty send.
    let first = app.send_envelope(&body).await;
    // Whether the faulty trigger call was performed by Alipay (faults before the ledger write hit
    // the campaign refresh, a read).
    let on_trigger = c.step != Step::BeforeLedger;
    let performed = on_trigger && matches!(c.kind, "bad_signature" | "commit_then_drop");
    let beyond_timeout = c.kind == "hang" || c.latency_ms >= CLIENT_TIMEOUT_MS;
    let plain_latency = c.kind == "latency" && !beyond_timeout;
    match c.step {
        Step::BeforeLedger if plain_latency => {
            assert_eq!(first.status, 201, "{ctx}: {first:?}");
        }
        Step::BeforeLedger => {
            assert_eq!(first.status, 503, "{ctx}: {first:?}");
            assert_eq!(first.body["code"], "alipay_unavailable", "{ctx}: {first:?}");
            let entry = app.envelope_entry(&no).await;
            assert_eq!(entry.status, 404, "{ctx}: no ledger item yet: {entry:?}");
            assert!(app.payouts_of(&no).await.is_empty(), "{ctx}");
        }
        Step::AfterLedger => {
            // The invocation's deadline abandons the hanging trigger call and the function answers
            // in time (it used to be killed at its timeout): an unknown outcome the ledger resolves.
            assert_eq!(
                first.status, 202,
                "{ctx}: answered before the deadline: {first:?}"
            );
            let entry = app.envelope_entry(&no).await;
            assert!(
                matches!(entry.body["state"].as_str(), Some("PENDING" | "UNKNOWN")),
                "{ctx}: {entry:?}"
            );
            assert!(app.payouts_of(&no).await.is_empty(), "{ctx}");
        }
        Step::DuringCall | Step::AfterCommit if plain_latency => {
            assert_eq!(first.status, 201, "{ctx}: {first:?}");
        }
        Step::DuringCall | Step::AfterCommit => {
            assert_eq!(first.status, 202, "{ctx}: {first:?}");
            assert_eq!(first.body["state"], "UNKNOWN", "{ctx}: {first:?}");
            let paid = app.payouts_of(&no).await.len();
            if performed {
                assert_eq!(paid, 1, "{ctx}: Alipay committed before our write");
            } else if !beyond_timeout {
                assert_eq!(paid, 0, "{ctx}: not performed");
            }
        }
    }

    // Recovery.
    let mut retries = 0;
    let mut runs = 0;
    match c.recovery {
        Recovery::ClientRetry => loop {
            let state = app.envelope_entry(&no).await.body["state"].clone();
            if state == "SENT" {
                break;
            }
            // A PENDING entry whose function died is taken over once its lease expired.
            assert!(
                started.elapsed() < Duration::from_millis(LEASE_MS) + Duration::from_secs(40),
                "{ctx}: still {state} after {retries} retries"
            );
            tokio::time::sleep(Duration::from_millis(if state == "PENDING" {
                1000
            } else {
                250
            }))
            .await;
            let a = app.send_envelope(&body).await;
            retries += 1;
            match a.status {
                200 | 201 => assert_eq!(a.body["state"], "SENT", "{ctx}: {a:?}"),
                202 => assert!(
                    matches!(a.body["state"].as_str(), Some("PENDING" | "UNKNOWN")),
                    "{ctx}: {a:?}"
                ),
                _ => panic!("{ctx}: unexpected retry answer {a:?}"),
            }
        },
        Recovery::Reconciler => {
            let (_, n) = app
                .reconcile_until_final(
                    std::slice::from_ref(&no),
                    Duration::from_millis(LEASE_MS) + Duration::from_secs(40),
                )
                .await;
            runs = n;
        }
    }

    // Every armed fault fired (count faults disappear once spent).
    let armed = app.sim_get("/sim/faults").await;
    assert_eq!(
        armed.body["faults"],
        json!([]),
        "{ctx}: unfired faults: {armed:?}"
    );

    // The end state: one payout per business id, our ledger agreeing, repeats answer it.
    let entry = app.envelope_entry(&no).await.body;
    assert_eq!(entry["state"], "SENT", "{ctx}: {entry}");
    let payouts = app.payouts().await;
    let of_bid: Vec<&Value> = payouts
        .iter()
        .filter(|p| business_id_of(p["out_biz_no"].as_str().unwrap_or("")) == bid)
        .collect();
    assert_eq!(of_bid.len(), 1, "{ctx}: {of_bid:?}");
    assert_agrees(&entry, &payouts);
    let flag = entry["outcome"]["repeatTriggerFlag"].clone();
    if performed {
        assert_eq!(flag, true, "{ctx}: recorded from Alipay's replay: {entry}");
    } else if !beyond_timeout || !on_trigger {
        assert_eq!(flag, false, "{ctx}: {entry}");
    }
    let repeat = app.send_envelope(&body).await;
    assert_eq!(repeat.status, 200, "{ctx}: {repeat:?}");
    assert_eq!(
        repeat.body["outcome"]["bizNo"], entry["outcome"]["bizNo"],
        "{ctx}"
    );
    let listed = app.user_envelopes(&user).await;
    assert_eq!(listed.len(), 1, "{ctx}: {listed:?}");
    assert_eq!(listed[0]["outBizNo"], no.as_str(), "{ctx}");
    assert_eq!(listed[0]["state"], "SENT", "{ctx}");
    assert_eq!(
        listed[0]["outcome"]["bizNo"], entry["outcome"]["bizNo"],
        "{ctx}"
    );
    app.sim_clear_faults().await;
    format!(
        "{:<12} {:<16} x{} {:<11} first={} retries={retries} reconciler_runs={runs} repeat_flag={flag} {}ms",
        format!("{:?}", c.step),
        c.kind,
        c.count,
        format!("{:?}", c.recovery),
        first.status,
        started.elapsed().as_millis()
    )
}

async fn run_all(cases: &[Case]) {
    let (app, _serial, crowd) = cash_test_on("故障矩阵", "100.00", 100, "L5").await;
    for c in cases {
        let line = run(&app, &crowd, *c).await;
        eprintln!("[matrix] {line}");
    }
}

#[tokio::test]
async fn matrix_before_the_ledger_write() {
    let cases: Vec<Case> = CALL_FAULTS
        .iter()
        .map(|k| case(Step::BeforeLedger, k, Recovery::ClientRetry))
        .collect();
    run_all(&cases).await;
}

#[tokio::test]
async fn matrix_a_bad_request_never_reaches_the_ledger_or_alipay() {
    let (app, _serial, crowd) = cash_test_on("坏请求", "10.00", 5, "L1").await;
    for kind in CALL_FAULTS {
        for api in [TRIGGER, DETAIL] {
            app.set_fault(&json!({"api": api, "kind": kind})).await;
        }
    }
    let bid = new_business_id("mx_bad");
    let mut body = envelope(&bid, "2088-not-a-user", &crowd);
    let a = app.send_envelope(&body).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.body["code"], "invalid_user_id", "{a:?}");
    body["userId"] = json!(new_user_id());
    body["reason"] = json!(null);
    let a = app.send_envelope(&body).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.body["code"], "invalid_reason", "{a:?}");
    let faults = app.sim_get("/sim/faults").await;
    let list = faults.body["faults"].as_array().unwrap();
    assert_eq!(list.len(), 12, "{faults:?}");
    assert!(list.iter().all(|f| f["fired"] == 0), "{faults:?}");
    assert_eq!(app.envelope_entry(&pe(&bid)).await.status, 404);
    assert!(app.payouts_of(&pe(&bid)).await.is_empty());
    app.sim_clear_faults().await;
}

#[tokio::test]
async fn matrix_after_the_ledger_write_the_function_dies() {
    run_all(&[
        case(Step::AfterLedger, "hang", Recovery::ClientRetry),
        case(Step::AfterLedger, "hang", Recovery::Reconciler),
    ])
    .await;
}

#[tokio::test]
async fn matrix_during_the_alipay_call() {
    let mut cases = Vec::new();
    for kind in ["latency", "hang", "http500", "unknown_error"] {
        for r in [Recovery::ClientRetry, Recovery::Reconciler] {
            cases.push(case(Step::DuringCall, kind, r));
        }
    }
    // Latency beyond the client's timeout: the outcome is unknown to us, whatever Alipay did.
    cases.push(Case {
        latency_ms: CLIENT_TIMEOUT_MS + 1000,
        ..case(Step::DuringCall, "latency", Recovery::Reconciler)
    });
    run_all(&cases).await;
}

#[tokio::test]
async fn matrix_after_alipay_committed_before_our_write() {
    let mut cases = Vec::new();
    for kind in ["bad_signature", "commit_then_drop"] {
        for r in [Recovery::ClientRetry, Recovery::Reconciler] {
            cases.push(case(Step::AfterCommit, kind, r));
        }
    }
    run_all(&cases).await;
}

#[tokio::test]
async fn matrix_faults_repeated_on_the_retries() {
    let mut cases = Vec::new();
    for (step, kind) in [
        (Step::DuringCall, "http500"),
        (Step::DuringCall, "unknown_error"),
        (Step::AfterCommit, "bad_signature"),
        (Step::AfterCommit, "commit_then_drop"),
    ] {
        for r in [Recovery::ClientRetry, Recovery::Reconciler] {
            cases.push(Case {
                count: 3,
                ..case(step, kind, r)
            });
        }
    }
    run_all(&cases).await;
}
