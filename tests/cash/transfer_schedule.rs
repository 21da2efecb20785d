//! The randomized hostile schedule on the transfer rail (seeded; `CASH_SEED=<n>` replays the draws):
//! probability faults of every kind on `uni.transfer` (including `commit_late`), faults on
//! `common.query`, notifications lost, duplicated, out of order and late, the payer's balance
//! drained and refilled at random moments, repeats of the same business ids (some concurrent), the
//! reconciler alongside. Then the outage ends: every late commit lands, every business id is sent
//! once more with `retryFailed`, the reconciler runs until every current attempt is settled, and
//! our ledger and the simulator's transfer orders must agree entry by entry with exactly one paid
//! order per (reason, business id).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::cash::{
    attempt, cash_app, last_refusal, serial, transfer_agreement, transfer_envelope, FinalPass, Rng,
    ORDER_CHANGED, TRANSFER, TRANSFER_QUERY,
};
use integration_tests::{new_user_id, TestApp};
use serde_json::{json, Value};

/// Distinct business ids, and the sends over them (each id 2–5 times, shuffled).
const IDS: usize = 300;
/// Concurrent client requests (the send trigger's reserved concurrency is 5).
const CONCURRENCY: usize = 5;

fn clone_app(app: &TestApp) -> TestApp {
    TestApp {
        api: app.api.clone(),
        sim: app.sim.clone(),
        http: app.http.clone(),
    }
}

/// The business id of a points-exchange out_biz_no `pe[n]_{id}`.
fn business_id_of(out_biz_no: &str) -> Option<&str> {
    let (prefix, id) = out_biz_no.split_once('_')?;
    let n = prefix.strip_prefix("pe")?;
    n.bytes().all(|b| b.is_ascii_digit()).then_some(id)
}

/// A transfer amount between 0.01 and 5.00 yuan, fixed per business id.
fn amount(rng: &mut Rng) -> String {
    let fen = 1 + rng.below(500);
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[tokio::test]
async fn randomized_hostile_transfer_schedule_pays_each_business_id_exactly_once() {
    let app = cash_app();
    let _serial = serial(&app).await;
    let started = Instant::now();
    let (mut rng, seed) = Rng::from_env_or_time();
    eprintln!("[transfer schedule] seed {seed} (replay with CASH_SEED={seed})");

    let ids: Vec<(String, String, String)> = (0..IDS)
        .map(|i| (format!("ts{seed:x}_{i}"), new_user_id(), amount(&mut rng)))
        .collect();
    let mut ops: Vec<usize> = Vec::new();
    for i in 0..IDS {
        for _ in 0..2 + rng.below(4) {
            ops.push(i);
        }
    }
    while ops.len() < 1000 {
        ops.push(rng.below(IDS as u64) as usize);
    }
    for i in (1..ops.len()).rev() {
        ops.swap(i, rng.below(i as u64 + 1) as usize);
    }

    // Every gateway fault kind on uni.transfer, faults on the query that resolves them, and every
    // notification fault, each with its own probability and seed.
    let mix: [(&str, &str, f64); 13] = [
        (TRANSFER, "latency", 0.15),
        (TRANSFER, "hang", 0.004),
        (TRANSFER, "http500", 0.06),
        (TRANSFER, "unknown_error", 0.06),
        (TRANSFER, "bad_signature", 0.06),
        (TRANSFER, "commit_then_drop", 0.06),
        (TRANSFER, "commit_late", 0.03),
        (TRANSFER_QUERY, "unknown_error", 0.05),
        (TRANSFER_QUERY, "http500", 0.03),
        (ORDER_CHANGED, "notify_lost", 0.2),
        (ORDER_CHANGED, "notify_duplicate", 0.1),
        (ORDER_CHANGED, "notify_stale", 0.1),
        (ORDER_CHANGED, "notify_late", 0.1),
    ];
    for (api, kind, p) in mix {
        app.set_fault(&json!({
            "api": api, "kind": kind, "probability": p,
            "seed": rng.next_u64() % 1_000_000 + 1, "latencyMs": 40 + rng.below(400),
            "delayMs": 500 + rng.below(11_500),
        }))
        .await;
    }

    // The reconciler runs alongside for the first three quarters of the sends.
    let queue = Arc::new(Mutex::new(ops.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (app, stop, queue) = (clone_app(&app), stop.clone(), queue.clone());
        let quarter = ops.len() / 4;
        tokio::spawn(async move {
            let mut runs = 0u32;
            while !stop.load(Ordering::Relaxed) && queue.lock().unwrap().len() > quarter {
                app.reconcile().await;
                runs += 1;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            runs
        })
    };

    // The hostile side: every 1–3 s, half of the time, the payer's balance runs dry for 0.3–1.5 s
    // (BALANCE_IS_NOT_ENOUGH: not done now, the same request later).
    let drains = Arc::new(AtomicU64::new(0));
    let hostile = {
        let (app, stop, drains) = (clone_app(&app), stop.clone(), drains.clone());
        let mut rng = Rng::from_seed(rng.next_u64());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000))).await;
                if rng.unit() < 0.5 {
                    drains.fetch_add(1, Ordering::Relaxed);
                    app.sim_settings(&json!({"payerBalanceFen": 0})).await;
                    tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
                    app.sim_settings(&json!({"payerBalanceFen": null})).await;
                }
            }
        })
    };

    let answers: Arc<Mutex<Vec<(usize, u16, Value)>>> = Arc::default();
    let ids = Arc::new(ids);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (app, queue, answers, ids) =
            (clone_app(&app), queue.clone(), answers.clone(), ids.clone());
        workers.spawn(async move {
            loop {
                let Some(i) = queue.lock().unwrap().pop() else {
                    break;
                };
                let (bid, user, amount) = &ids[i];
                let a = app
                    .send_envelope(&transfer_envelope(bid, user, amount))
                    .await;
                answers.lock().unwrap().push((i, a.status, a.body));
            }
        });
    }
    workers.join_all().await;
    let sends_done = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let background_runs = background.await.unwrap();
    hostile.await.unwrap();

    // The outage ends: faults and settings cleared; calls already held still land.
    let faults = app.sim_get("/sim/faults").await.body["faults"].clone();
    app.sim_clear_faults().await;
    let late = app.late_commits_done(None, Duration::from_secs(60)).await;

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    assert_eq!(answers.len(), ops.len());
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent_order: BTreeMap<usize, Value> = BTreeMap::new();
    let mut unexpected: Vec<String> = Vec::new();
    let mut refused_for_balance = 0;
    for (i, status, body) in &answers {
        if last_refusal(body)
            .or(last_refusal(&body["entry"]))
            .is_some_and(|r| r["subCode"] == "BALANCE_IS_NOT_ENOUGH")
        {
            refused_for_balance += 1;
        }
        let label = match status {
            200..=202 => format!("{status} {}", body["state"].as_str().unwrap_or("?")),
            _ => format!("{status} {}", body["code"].as_str().unwrap_or("?")),
        };
        *by_status.entry(label).or_default() += 1;
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
    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    for f in faults.as_array().unwrap() {
        let api = f["api"].as_str().unwrap_or("?");
        let short = api.rsplit('.').next().unwrap_or(api);
        *fired
            .entry(format!("{short}:{}", f["kind"].as_str().unwrap_or("?")))
            .or_default() += f["fired"].as_u64().unwrap_or(0);
    }
    // A held call performed late is a replay (ok) or refused for the balance of that moment; a
    // PAYMENT_INFO_INCONSISTENCY would mean we re-sent a number with other terms.
    let late_outcomes: BTreeMap<String, usize> = late.iter().fold(BTreeMap::new(), |mut m, l| {
        let label = match l["subCode"].as_str() {
            Some(sub) => format!("{} {sub}", l["outcome"].as_str().unwrap_or("?")),
            None => l["outcome"].as_str().unwrap_or("?").to_string(),
        };
        *m.entry(label).or_default() += 1;
        m
    });
    for l in &late {
        if l["api"] == TRANSFER
            && !(l["outcome"] == "ok" || l["subCode"] == "BALANCE_IS_NOT_ENOUGH")
        {
            unexpected.push(format!("a late transfer was refused: {l}"));
        }
    }
    eprintln!(
        "[transfer schedule] {} sends over {IDS} business ids in {:.1}s; answers {by_status:?}; \
         faults fired {fired:?}; late commits {} {late_outcomes:?}; balance drained {}×, \
         {refused_for_balance} answers carrying BALANCE_IS_NOT_ENOUGH; \
         background reconciler runs {background_runs}",
        answers.len(),
        sends_done.as_secs_f64(),
        late.len(),
        drains.load(Ordering::Relaxed),
    );
    assert!(answers.len() >= 1000);
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");

    // Every business id once more, as a caller that retries its failures would.
    let FinalPass {
        current,
        answers: final_answers,
        mut disagreements,
    } = app
        .send_each_once_more(
            ids.iter()
                .map(|(bid, user, amount)| (bid.clone(), transfer_envelope(bid, user, amount))),
        )
        .await;
    let settled = |e: &Value| matches!(e["state"].as_str(), Some("SENT" | "FAILED"));
    let (entries, runs) = app
        .reconcile_until(&current, settled, Duration::from_secs(180))
        .await;
    let report = app.reconcile().await;
    assert_eq!(report["examined"], 0, "nothing is due any more: {report}");

    // The invariant, entry by entry: every attempt in our ledger against the simulator's orders.
    let orders: Vec<Value> = app
        .sim_transfers()
        .await
        .into_iter()
        .filter(|t| {
            t["out_biz_no"]
                .as_str()
                .and_then(business_id_of)
                .is_some_and(|id| id.starts_with(&format!("ts{seed:x}_")))
        })
        .collect();
    let mut paid_per_id: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for t in &orders {
        if let Some(id) = business_id_of(t["out_biz_no"].as_str().unwrap_or("")) {
            paid_per_id.entry(id).or_default().push(t);
        }
    }
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut second_attempts = 0;
    for (((bid, user, amount), entry), no) in ids.iter().zip(&entries).zip(&current) {
        let paid = paid_per_id.get(bid.as_str()).cloned().unwrap_or_default();
        if paid.len() != 1 || paid[0]["status"] != "SUCCESS" {
            disagreements.push(format!("{bid}: {} orders {paid:?}", paid.len()));
        }
        for n in 1.. {
            let a = app.envelope_entry(&attempt(bid, n)).await;
            if a.status == 404 {
                break;
            }
            let e = a.body;
            *states
                .entry(e["state"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
            if let Err(why) = transfer_agreement(&e, &orders) {
                disagreements.push(why);
            }
            if n >= 2 {
                second_attempts += 1;
            }
        }
        let fen = {
            let (y, f) = amount.split_once('.').unwrap();
            y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
        };
        if entry["state"] != "SENT"
            || entry["outBizNo"] != no.as_str()
            || entry["recipient"]["userId"] != user.as_str()
            || entry["outcome"]["amountFen"] != fen
        {
            disagreements.push(format!(
                "current attempt {entry} is not {no} SENT {amount} to {user}"
            ));
        }
    }
    for (i, order) in &sent_order {
        if &entries[*i]["outcome"]["orderId"] != order {
            disagreements.push(format!(
                "answered SENT {order} differs from {}",
                entries[*i]
            ));
        }
    }
    let notes = app.sim_notifications().await;
    let posted = notes.iter().filter(|n| n["attempt"] != 0).count();
    let acked = notes.iter().filter(|n| n["acknowledged"] == true).count();
    eprintln!(
        "[transfer schedule] final sends {final_answers:?}; reconciled in {runs} runs; ledger attempts \
         {states:?} ({second_attempts} second attempts); {} paid orders; notifications posted {posted}, \
         acknowledged {acked}; {} disagreements; total {:.1}s",
        orders.len(),
        disagreements.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        disagreements.is_empty(),
        "ledger and transfers disagree ({} times): {disagreements:#?}",
        disagreements.len()
    );
    assert_eq!(orders.len(), IDS, "one paid order per business id");
    let distinct: BTreeSet<&str> = orders
        .iter()
        .map(|t| t["out_biz_no"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(distinct.len(), orders.len(), "an out_biz_no paid twice");
}
