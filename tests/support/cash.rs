//! Helpers for the cash red-envelope tests (`tests/cash`): campaigns, sends, faults, settings, the
//! reconciler, the operator routes, the function logs, and the agreement check between our ledger
//! and the simulator's payout ledger.
//!
//! The cash stack runs with the production lease (30 s) and short backoffs (see [`CASH_ENV`]);
//! faults are global to the simulator, so every cash test holds [`serial`] while it runs.
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{beijing_in_days, root, set_stack_env, Answer, TestApp};

pub mod schedule;

/// `alipay.marketing.campaign.cash.trigger`.
pub const TRIGGER: &str = "alipay.marketing.campaign.cash.trigger";
/// `alipay.marketing.campaign.cash.detail.query` (the campaign refresh before the ledger write).
pub const DETAIL: &str = "alipay.marketing.campaign.cash.detail.query";

/// `alipay.fund.trans.uni.transfer` (the transfer rail's send).
pub const TRANSFER: &str = "alipay.fund.trans.uni.transfer";
/// `alipay.fund.trans.common.query` (the transfer rail's lookup).
pub const TRANSFER_QUERY: &str = "alipay.fund.trans.common.query";
/// `alipay.fund.trans.order.changed` (the notification; its faults are installed under this api).
pub const ORDER_CHANGED: &str = "alipay.fund.trans.order.changed";

/// Every fault kind the simulator plays on one gateway call, besides `commit_late` (which holds
/// the call and performs it later).
pub const CALL_FAULTS: [&str; 6] = [
    "latency",
    "hang",
    "http500",
    "unknown_error",
    "bad_signature",
    "commit_then_drop",
];

/// The client's total timeout in the cash stack (a `hang` costs this much). Below the production
/// 10 s because the send function itself has 10 s (template.yaml): with the production value every
/// hang would kill the function instead of ending in an UNKNOWN answer.
pub const CLIENT_TIMEOUT_MS: u64 = 6000;
/// The PENDING lease in the cash stack: the production default (it must exceed the client timeout
/// plus 5 s, or the functions refuse to start).
pub const LEASE_MS: u64 = 30_000;

/// Function environment of the cash stack: a 6 s Alipay timeout (so a send whose campaign refresh
/// takes ~5 s and whose trigger then hangs outlives the function's 10 s timeout: the process dies
/// between the ledger write and the outcome), the production lease, 100 ms backoff capped at 1 s
/// (so the reconciler probes an unresolved entry, including one past its retry budget, every
/// second), and `info` logs (teed into [`function_log_file`]).
pub const CASH_ENV: &[(&str, &str)] = &[
    ("ALIPAY_TIMEOUT_MS", "6000"),
    ("PAYOUT_BACKOFF_MS", "100"),
    ("PAYOUT_BACKOFF_CAP_MS", "1000"),
    ("RUST_LOG", "info"),
];

/// Where the cash stack's function logs go (local-stack's `LOCAL_LOG_FILE`), one per test binary.
pub fn function_log_file() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("cash-function-logs-{}.log", std::process::id()))
}

/// A [`TestApp`] on the cash stack (configures it on first use).
pub fn cash_app() -> TestApp {
    static LOGS: std::sync::Once = std::sync::Once::new();
    LOGS.call_once(|| {
        let path = function_log_file();
        let _ = std::fs::remove_file(&path);
        // local-stack reads LOCAL_LOG_FILE from the process environment when the stack starts,
        // which is right after this (no test of this binary reads the environment).
        std::env::set_var("LOCAL_LOG_FILE", &path);
    });
    set_stack_env(CASH_ENV);
    TestApp::new()
}

/// Every JSON line the functions logged so far (`[<function>#<n>] {json}` in the log file), as
/// (function, line).
pub fn function_log_lines() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(function_log_file()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (tag, rest) = l.strip_prefix('[')?.split_once("] ")?;
            let function = tag.split('#').next().unwrap_or(tag).to_string();
            let v: Value = serde_json::from_str(rest).ok()?;
            Some((function, v))
        })
        .collect()
}

/// The first value of `key` in a log line, wherever the formatter put it (top level, or inside a
/// span object).
pub fn log_field<'a>(line: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = line.as_object()?;
    if let Some(v) = obj.get(key) {
        return Some(v);
    }
    obj.values()
        .filter(|v| v.is_object() || v.is_array())
        .find_map(|v| match v {
            Value::Array(items) => items.iter().find_map(|i| log_field(i, key)),
            other => log_field(other, key),
        })
}

/// A field of a log line as text (numbers and strings alike).
pub fn log_text(line: &Value, key: &str) -> Option<String> {
    log_field(line, key).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The refusal an unresolved entry carries (`lastRefusal`, on the entry or in its outcome).
pub fn last_refusal(entry: &Value) -> Option<&Value> {
    [&entry["lastRefusal"], &entry["outcome"]["lastRefusal"]]
        .into_iter()
        .find(|v| v.is_object())
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serializes the cash tests (the simulator's faults and the reconciler are global) and starts
/// each one without faults.
pub async fn serial(app: &TestApp) -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    app.sim_clear_faults().await;
    guard
}

/// The start of every cash test: a client of the cash stack, holding [`serial`] (no faults
/// installed) until the guard drops.
pub async fn cash_test() -> (TestApp, tokio::sync::MutexGuard<'static, ()>) {
    let app = cash_app();
    let guard = serial(&app).await;
    (app, guard)
}

/// The start of a cash test that plays on a campaign of its own: [`cash_test`] and a
/// [`TestApp::ready_campaign`] of these terms; (client, serial guard, crowd number).
pub async fn cash_test_on(
    name: &str,
    total_money: &str,
    total_num: u64,
    frequency: &str,
) -> (TestApp, tokio::sync::MutexGuard<'static, ()>, String) {
    let (app, guard) = cash_test().await;
    let crowd = app
        .ready_campaign(name, total_money, total_num, frequency)
        .await;
    (app, guard, crowd)
}

/// The start of a cash test that plays on a campaign of its own created from `body` (a
/// [`campaign_body`]) and not paid; (client, serial guard, crowd number).
pub async fn cash_test_on_unpaid(
    body: &Value,
) -> (TestApp, tokio::sync::MutexGuard<'static, ()>, String) {
    let (app, guard) = cash_test().await;
    let crowd = app.unpaid_campaign(body).await;
    (app, guard, crowd)
}

/// A business id unique within the run (`tag` keeps them readable).
pub fn new_business_id(tag: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!("{tag}_{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// The out_biz_no of attempt 1 of a points-exchange send (business ids from [`new_business_id`]).
pub fn pe(business_id: &str) -> String {
    format!("pe_{business_id}")
}

/// A `POST /campaigns` body: fixed envelopes, starting now, ending in 7 days.
pub fn campaign_body(name: &str, total_money: &str, total_num: u64, frequency: &str) -> Value {
    json!({
        "couponName": name,
        "prizeType": "fixed",
        "totalMoney": total_money,
        "totalNum": total_num,
        "prizeMsg": "恭喜发财",
        "startTime": "NowTime",
        "endTime": beijing_in_days(7),
        "merchantLink": "https://www.alipay.com",
        "sendFrequency": frequency,
    })
}

/// A `POST /envelopes` body for a points exchange to a user on a campaign.
pub fn envelope(business_id: &str, user_id: &str, crowd_no: &str) -> Value {
    json!({
        "reason": "points_exchange",
        "businessId": business_id,
        "userId": user_id,
        "crowdNo": crowd_no,
    })
}

/// A new business id (tagged `tag`) and the [`envelope`] that sends it to a new user on a campaign.
pub fn new_send(tag: &str, crowd_no: &str) -> (String, Value) {
    let bid = new_business_id(tag);
    let body = envelope(&bid, &crate::new_user_id(), crowd_no);
    (bid, body)
}

/// A [`new_send`] and a fresh `Idempotency-Key` for it: (business id, body, key).
pub fn new_keyed_send(tag: &str, crowd_no: &str) -> (String, Value, String) {
    let (bid, body) = new_send(tag, crowd_no);
    (bid, body, new_idempotency_key())
}

/// A `POST /envelopes` body for a points exchange to a user on the transfer rail.
pub fn transfer_envelope(business_id: &str, user_id: &str, amount: &str) -> Value {
    json!({
        "reason": "points_exchange",
        "businessId": business_id,
        "userId": user_id,
        "rail": "transfer",
        "amount": amount,
    })
}

impl TestApp {
    /// `GET {path}` on the simulator (asserting 200): the list `field` of its answer.
    async fn sim_list(&self, path: &str, field: &str) -> Vec<Value> {
        let a = self.sim_get(path).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body[field].as_array().cloned().unwrap_or_default()
    }

    /// Every transfer order the simulator holds (`GET /sim/transfers`).
    pub async fn sim_transfers(&self) -> Vec<Value> {
        self.sim_list("/sim/transfers", "transfers").await
    }

    /// The simulator's transfer orders whose out_biz_no `pick` chooses.
    pub async fn transfers_where(&self, pick: impl Fn(&str) -> bool) -> Vec<Value> {
        self.sim_transfers()
            .await
            .into_iter()
            .filter(|t| t["out_biz_no"].as_str().is_some_and(&pick))
            .collect()
    }

    /// The simulator's transfer orders for one out_biz_no (zero or one).
    pub async fn transfers_of(&self, out_biz_no: &str) -> Vec<Value> {
        self.transfers_where(|no| no == out_biz_no).await
    }

    /// Every order.changed post the simulator made (`GET /sim/notifications`).
    pub async fn sim_notifications(&self) -> Vec<Value> {
        self.sim_list("/sim/notifications", "notifications").await
    }

    /// `POST /campaigns`.
    pub async fn create_campaign(&self, body: &Value) -> Answer {
        self.post("/campaigns", body).await
    }

    /// Creates a campaign (a [`campaign_body`]) and returns its crowd number (not paid).
    pub async fn unpaid_campaign(&self, body: &Value) -> String {
        let a = self.create_campaign(body).await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.body["status"], "CREATED", "{a:?}");
        a.body["crowdNo"].as_str().unwrap().to_string()
    }

    /// The operator pays a campaign at the simulator's cashier (`CREATED` → `READY` there; our
    /// store learns it at the next refresh).
    pub async fn pay_campaign(&self, crowd_no: &str) {
        let a = self
            .sim_post(&format!("/sim/campaigns/{crowd_no}/pay"), &json!({}))
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["campStatus"], "READY", "{a:?}");
    }

    /// A paid campaign that our store also knows as READY (refreshed with `GET /campaigns/{crowdNo}`),
    /// so sends go straight to the ledger write.
    pub async fn ready_campaign(
        &self,
        name: &str,
        total_money: &str,
        total_num: u64,
        frequency: &str,
    ) -> String {
        let crowd = self
            .unpaid_campaign(&campaign_body(name, total_money, total_num, frequency))
            .await;
        self.pay_campaign(&crowd).await;
        let a = self.get(&format!("/campaigns/{crowd}")).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["status"], "READY", "{a:?}");
        crowd
    }

    /// `POST /envelopes`.
    pub async fn send_envelope(&self, body: &Value) -> Answer {
        self.post("/envelopes", body).await
    }

    /// `body` sent `n` times at once; the answers in the order they came.
    pub async fn send_concurrently(&self, body: &Value, n: usize) -> Vec<Answer> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (app, body) = (self.clone(), body.clone());
            set.spawn(async move { app.send_envelope(&body).await });
        }
        set.join_all().await
    }

    /// `POST /envelopes` of a points exchange to a user on a campaign (the body of [`envelope`]).
    pub async fn send_points(&self, business_id: &str, user_id: &str, crowd_no: &str) -> Answer {
        self.send_envelope(&envelope(business_id, user_id, crowd_no))
            .await
    }

    /// On a campaign that allows one envelope per user (`L1`): a user paid once, then a new
    /// business id (tagged `tag`) sent to them, refused 422 `user_limit_reached` (a definite
    /// failure). (The user, that business id, the refusal.)
    pub async fn over_the_user_limit(&self, tag: &str, crowd_no: &str) -> (String, String, Answer) {
        let user = crate::new_user_id();
        self.paid_send(tag, &user, crowd_no).await;
        let bid = new_business_id(tag);
        let refused = self.send_points(&bid, &user, crowd_no).await;
        assert_code(&refused, 422, "user_limit_reached");
        (user, bid, refused)
    }

    /// A [`new_send`], sent: (its business id, the answer).
    pub async fn send_new(&self, tag: &str, crowd_no: &str) -> (String, Answer) {
        let (bid, body) = new_send(tag, crowd_no);
        (bid, self.send_envelope(&body).await)
    }

    /// A new business id (tagged `tag`) sent to a user on a campaign and paid at once (201).
    pub async fn paid_send(&self, tag: &str, user_id: &str, crowd_no: &str) {
        let a = self
            .send_points(&new_business_id(tag), user_id, crowd_no)
            .await;
        assert_eq!(a.status, 201, "{a:?}");
    }

    /// `POST /envelopes` with an `Idempotency-Key`.
    pub async fn send_with_key(&self, body: &Value, key: &str) -> Answer {
        self.post_with_header("/envelopes", body, "Idempotency-Key", key)
            .await
    }

    /// Sends `body` on a task of its own and returns once that send has written its ledger entry
    /// `out_biz_no` (its Alipay call, slowed by a fault, still in flight); the task gives the
    /// send's answer.
    pub async fn send_in_flight(
        &self,
        body: &Value,
        out_biz_no: &str,
    ) -> tokio::task::JoinHandle<Answer> {
        let sender = {
            let (app, body) = (self.clone(), body.clone());
            tokio::spawn(async move { app.send_envelope(&body).await })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.envelope_entry(out_biz_no).await.status != 200 {
            assert!(Instant::now() < deadline, "the send never wrote its entry");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sender
    }

    /// `GET /envelopes/{outBizNo}`.
    pub async fn envelope_entry(&self, out_biz_no: &str) -> Answer {
        self.get(&format!("/envelopes/{out_biz_no}")).await
    }

    /// `GET /users/{userId}/envelopes`.
    pub async fn user_envelopes(&self, user_id: &str) -> Vec<Value> {
        let a = self.get(&format!("/users/{user_id}/envelopes")).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body["envelopes"].as_array().cloned().unwrap_or_default()
    }

    /// Installs a simulator fault (`{"api","kind","count"|"probability","seed","latencyMs"}`).
    pub async fn set_fault(&self, spec: &Value) {
        let a = self.sim_post("/sim/faults", spec).await;
        assert_eq!(a.status, 201, "{a:?}");
    }

    /// `POST /campaigns/{crowdNo}/status` (PAUSE / READY / CLOSED, through Alipay's
    /// `status.modify`); asserts 200 and gives the answer.
    pub async fn set_campaign_status(&self, crowd_no: &str, status: &str) -> Answer {
        let a = self
            .post(
                &format!("/campaigns/{crowd_no}/status"),
                &json!({ "status": status }),
            )
            .await;
        assert_eq!(a.status, 200, "{status}: {a:?}");
        a
    }

    /// `POST /sim/settings` (a partial update); asserts 200.
    pub async fn sim_settings(&self, patch: &Value) -> Value {
        let a = self.sim_post("/sim/settings", patch).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body
    }

    /// The calls the simulator's `commit_late` faults have held (`GET /sim/faults` → `lateCommits`).
    pub async fn late_commits(&self) -> Vec<Value> {
        self.sim_list("/sim/faults", "lateCommits").await
    }

    /// Waits until every held call for `out_biz_no` (or every held call, for `None`) was
    /// performed; returns those calls.
    pub async fn late_commits_done(
        &self,
        out_biz_no: Option<&str>,
        within: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let held: Vec<Value> = self
                .late_commits()
                .await
                .into_iter()
                .filter(|l| out_biz_no.is_none_or(|no| l["outBizNo"] == no))
                .collect();
            if held.iter().all(|l| l["done"] == true) {
                return held;
            }
            assert!(
                Instant::now() < deadline,
                "late commits not performed: {held:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /payouts?{query}` (the operator listing).
    pub async fn list_payouts(&self, query: &str) -> Answer {
        self.get(&format!("/payouts?{query}")).await
    }

    /// Every entry of the operator listing for `query`, following `nextCursor`.
    pub async fn list_all_payouts(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let q = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_string(),
            };
            let a = self.list_payouts(&q).await;
            assert_eq!(a.status, 200, "{q}: {a:?}");
            out.extend(a.body["payouts"].as_array().cloned().unwrap_or_default());
            match a.body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
        panic!("the listing never ends: {query}");
    }

    /// `POST /payouts/{outBizNo}/retry` (the operator re-arms an entry).
    pub async fn retry_payout(&self, out_biz_no: &str) -> Answer {
        self.post(&format!("/payouts/{out_biz_no}/retry"), &json!({}))
            .await
    }

    /// Runs the reconciler until every named entry satisfies `done`, or `within` passes; returns
    /// the entries and the number of runs.
    pub async fn reconcile_until(
        &self,
        out_biz_nos: &[String],
        done: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> (Vec<Value>, usize) {
        let deadline = Instant::now() + within;
        let mut runs = 0;
        loop {
            let mut entries = Vec::new();
            let mut open = 0;
            for no in out_biz_nos {
                let a = self.envelope_entry(no).await;
                assert_eq!(a.status, 200, "{no}: {a:?}");
                if !done(&a.body) {
                    open += 1;
                }
                entries.push(a.body);
            }
            if open == 0 {
                return (entries, runs);
            }
            assert!(
                Instant::now() < deadline,
                "{open} entries not done after {runs} reconciler runs: {entries:?}"
            );
            let report = self.reconcile().await;
            runs += 1;
            if report["examined"] == 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// One reconciler run, as the schedule fires it; returns its report. A run that ended on an
    /// unavailable store (the emulator too slow under load: the SDK's 8 s timeout) did nothing
    /// harmful and is reported as a run that examined nothing: the schedule simply fires again.
    pub async fn reconcile(&self) -> Value {
        let text = std::fs::read_to_string(
            root().join("infra/local-stack/events/reconciler-schedule.json"),
        )
        .unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let a = self.invoke("reconciler", &event).await;
        assert_eq!(a.status, 200, "{a:?}");
        let store_unavailable = a.body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("store unavailable"));
        if store_unavailable {
            println!("reconciler run ended on an unavailable store: {}", a.body);
            return json!({"examined": 0, "storeUnavailable": true});
        }
        assert!(a.body.get("examined").is_some(), "reconciler failed: {a:?}");
        a.body
    }

    /// Runs the reconciler until every named entry is final (SENT / FAILED / NEEDS_ATTENTION) or
    /// `within` passes; returns the entries and the number of runs.
    pub async fn reconcile_until_final(
        &self,
        out_biz_nos: &[String],
        within: Duration,
    ) -> (Vec<Value>, usize) {
        let open = |e: &Value| matches!(e["state"].as_str(), Some("PENDING" | "UNKNOWN"));
        self.reconcile_until(out_biz_nos, |e| !open(e), within)
            .await
    }

    /// The simulator's payouts whose `field` is `value`.
    async fn payouts_with(&self, field: &str, value: &str) -> Vec<Value> {
        self.payouts()
            .await
            .into_iter()
            .filter(|p| p[field] == value)
            .collect()
    }

    /// The simulator's payouts for one out_biz_no.
    pub async fn payouts_of(&self, out_biz_no: &str) -> Vec<Value> {
        self.payouts_with("out_biz_no", out_biz_no).await
    }

    /// The simulator's payouts on one campaign.
    pub async fn payouts_on(&self, crowd_no: &str) -> Vec<Value> {
        self.payouts_with("crowd_no", crowd_no).await
    }
}

/// A fresh `Idempotency-Key`.
pub fn new_idempotency_key() -> String {
    format!("key-{}", new_business_id("k"))
}

/// Asserts an answer's status and its problem `code`.
pub fn assert_code(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(a.body["code"], code, "{a:?}");
}

/// Asserts an answer's status and the ledger `state` it carries.
pub fn assert_state(a: &Answer, status: u16, state: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(a.body["state"], state, "{a:?}");
}

/// How a fault-matrix case recovers from its faulty send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The caller sends the same body again.
    ClientRetry,
    /// The reconciler resolves the entry.
    Reconciler,
}

/// A ledger entry in a final state that pays nothing more: SENT or FAILED.
pub fn settled(entry: &Value) -> bool {
    matches!(entry["state"].as_str(), Some("SENT" | "FAILED"))
}

/// Sends a transfer of `amount` to a new user with the next uni.transfer call faulted the `kind`
/// way (`http500`: never reached Alipay; `commit_then_drop`: paid, the answer lost); asserts the
/// 202 of an unknown outcome and returns (business id, user, that answer).
pub async fn unresolved_transfer(
    app: &TestApp,
    tag: &str,
    kind: &str,
    amount: &str,
) -> (String, String, Answer) {
    app.sim_fault_once(TRANSFER, kind).await;
    let bid = new_business_id(tag);
    let user = crate::new_user_id();
    let a = app
        .send_envelope(&transfer_envelope(&bid, &user, amount))
        .await;
    assert_eq!(a.status, 202, "{a:?}");
    (bid, user, a)
}

/// Checks the answers to concurrent sends of one business id: SENT (200, or 201 for the one that
/// paid), unresolved (202 PENDING / UNKNOWN), busy (409 `payout_busy`) or, when the emulator falls
/// behind a hundred writers at once (its TransactWriteItems is serialised), 503 `store_unavailable`:
/// a truthful "retry the same request" that moves no money; returns how many were 201.
pub fn check_concurrent_answers(answers: &[Answer]) -> usize {
    let mut fresh = 0;
    for a in answers {
        match a.status {
            201 => {
                fresh += 1;
                assert_eq!(a.body["state"], "SENT", "{a:?}");
            }
            200 => assert_eq!(a.body["state"], "SENT", "{a:?}"),
            202 => assert!(
                matches!(a.body["state"].as_str(), Some("PENDING" | "UNKNOWN")),
                "{a:?}"
            ),
            409 => assert_eq!(a.body["code"], "payout_busy", "{a:?}"),
            503 => assert_eq!(a.body["code"], "store_unavailable", "{a:?}"),
            _ => panic!("unexpected answer {a:?}"),
        }
    }
    fresh
}

/// Asserts that a SENT ledger entry and the one simulator payout of its out_biz_no agree (campaign,
/// user, amount in fen, biz_no).
pub fn assert_agrees(entry: &Value, payouts: &[Value]) {
    assert_eq!(entry["state"], "SENT", "{entry}");
    let no = &entry["outBizNo"];
    let matching: Vec<&Value> = payouts.iter().filter(|p| &p["out_biz_no"] == no).collect();
    assert_eq!(
        matching.len(),
        1,
        "exactly one payout for {no}: {matching:?}"
    );
    let p = matching[0];
    assert_eq!(entry["crowdNo"], p["crowd_no"], "{entry} vs {p}");
    assert_eq!(
        entry["outcome"]["amountFen"], p["amount_fen"],
        "{entry} vs {p}"
    );
    assert_eq!(entry["outcome"]["bizNo"], p["biz_no"], "{entry} vs {p}");
    if let Some(user) = entry["recipient"]["userId"].as_str() {
        assert_eq!(p["user_id"], user, "{entry} vs {p}");
    }
}

/// A small seeded generator (splitmix64) for the randomized schedule.
pub struct Rng(u64);

impl Rng {
    /// From `CASH_SEED` when set, else from the clock; the caller prints it.
    pub fn from_env_or_time() -> (Self, u64) {
        let seed = std::env::var("CASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        (Self(seed), seed)
    }

    /// From a seed (e.g. drawn from another generator).
    pub fn from_seed(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Asserts that a SENT transfer-rail ledger entry and the one simulator transfer order of its
/// out_biz_no agree (paid, payee, amount in fen, `order_id`).
pub fn assert_transfer_agrees(entry: &Value, transfers: &[Value]) {
    if let Err(why) = transfer_agreement(entry, transfers) {
        panic!("{why}");
    }
}

/// Whether a ledger entry agrees with what Alipay holds for its out_biz_no (`paid`: payouts or
/// transfer orders, each with its `out_biz_no`), as a result (the randomized runs count
/// disagreements instead of stopping at the first): a SENT entry has exactly one, which `agrees`
/// accepts; a FAILED entry has none.
pub fn agreement(
    entry: &Value,
    paid: &[Value],
    agrees: impl Fn(&Value) -> bool,
) -> Result<(), String> {
    let no = &entry["outBizNo"];
    let of_no: Vec<&Value> = paid.iter().filter(|p| &p["out_biz_no"] == no).collect();
    match (entry["state"].as_str(), of_no.as_slice()) {
        (Some("SENT"), [p]) if agrees(p) => Ok(()),
        (Some("SENT"), [p]) => Err(format!("SENT {entry} vs {p}")),
        (Some("FAILED"), []) => Ok(()),
        _ => Err(format!("{entry} vs {} paid: {of_no:?}", of_no.len())),
    }
}

/// The agreement of [`assert_transfer_agrees`] as a result: a SENT entry has exactly one SUCCESS
/// order with its amount, payee and `order_id`; a FAILED entry has none.
pub fn transfer_agreement(entry: &Value, transfers: &[Value]) -> Result<(), String> {
    agreement(entry, transfers, |t| {
        let payee_agrees = match entry["recipient"]["userId"].as_str() {
            Some(user) => t["payee_type"] == "ALIPAY_USER_ID" && t["payee"] == user,
            None => {
                t["payee_type"] == "ALIPAY_OPEN_ID" && t["payee"] == entry["recipient"]["openId"]
            }
        };
        t["status"] == "SUCCESS"
            && t["amount_fen"] == entry["outcome"]["amountFen"]
            && t["order_id"] == entry["outcome"]["orderId"]
            && payee_agrees
    })
}

/// The points-exchange out_biz_no of `business_id`'s attempt `n`: `pe_{id}`, then `pe{n}_{id}`.
pub fn attempt(business_id: &str, n: u32) -> String {
    if n <= 1 {
        format!("pe_{business_id}")
    } else {
        format!("pe{n}_{business_id}")
    }
}
