//! The randomized hostile schedule on the transfer rail (seeded; `CASH_SEED=<n>` replays the draws):
//! probability faults of every kind on `uni.transfer` (including `commit_late`), faults on
//! `common.query`, notifications lost, duplicated, out of order and late, the payer's balance
//! drained and refilled at random moments, repeats of the same business ids (some concurrent), the
//! reconciler alongside. Then the outage ends: every late commit lands, every business id is sent
//! once more with `retryFailed`, the reconciler runs until every current attempt is settled, and
//! our ledger and the simulator's transfer orders must agree entry by entry with exactly one paid
//! order per (reason, business id).
use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::cash::schedule::{
    answer_label, business_id_of, install_faults, paid_per_business_id, run_outage,
    sent_answers_agree, shuffled_sends, start, Hostile, GATEWAY_FAULTS,
};
use integration_tests::cash::{
    cash_test, last_refusal, transfer_agreement, transfer_envelope, Rng, ORDER_CHANGED, TRANSFER,
    TRANSFER_QUERY,
};
use integration_tests::new_user_id;
use serde_json::Value;

/// Distinct business ids, and the sends over them (each id 2–5 times, shuffled).
const IDS: usize = 300;

/// A transfer amount between 0.01 and 5.00 yuan, fixed per business id.
fn amount(rng: &mut Rng) -> String {
    let fen = 1 + rng.below(500);
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[tokio::test]
async fn randomized_hostile_transfer_schedule_pays_each_business_id_exactly_once() {
    let (app, _serial) = cash_test().await;
    let (schedule, mut rng) = start("transfer schedule");

    let ids: Vec<(String, String, String)> = (0..IDS)
        .map(|i| {
            (
                format!("ts{:x}_{i}", schedule.seed),
                new_user_id(),
                amount(&mut rng),
            )
        })
        .collect();
    let ops = shuffled_sends(&mut rng, IDS);

    // Every gateway fault kind on uni.transfer, faults on the query that resolves them, and every
    // notification fault, each with its own probability and seed.
    let late_ms = (500, 11_500);
    install_faults(&app, &mut rng, TRANSFER, &GATEWAY_FAULTS, late_ms).await;
    let query_faults = [("unknown_error", 0.05), ("http500", 0.03)];
    install_faults(&app, &mut rng, TRANSFER_QUERY, &query_faults, late_ms).await;
    let notify_faults = [
        ("notify_lost", 0.2),
        ("notify_duplicate", 0.1),
        ("notify_stale", 0.1),
        ("notify_late", 0.1),
    ];
    install_faults(&app, &mut rng, ORDER_CHANGED, &notify_faults, late_ms).await;

    // The sends alongside the reconciler and the hostile side (the payer's balance drained).
    let sent_body = {
        let ids = ids.clone();
        move |i: usize| {
            let (bid, user, amount) = &ids[i];
            transfer_envelope(bid, user, amount)
        }
    };
    let outage = run_outage(
        &app,
        &mut rng,
        &schedule,
        &ops,
        Hostile::BalanceDrains,
        sent_body,
    )
    .await;

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent_order: BTreeMap<usize, Value> = BTreeMap::new();
    let mut unexpected: Vec<String> = Vec::new();
    let mut refused_for_balance = 0;
    for (i, status, body) in &outage.answers {
        if last_refusal(body)
            .or(last_refusal(&body["entry"]))
            .is_some_and(|r| r["subCode"] == "BALANCE_IS_NOT_ENOUGH")
        {
            refused_for_balance += 1;
        }
        *by_status.entry(answer_label(*status, body)).or_default() += 1;
        match status {
            200 | 201 => {
                let order = body["outcome"]["orderId"].clone();
                let first = sent_order.entry(*i).or_insert_with(|| order.clone());
                if body["state"] != "SENT" || *first != order {
                    unexpected.push(format!("SENT answers disagree: {body}"));
                }
            }
            202 => {
                if !matches!(
                    body["state"].as_str(),
                    Some("PENDING" | "UNKNOWN" | "NEEDS_ATTENTION")
                ) {
                    unexpected.push(format!("202 {body}"));
                }
            }
            409 => {
                if body["code"] != "payout_busy" {
                    unexpected.push(format!("409 {body}"));
                }
            }
            // The drained balance: a refusal the caller may see (the stable code is checked by
            // the refusal tests; here it is counted).
            422 => {}
            503 => {
                if !matches!(
                    body["code"].as_str(),
                    Some("store_unavailable" | "dependency_timeout" | "alipay_unavailable")
                ) {
                    unexpected.push(format!("503 {body}"));
                }
            }
            _ => unexpected.push(format!("{status} {body}")),
        }
    }
    // A held call performed late is a replay (ok) or refused for the balance of that moment; a
    // PAYMENT_INFO_INCONSISTENCY would mean we re-sent a number with other terms.
    for l in &outage.late {
        if l["api"] == TRANSFER
            && !(l["outcome"] == "ok" || l["subCode"] == "BALANCE_IS_NOT_ENOUGH")
        {
            unexpected.push(format!("a late transfer was refused: {l}"));
        }
    }
    eprintln!(
        "[transfer schedule] {IDS} business ids: {}; answers {by_status:?}; balance drained {}×, \
         {refused_for_balance} answers carrying BALANCE_IS_NOT_ENOUGH",
        outage.summary(),
        outage.drawn.drains,
    );
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");

    // Every business id once more, as a caller that retries its failures would, then the
    // reconciler until every current attempt is settled.
    let mut last = app
        .send_each_once_more(
            ids.iter()
                .map(|(bid, user, amount)| (bid.clone(), transfer_envelope(bid, user, amount))),
            Duration::from_secs(180),
        )
        .await;

    // The invariant, entry by entry: every attempt in our ledger against the simulator's orders.
    let ours = format!("ts{:x}_", schedule.seed);
    let orders: Vec<Value> = app
        .transfers_where(|no| business_id_of(no).is_some_and(|id| id.starts_with(&ours)))
        .await;
    let (paid_per_id, _) = paid_per_business_id(&orders);
    for (bid, _, _) in ids.iter() {
        let paid = paid_per_id.get(bid.as_str()).cloned().unwrap_or_default();
        if paid.len() != 1 || paid[0]["status"] != "SUCCESS" {
            last.disagreements
                .push(format!("{bid}: {} orders {paid:?}", paid.len()));
        }
    }
    let (states, second_attempts) = app
        .check_every_attempt(
            ids.iter().map(|(bid, _, _)| bid.as_str()),
            |e| transfer_agreement(e, &orders),
            &mut last.disagreements,
        )
        .await;
    for (((_, user, amount), entry), no) in ids.iter().zip(&last.entries).zip(&last.current) {
        let fen = {
            let (y, f) = amount.split_once('.').unwrap();
            y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
        };
        if entry["state"] != "SENT"
            || entry["outBizNo"] != no.as_str()
            || entry["recipient"]["userId"] != user.as_str()
            || entry["outcome"]["amountFen"] != fen
        {
            last.disagreements.push(format!(
                "current attempt {entry} is not {no} SENT {amount} to {user}"
            ));
        }
    }
    sent_answers_agree(
        &sent_order,
        &last.entries,
        "orderId",
        &mut last.disagreements,
    );
    let notes = app.sim_notifications().await;
    let posted = notes.iter().filter(|n| n["attempt"] != 0).count();
    let acked = notes.iter().filter(|n| n["acknowledged"] == true).count();
    let figures = format!(
        "ledger attempts {states:?} ({second_attempts} second attempts); notifications posted \
         {posted}, acknowledged {acked}"
    );
    schedule.verdict(&last, &figures, &orders, "paid orders", IDS);
}
