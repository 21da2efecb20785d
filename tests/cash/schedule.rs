//! A randomized schedule of faulty sends against a hostile Alipay (seeded; `CASH_SEED=<n>` replays
//! the draws): probability faults of every kind on `cash.trigger` (including `commit_late`, which
//! pays a request after our client gave up), the replay order switched between `before_checks` and
//! `after_checks` and the campaign paused and resumed at random moments, repeats of the same
//! business ids (some concurrent), the reconciler running alongside. Then the outage ends: every
//! late commit lands, every business id is sent once more with `retryFailed`, the reconciler runs
//! until every current attempt is SENT, and our ledger and the simulator's payouts must agree entry
//! by entry with exactly one payout per (reason, business id).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::cash::{attempt, cash_app, envelope, serial, FinalPass, Rng, TRIGGER};
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

/// What the hostile side did while the sends ran.
#[derive(Debug, Default)]
struct Chaos {
    after_checks_draws: AtomicU64,
    before_checks_draws: AtomicU64,
    pauses: AtomicU64,
}

#[tokio::test]
async fn randomized_hostile_schedule_pays_each_reason_and_business_id_exactly_once() {
    let app = cash_app();
    let _serial = serial(&app).await;
    let started = Instant::now();
    let (mut rng, seed) = Rng::from_env_or_time();
    eprintln!("[schedule] seed {seed} (replay with CASH_SEED={seed})");

    // Room for a second attempt of every id, so the budget never runs out (with `after_checks`, a
    // spent budget refuses even the replay of a paid out_biz_no, forever), and two envelopes per
    // user, so a second payout for one business id would not be hidden by the per-user limit.
    let crowd = app
        .ready_campaign("随机故障", &format!("{}.00", 2 * IDS), 2 * IDS as u64, "L2")
        .await;
    let ids: Vec<(String, String)> = (0..IDS)
        .map(|i| (format!("rs{seed:x}_{i}"), new_user_id()))
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

    // Every fault kind, each with its own probability and seed (the first terminal one that fires
    // wins; latency adds to it). A late commit lands 1–12 s after its call arrived: before or after
    // the repeats and reconciler probes of the same out_biz_no, during a pause or not.
    let mix = [
        ("latency", 0.15),
        ("hang", 0.004),
        ("http500", 0.06),
        ("unknown_error", 0.06),
        ("bad_signature", 0.06),
        ("commit_then_drop", 0.06),
        ("commit_late", 0.03),
    ];
    for (kind, p) in mix {
        app.set_fault(&json!({
            "api": TRIGGER, "kind": kind, "probability": p,
            "seed": rng.next_u64() % 1_000_000 + 1, "latencyMs": 40 + rng.below(400),
            "delayMs": 1000 + rng.below(11_000),
        }))
        .await;
    }

    // The reconciler runs alongside, as the schedule would, for the first three quarters of the
    // sends (the rest is left to the final reconciliation).
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

    // The hostile side: every 1–3 s it draws the replay order, and a quarter of the time pauses
    // the campaign (through our API, so Alipay and our store both see it) for 0.2–1 s.
    let chaos = Arc::new(Chaos::default());
    let hostile = {
        let (app, stop, chaos, crowd) =
            (clone_app(&app), stop.clone(), chaos.clone(), crowd.clone());
        let mut rng = Rng::from_seed(rng.next_u64());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000))).await;
                if rng.unit() < 0.5 {
                    chaos.after_checks_draws.fetch_add(1, Ordering::Relaxed);
                    app.sim_settings(&json!({"triggerReplay": "after_checks"}))
                        .await;
                } else {
                    chaos.before_checks_draws.fetch_add(1, Ordering::Relaxed);
                    app.sim_settings(&json!({"triggerReplay": "before_checks"}))
                        .await;
                }
                if rng.unit() < 0.25 {
                    chaos.pauses.fetch_add(1, Ordering::Relaxed);
                    app.set_campaign_status(&crowd, "PAUSE").await;
                    tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
                    app.set_campaign_status(&crowd, "READY").await;
                }
            }
        })
    };

    // The sends, CONCURRENCY at a time, in shuffled order (repeats of one id may overlap).
    let answers: Arc<Mutex<Vec<(usize, u16, Value)>>> = Arc::default();
    let ids = Arc::new(ids);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (app, queue, answers, ids, crowd) = (
            clone_app(&app),
            queue.clone(),
            answers.clone(),
            ids.clone(),
            crowd.clone(),
        );
        workers.spawn(async move {
            loop {
                let Some(i) = queue.lock().unwrap().pop() else {
                    break;
                };
                let (bid, user) = &ids[i];
                let a = app.send_envelope(&envelope(bid, user, &crowd)).await;
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

    // Every answer is a ledger state, a busy hint, a store fault or a pause; SENT answers of one id
    // agree.
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    assert_eq!(answers.len(), ops.len());
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent_biz_no: BTreeMap<usize, Value> = BTreeMap::new();
    for (i, status, body) in &answers {
        let label = match status {
            200..=202 => format!("{status} {}", body["state"].as_str().unwrap_or("?")),
            _ => format!("{status} {}", body["code"].as_str().unwrap_or("?")),
        };
        *by_status.entry(label).or_default() += 1;
        match status {
            200 | 201 => {
                assert_eq!(body["state"], "SENT", "{body}");
                let biz = body["outcome"]["bizNo"].clone();
                let first = sent_biz_no.entry(*i).or_insert_with(|| biz.clone());
                assert_eq!(
                    *first, biz,
                    "two SENT answers with different biz_no: {body}"
                );
            }
            202 => assert!(
                matches!(
                    body["state"].as_str(),
                    Some("PENDING" | "UNKNOWN" | "NEEDS_ATTENTION")
                ),
                "{body}"
            ),
            409 => assert_eq!(body["code"], "payout_busy", "{body}"),
            // A pause: refused before the ledger write, or a definite refusal of a first call.
            422 => assert_eq!(body["code"], "campaign_paused", "{body}"),
            // The emulated DynamoDB (moto) sometimes answers 500 under this load, or too slowly for
            // the request's deadline: a store fault the send must survive (nothing is lost; the
            // reconciler finishes the entry).
            503 => assert!(
                matches!(
                    body["code"].as_str(),
                    Some("store_unavailable" | "dependency_timeout")
                ),
                "{body}"
            ),
            _ => panic!("unexpected answer {status} {body}"),
        }
    }
    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    for f in faults.as_array().unwrap() {
        *fired
            .entry(f["kind"].as_str().unwrap_or("?").to_string())
            .or_default() += f["fired"].as_u64().unwrap_or(0);
    }
    let late_outcomes: BTreeMap<String, usize> = late.iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l["outcome"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        m
    });
    eprintln!(
        "[schedule] {} sends over {IDS} business ids in {:.1}s; answers {by_status:?}; faults fired {fired:?}; \
         late commits {} {late_outcomes:?}; replay order drawn after_checks {} / before_checks {}; pauses {}; \
         background reconciler runs {background_runs}",
        answers.len(),
        sends_done.as_secs_f64(),
        late.len(),
        chaos.after_checks_draws.load(Ordering::Relaxed),
        chaos.before_checks_draws.load(Ordering::Relaxed),
        chaos.pauses.load(Ordering::Relaxed),
    );
    assert!(answers.len() >= 1000);

    // Every business id once more, as a caller that retries its failures would.
    let FinalPass {
        current,
        answers: final_answers,
        mut disagreements,
    } = app
        .send_each_once_more(
            ids.iter()
                .map(|(bid, user)| (bid.clone(), envelope(bid, user, &crowd))),
        )
        .await;
    let settled = |e: &Value| matches!(e["state"].as_str(), Some("SENT" | "FAILED"));
    let (entries, runs) = app
        .reconcile_until(&current, settled, Duration::from_secs(120))
        .await;
    let report = app.reconcile().await;
    assert_eq!(report["examined"], 0, "nothing is due any more: {report}");

    // The invariant, entry by entry: every attempt in our ledger against the simulator's payouts.
    let payouts = app.payouts_on(&crowd).await;
    let mut paid_per_id: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for p in &payouts {
        match business_id_of(p["out_biz_no"].as_str().unwrap_or("")) {
            Some(id) => paid_per_id.entry(id).or_default().push(p),
            None => disagreements.push(format!("a payout no send asked for: {p}")),
        }
    }
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut second_attempts = 0;
    let mut replayed = 0;
    for (((bid, user), entry), no) in ids.iter().zip(&entries).zip(&current) {
        let paid = paid_per_id.get(bid.as_str()).cloned().unwrap_or_default();
        if paid.len() != 1 {
            disagreements.push(format!("{bid}: {} payouts {paid:?}", paid.len()));
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
            let of_no: Vec<&&Value> = paid
                .iter()
                .filter(|p| p["out_biz_no"] == e["outBizNo"])
                .collect();
            match e["state"].as_str() {
                Some("SENT") => {
                    let agrees = of_no.len() == 1
                        && of_no[0]["amount_fen"] == e["outcome"]["amountFen"]
                        && of_no[0]["biz_no"] == e["outcome"]["bizNo"]
                        && of_no[0]["user_id"] == e["recipient"]["userId"];
                    if !agrees {
                        disagreements.push(format!("SENT {e} vs payouts {of_no:?}"));
                    }
                }
                Some("FAILED") if of_no.is_empty() => {}
                _ => disagreements.push(format!("{e} vs payouts {of_no:?}")),
            }
            if n >= 2 {
                second_attempts += 1;
            }
        }
        if entry["state"] != "SENT"
            || entry["outBizNo"] != no.as_str()
            || entry["recipient"]["userId"] != user.as_str()
        {
            disagreements.push(format!(
                "current attempt {entry} is not {no} SENT to {user}"
            ));
        }
        if entry["outcome"]["repeatTriggerFlag"] == true {
            replayed += 1;
        }
    }
    for (i, biz) in &sent_biz_no {
        if &entries[*i]["outcome"]["bizNo"] != biz {
            disagreements.push(format!("answered SENT {biz} differs from {}", entries[*i]));
        }
    }
    eprintln!(
        "[schedule] final sends {final_answers:?}; reconciled in {runs} runs; ledger attempts {states:?} \
         ({second_attempts} second attempts, {replayed} recorded from Alipay's replay); {} payouts; \
         {} disagreements; total {:.1}s",
        payouts.len(),
        disagreements.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        disagreements.is_empty(),
        "ledger and payouts disagree ({} times): {disagreements:#?}",
        disagreements.len()
    );
    assert_eq!(payouts.len(), IDS, "one payout per business id");
    let distinct: BTreeSet<&str> = payouts
        .iter()
        .map(|p| p["out_biz_no"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(distinct.len(), payouts.len(), "an out_biz_no paid twice");
    // The by-user listing agrees for a sample.
    for ((_, user), no) in ids.iter().zip(&current).step_by(15) {
        let listed = app.user_envelopes(user).await;
        assert!(
            listed
                .iter()
                .any(|e| e["outBizNo"] == no.as_str() && e["state"] == "SENT"),
            "{listed:?}"
        );
    }
}
