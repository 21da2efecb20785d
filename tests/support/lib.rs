//! The test stack: a real moto server (DynamoDB, Secrets Manager), the Alipay gateway simulator and
//! local-stack running the real function binaries under a Lambda Runtime API emulator, all on free
//! loopback ports, started once per test binary on a runtime of their own and stopped when the
//! binary exits (children die with it). Tests talk to it over HTTP only.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

pub mod cash;

pub use stack_harness::{APP_ID, KEYS_SECRET, SESSION_KEY_B64, SESSION_SECRET};
pub const TABLE: &str = "rewards-test";
/// The test stack's failed claims per template per 10 minutes (production: 100).
pub const TEMPLATE_FAILURE_LIMIT: u32 = 12;
/// The test stack's `DefaultPassLogoUrl`.
pub const DEFAULT_LOGO: &str = "https://example.com/pass/default-logo.png";

pub fn root() -> PathBuf {
    stack_harness::root()
}

/// The running stack (shared by every test of one test binary).
pub struct Stack {
    pub api: String,
    pub sim: String,
    pub moto: String,
}

static STACK: OnceLock<Stack> = OnceLock::new();
static EXTRA_ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Extra environment for every function of this binary's stack (e.g. short timeouts for fault
/// tests). Takes effect only when called before the stack starts; the first call wins.
pub fn set_stack_env(env: &[(&str, &str)]) {
    let _ = EXTRA_ENV.set(
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
}

/// The environment of [`set_stack_env`], as a stack's dependencies.
fn extra_env() -> Vec<(String, Dependency)> {
    EXTRA_ENV
        .get()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Dependency::Value(v)))
        .collect()
}

/// The stack, started on first use.
pub fn stack() -> &'static Stack {
    STACK.get_or_init(|| start_stack(extra_env()))
}

/// This binary's stack in certificate mode (公钥证书模式): the simulator makes its root, Alipay and
/// app certificates, and the keys secret holds them instead of `alipay_public_key`. Started on
/// first use with the extra environment of [`set_stack_env`].
pub fn cert_stack() -> &'static Stack {
    static CERT: OnceLock<Stack> = OnceLock::new();
    CERT.get_or_init(|| start_stack_in(extra_env(), true))
}

/// A value for a variable of an extra test stack.
#[derive(Debug, Clone)]
pub enum Dependency {
    /// This text.
    Value(String),
    /// The URL of a TCP listener (started with the stack) that accepts connections and never
    /// answers: a hanging dependency (e.g. as `AWS_ENDPOINT_URL_DYNAMODB`).
    BlackHole,
}

/// Another stack of its own (moto, simulator, local-stack), started once per `name` per test binary,
/// with extra environment for every function (e.g. a hanging DynamoDB endpoint).
pub fn stack_named(name: &'static str, env: Vec<(String, Dependency)>) -> &'static Stack {
    static OTHERS: OnceLock<
        std::sync::Mutex<std::collections::HashMap<&'static str, &'static Stack>>,
    > = OnceLock::new();
    let mut others = OTHERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    others
        .entry(name)
        .or_insert_with(|| Box::leak(Box::new(start_stack(env))))
}

/// A stack of its own whose DynamoDB fails `per_mille` TransactWriteItems calls in 1000 with an
/// HTML 500, half before and half after applying them, with `env` for every function (started once
/// per test binary, by the first caller).
pub fn flaky_store_stack(per_mille: u32, env: &[(&str, &str)]) -> &'static Stack {
    static FLAKY: OnceLock<Stack> = OnceLock::new();
    FLAKY.get_or_init(|| {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), Dependency::Value(v.to_string())))
            .collect();
        start_stack_with(env, false, per_mille)
    })
}

/// Accepts connections, keeps them open, never writes a byte.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

fn start_stack(extra_env: Vec<(String, Dependency)>) -> Stack {
    start_stack_in(extra_env, false)
}

fn start_stack_in(extra_env: Vec<(String, Dependency)>, cert_mode: bool) -> Stack {
    start_stack_with(extra_env, cert_mode, 0)
}

fn start_stack_with(
    extra_env: Vec<(String, Dependency)>,
    cert_mode: bool,
    transact_faults_per_mille: u32,
) -> Stack {
    let mut opts = stack_harness::StackOptions::new(TABLE, "debug");
    opts.cert_mode = cert_mode;
    opts.moto.transact_faults_per_mille = transact_faults_per_mille;
    let missing = opts.missing_functions().unwrap();
    assert!(
        missing.is_empty(),
        "function binaries {missing:?} are not built in {}: run `cargo build --workspace --bins` first (make test does)",
        opts.bin_dir.display()
    );
    // moto dies with the thread that starts it, which never ends (see below).
    opts.moto.die_with_thread = true;
    opts.sim_hang_limit = Some(Duration::from_secs(20));
    opts.parameters
        .insert("DefaultPassLogoUrl".into(), DEFAULT_LOGO.into());
    // The sweep may look an issuance up as soon as its outcome is unknown, and a template's
    // failed-claims budget is small enough to reach in a test.
    opts.env.push(("CLAIM_RECHECK_MS".into(), "1".into()));
    opts.env.push((
        "CLAIM_TEMPLATE_FAILURE_LIMIT".into(),
        TEMPLATE_FAILURE_LIMIT.to_string(),
    ));
    // The stack lives on a thread and runtime of its own: tests run on their own runtimes, and
    // a runtime cannot be started from inside another. Its children are spawned from that
    // thread too: PR_SET_PDEATHSIG fires when the spawning *thread* ends, and this one never does.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            for (k, v) in extra_env {
                let v = match v {
                    Dependency::Value(v) => v,
                    Dependency::BlackHole => black_hole().await,
                };
                opts.env.push((k, v));
            }
            let running = stack_harness::start(&opts).await.unwrap();
            tx.send((
                running.api.url(),
                running.sim.base_url.clone(),
                running.moto.endpoint.clone(),
            ))
            .unwrap();
            // Serve until the test binary exits.
            std::future::pending::<()>().await;
            drop(running);
        });
    });
    let (api, sim, moto) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the test stack did not start");
    Stack { api, sim, moto }
}

/// An HTTP client for one test, with helpers in the style of zero-to-production's `TestApp`.
/// Cloning it is cheap (the `reqwest` client shares its connection pool), so spawned tasks take
/// a clone.
#[derive(Clone)]
pub struct TestApp {
    pub api: String,
    pub sim: String,
    pub http: reqwest::Client,
}

/// What an HTTP call answered.
/// A claim callback the simulator minted and did not call.
#[derive(Debug, Clone)]
pub struct MintedClaim {
    /// The callback URL, token included.
    pub url: String,
    /// The single-use token.
    pub token: String,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

impl Answer {
    /// Whether a problem's `errors` (its validation issues) hold one that `is_it` picks.
    pub fn has_issue(&self, is_it: impl Fn(&Value) -> bool) -> bool {
        self.body["errors"]
            .as_array()
            .is_some_and(|issues| issues.iter().any(is_it))
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::on(stack())
    }

    /// A client of another stack (see [`stack_named`]).
    pub fn on(s: &Stack) -> Self {
        Self {
            api: s.api.clone(),
            sim: s.sim.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_type,
            body,
            retry_after,
        }
    }

    /// A backend (IAM) call: locally the SigV4 signature is not verified, only its presence.
    fn iam(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0",
        )
    }

    /// Sends a request and reads its answer; every call below ends here.
    async fn send(rb: reqwest::RequestBuilder) -> Answer {
        Self::answer(rb.send().await.unwrap()).await
    }

    fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    fn sim_url(&self, path: &str) -> String {
        format!("{}{path}", self.sim)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        Self::send(self.iam(self.http.post(self.api_url(path))).json(body)).await
    }

    pub async fn post_with_header(
        &self,
        path: &str,
        body: &Value,
        name: &str,
        value: &str,
    ) -> Answer {
        let rb = self
            .iam(self.http.post(self.api_url(path)))
            .header(name, value)
            .json(body);
        Self::send(rb).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Answer {
        let rb = self
            .iam(self.http.post(self.api_url(path)))
            .header("content-type", "application/json");
        Self::send(rb.body(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        Self::send(self.iam(self.http.put(self.api_url(path))).json(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        Self::send(self.iam(self.http.get(self.api_url(path)))).await
    }

    /// A GET of an absolute URL (e.g. the callback URL the simulator's claim component built).
    pub async fn get_url(&self, url: &str) -> Answer {
        Self::send(self.http.get(url)).await
    }

    /// A public POST (no auth header at all).
    pub async fn post_public(&self, path: &str, body: &Value) -> Answer {
        Self::send(self.http.post(self.api_url(path)).json(body)).await
    }

    /// A public call (no auth header at all).
    pub async fn get_public(&self, path: &str) -> Answer {
        Self::send(self.http.get(self.api_url(path))).await
    }

    /// A mini-program call with a session token.
    pub async fn get_with_token(&self, path: &str, token: &str) -> Answer {
        let rb = self
            .http
            .get(self.api_url(path))
            .header("authorization", format!("Bearer {token}"));
        Self::send(rb).await
    }

    /// A raw function invocation (what EventBridge does).
    /// Invokes a function directly (as a schedule does). Waits longer than any function's
    /// `Timeout` in template.yaml (the reconciler's is 120 s), so the test never gives up first.
    pub async fn invoke(&self, function: &str, event: &Value) -> Answer {
        let url = self.api_url(&format!("/_local/invoke/{function}"));
        Self::send(
            self.http
                .post(url)
                .timeout(Duration::from_secs(150))
                .json(event),
        )
        .await
    }

    pub async fn sim_post(&self, path: &str, body: &Value) -> Answer {
        Self::send(self.http.post(self.sim_url(path)).json(body)).await
    }

    pub async fn sim_get(&self, path: &str) -> Answer {
        Self::send(self.http.get(self.sim_url(path))).await
    }

    /// Makes the simulator's next call of `api` fail the `kind` way, once.
    pub async fn sim_fault_once(&self, api: &str, kind: &str) -> Answer {
        let fault = json!({"api": api, "kind": kind, "count": 1});
        let a = self.sim_post("/sim/faults", &fault).await;
        assert_eq!(a.status, 201, "fault {kind} on {api}: {a:?}");
        a
    }

    pub async fn sim_clear_faults(&self) {
        self.http
            .delete(self.sim_url("/sim/faults"))
            .send()
            .await
            .unwrap();
    }

    /// The seed pass template (infra/local-stack/fixtures/pass.json) with this deployment's callback.
    pub fn pass_template(&self, title: &str) -> Value {
        let text =
            std::fs::read_to_string(root().join("infra/local-stack/fixtures/pass.json")).unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        let callback = format!("{}/alipay/pass-callback", self.api);
        replace_callback(&mut v, &callback);
        if let Some(t) = v.pointer_mut("/evoucherInfo/title") {
            *t = json!(title);
        }
        v
    }

    /// A new template titled `title` and a new user to claim it: (template id, user id).
    pub async fn template_and_user(&self, title: &str) -> (String, String) {
        (self.create_template(title).await, new_user_id())
    }

    /// Creates a template and returns its id.
    pub async fn create_template(&self, title: &str) -> String {
        let a = self.post("/templates", &self.pass_template(title)).await;
        assert_eq!(a.status, 201, "{a:?}");
        a.body["templateId"].as_str().unwrap().to_string()
    }

    /// `POST /passes/{id}/status`: marks a pass USED or CLOSED (Alipay first, then our store).
    pub async fn set_pass_status(&self, pass_id: &str, status: &str) -> Answer {
        self.post(
            &format!("/passes/{pass_id}/status"),
            &json!({ "status": status }),
        )
        .await
    }

    /// The apifm-compatible data tunnel: the user's pass ids, with their session token.
    pub async fn pull_pass_ids(&self, user_id: &str, token: &str) -> Answer {
        let path = format!("/channelData/pull?key=channelData_alipayPass_fetch_{user_id}");
        self.get_with_token(&path, token).await
    }

    /// Mints the claim component's callback for a user without calling it (the test calls it):
    /// the callback URL and its single-use token.
    pub async fn mint_claim(&self, template_id: &str, user_id: &str) -> MintedClaim {
        let minted = self
            .sim_post(
                "/sim/claim",
                &json!({"templateId": template_id, "userId": user_id, "call": false}),
            )
            .await;
        let field = |name: &str| {
            minted.body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {minted:?}"))
                .to_string()
        };
        MintedClaim {
            url: field("url"),
            token: field("token"),
        }
    }

    /// Plays the claim component for a user.
    pub async fn claim(&self, template_id: &str, user_id: &str) -> Answer {
        self.sim_post(
            "/sim/claim",
            &json!({"templateId": template_id, "userId": user_id}),
        )
        .await
    }

    /// Every payout the simulator made.
    pub async fn payouts(&self) -> Vec<Value> {
        let a = self.sim_get("/sim/payouts").await;
        match a.body {
            Value::Array(list) => list,
            other => other["payouts"].as_array().cloned().unwrap_or_default(),
        }
    }

    /// Every pass the simulator issued.
    pub async fn sim_passes(&self) -> Vec<Value> {
        let a = self.sim_get("/sim/passes").await;
        match a.body {
            Value::Array(list) => list,
            other => other["passes"].as_array().cloned().unwrap_or_default(),
        }
    }
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

fn replace_callback(v: &mut Value, callback: &str) {
    for pointer in ["/merchant/mcallbackUrl", "/content/merchant/mcallbackUrl"] {
        if let Some(url) = v.pointer_mut(pointer) {
            *url = json!(callback);
        }
    }
}

/// A DynamoDB client on the stack's moto (to look at what the functions stored).
pub async fn dynamo() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&stack_harness::sdk_config(&stack().moto).await)
}

/// A fresh Alipay user id (2088 + 12 digits) unique within the run.
pub fn new_user_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let n = (nanos / 1000 + SEQ.fetch_add(1, Ordering::Relaxed) * 7919) % 1_000_000_000_000;
    format!("2088{n:012}")
}

/// Beijing time (`yyyy-MM-dd HH:mm:ss`) `days` from now, as Alipay's campaign dates are written.
pub fn beijing_in_days(days: i64) -> String {
    alipay_protocol::GatewayTimestamp::from_utc(
        time::OffsetDateTime::now_utc() + time::Duration::days(days),
    )
    .to_string()
}
