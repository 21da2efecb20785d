//! Protocol benchmark: single-threaded ops/s for the four operations of the SDK benchmark on
//! `tests/vectors/bench_fixture.json`, keys parsed once, median of 3 runs of at least 1 s each, printed
//! beside `openssl speed -elapsed rsa2048` measured in the same run, as ratios.
//!
//! Run with `make bench` (release build). Prints a Markdown table; asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use alipay_protocol::notify::{NotifyParams, NotifyPolicy};
use alipay_protocol::request::{sign_request, AppConfig, UnsignedRequest};
use alipay_protocol::response::{alipay_cert_sn, ResponseVerifier};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, GatewayTimestamp};
use serde_json::Value;

const RUNS: usize = 3;
const MIN_RUN: Duration = Duration::from_secs(1);

/// Runs `op` for at least `MIN_RUN`, `RUNS` times, and returns the median ops/s.
fn measure(mut op: impl FnMut()) -> f64 {
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < MIN_RUN {
                for _ in 0..16 {
                    op();
                }
                n += 16;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[RUNS / 2]
}

/// `openssl speed -elapsed -seconds 1 rsa2048`, median of `RUNS` runs: (sign/s, verify/s).
fn openssl_speed() -> Option<(f64, f64)> {
    let mut signs = Vec::new();
    let mut verifies = Vec::new();
    for _ in 0..RUNS {
        let out = Command::new("openssl")
            .args(["speed", "-elapsed", "-seconds", "1", "rsa2048"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("rsa") && l.contains("2048 bits"))?;
        let rates: Vec<f64> = line
            .split_whitespace()
            .filter(|t| !t.ends_with('s'))
            .filter_map(|t| t.parse().ok())
            .collect();
        // "rsa 2048 bits <sign s> <verify s> ... <sign/s> <verify/s> ...": 2048 is the first number.
        signs.push(*rates.get(1)?);
        verifies.push(*rates.get(2)?);
    }
    signs.sort_by(f64::total_cmp);
    verifies.sort_by(f64::total_cmp);
    Some((signs[RUNS / 2], verifies[RUNS / 2]))
}

fn main() {
    let dir = std::env::var_os("ALIPAY_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors"))
        });
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench_fixture.json")).unwrap())
            .unwrap();
    let read = |field: &str| {
        std::fs::read_to_string(dir.join(fixture["config"][field].as_str().unwrap())).unwrap()
    };
    let key = AppPrivateKey::from_text(&read("app_private_key")).unwrap();
    let alipay = AlipayPublicKey::from_text(&read("alipay_public_key")).unwrap();
    let verifier = ResponseVerifier::new(alipay.clone());
    let string_to_sign = fixture["string_to_sign"].as_str().unwrap().to_string();
    let response = fixture["response_raw"].as_str().unwrap().to_string();
    let response_method = fixture["response_method"].as_str().unwrap().to_string();
    let notify_pairs: Vec<(String, String)> = fixture["notify_params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let app = AppConfig {
        app_id: fixture["config"]["app_id"].as_str().unwrap().to_string(),
        cert_mode: None,
    };
    let method = fixture["method"].as_str().unwrap().to_string();
    let params: Vec<(String, String)> = fixture["params"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != "timestamp")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let timestamp =
        GatewayTimestamp::parse(fixture["params"]["timestamp"].as_str().unwrap()).unwrap();
    let biz = fixture["biz_content"].clone();

    // Sanity: the numbers below are for operations that give the right answers.
    assert_eq!(
        key.sign(string_to_sign.as_bytes()),
        fixture["expected_sign"].as_str().unwrap()
    );
    verifier.verify(&response, &response_method).unwrap();

    // Certificate mode: the same answer naming the certificate of the same key (the protocol
    // fixtures' Alipay certificate), verified the way the client does per answer: read the SN,
    // find that certificate's verifier, check the SN and the RSA2 signature over the span.
    let certs_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/certs"));
    let cert_pem = std::fs::read(certs_dir.join("alipay_cert.pem")).unwrap();
    let cert_sn = alipay_protocol::cert::cert_sn(&cert_pem).unwrap();
    let cert_key = alipay_protocol::cert::public_key_from_cert(&cert_pem).unwrap();
    let at = response.rfind(",\"sign\"").unwrap();
    let cert_response = format!(
        "{},\"alipay_cert_sn\":\"{cert_sn}\"{}",
        &response[..at],
        &response[at..]
    );
    let by_sn: std::collections::HashMap<String, ResponseVerifier> = [(
        cert_sn.clone(),
        ResponseVerifier::new(cert_key).with_cert_sn(cert_sn.clone()),
    )]
    .into_iter()
    .collect();
    let cert_verify = |body: &str| {
        let sn = alipay_cert_sn(body).unwrap();
        by_sn[&sn].verify(body, &response_method).unwrap()
    };
    cert_verify(&cert_response);

    let sign = measure(|| {
        std::hint::black_box(key.sign(std::hint::black_box(string_to_sign.as_bytes())));
    });
    let verify_response = measure(|| {
        std::hint::black_box(
            verifier
                .verify(std::hint::black_box(&response), &response_method)
                .unwrap(),
        );
    });
    let verify_cert_response = measure(|| {
        std::hint::black_box(cert_verify(std::hint::black_box(&cert_response)));
    });
    let verify_notify = measure(|| {
        let p = NotifyParams::from_pairs(notify_pairs.iter().cloned()).unwrap();
        std::hint::black_box(p.verify(&alipay, NotifyPolicy::default()).unwrap());
    });
    let build = measure(|| {
        let biz_text = serde_json::to_string(&biz).unwrap();
        let request = UnsignedRequest {
            method: &method,
            biz_content: Some(&biz_text),
            params: params
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect(),
            encrypt: false,
        };
        let signed = sign_request(&app, &key, None, &request, timestamp).unwrap();
        std::hint::black_box((
            signed.url("https://openapi.alipay.com/gateway.do"),
            signed.form_body(),
        ));
    });

    let (os_sign, os_verify) = openssl_speed().unwrap_or((f64::NAN, f64::NAN));
    println!(
        "Single thread, key parsed once, median of {RUNS} runs of >= {}s each.",
        MIN_RUN.as_secs()
    );
    println!();
    println!("| operation | ops/s | baseline (openssl speed -elapsed rsa2048, same run) | ratio | target |");
    println!("|---|---:|---|---:|---:|");
    let row = |name: &str, ours: f64, base_name: &str, base: f64, target: &str| {
        println!(
            "| {name} | {ours:.0} | {base_name} {base:.0}/s | {:.2}x | {target} |",
            ours / base
        );
    };
    row("sign (RSA2)", sign, "sign", os_sign, ">= 0.95x");
    row(
        "verify sync response",
        verify_response,
        "verify",
        os_verify,
        ">= 0.8x",
    );
    row(
        "verify sync response, certificate mode (SN lookup + RSA2)",
        verify_cert_response,
        "verify",
        os_verify,
        ">= 0.8x",
    );
    row(
        "verify notification",
        verify_notify,
        "verify",
        os_verify,
        ">= 0.8x",
    );
    row("build signed request", build, "sign", os_sign, "-");
}
