//! stack-bench: cold starts, latencies and protocol costs of the stack, as Markdown tables.
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/stack-bench [--bin-dir target/release] [--runs 7] [--requests 200] [--warmup 20]
//! ```
//!
//! 1. **Cold start** per function: each release binary is started `--runs` times against a minimal
//!    Lambda Runtime API of this program; the time from spawn to the binary's first
//!    `GET /2018-06-01/runtime/invocation/next` is its init (config, clients, the Secrets Manager
//!    fetch from moto). Beside it, in the same run, `node -e` loading the official `alipay-sdk` and
//!    building its client with the test keys (time to its "ready" line), and bare `node -e ''`.
//!    Binary size and peak RSS (`VmHWM` at ready, and after the workload below).
//! 2. **Warm latency** through local-stack (the real binaries under the Runtime API emulator behind
//!    the HTTP API front, simulator at zero latency): a pass claim (the simulator's claim component →
//!    pass-callback → `alipay.pass.instance.add`), an envelope send (`POST /envelopes` →
//!    `cash.trigger`), a passes read (authorizer + tunnel-reader), next to the bare simulator round trip
//!    (`cash.trigger` signed and verified by alipay-client, straight to the simulator).
//! 3. **DynamoDB calls** per operation, counted by an HTTP proxy between the functions and moto that
//!    tallies the `X-Amz-Target` header of every call.
//!
//! Nothing here asserts a time: it prints what it measured.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

const FUNCTIONS: [&str; 8] = [
    "template-creator",
    "pass-callback",
    "tunnel-reader",
    "campaign-creator",
    "send-trigger",
    "reconciler",
    "session",
    "authorizer",
];
const APP_ID: &str = "2021000000000001";
const TABLE: &str = "rewards-bench";
const KEYS_SECRET: &str = "rewards/alipay-keys";
const SESSION_SECRET: &str = "rewards/session-key";
const SESSION_KEY_B64: &str = "c2Vzc2lvbi1rZXktZm9yLXRlc3RzLW9ubHktMzJieXRlcw==";
const IAM_HEADER: &str = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0";

struct Args {
    bin_dir: PathBuf,
    runs: usize,
    requests: usize,
    warmup: usize,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn parse_args() -> Res<Args> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let mut args = Args {
        bin_dir: target.join("release"),
        runs: 7,
        requests: 200,
        warmup: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bin-dir" => args.bin_dir = PathBuf::from(value()?),
            "--runs" => args.runs = value()?.parse()?,
            "--requests" => args.requests = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "-h" | "--help" => {
                println!("stack-bench [--bin-dir target/release] [--runs 7] [--requests 200] [--warmup 20]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    args.runs = args.runs.max(1);
    args.requests = args.requests.max(1);
    Ok(args)
}

// ------------------------------------------------------------------------------------------ stats

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank percentile of a sample (sorted here).
fn percentile(sample: &mut [Duration], p: f64) -> Duration {
    if sample.is_empty() {
        return Duration::ZERO;
    }
    sample.sort();
    let rank = ((p / 100.0) * sample.len() as f64).ceil() as usize;
    sample[rank.clamp(1, sample.len()) - 1]
}

fn median(sample: &mut [Duration]) -> Duration {
    percentile(sample, 50.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

// ------------------------------------------------------------------------------- /proc helpers

/// `VmHWM` (peak resident set, KiB) of a live process.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak RSS (KiB) of this process's live children, by binary name (largest instance).
fn children_peak_rss() -> BTreeMap<String, u64> {
    let me = std::process::id();
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(me) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let name = Path::new(&*String::from_utf8_lossy(argv0))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(kib) = vm_hwm(pid) {
            let e = out.entry(name).or_insert(0);
            *e = (*e).max(kib);
        }
    }
    out
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpu}, {cores} cores available, Linux x86_64")
}

// --------------------------------------------------------------------------- counting proxy

/// Counts AWS JSON-protocol calls (`X-Amz-Target`) per phase while forwarding them to moto.
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    phase: Mutex<String>,
    counts: Mutex<BTreeMap<(String, String), u64>>,
    /// Time spent waiting for moto, per phase.
    moto_time: Mutex<BTreeMap<String, Duration>>,
}

impl Proxy {
    fn set_phase(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_string();
        }
    }

    fn upstream_time(&self, phase: &str) -> Duration {
        self.moto_time
            .lock()
            .ok()
            .and_then(|u| u.get(phase).copied())
            .unwrap_or_default()
    }

    fn counts(&self, phase: &str) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|((p, _), _)| p == phase)
                    .map(|((_, op), n)| (op.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn forward(State(proxy): State<Arc<Proxy>>, req: Request<Body>) -> Response<Body> {
    match forward_inner(&proxy, req).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = Response::new(Body::from(format!("bench proxy: {e}")));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

async fn forward_inner(proxy: &Proxy, req: Request<Body>) -> Res<Response<Body>> {
    let (parts, body) = req.into_parts();
    let phase = proxy.phase.lock().map(|p| p.clone()).unwrap_or_default();
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(mut c) = proxy.counts.lock() {
            *c.entry((phase.clone(), target.to_string())).or_insert(0) += 1;
        }
    }
    let body = to_bytes(body, 64 * 1024 * 1024).await?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" && k != "connection" {
            headers.append(k.clone(), v.clone());
        }
    }
    let started = Instant::now();
    let resp = proxy
        .http
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let resp_headers = resp.headers().clone();
    let bytes: Bytes = resp.bytes().await?;
    if let Ok(mut u) = proxy.moto_time.lock() {
        *u.entry(phase).or_default() += started.elapsed();
    }
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    for (k, v) in &resp_headers {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out.headers_mut().append(k.clone(), v.clone());
        }
    }
    Ok(out)
}

async fn start_proxy(upstream: &str) -> Res<(Arc<Proxy>, String)> {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_string(),
        http: reqwest::Client::builder().build()?,
        phase: Mutex::new("seed".into()),
        counts: Mutex::new(BTreeMap::new()),
        moto_time: Mutex::new(BTreeMap::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((proxy, url))
}

// ----------------------------------------------------------------------------- moto and seed

/// The moto server process (killed on drop).
struct Moto {
    _child: Child,
}

async fn start_moto() -> Res<(Moto, String)> {
    let exe = root().join(".venv/bin/moto_server");
    if !exe.is_file() {
        return Err(format!("{} is missing: run scripts/ensure-venv.sh", exe.display()).into());
    }
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let child = Command::new(exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("moto did not start in 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((Moto { _child: child }, format!("http://127.0.0.1:{port}")))
}

fn key_file(name: &str) -> Res<String> {
    let p = root().join("tests/vectors/keys").join(name);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()).into())
}

async fn seed(endpoint: &str) -> Res<()> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    rewards_aws::create_table(&dynamo, TABLE)
        .await
        .map_err(|e| format!("create_table: {e}"))?;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let keys = json!({
        "app_private_key": key_file("app_private_pkcs8.pem")?,
        "alipay_public_key": key_file("alipay_public_spki.pem")?,
        "session_key": SESSION_KEY_B64,
    });
    secrets
        .create_secret()
        .name(KEYS_SECRET)
        .secret_string(keys.to_string())
        .send()
        .await?;
    secrets
        .create_secret()
        .name(SESSION_SECRET)
        .secret_string(SESSION_KEY_B64)
        .send()
        .await?;
    Ok(())
}

// ------------------------------------------------------------------------------- cold starts

/// One cold start: spawn → first `GET .../invocation/next` on a Runtime API of our own.
/// Returns the init time and `VmHWM` at that moment.
async fn cold_once(bin: &Path, env: &[(String, String)]) -> Res<(Duration, u64)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let started = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("no pid")?;
    let result = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (mut stream, _) = tokio::select! {
                accepted = listener.accept() => accepted?,
                status = child.wait() => {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err).await;
                    }
                    let tail: String = err.chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
                    return Err::<(Duration, u64), Error>(format!("exited during init ({:?}): {tail}", status?).into());
                }
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let line = String::from_utf8_lossy(&head);
            let first = line.lines().next().unwrap_or_default().to_string();
            if first.starts_with("GET") && first.contains("/runtime/invocation/next") {
                let at = started.elapsed();
                let hwm = vm_hwm(pid).unwrap_or(0);
                return Ok((at, hwm));
            }
            if first.contains("/runtime/init/error") {
                return Err(format!("init error: {line}").into());
            }
        }
    })
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    result.map_err(|_| -> Error { "no GET /next within 15 s".into() })?
}

/// `node -e <script>` from tests/interop: spawn → its "ready <maxRSS KiB>" line.
async fn node_once(script: &str) -> Res<(Duration, u64)> {
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg("-e")
        .arg(script)
        .current_dir(root().join("tests/interop"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| "node did not answer in 30 s")??;
    let at = started.elapsed();
    let status = child.wait().await?;
    let Some(line) = line.filter(|l| l.starts_with("ready")) else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err).await;
        }
        return Err(format!("node failed ({status}): {err}").into());
    };
    let rss = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((at, rss))
}

fn node_sdk_script() -> String {
    let keys = root().join("tests/vectors/keys");
    let k =
        |n: &str| serde_json::to_string(&keys.join(n).display().to_string()).unwrap_or_default();
    format!(
        "const fs=require('fs');const {{AlipaySdk}}=require('alipay-sdk');\
         const sdk=new AlipaySdk({{appId:'{APP_ID}',privateKey:fs.readFileSync({},'utf8'),\
         alipayPublicKey:fs.readFileSync({},'utf8'),gateway:'http://127.0.0.1:9/gateway.do',\
         keyType:'PKCS1',camelcase:false,timeout:10000}});\
         if(!sdk)process.exit(1);\
         process.stdout.write('ready '+process.resourceUsage().maxRSS+'\\n');",
        k("app_private_pkcs1.pem"),
        k("alipay_public_spki.pem")
    )
}

const NODE_BARE: &str = "process.stdout.write('ready '+process.resourceUsage().maxRSS+'\\n');";

/// Init times, RSS at ready (KiB) and the last error of one row.
type Sample = (Vec<Duration>, Vec<u64>, Option<String>);

struct ColdRow {
    name: String,
    median: Option<Duration>,
    min: Option<Duration>,
    max: Option<Duration>,
    size: Option<u64>,
    rss_init: Option<u64>,
    error: Option<String>,
}

fn cold_row(
    name: &str,
    sample: &mut [Duration],
    rss: &[u64],
    size: Option<u64>,
    error: Option<String>,
) -> ColdRow {
    let ok = !sample.is_empty();
    ColdRow {
        name: name.to_string(),
        median: ok.then(|| median(sample)),
        min: sample.iter().min().copied(),
        max: sample.iter().max().copied(),
        size,
        rss_init: rss.iter().max().copied(),
        error,
    }
}

// --------------------------------------------------------------------------------- workload

struct Client {
    http: reqwest::Client,
    api: String,
    sim: String,
}

impl Client {
    async fn call(&self, rb: reqwest::RequestBuilder) -> Res<(u16, Value)> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    async fn api_post(&self, path: &str, body: &Value) -> Res<(u16, Value)> {
        self.call(
            self.http
                .post(format!("{}{path}", self.api))
                .header("authorization", IAM_HEADER)
                .json(body),
        )
        .await
    }

    async fn sim_post(&self, path: &str, body: &Value) -> Res<(u16, Value)> {
        self.call(self.http.post(format!("{}{path}", self.sim)).json(body))
            .await
    }

    async fn create_template(&self) -> Res<String> {
        let text = std::fs::read_to_string(root().join("infra/local-stack/fixtures/pass.json"))?;
        let mut v: Value = serde_json::from_str(&text)?;
        let callback = format!("{}/alipay/pass-callback", self.api);
        for pointer in ["/merchant/mcallbackUrl", "/content/merchant/mcallbackUrl"] {
            if let Some(url) = v.pointer_mut(pointer) {
                *url = json!(callback);
            }
        }
        let (status, body) = self.api_post("/templates", &v).await?;
        body["templateId"]
            .as_str()
            .filter(|_| status == 201)
            .map(str::to_string)
            .ok_or_else(|| format!("create template: {status} {body}").into())
    }

    async fn claim(&self, template_id: &str, user: &str) -> Res<()> {
        let (status, body) = self
            .sim_post(
                "/sim/claim",
                &json!({"templateId": template_id, "userId": user}),
            )
            .await?;
        if status == 200 && body["status"] == 200 && body["body"]["success"] == true {
            Ok(())
        } else {
            Err(format!("claim: {status} {body}").into())
        }
    }

    async fn read_passes(&self, user: &str, token: &str) -> Res<()> {
        let (status, body) = self
            .call(
                self.http
                    .get(format!("{}/users/{user}/passes", self.api))
                    .header("authorization", format!("Bearer {token}")),
            )
            .await?;
        if status == 200 && body["passes"].as_array().is_some_and(|p| !p.is_empty()) {
            Ok(())
        } else {
            Err(format!("read passes: {status} {body}").into())
        }
    }

    async fn create_campaign(&self, total_num: u64) -> Res<String> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        let end = rewards_core::Timestamp(i64::try_from(now_ms)? + 7 * 24 * 3600 * 1000);
        let body = json!({
            "couponName": "压测红包",
            "prizeType": "fixed",
            "totalMoney": format!("{}.00", total_num),
            "totalNum": total_num,
            "prizeMsg": "恭喜发财",
            "startTime": "NowTime",
            "endTime": end.to_beijing(),
            "merchantLink": "https://www.alipay.com",
            "sendFrequency": "L1",
        });
        let (status, created) = self.api_post("/campaigns", &body).await?;
        let crowd = created["crowdNo"]
            .as_str()
            .filter(|_| status == 201)
            .ok_or_else(|| format!("create campaign: {status} {created}"))?
            .to_string();
        let (status, paid) = self
            .sim_post(&format!("/sim/campaigns/{crowd}/pay"), &json!({}))
            .await?;
        if status != 200 {
            return Err(format!("pay campaign: {status} {paid}").into());
        }
        Ok(crowd)
    }

    async fn send(&self, crowd: &str, user: &str, business_id: &str) -> Res<()> {
        let (status, body) = self
            .api_post(
                "/envelopes",
                &json!({"reason": "points_exchange", "businessId": business_id, "userId": user, "crowdNo": crowd}),
            )
            .await?;
        if status == 201 {
            Ok(())
        } else {
            Err(format!("send: {status} {body}").into())
        }
    }
}

fn user_id(n: u64) -> String {
    format!("2088{:012}", 100_000_000_000 + n)
}

fn token_for(user: &str) -> Res<String> {
    let key = lambda_http_kit::session::SessionKey::from_base64(SESSION_KEY_B64)
        .map_err(|e| format!("session key: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    key.issue(user, now, 3600)
        .map_err(|e| format!("session token: {e}").into())
}

/// Times `n` sequential calls of `op(i)` after `warmup` untimed ones; the proxy counts the timed ones
/// under `phase`.
async fn timed<F, Fut>(
    proxy: &Proxy,
    phase: &str,
    warmup: usize,
    n: usize,
    mut op: F,
) -> Res<Vec<Duration>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Res<()>>,
{
    proxy.set_phase("warmup");
    for i in 0..warmup {
        op(i).await?;
    }
    proxy.set_phase(phase);
    let mut out = Vec::with_capacity(n);
    for i in warmup..warmup + n {
        let t = Instant::now();
        op(i).await?;
        out.push(t.elapsed());
    }
    proxy.set_phase("idle");
    Ok(out)
}

// ------------------------------------------------------------------------------------- main

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("stack-bench: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Res<()> {
    let args = parse_args()?;
    let load_before = loadavg();
    let root = root();
    for f in FUNCTIONS.iter().chain(&["local-stack"]) {
        if !args.bin_dir.join(f).is_file() {
            return Err(format!(
                "{} is not built: run `cargo build --release --workspace --bins`",
                args.bin_dir.join(f).display()
            )
            .into());
        }
    }
    eprintln!("stack-bench: starting moto, the counting proxy and the simulator");
    let (_moto, moto_url) = start_moto().await?;
    let (proxy, proxy_url) = start_proxy(&moto_url).await?;
    seed(&moto_url).await?;

    let mut sim_config = alipay_sim::SimConfig::from_defaults()?;
    sim_config.addr = "127.0.0.1:0".parse()?;
    sim_config.app_id = APP_ID.into();
    let sim = alipay_sim::start(sim_config).await?;

    // The functions' environment, exactly as local-stack builds it from template.yaml.
    let mut opts = local_stack::Options::from_env();
    opts.template = root.join("template.yaml");
    opts.bin_dir = args.bin_dir.clone();
    opts.port = 0;
    opts.host_env.insert("RUST_LOG".into(), "warn".into());
    opts.host_env.remove("AWS_ENDPOINT_URL");
    for (k, v) in [
        ("TABLE_NAME", TABLE.to_string()),
        ("ALIPAY_KEYS_SECRET_ID", KEYS_SECRET.to_string()),
        ("SESSION_KEY_SECRET_ID", SESSION_SECRET.to_string()),
        ("ALIPAY_APP_ID", APP_ID.to_string()),
        ("ALIPAY_GATEWAY_URL", sim.url.clone()),
        ("AWS_ENDPOINT_URL", proxy_url.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
    ] {
        opts.env.push((k.to_string(), v));
    }
    let template_text = std::fs::read_to_string(&opts.template)?;
    let ctx = local_stack::template::ResolveContext {
        parameters: BTreeMap::from([(
            "PublicBaseUrl".to_string(),
            "http://127.0.0.1:9".to_string(),
        )]),
        region: "us-east-1".into(),
        api_url: "http://127.0.0.1:9".into(),
    };
    let specs = local_stack::template::parse(&template_text, &ctx)?;

    // ---- 1. cold starts, interleaved per round so drift hits every row alike.
    eprintln!(
        "stack-bench: cold starts ({} runs of {} functions + node)",
        args.runs,
        FUNCTIONS.len()
    );
    let node_script = node_sdk_script();
    let mut samples: BTreeMap<String, Sample> = BTreeMap::new();
    let rows_order: Vec<String> = FUNCTIONS
        .iter()
        .map(|s| s.to_string())
        .chain(["node + alipay-sdk".to_string(), "node (bare)".to_string()])
        .collect();
    proxy.set_phase("init");
    for _round in 0..args.runs {
        for name in &rows_order {
            let result = match name.as_str() {
                "node + alipay-sdk" => node_once(&node_script).await,
                "node (bare)" => node_once(NODE_BARE).await,
                f => {
                    let spec = specs
                        .functions
                        .iter()
                        .find(|s| s.name == f)
                        .ok_or_else(|| format!("{f} is not in template.yaml"))?;
                    let env = local_stack::function_env(spec, &opts, "us-east-1", &args.bin_dir);
                    cold_once(&args.bin_dir.join(f), &env).await
                }
            };
            let e = samples.entry(name.clone()).or_default();
            match result {
                Ok((d, rss)) => {
                    e.0.push(d);
                    e.1.push(rss);
                }
                Err(err) => e.2 = Some(err.to_string()),
            }
        }
    }
    let init_calls = proxy.counts("init");
    proxy.set_phase("idle");
    let mut cold: Vec<ColdRow> = Vec::new();
    for name in &rows_order {
        let (mut d, rss, err) = samples.remove(name).unwrap_or_default();
        let size = if FUNCTIONS.contains(&name.as_str()) {
            std::fs::metadata(args.bin_dir.join(name))
                .ok()
                .map(|m| m.len())
        } else {
            None
        };
        cold.push(cold_row(name, &mut d, &rss, size, err));
    }

    // ---- 2. the local stack with the release binaries.
    eprintln!(
        "stack-bench: starting local-stack ({})",
        args.bin_dir.display()
    );
    let running = local_stack::start(opts).await?;
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        api: running.url(),
        sim: sim.base_url.clone(),
    };
    let n = args.requests;
    let w = args.warmup;

    eprintln!("stack-bench: pass claims ({w} warm-up + {n})");
    let template_id = client.create_template().await?;
    let claims = timed(&proxy, "claim", w, n, |i| {
        let (c, t) = (&client, template_id.clone());
        async move { c.claim(&t, &user_id(i as u64)).await }
    })
    .await?;

    eprintln!("stack-bench: passes reads ({w} warm-up + {n})");
    let tokens: Vec<String> = (0..w + n)
        .map(|i| token_for(&user_id(i as u64)))
        .collect::<Res<_>>()?;
    let reads = timed(&proxy, "read", w, n, |i| {
        let (c, t) = (&client, &tokens[i]);
        async move { c.read_passes(&user_id(i as u64), t).await }
    })
    .await?;

    eprintln!("stack-bench: envelope sends ({w} warm-up + {n})");
    let total = u64::try_from(2 * (w + n) + 10)?;
    let crowd = client.create_campaign(total).await?;
    let sends = timed(&proxy, "send", w, n, |i| {
        let (c, cr) = (&client, crowd.clone());
        async move {
            c.send(&cr, &user_id(10_000 + i as u64), &format!("bench-{i}"))
                .await
        }
    })
    .await?;

    eprintln!("stack-bench: bare simulator round trips ({w} warm-up + {n})");
    let gateway = alipay_client::AlipayClient::new(alipay_client::ClientConfig::new(
        APP_ID,
        sim.url.clone(),
        alipay_client::Keys::new(
            alipay_protocol::AppPrivateKey::from_text(&key_file("app_private_pkcs1.pem")?)?,
            alipay_protocol::AlipayPublicKey::from_text(&key_file("alipay_public_spki.pem")?)?,
        ),
    ))?;
    let bare = timed(&proxy, "bare", w, n, |i| {
        let (g, cr) = (&gateway, crowd.clone());
        async move {
            let req = alipay_client::cash::CashTrigger {
                crowd_no: cr,
                user: alipay_client::cash::TriggerUser::UserId(user_id(20_000 + i as u64)),
                out_biz_no: Some(format!("bare{i}")),
                order_price: None,
            };
            match g.execute(&req).await {
                alipay_client::Outcome::Success(_) => Ok(()),
                other => Err(format!("bare cash.trigger: {other:?}").into()),
            }
        }
    })
    .await?;

    // The functions the workload did not touch, once each, so every process has served an event.
    proxy.set_phase("other");
    let (_, code) = client
        .sim_post("/sim/auth-codes", &json!({"userId": user_id(1)}))
        .await?;
    let _ = client
        .call(
            client
                .http
                .post(format!("{}/session", client.api))
                .json(&json!({"authCode": code["code"]})),
        )
        .await?;
    let event: Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("infra/local-stack/events/reconciler-schedule.json"),
    )?)?;
    let _ = client
        .call(
            client
                .http
                .post(format!("{}/_local/invoke/reconciler", client.api))
                .json(&event),
        )
        .await?;
    let peak = children_peak_rss();
    proxy.set_phase("idle");

    // ---------------------------------------------------------------------------- report
    println!("## Numbers (stack-bench)\n");
    println!(
        "Machine: {}; load average {load_before} at start, {} at end (other builds share the machine). \
         Binaries: `{}` (x86_64, this machine's release build).",
        machine(),
        loadavg(),
        args.bin_dir
            .canonicalize()
            .unwrap_or_else(|_| args.bin_dir.clone())
            .display()
    );
    println!(
        "Cold start: median of {} runs (min–max); warm latency: {} sequential requests after {} warm-up.\n",
        args.runs, n, w
    );
    println!("### Cold start, size, memory\n");
    println!("| process | init to first `/next` (ms, median) | min–max (ms) | binary (MiB) | arm64 zip (MiB) | RSS at ready (MiB) | peak RSS after workload (MiB) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let target_dir = args
        .bin_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let size_mib = |p: PathBuf| {
        std::fs::metadata(p)
            .ok()
            .map(|m| format!("{:.1}", m.len() as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "—".into())
    };
    for r in &cold {
        let f = |d: Option<Duration>| {
            d.map(|d| format!("{:.1}", ms(d)))
                .unwrap_or_else(|| "—".into())
        };
        let peak_after = peak
            .get(&r.name)
            .map(|k| mib(*k))
            .unwrap_or_else(|| "—".into());
        println!(
            "| {} | {} | {}–{} | {} | {} | {} | {} |",
            r.name,
            f(r.median),
            f(r.min),
            f(r.max),
            r.size
                .map(|s| format!("{:.1}", s as f64 / 1024.0 / 1024.0))
                .unwrap_or_else(|| "—".into()),
            size_mib(
                target_dir
                    .join("lambda")
                    .join(&r.name)
                    .join("bootstrap.zip")
            ),
            r.rss_init.map(mib).unwrap_or_else(|| "—".into()),
            peak_after,
        );
    }
    for r in cold.iter().filter(|r| r.error.is_some()) {
        println!("\n{}: {}", r.name, r.error.as_deref().unwrap_or_default());
    }
    let inits: u64 = init_calls.values().sum();
    if inits > 0 {
        let per: Vec<String> = init_calls
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect();
        println!(
            "\nAWS calls during all cold starts ({} function starts): {}.",
            args.runs * FUNCTIONS.len(),
            per.join(", ")
        );
    }

    println!("\n### Warm latency (simulator at zero latency)\n");
    println!("| operation | path | p50 (ms) | p99 (ms) | max (ms) | of which moto (ms, mean) |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, path, phase, mut sample) in [
        (
            "pass claim",
            "`/sim/claim` → HTTP API → pass-callback → DynamoDB + `pass.instance.add` → answer",
            "claim",
            claims,
        ),
        (
            "envelope send",
            "`POST /envelopes` → send-trigger → ledger + `cash.trigger` → 201",
            "send",
            sends,
        ),
        (
            "read passes",
            "`GET /users/{id}/passes` → authorizer → tunnel-reader → DynamoDB",
            "read",
            reads,
        ),
        (
            "bare simulator round trip",
            "alipay-client `cash.trigger` → simulator (sign, verify)",
            "bare",
            bare,
        ),
    ] {
        let p50 = percentile(&mut sample, 50.0);
        let p99 = percentile(&mut sample, 99.0);
        let max = sample.iter().max().copied().unwrap_or_default();
        let moto = ms(proxy.upstream_time(phase)) / sample.len().max(1) as f64;
        println!(
            "| {name} | {path} | {:.2} | {:.2} | {:.2} | {moto:.2} |",
            ms(p50),
            ms(p99),
            ms(max)
        );
    }

    println!("\n### DynamoDB calls per operation (counted at a proxy in front of moto)\n");
    let ops = [
        "GetItem",
        "Query",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchGetItem",
        "BatchWriteItem",
        "Scan",
    ];
    println!("| operation | {} | other AWS calls |", ops.join(" | "));
    println!("|---|{}---|", "---:|".repeat(ops.len()));
    for (name, phase) in [
        ("pass claim", "claim"),
        ("envelope send", "send"),
        ("read passes", "read"),
    ] {
        let counts = proxy.counts(phase);
        let per = |total: u64| {
            let v = total as f64 / n as f64;
            if v == 0.0 {
                "0".to_string()
            } else if (v - v.round()).abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        };
        let cells: Vec<String> = ops
            .iter()
            .map(|op| {
                per(counts
                    .get(&format!("DynamoDB_20120810.{op}"))
                    .copied()
                    .unwrap_or(0))
            })
            .collect();
        let others: Vec<String> = counts
            .iter()
            .filter(|(k, _)| {
                !ops.iter()
                    .any(|op| **k == format!("DynamoDB_20120810.{op}"))
            })
            .map(|(k, v)| format!("{k} {}", per(*v)))
            .collect();
        println!(
            "| {name} | {} | {} |",
            cells.join(" | "),
            if others.is_empty() {
                "—".to_string()
            } else {
                others.join(", ")
            }
        );
    }
    println!();

    running.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
