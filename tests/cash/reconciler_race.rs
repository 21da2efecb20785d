//! Two reconciler runs at once over the same due entries pay each entry once. The template reserves
//! no concurrency for the reconciler by default (a reservation makes the stack fail to create on
//! new accounts), so a slow run and the next scheduled one can overlap: every probe or re-send of an
//! entry must go through its lease, with the entry's own out_biz_no.
use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::cash::{assert_agrees, cash_test_on, new_send, pe, TRIGGER};
use serde_json::{json, Value};

#[tokio::test]
async fn two_reconcilers_racing_over_the_same_due_entries_pay_each_once() {
    let (app, _serial, crowd) = cash_test_on("对账并发", "100.00", 50, "L5").await;
    // Six sends whose outcome is unknown: three never reached Alipay (http500), three were paid
    // and the answer lost (commit_then_drop). All six are due 100 ms later.
    let mut business_ids = Vec::new();
    for (i, kind) in ["http500", "commit_then_drop"].iter().enumerate() {
        app.set_fault(&json!({"api": TRIGGER, "kind": kind, "count": 3}))
            .await;
        for j in 0..3 {
            let (bid, body) = new_send(&format!("race{i}{j}"), &crowd);
            let a = app.send_envelope(&body).await;
            assert_eq!(a.status, 202, "{kind}: an unknown outcome: {a:?}");
            business_ids.push(bid);
        }
    }
    app.sim_clear_faults().await;
    let out_biz_nos: Vec<String> = business_ids.iter().map(|b| pe(b)).collect();

    // Pairs of concurrent runs until every entry is final.
    let mut examined = 0;
    let mut both_examined = 0;
    let mut rounds = 0;
    loop {
        let mut open = 0;
        for no in &out_biz_nos {
            let e = app.envelope_entry(no).await;
            assert_eq!(e.status, 200, "{no}: {e:?}");
            if matches!(e.body["state"].as_str(), Some("PENDING" | "UNKNOWN")) {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        assert!(
            rounds < 60,
            "{open} entries still open after {rounds} racing rounds"
        );
        let (a, b) = tokio::join!(app.reconcile(), app.reconcile());
        println!("round {rounds}: {a} | {b}");
        for report in [&a, &b] {
            examined += report["examined"].as_u64().unwrap_or(0);
        }
        if a["examined"].as_u64() > Some(0) && b["examined"].as_u64() > Some(0) {
            both_examined += 1;
        }
        rounds += 1;
        if a["examined"] == 0 && b["examined"] == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert!(examined >= 6, "the runs examined the entries: {examined}");
    assert!(
        both_examined > 0,
        "in no round did both runs find due entries: they did not race"
    );

    // The simulator's ledger: exactly one payout per out_biz_no, agreeing with our entry, and no
    // other out_biz_no for these business ids.
    let all = app.payouts_on(&crowd).await;
    let mut paid = BTreeSet::new();
    for no in &out_biz_nos {
        let entry: Value = app.envelope_entry(no).await.body;
        assert_eq!(entry["state"], "SENT", "{entry}");
        let payouts: Vec<Value> = all
            .iter()
            .filter(|p| p["out_biz_no"] == no.as_str())
            .cloned()
            .collect();
        assert_eq!(
            payouts.len(),
            1,
            "{no} paid {} times: {payouts:?}",
            payouts.len()
        );
        assert_agrees(&entry, &payouts);
        paid.insert(no.clone());
    }
    assert_eq!(
        all.len(),
        paid.len(),
        "no other payout on the campaign: {all:?}"
    );
}
