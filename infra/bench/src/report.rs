//! The Markdown tables printed at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cold::ColdStarts;
use crate::proxy::Proxy;
use crate::stats::{loadavg, machine, mib, ms, percentile};
use crate::workload::Warm;
use crate::Args;

/// Every table, in order.
pub(crate) fn print(
    args: &Args,
    load_before: &str,
    cold: &ColdStarts,
    warm: Warm,
    proxy: &Proxy,
    functions: usize,
) {
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
        args.runs, args.requests, args.warmup
    );
    print_cold(args, cold, &warm.peak_rss, functions);
    if let Some(dir) = &args.baseline_dir {
        crate::compare::print(&args.bin_dir, dir, cold);
    }
    print_warm(warm, proxy);
    print_dynamo_calls(args.requests, proxy);
    println!();
}

fn dash_or(v: Option<String>) -> String {
    v.unwrap_or_else(|| "—".into())
}

fn size_mib(p: PathBuf) -> String {
    dash_or(
        std::fs::metadata(p)
            .ok()
            .map(|m| format!("{:.1}", m.len() as f64 / 1024.0 / 1024.0)),
    )
}

fn print_cold(args: &Args, cold: &ColdStarts, peak: &BTreeMap<String, u64>, functions: usize) {
    println!("### Cold start, size, memory\n");
    println!("| process | init to first `/next` (ms, median) | min–max (ms) | binary (MiB) | arm64 zip (MiB) | RSS at ready (MiB) | peak RSS after workload (MiB) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let target_dir = args
        .bin_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for r in &cold.rows {
        let f = |d: Option<Duration>| dash_or(d.map(|d| format!("{:.1}", ms(d))));
        println!(
            "| {} | {} | {}–{} | {} | {} | {} | {} |",
            r.name,
            f(r.median),
            f(r.min),
            f(r.max),
            dash_or(r.size.map(|s| format!("{:.1}", s as f64 / 1024.0 / 1024.0))),
            size_mib(
                target_dir
                    .join("lambda")
                    .join(&r.name)
                    .join("bootstrap.zip")
            ),
            dash_or(r.rss_init.map(mib)),
            dash_or(peak.get(&r.name).map(|k| mib(*k))),
        );
    }
    for r in cold.rows.iter().filter(|r| r.error.is_some()) {
        println!("\n{}: {}", r.name, r.error.as_deref().unwrap_or_default());
    }
    let inits: u64 = cold.init_calls.values().sum();
    if inits > 0 {
        let per: Vec<String> = cold
            .init_calls
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect();
        println!(
            "\nAWS calls during all cold starts ({} function starts): {}.",
            args.runs * (functions + cold.baseline.len()),
            per.join(", ")
        );
    }
}

fn print_warm(warm: Warm, proxy: &Proxy) {
    println!("\n### Warm latency (simulator at zero latency)\n");
    println!("| operation | path | p50 (ms) | p99 (ms) | max (ms) | of which moto (ms, mean) |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, path, phase, mut sample) in [
        (
            "pass claim",
            "`/sim/claim` → HTTP API → pass-callback → DynamoDB + `pass.instance.add` → answer",
            "claim",
            warm.claims,
        ),
        (
            "envelope send",
            "`POST /envelopes` → send-trigger → ledger + `cash.trigger` → 201",
            "send",
            warm.sends,
        ),
        (
            "read passes",
            "`GET /users/{id}/passes` → authorizer → tunnel-reader → DynamoDB",
            "read",
            warm.reads,
        ),
        (
            "bare simulator round trip",
            "alipay-client `cash.trigger` → simulator (sign, verify)",
            "bare",
            warm.bare,
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
}

const DYNAMO_OPS: [&str; 9] = [
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

/// `total` calls over `n` requests, as few digits as it takes.
fn per_request(total: u64, n: usize) -> String {
    let v = total as f64 / n as f64;
    if v == 0.0 {
        "0".to_string()
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn print_dynamo_calls(n: usize, proxy: &Proxy) {
    println!("\n### DynamoDB calls per operation (counted at a proxy in front of moto)\n");
    let target = |op: &str| format!("DynamoDB_20120810.{op}");
    println!(
        "| operation | {} | other AWS calls |",
        DYNAMO_OPS.join(" | ")
    );
    println!("|---|{}---|", "---:|".repeat(DYNAMO_OPS.len()));
    for (name, phase) in [
        ("pass claim", "claim"),
        ("envelope send", "send"),
        ("read passes", "read"),
    ] {
        let counts = proxy.counts(phase);
        let cells: Vec<String> = DYNAMO_OPS
            .iter()
            .map(|op| per_request(counts.get(&target(op)).copied().unwrap_or(0), n))
            .collect();
        let others: Vec<String> = counts
            .iter()
            .filter(|(k, _)| !DYNAMO_OPS.iter().any(|op| **k == target(op)))
            .map(|(k, v)| format!("{k} {}", per_request(*v, n)))
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
}
