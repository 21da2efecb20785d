//! stack-bench: the numbers of issue 7, measured on this machine and printed as Markdown tables.
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
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

mod cold;
mod proxy;
mod report;
mod stats;
mod workload;

use proxy::{start_proxy, Proxy};

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
    let load_before = stats::loadavg();
    check_binaries(&args)?;
    let stack = start_stack(&args).await?;
    let cold = cold::measure(&args, &stack).await?;

    eprintln!(
        "stack-bench: starting local-stack ({})",
        args.bin_dir.display()
    );
    let running = local_stack::start(stack.opts.clone()).await?;
    let warm = workload::measure(&args, &stack, running.url()).await?;
    report::print(&args, &load_before, &cold, warm, &stack.proxy);

    running.shutdown().await;
    stack.sim.shutdown().await;
    Ok(())
}

fn check_binaries(args: &Args) -> Res<()> {
    for f in FUNCTIONS.iter().chain(&["local-stack"]) {
        if !args.bin_dir.join(f).is_file() {
            return Err(format!(
                "{} is not built: run `cargo build --release --workspace --bins`",
                args.bin_dir.join(f).display()
            )
            .into());
        }
    }
    Ok(())
}

/// moto behind the counting proxy, seeded; the simulator; and the functions' environment.
struct Stack {
    _moto: Moto,
    proxy: Arc<Proxy>,
    sim: alipay_sim::RunningSim,
    opts: local_stack::Options,
    specs: local_stack::template::Stack,
}

async fn start_stack(args: &Args) -> Res<Stack> {
    eprintln!("stack-bench: starting moto, the counting proxy and the simulator");
    let (moto, moto_url) = start_moto().await?;
    let (proxy, proxy_url) = start_proxy(&moto_url).await?;
    seed(&moto_url).await?;

    let mut sim_config = alipay_sim::SimConfig::from_defaults()?;
    sim_config.addr = "127.0.0.1:0".parse()?;
    sim_config.app_id = APP_ID.into();
    let sim = alipay_sim::start(sim_config).await?;

    // The functions' environment, exactly as local-stack builds it from template.yaml.
    let mut opts = local_stack::Options::from_env();
    opts.template = root().join("template.yaml");
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
    Ok(Stack {
        _moto: moto,
        proxy,
        sim,
        opts,
        specs,
    })
}
