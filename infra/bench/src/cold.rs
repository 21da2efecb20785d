//! Cold starts: each function binary against a minimal Lambda Runtime API of our own, next to
//! node loading the official SDK.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::stats::{median, vm_hwm};
use crate::{root, Args, Error, Res, Stack, APP_ID};

/// One cold start: spawn → first `GET .../invocation/next` on a Runtime API of our own.
/// Returns the init time and `VmHWM` at that moment.
pub(crate) async fn cold_once(bin: &Path, env: &[(String, String)]) -> Res<(Duration, u64)> {
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
pub(crate) async fn node_once(script: &str) -> Res<(Duration, u64)> {
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

pub(crate) fn node_sdk_script() -> String {
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

pub(crate) const NODE_BARE: &str =
    "process.stdout.write('ready '+process.resourceUsage().maxRSS+'\\n');";

/// Init times, RSS at ready (KiB) and the last error of one row.
pub(crate) type Sample = (Vec<Duration>, Vec<u64>, Option<String>);

pub(crate) struct ColdRow {
    pub(crate) name: String,
    pub(crate) median: Option<Duration>,
    pub(crate) min: Option<Duration>,
    pub(crate) max: Option<Duration>,
    pub(crate) size: Option<u64>,
    pub(crate) rss_init: Option<u64>,
    pub(crate) error: Option<String>,
}

pub(crate) fn cold_row(
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

/// What the cold-start phase measured: one row per process, one per baseline function (with
/// `--baseline-dir`), and the AWS calls made during init.
pub(crate) struct ColdStarts {
    pub(crate) rows: Vec<ColdRow>,
    pub(crate) baseline: Vec<ColdRow>,
    pub(crate) init_calls: BTreeMap<String, u64>,
}

/// The sample key of a function's baseline build (never a function name: those have no spaces).
fn baseline_key(f: &str) -> String {
    format!("{f} (baseline)")
}

/// `--runs` cold starts of every function and of node, interleaved per round so drift hits every
/// row alike.
pub(crate) async fn measure(args: &Args, stack: &Stack) -> Res<ColdStarts> {
    eprintln!(
        "stack-bench: cold starts ({} runs of {} functions + node)",
        args.runs,
        stack.functions.len()
    );
    let node_script = node_sdk_script();
    let mut samples: BTreeMap<String, Sample> = BTreeMap::new();
    let rows_order: Vec<String> = stack
        .functions
        .iter()
        .map(|s| s.to_string())
        .chain(["node + alipay-sdk".to_string(), "node (bare)".to_string()])
        .collect();
    stack.proxy.set_phase("init");
    for _round in 0..args.runs {
        for name in &rows_order {
            // Each function's baseline build right after it, so both see the same machine.
            let mut runs = vec![(name.clone(), None)];
            if let Some(dir) = args.baseline_dir.as_deref() {
                if stack.functions.contains(name) && dir.join(name).is_file() {
                    runs.push((baseline_key(name), Some(dir)));
                }
            }
            for (key, baseline_dir) in runs {
                let result = match name.as_str() {
                    "node + alipay-sdk" => node_once(&node_script).await,
                    "node (bare)" => node_once(NODE_BARE).await,
                    f => function_once(baseline_dir.unwrap_or(&args.bin_dir), stack, f)?.await,
                };
                let e = samples.entry(key).or_default();
                match result {
                    Ok((d, rss)) => {
                        e.0.push(d);
                        e.1.push(rss);
                    }
                    Err(err) => e.2 = Some(err.to_string()),
                }
            }
        }
    }
    let init_calls = stack.proxy.counts("init");
    stack.proxy.set_phase("idle");
    let rows = rows_order
        .iter()
        .map(|name| {
            let (mut d, rss, err) = samples.remove(name).unwrap_or_default();
            let size = stack
                .functions
                .contains(name)
                .then(|| std::fs::metadata(args.bin_dir.join(name)).ok())
                .flatten()
                .map(|m| m.len());
            cold_row(name, &mut d, &rss, size, err)
        })
        .collect();
    let baseline = match args.baseline_dir.as_deref() {
        None => Vec::new(),
        Some(dir) => stack
            .functions
            .iter()
            .filter(|name| dir.join(name).is_file())
            .map(|name| {
                let (mut d, rss, err) = samples.remove(&baseline_key(name)).unwrap_or_default();
                let size = std::fs::metadata(dir.join(name)).ok().map(|m| m.len());
                cold_row(name, &mut d, &rss, size, err)
            })
            .collect(),
    };
    Ok(ColdStarts {
        rows,
        baseline,
        init_calls,
    })
}

/// One cold start of function `f` with the environment local-stack gives it (an error here, a
/// function missing from template.yaml, ends the bench; a failed start is a row's error).
fn function_once<'a>(
    bin_dir: &'a Path,
    stack: &'a Stack,
    f: &str,
) -> Res<impl std::future::Future<Output = Res<(Duration, u64)>> + 'a> {
    let spec = stack
        .specs
        .functions
        .iter()
        .find(|s| s.name == f)
        .ok_or_else(|| format!("{f} is not in template.yaml"))?;
    let env = local_stack::function_env(spec, &stack.opts, "us-east-1", bin_dir);
    let bin = bin_dir.join(f);
    Ok(async move { cold_once(&bin, &env).await })
}
