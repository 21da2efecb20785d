//! Helpers for the cash red-envelope tests (`tests/cash`): campaigns, sends, faults, the reconciler,
//! and the agreement check between our ledger and the simulator's payout ledger.
//!
//! The cash binary's stack runs with short timings (see [`CASH_ENV`]) so faults resolve in seconds;
//! faults are global to the simulator, so every cash test holds [`serial`] while it runs.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{beijing_in_days, root, set_stack_env, Answer, TestApp};

/// `alipay.marketing.campaign.cash.trigger`.
pub const TRIGGER: &str = "alipay.marketing.campaign.cash.trigger";
/// `alipay.marketing.campaign.cash.detail.query` (the campaign refresh before the ledger write).
pub const DETAIL: &str = "alipay.marketing.campaign.cash.detail.query";

/// The client's total timeout in the cash stack (a `hang` costs this much).
pub const CLIENT_TIMEOUT_MS: u64 = 6000;
/// The PENDING lease in the cash stack.
pub const LEASE_MS: u64 = 12000;

/// Function environment of the cash stack: a 6 s Alipay timeout (so a send whose campaign refresh
/// takes ~5 s and whose trigger then hangs outlives the function's 10 s timeout: the process dies
/// between the ledger write and the outcome), a 2 s lease, 100 ms backoff capped at 1 s.
pub const CASH_ENV: &[(&str, &str)] = &[
    ("ALIPAY_TIMEOUT_MS", "6000"),
    ("PAYOUT_LEASE_MS", "12000"),
    ("PAYOUT_BACKOFF_MS", "100"),
    ("PAYOUT_BACKOFF_CAP_MS", "1000"),
];

/// A [`TestApp`] on the cash stack (configures it on first use).
pub fn cash_app() -> TestApp {
    set_stack_env(CASH_ENV);
    TestApp::new()
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serializes the cash tests (the simulator's faults and the reconciler are global) and starts
/// each one without faults.
pub async fn serial(app: &TestApp) -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    app.sim_clear_faults().await;
    guard
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

impl TestApp {
    /// `POST /campaigns`.
    pub async fn create_campaign(&self, body: &Value) -> Answer {
        self.post("/campaigns", body).await
    }

    /// Creates a campaign and returns its crowd number (not paid).
    pub async fn unpaid_campaign(
        &self,
        name: &str,
        total_money: &str,
        total_num: u64,
        frequency: &str,
    ) -> String {
        let a = self
            .create_campaign(&campaign_body(name, total_money, total_num, frequency))
            .await;
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
            .unpaid_campaign(name, total_money, total_num, frequency)
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

    /// One reconciler run, as the schedule fires it; returns its report.
    pub async fn reconcile(&self) -> Value {
        let text = std::fs::read_to_string(
            root().join("infra/local-stack/events/reconciler-schedule.json"),
        )
        .unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let a = self.invoke("reconciler", &event).await;
        assert_eq!(a.status, 200, "{a:?}");
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
        let deadline = Instant::now() + within;
        let mut runs = 0;
        loop {
            let mut entries = Vec::new();
            let mut open = 0;
            for no in out_biz_nos {
                let a = self.envelope_entry(no).await;
                assert_eq!(a.status, 200, "{no}: {a:?}");
                if matches!(a.body["state"].as_str(), Some("PENDING" | "UNKNOWN")) {
                    open += 1;
                }
                entries.push(a.body);
            }
            if open == 0 {
                return (entries, runs);
            }
            assert!(
                Instant::now() < deadline,
                "{open} entries still open after {runs} reconciler runs: {entries:?}"
            );
            let report = self.reconcile().await;
            runs += 1;
            if report["examined"] == 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// The simulator's payouts for one out_biz_no.
    pub async fn payouts_of(&self, out_biz_no: &str) -> Vec<Value> {
        self.payouts()
            .await
            .into_iter()
            .filter(|p| p["out_biz_no"] == out_biz_no)
            .collect()
    }

    /// The simulator's payouts on one campaign.
    pub async fn payouts_on(&self, crowd_no: &str) -> Vec<Value> {
        self.payouts()
            .await
            .into_iter()
            .filter(|p| p["crowd_no"] == crowd_no)
            .collect()
    }
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
