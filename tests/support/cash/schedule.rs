//! The machinery of the randomized hostile schedules, one driver for both rails
//! (`tests/cash/schedule.rs` on the campaign rail, `tests/cash/transfer_schedule.rs` on the transfer
//! rail): the shuffled sends, the probability faults, the outage (the sends [`CONCURRENCY`] at a
//! time with the reconciler and a hostile side alongside), then the last pass and the checks of
//! every attempt in the ledger against what Alipay paid.
//!
//! The draws from the schedule's [`Rng`] happen in a fixed order (sends, faults, the hostile side's
//! seed), so `CASH_SEED` replays a run.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{attempt, settled, Rng};
use crate::TestApp;

/// Concurrent client requests (5: the load the schedule was tuned for; the send trigger reserves no
/// concurrency by default, `SendConcurrency`).
pub const CONCURRENCY: usize = 5;

/// Every gateway fault kind on the call that pays (`cash.trigger` or `uni.transfer`), each with its
/// probability: the first terminal one that fires wins; latency adds to it.
pub const GATEWAY_FAULTS: [(&str, f64); 7] = [
    ("latency", 0.15),
    ("hang", 0.004),
    ("http500", 0.06),
    ("unknown_error", 0.06),
    ("bad_signature", 0.06),
    ("commit_then_drop", 0.06),
    ("commit_late", 0.03),
];

/// One run of a schedule.
pub struct Schedule {
    /// How its printed lines start (`[{name}]`).
    pub name: &'static str,
    /// The seed of its generator.
    pub seed: u64,
    pub started: Instant,
}

/// A schedule's start: its generator, seeded from `CASH_SEED` or the clock (printed, so that the
/// run can be replayed).
pub fn start(name: &'static str) -> (Schedule, Rng) {
    let started = Instant::now();
    let (rng, seed) = Rng::from_env_or_time();
    eprintln!("[{name}] seed {seed} (replay with CASH_SEED={seed})");
    let schedule = Schedule {
        name,
        seed,
        started,
    };
    (schedule, rng)
}

/// The business id of a points-exchange out_biz_no `pe[n]_{id}`.
pub fn business_id_of(out_biz_no: &str) -> Option<&str> {
    let (prefix, id) = out_biz_no.split_once('_')?;
    let n = prefix.strip_prefix("pe")?;
    n.bytes().all(|b| b.is_ascii_digit()).then_some(id)
}

/// The sends over `ids` business ids (indices): each id 2–5 times, at least 1000 in all, shuffled.
pub fn shuffled_sends(rng: &mut Rng, ids: usize) -> Vec<usize> {
    let mut ops: Vec<usize> = Vec::new();
    for i in 0..ids {
        for _ in 0..2 + rng.below(4) {
            ops.push(i);
        }
    }
    while ops.len() < 1000 {
        ops.push(rng.below(ids as u64) as usize);
    }
    for i in (1..ops.len()).rev() {
        ops.swap(i, rng.below(i as u64 + 1) as usize);
    }
    ops
}

/// Installs a probability fault on `api` for each `(kind, probability)`, each with its own seed; a
/// `commit_late` lands `late_from_ms` plus up to `late_span_ms` after its call arrived (before or
/// after the repeats and reconciler probes of the same out_biz_no).
pub async fn install_faults(
    app: &TestApp,
    rng: &mut Rng,
    api: &str,
    mix: &[(&str, f64)],
    (late_from_ms, late_span_ms): (u64, u64),
) {
    for (kind, p) in mix {
        app.set_fault(&json!({
            "api": api, "kind": kind, "probability": p,
            "seed": rng.next_u64() % 1_000_000 + 1, "latencyMs": 40 + rng.below(400),
            "delayMs": late_from_ms + rng.below(late_span_ms),
        }))
        .await;
    }
}

/// What the hostile side does every 1–3 s while the sends run.
pub enum Hostile {
    /// Draws the replay order (`after_checks` / `before_checks`, even odds) and a quarter of the
    /// time pauses the campaign (through our API, so Alipay and our store both see it) for 0.2–1 s.
    ReplayOrderAndPauses { crowd: String },
    /// Half of the time the payer's balance runs dry for 0.3–1.5 s (BALANCE_IS_NOT_ENOUGH: not done
    /// now, the same request later).
    BalanceDrains,
}

/// What the hostile side did while the sends ran.
#[derive(Debug, Default)]
struct Chaos {
    after_checks_draws: AtomicU64,
    before_checks_draws: AtomicU64,
    pauses: AtomicU64,
    drains: AtomicU64,
}

/// [`Chaos`] once the hostile side has ended.
#[derive(Debug)]
pub struct Drawn {
    /// Replay order draws.
    pub after_checks: u64,
    pub before_checks: u64,
    /// Campaign pauses.
    pub pauses: u64,
    /// Balance drains.
    pub drains: u64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Hostile {
    async fn act(&self, app: &TestApp, rng: &mut Rng, chaos: &Chaos) {
        match self {
            Self::ReplayOrderAndPauses { crowd } => {
                let order = if rng.unit() < 0.5 {
                    count(&chaos.after_checks_draws);
                    "after_checks"
                } else {
                    count(&chaos.before_checks_draws);
                    "before_checks"
                };
                app.sim_settings(&json!({ "triggerReplay": order })).await;
                if rng.unit() < 0.25 {
                    count(&chaos.pauses);
                    app.set_campaign_status(crowd, "PAUSE").await;
                    tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
                    app.set_campaign_status(crowd, "READY").await;
                }
            }
            Self::BalanceDrains => {
                if rng.unit() < 0.5 {
                    count(&chaos.drains);
                    app.sim_settings(&json!({"payerBalanceFen": 0})).await;
                    tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
                    app.sim_settings(&json!({"payerBalanceFen": null})).await;
                }
            }
        }
    }
}

/// What the outage left: every answer `(business id index, status, body)`, in the order received.
pub struct Outage {
    pub answers: Vec<(usize, u16, Value)>,
    /// From the schedule's start until the last send was answered.
    pub sends_done: Duration,
    /// Reconciler runs alongside the sends.
    pub background_runs: u32,
    /// The simulator's faults as they were at the end (`fired` counts).
    pub faults: Value,
    /// The held (`commit_late`) calls, every one performed.
    pub late: Vec<Value>,
    /// What the hostile side did.
    pub drawn: Drawn,
}

/// The outage: the sends `ops` (business id indices; `body` builds a send), [`CONCURRENCY`] at a
/// time in the given order (repeats of one id may overlap), with the reconciler running alongside
/// for the first three quarters of the sends (the rest is left to the final reconciliation) and the
/// `hostile` side acting every 1–3 s. Then the outage ends: faults and settings cleared, and every
/// call already held is waited for (they still land).
pub async fn run_outage(
    app: &TestApp,
    rng: &mut Rng,
    schedule: &Schedule,
    ops: &[usize],
    hostile: Hostile,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> Outage {
    let queue = Arc::new(Mutex::new(ops.to_vec()));
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (app, stop, queue) = (app.clone(), stop.clone(), queue.clone());
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

    let chaos = Arc::new(Chaos::default());
    let hostile = {
        let (app, stop, chaos) = (app.clone(), stop.clone(), chaos.clone());
        let mut rng = Rng::from_seed(rng.next_u64());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000))).await;
                hostile.act(&app, &mut rng, &chaos).await;
            }
        })
    };

    let answers: Arc<Mutex<Vec<(usize, u16, Value)>>> = Arc::default();
    let body = Arc::new(body);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (app, queue, answers, body) =
            (app.clone(), queue.clone(), answers.clone(), body.clone());
        workers.spawn(async move {
            loop {
                let Some(i) = queue.lock().unwrap().pop() else {
                    break;
                };
                let a = app.send_envelope(&body(i)).await;
                answers.lock().unwrap().push((i, a.status, a.body));
            }
        });
    }
    workers.join_all().await;
    let sends_done = schedule.started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let background_runs = background.await.unwrap();
    hostile.await.unwrap();

    let faults = app.sim_get("/sim/faults").await.body["faults"].clone();
    app.sim_clear_faults().await;
    let late = app.late_commits_done(None, Duration::from_secs(60)).await;
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    assert_eq!(answers.len(), ops.len());
    assert!(answers.len() >= 1000);
    Outage {
        answers,
        sends_done,
        background_runs,
        faults,
        late,
        drawn: {
            let chaos = Arc::into_inner(chaos).expect("the hostile side has ended");
            Drawn {
                after_checks: chaos.after_checks_draws.into_inner(),
                before_checks: chaos.before_checks_draws.into_inner(),
                pauses: chaos.pauses.into_inner(),
                drains: chaos.drains.into_inner(),
            }
        },
    }
}

impl Outage {
    /// The outage's figures: sends, faults fired, late commits, reconciler runs.
    pub fn summary(&self) -> String {
        format!(
            "{} sends in {:.1}s; faults fired {:?}; late commits {} {:?}; background reconciler runs {}",
            self.answers.len(),
            self.sends_done.as_secs_f64(),
            fired(&self.faults),
            self.late.len(),
            late_outcomes(&self.late),
            self.background_runs
        )
    }
}

/// `"{status} {state}"` for a ledger answer (200–202), `"{status} {code}"` for any other.
pub fn answer_label(status: u16, body: &Value) -> String {
    let label = match status {
        200..=202 => body["state"].as_str(),
        _ => body["code"].as_str(),
    };
    format!("{status} {}", label.unwrap_or("?"))
}

/// How many times each armed fault fired, by `{api's last word}:{kind}`.
fn fired(faults: &Value) -> BTreeMap<String, u64> {
    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    for f in faults.as_array().unwrap() {
        let api = f["api"].as_str().unwrap_or("?");
        let short = api.rsplit('.').next().unwrap_or(api);
        *fired
            .entry(format!("{short}:{}", f["kind"].as_str().unwrap_or("?")))
            .or_default() += f["fired"].as_u64().unwrap_or(0);
    }
    fired
}

/// The held calls by outcome (with the refusal's sub code, if any).
fn late_outcomes(late: &[Value]) -> BTreeMap<String, usize> {
    late.iter().fold(BTreeMap::new(), |mut m, l| {
        let label = match l["subCode"].as_str() {
            Some(sub) => format!("{} {sub}", l["outcome"].as_str().unwrap_or("?")),
            None => l["outcome"].as_str().unwrap_or("?").to_string(),
        };
        *m.entry(label).or_default() += 1;
        m
    })
}

/// What the last pass of a randomized schedule saw.
pub struct FinalPass {
    /// Each business id's current out_biz_no, in the order sent.
    pub current: Vec<String>,
    /// [`answer_label`] → how many answers.
    pub answers: BTreeMap<String, usize>,
    /// Answers other than 200–202, which no caller should be left with after the outage.
    pub disagreements: Vec<String>,
    /// The current attempt of each business id once the reconciler has settled it.
    pub entries: Vec<Value>,
    /// Reconciler runs until then.
    pub runs: usize,
}

impl TestApp {
    /// After the outage: every `(business id, body)` is sent once more with `retryFailed`, as a
    /// caller that retries its failures would (a 5xx, a function out of time under load answers
    /// 503 and the front 504, is sent again up to five times; only the answer it finally gets must
    /// agree with the ledger), then the reconciler runs until every current attempt is SENT or
    /// FAILED (within `within`), and then nothing is due any more.
    pub async fn send_each_once_more(
        &self,
        sends: impl IntoIterator<Item = (String, Value)>,
        within: Duration,
    ) -> FinalPass {
        let mut current = Vec::new();
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        let mut disagreements = Vec::new();
        for (bid, mut body) in sends {
            body["retryFailed"] = json!(true);
            let mut a = self.send_envelope(&body).await;
            for _ in 0..5 {
                if a.status < 500 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                a = self.send_envelope(&body).await;
            }
            *answers.entry(answer_label(a.status, &a.body)).or_default() += 1;
            if !matches!(a.status, 200..=202) {
                disagreements.push(format!("after the outage {bid} answers {a:?}"));
            }
            let entry = if a.status >= 400 {
                &a.body["entry"]
            } else {
                &a.body
            };
            current.push(match entry["outBizNo"].as_str() {
                Some(no) => no.to_string(),
                None => attempt(&bid, 1),
            });
        }
        let (entries, runs) = self.reconcile_until(&current, settled, within).await;
        let report = self.reconcile().await;
        assert_eq!(report["examined"], 0, "nothing is due any more: {report}");
        FinalPass {
            current,
            answers,
            disagreements,
            entries,
            runs,
        }
    }

    /// Every attempt in the ledger of each business id (`pe_…`, `pe2_…`, … until the first 404),
    /// each checked by `agrees` (a disagreement is pushed, not panicked on, so the run reports them
    /// all); returns the attempts by state and how many were second (or later) attempts.
    pub async fn check_every_attempt<'a>(
        &self,
        business_ids: impl IntoIterator<Item = &'a str>,
        agrees: impl Fn(&Value) -> Result<(), String>,
        disagreements: &mut Vec<String>,
    ) -> (BTreeMap<String, usize>, usize) {
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        let mut second_attempts = 0;
        for bid in business_ids {
            for n in 1.. {
                let a = self.envelope_entry(&attempt(bid, n)).await;
                if a.status == 404 {
                    break;
                }
                let e = a.body;
                *states
                    .entry(e["state"].as_str().unwrap_or("?").to_string())
                    .or_default() += 1;
                if let Err(why) = agrees(&e) {
                    disagreements.push(why);
                }
                if n >= 2 {
                    second_attempts += 1;
                }
            }
        }
        (states, second_attempts)
    }
}

/// `paid` (payouts or orders, `out_biz_no` in Alipay's field) by business id; the ones no send
/// of ours can have asked for are left over.
pub fn paid_per_business_id(paid: &[Value]) -> (BTreeMap<&str, Vec<&Value>>, Vec<&Value>) {
    let mut per_id: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    let mut strays = Vec::new();
    for p in paid {
        match business_id_of(p["out_biz_no"].as_str().unwrap_or("")) {
            Some(id) => per_id.entry(id).or_default().push(p),
            None => strays.push(p),
        }
    }
    (per_id, strays)
}

/// Every SENT answer of the outage (`field` of its outcome, by business id index) is the one the
/// ledger ended with.
pub fn sent_answers_agree(
    sent: &BTreeMap<usize, Value>,
    entries: &[Value],
    field: &str,
    disagreements: &mut Vec<String>,
) {
    for (i, value) in sent {
        if &entries[*i]["outcome"][field] != value {
            disagreements.push(format!(
                "answered SENT {value} differs from {}",
                entries[*i]
            ));
        }
    }
}

impl Schedule {
    /// The schedule's verdict, printed with the last pass's figures and the rail's own, then
    /// asserted: no disagreement between the ledger and Alipay's `what` (payouts or orders), exactly
    /// one of them per business id, and no out_biz_no paid twice.
    pub fn verdict(&self, last: &FinalPass, figures: &str, paid: &[Value], what: &str, ids: usize) {
        let disagreements = &last.disagreements;
        eprintln!(
            "[{}] final sends {:?}; reconciled in {} runs; {figures}; {} {what}; {} disagreements; \
             total {:.1}s",
            self.name,
            last.answers,
            last.runs,
            paid.len(),
            disagreements.len(),
            self.started.elapsed().as_secs_f64()
        );
        assert_paid_once_each(disagreements, paid, ids, what);
    }
}

fn assert_paid_once_each(disagreements: &[String], paid: &[Value], ids: usize, what: &str) {
    assert!(
        disagreements.is_empty(),
        "ledger and {what} disagree ({} times): {disagreements:#?}",
        disagreements.len()
    );
    assert_eq!(paid.len(), ids, "one of the {what} per business id");
    let distinct: BTreeSet<&str> = paid
        .iter()
        .map(|p| p["out_biz_no"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(distinct.len(), paid.len(), "an out_biz_no paid twice");
}
