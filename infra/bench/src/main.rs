//! stack-bench: the stack's numbers (cold start, size, memory, warm latency, DynamoDB calls), measured on this machine and printed as Markdown tables.
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/stack-bench [--bin-dir target/release] [--runs 7] [--requests 200] [--warmup 20]
//!     [--baseline-dir target/release-baseline]
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
//! 3. With `--baseline-dir`, **before and after**: the functions built with the profile before the
//!    size work are cold-started in the same rounds, and one table sets their sizes (x86_64 here, and
//!    the arm64 zips of both profiles when `make zips` built them), cold starts and RSS beside the
//!    current build's, with the ratio.
//! 4. **DynamoDB calls** per operation, counted by an HTTP proxy between the functions and moto that
//!    tallies the `X-Amz-Target` header of every call.
//!
//! Nothing here asserts a time: it prints what it measured.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod cold;
mod compare;
mod proxy;
mod report;
mod stats;
mod workload;

use proxy::{start_proxy, Proxy};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

use stack_harness::{APP_ID, SESSION_KEY_B64};
const IAM_HEADER: &str = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0";

struct Args {
    bin_dir: PathBuf,
    /// The same functions built with the profile before the size work (release-baseline).
    baseline_dir: Option<PathBuf>,
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
        baseline_dir: None,
        runs: 7,
        requests: 200,
        warmup: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bin-dir" => args.bin_dir = PathBuf::from(value()?),
            "--baseline-dir" => args.baseline_dir = Some(PathBuf::from(value()?)),
            "--runs" => args.runs = value()?.parse()?,
            "--requests" => args.requests = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "stack-bench [--bin-dir target/release] [--runs 7] [--requests 200] [--warmup 20] \
                     [--baseline-dir target/release-baseline]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    args.runs = args.runs.max(1);
    args.requests = args.requests.max(1);
    Ok(args)
}

// ----------------------------------------------------------------------------- keys

fn key_file(name: &str) -> Res<String> {
    let p = root().join("tests/vectors/keys").join(name);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()).into())
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
    let stack = start_stack(&args).await?;
    let cold = cold::measure(&args, &stack).await?;

    eprintln!(
        "stack-bench: starting local-stack ({})",
        args.bin_dir.display()
    );
    let running = local_stack::start(stack.opts.clone()).await?;
    let warm = workload::measure(&args, &stack, running.url()).await?;
    report::print(
        &args,
        &load_before,
        &cold,
        warm,
        &stack.proxy,
        stack.functions.len(),
    );

    running.shutdown().await;
    stack.sim.shutdown().await;
    Ok(())
}

fn check_binaries(args: &Args, functions: &[String]) -> Res<()> {
    for f in functions {
        if !args.bin_dir.join(f).is_file() {
            return Err(format!(
                "{} is not built: run `cargo build --release --workspace --bins`",
                args.bin_dir.join(f).display()
            )
            .into());
        }
    }
    if let Some(dir) = &args.baseline_dir {
        if !functions.iter().any(|f| dir.join(f).is_file()) {
            return Err(format!(
                "no function is built in {}: run `make bench-stack BEFORE_AFTER=1` (builds them with \
                 the release-baseline profile)",
                dir.display()
            )
            .into());
        }
    }
    Ok(())
}

/// moto behind the counting proxy, seeded; the simulator; and the functions' environment.
struct Stack {
    _moto: stack_harness::MotoServer,
    proxy: Arc<Proxy>,
    sim: alipay_sim::RunningSim,
    opts: local_stack::Options,
    specs: local_stack::template::Stack,
    /// The function names, from template.yaml.
    functions: Vec<String>,
}

async fn start_stack(args: &Args) -> Res<Stack> {
    let mut harness = stack_harness::StackOptions::new("rewards-bench", "release");
    harness.bin_dir = args.bin_dir.clone();
    harness.sim_log_calls = false;
    let functions = stack_harness::functions(&harness.template)?;
    check_binaries(args, &functions)?;
    eprintln!("stack-bench: starting moto, the counting proxy and the simulator");
    let moto = stack_harness::MotoServer::start()?;
    let (proxy, proxy_url) = start_proxy(&moto.endpoint).await?;
    stack_harness::seed(&moto.endpoint, &harness.template, &harness.names).await?;
    let sim = stack_harness::start_sim(&harness).await?;

    // The functions' environment, exactly as local-stack builds it from template.yaml, with the
    // proxy in front of moto.
    let mut opts = stack_harness::local_stack_options(&harness, &sim.url, &proxy_url);
    opts.host_env.remove("AWS_ENDPOINT_URL");
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
        functions,
    })
}
