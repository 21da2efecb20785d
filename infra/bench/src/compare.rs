//! The before/after table: every function built with the profile before the size work (the
//! `--baseline-dir`, release-baseline) beside the current build (`--bin-dir`, release), measured in
//! the same cold-start rounds, with the ratio after / before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cold::{ColdRow, ColdStarts};
use crate::stats::ms;

const MIB: f64 = 1024.0 * 1024.0;

/// The Cargo profile a binary directory holds (`target/<profile>`).
fn profile_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where `scripts/build-lambdas.sh` puts the arm64 zip and bootstrap of `f` for `profile`.
fn arm64_paths(target: &Path, profile: &str, f: &str) -> (PathBuf, PathBuf) {
    let lambda = if profile == "release" {
        "lambda".to_string()
    } else {
        format!("lambda-{profile}")
    };
    (
        target.join(lambda).join(f).join("bootstrap.zip"),
        target
            .join("aarch64-unknown-linux-gnu")
            .join(profile)
            .join(f),
    )
}

fn size(p: &Path) -> Option<f64> {
    std::fs::metadata(p).ok().map(|m| m.len() as f64)
}

/// Three cells: before, after, after / before.
fn cells(before: Option<f64>, after: Option<f64>, scale: f64, digits: usize) -> String {
    let one = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.digits$}", v / scale));
    let ratio = match (before, after) {
        (Some(b), Some(a)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".to_string(),
    };
    format!("{} | {} | {ratio}", one(before), one(after))
}

fn millis(d: Option<Duration>) -> Option<f64> {
    d.map(ms)
}

fn kib(r: &ColdRow) -> Option<f64> {
    r.rss_init.map(|k| k as f64 * 1024.0)
}

/// One function's sizes: arm64 zip, arm64 bootstrap, x86_64 binary (bytes; `None` if not built).
type Sizes = [Option<f64>; 3];

fn sizes(target: &Path, profile: &str, bin_dir: &Path, f: &str) -> Sizes {
    let (zip, bootstrap) = arm64_paths(target, profile, f);
    [size(&zip), size(&bootstrap), size(&bin_dir.join(f))]
}

fn sum(rows: &[Sizes], i: usize) -> Option<f64> {
    rows.iter().map(|s| s[i]).sum()
}

pub(crate) fn print(after_dir: &Path, before_dir: &Path, cold: &ColdStarts) {
    let target = after_dir.parent().unwrap_or(Path::new("."));
    let (after_profile, before_profile) = (profile_of(after_dir), profile_of(before_dir));
    println!("\n### Before and after: `{before_profile}` → `{after_profile}` profile\n");
    println!(
        "Same run, same cold-start rounds (each function's `{before_profile}` build started right \
         after its `{after_profile}` build). Ratio = after / before. The arm64 columns read the zips \
         `make zips` and `make zips ZIPS_FLAGS=\"--profile {before_profile}\"` built (— if absent).\n"
    );
    let metrics = [
        "arm64 zip (MiB)",
        "arm64 bootstrap (MiB)",
        "x86_64 binary (MiB)",
        "cold start (ms, median)",
        "RSS at ready (MiB)",
    ];
    let head: Vec<String> = metrics
        .iter()
        .map(|m| format!("{m} before | after | ratio"))
        .collect();
    println!("| function | {} |", head.join(" | "));
    println!("|---|{}", "---:|".repeat(3 * metrics.len()));
    let (mut all_before, mut all_after) = (Vec::new(), Vec::new());
    for after in &cold.rows {
        let Some(before) = cold.baseline.iter().find(|b| b.name == after.name) else {
            continue;
        };
        let f = after.name.as_str();
        let b = sizes(target, &before_profile, before_dir, f);
        let a = sizes(target, &after_profile, after_dir, f);
        println!(
            "| {f} | {} | {} | {} | {} | {} |",
            cells(b[0], a[0], MIB, 2),
            cells(b[1], a[1], MIB, 2),
            cells(b[2], a[2], MIB, 2),
            cells(millis(before.median), millis(after.median), 1.0, 1),
            cells(kib(before), kib(after), MIB, 1),
        );
        all_before.push(b);
        all_after.push(a);
    }
    println!(
        "| **all functions** | {} | {} | {} | | | | | | |",
        cells(sum(&all_before, 0), sum(&all_after, 0), MIB, 2),
        cells(sum(&all_before, 1), sum(&all_after, 1), MIB, 2),
        cells(sum(&all_before, 2), sum(&all_after, 2), MIB, 2),
    );
    let missing: Vec<&str> = cold
        .rows
        .iter()
        .filter(|r| r.size.is_some() && !cold.baseline.iter().any(|b| b.name == r.name))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        println!(
            "\nNot built with `{before_profile}` (left out): {}.",
            missing.join(", ")
        );
    }
    for r in cold.baseline.iter().filter(|r| r.error.is_some()) {
        println!(
            "\n{} ({before_profile}): {}",
            r.name,
            r.error.as_deref().unwrap_or_default()
        );
    }
}
