//! Golden vectors produced by the official SDKs (see tests/vectors/README.md).
//!
//! Every `*.json` file in the vectors directory is read, whatever cases it holds: `sign_cases*`,
//! `response_cases*` and `notify_cases*` by name. The directory is `tests/vectors/` at the workspace
//! root, or `$ALIPAY_VECTORS_DIR` when set, so new case files can be dropped in without a code change.
//! Each test collects every failing case id and reports them all at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use alipay_protocol::aes::AesKey;
use alipay_protocol::notify::{NotifyError, NotifyParams, NotifyPolicy, NotifyRule};
use alipay_protocol::request::{sign_request, AppConfig, UnsignedRequest};
use alipay_protocol::response::{extract_signed_span, ResponseVerifier};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, GatewayTimestamp};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    std::env::var_os("ALIPAY_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors"))
}

/// Every case of every file whose name starts with `prefix`, with the file's config.
fn cases(prefix: &str) -> Vec<(String, Value, Value)> {
    let dir = vectors_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("vectors dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".json")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {prefix}*.json in {}", dir.display());
    let mut out = Vec::new();
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let config = doc["config"].clone();
        for case in doc["cases"].as_array().expect("cases array") {
            let id = format!(
                "{}:{}",
                file.file_name().unwrap().to_string_lossy(),
                case["id"].as_str().unwrap_or("?")
            );
            out.push((id, case.clone(), config.clone()));
        }
    }
    out
}

fn read_key(config: &Value, field: &str) -> String {
    let rel = config[field].as_str().expect("key path in config");
    std::fs::read_to_string(vectors_dir().join(rel)).expect("key file")
}

/// Runs `check` on every case of the files named `prefix*` (with the case id and the file's
/// config); `check` pushes one line per failure, and all of them are reported at once.
fn check_every_case(prefix: &str, mut check: impl FnMut(&str, &Value, &Value, &mut Vec<String>)) {
    let all = cases(prefix);
    let mut failures = Vec::new();
    for (id, case, config) in &all {
        check(id, case, config, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

fn alipay_key(config: &Value) -> AlipayPublicKey {
    AlipayPublicKey::from_text(&read_key(config, "alipay_public_key")).unwrap()
}

#[test]
fn request_string_to_sign_and_signatures_match_the_reference_and_every_peer() {
    check_every_case("sign_cases", |id, case, config, failures| {
        let key = AppPrivateKey::from_text(&read_key(config, "app_private_key")).unwrap();
        let app = AppConfig {
            app_id: config["app_id"].as_str().unwrap().to_string(),
            cert_mode: None,
        };
        let biz = match &case["biz_content"] {
            Value::Null => None,
            // Compact, keys in the given order, non-ASCII raw: the bytes that are transmitted.
            v => Some(serde_json::to_string(v).unwrap()),
        };
        let params: Vec<(String, Option<String>)> = case["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
            .collect();
        let request = UnsignedRequest {
            method: case["method"].as_str().unwrap(),
            biz_content: biz.as_deref(),
            params: params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect(),
            encrypt: false,
        };
        let ts = GatewayTimestamp::parse(case["timestamp"].as_str().unwrap()).unwrap();
        let signed = sign_request(&app, &key, None, &request, ts).unwrap();
        let reference = &case["reference_java_rules"];
        if signed.string_to_sign() != reference["string_to_sign"].as_str().unwrap() {
            failures.push(format!(
                "{id}: string_to_sign\n  ours: {}\n  ref:  {}",
                signed.string_to_sign(),
                reference["string_to_sign"]
            ));
        }
        if signed.sign() != reference["sign"].as_str().unwrap() {
            failures.push(format!("{id}: reference sign differs"));
        }
        // Whatever string a peer built, signing it must reproduce the peer's signature.
        for (peer, result) in case["peers"].as_object().unwrap() {
            if let (Some(s), Some(sig)) =
                (result["string_to_sign"].as_str(), result["sign"].as_str())
            {
                if key.sign(s.as_bytes()) != sig {
                    failures.push(format!("{id}: peer {peer} signature not reproduced"));
                }
            }
        }
    });
}

#[test]
fn response_spans_and_verdicts_match_expected_valid() {
    check_every_case("response_cases", |id, case, config, failures| {
        let key = alipay_key(config);
        let mut verifier = ResponseVerifier::new(key);
        if let Some(aes) = case["aes_key"].as_str() {
            verifier = verifier.with_aes(AesKey::from_base64(aes).unwrap());
        }
        let raw = case["raw"].as_str().unwrap();
        let method = case["method"].as_str().unwrap();
        if let Some(expected) = case["signed_content"].as_str() {
            match extract_signed_span(raw, method) {
                Ok(span) if span.content == expected => {}
                // Signed over the unescaped text: valid through Java's `\/` retry only.
                Ok(span) if span.content.replace("\\/", "/") == expected => {}
                other => failures.push(format!("{id}: span {other:?}")),
            }
        }
        let verdict = verifier.verify(raw, method);
        match (case["expected_valid"].as_bool(), &verdict) {
            (Some(true), Ok(v)) => {
                if let Some(plain) = case["decrypted"].as_str() {
                    if v.content != plain {
                        failures.push(format!("{id}: decrypted {}", v.content));
                    }
                }
            }
            (Some(false), Err(_)) => {}
            (expected, got) => failures.push(format!("{id}: expected {expected:?}, got {got:?}")),
        }
    });
}

#[test]
fn notifications_parse_once_and_verify_as_expected() {
    check_every_case("notify_cases", |id, case, config, failures| {
        let key = alipay_key(config);
        let parsed =
            NotifyParams::parse_form(case["raw_body"].as_str().unwrap().as_bytes()).unwrap();
        let expected_params: Vec<(&str, &str)> = case["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        if parsed.iter().collect::<Vec<_>>() != expected_params {
            failures.push(format!("{id}: parsed params differ"));
        }
        let signed = case["signed_content"].as_str().unwrap_or_default();
        if parsed.signed_content(NotifyRule::V1) != signed
            && parsed.signed_content(NotifyRule::V2) != signed
        {
            // A case with an unsigned extra field signs less than it carries; only complain when
            // the case is expected to verify.
            if case["expected_valid"].as_bool() == Some(true) {
                failures.push(format!(
                    "{id}: neither V1 nor V2 content equals signed_content"
                ));
            }
        }
        let strict = parsed.verify(&key, NotifyPolicy::default());
        match case["expected_valid"].as_bool() {
            Some(true) if strict.is_ok() => {}
            Some(false) if strict.is_err() => {}
            // Policy case (SHA-1): refused by default, accepted only when the deployment opts in.
            None => {
                let sha1 = parsed.get("sign_type") == Some("RSA");
                let lenient = parsed.verify(&key, NotifyPolicy { allow_sha1: true });
                if !(sha1 && strict == Err(NotifyError::Sha1NotAllowed) && lenient.is_ok()) {
                    failures.push(format!(
                        "{id}: policy case: strict {strict:?}, lenient {lenient:?}"
                    ));
                }
            }
            expected => failures.push(format!("{id}: expected {expected:?}, got {strict:?}")),
        }
    });
}

#[test]
fn bench_fixture_signs_to_its_expected_signature() {
    let dir = vectors_dir();
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench_fixture.json")).unwrap())
            .unwrap();
    let key = AppPrivateKey::from_text(&read_key(&fixture["config"], "app_private_key")).unwrap();
    let string = fixture["string_to_sign"].as_str().unwrap();
    assert_eq!(
        key.sign(string.as_bytes()),
        fixture["expected_sign"].as_str().unwrap()
    );
    let alipay = alipay_key(&fixture["config"]);
    let verifier = ResponseVerifier::new(alipay.clone());
    verifier
        .verify(
            fixture["response_raw"].as_str().unwrap(),
            fixture["response_method"].as_str().unwrap(),
        )
        .unwrap();
    let notify = NotifyParams::from_pairs(
        fixture["notify_params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
    )
    .unwrap();
    assert_eq!(
        notify.verify(&alipay, NotifyPolicy::default()),
        Ok(NotifyRule::V1)
    );
}
