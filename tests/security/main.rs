//! Log scan: the main flows run through the stack (template, claim, pass reads, session, campaign,
//! send, reconcile, and the usual bad inputs) with every function logging at `info` into a file
//! (local-stack's `LOCAL_LOG_FILE`); then no line may carry key material (a 40-character run of a
//! private key's base64, the session key, a PEM marker, the auth code or session token minted in the
//! run), and every function line must be JSON that carries the invocation's request id
//! (`span.requestId`, or `requestId` on EMF metric lines).
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use integration_tests::{
    beijing_in_days, new_user_id, root, set_stack_env, stack, TestApp, SESSION_KEY_B64,
};
use serde_json::{json, Value};

const RUN: usize = 40;

fn log_file() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("function-logs-{}.log", std::process::id()))
}

/// Starts this binary's stack with function logs at `info` teed into [`log_file`].
fn app() -> TestApp {
    let path = log_file();
    let _ = std::fs::remove_file(&path);
    // local-stack reads LOCAL_LOG_FILE from the process environment (Options::from_env). Set before the
    // stack starts; the only other test of this binary reads no environment.
    std::env::set_var("LOCAL_LOG_FILE", &path);
    set_stack_env(&[("RUST_LOG", "info")]);
    stack();
    TestApp::new()
}

/// Every 40-character run of each private key's base64 body, the session key's, and its raw text.
fn secrets() -> Vec<String> {
    let mut out = HashSet::new();
    let dir = root().join("tests/vectors/keys");
    let mut keys = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.contains("private") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let b64: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        keys += 1;
        let chars: Vec<char> = b64.chars().collect();
        for w in chars.windows(RUN) {
            out.insert(w.iter().collect::<String>());
        }
    }
    assert!(keys > 0, "no private keys in {}", dir.display());
    for w in SESSION_KEY_B64.as_bytes().windows(RUN) {
        out.insert(String::from_utf8_lossy(w).to_string());
    }
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(SESSION_KEY_B64)
        .unwrap();
    out.insert(String::from_utf8_lossy(&raw).to_string());
    out.into_iter().collect()
}

/// The flows whose logs are scanned: every function, success and error paths. Returns the credentials
/// minted on the way (the auth code and the session token), which must not be logged either.
async fn run_flows(app: &TestApp) -> Vec<String> {
    // Passes: template, claim, reads (backend and mini-program), status.
    let (tpl, user) = app.template_and_user("日志扫描券").await;
    let claim = app.claim(&tpl, &user).await;
    assert_eq!(claim.status, 200, "{claim:?}");
    let pass_id = claim.body["body"]["passId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!pass_id.is_empty(), "{claim:?}");
    assert_eq!(app.get(&format!("/passes/{pass_id}")).await.status, 200);
    let code = app
        .sim_post("/sim/auth-codes", &json!({"userId": user}))
        .await;
    let session = app
        .http
        .post(format!("{}/session", app.api))
        .json(&json!({"authCode": code.body["code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 200);
    let session: Value = session.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_string();
    let auth_code = code.body["code"].as_str().unwrap().to_string();
    let own = app
        .get_with_token(&format!("/users/{user}/passes"), &token)
        .await;
    assert_eq!(own.status, 200, "{own:?}");
    let other = app
        .get_with_token(&format!("/users/{}/passes", new_user_id()), &token)
        .await;
    assert_eq!(other.status, 403, "{other:?}");
    let pulled = app.pull_pass_ids(&user, &token).await;
    assert_eq!(pulled.status, 200, "{pulled:?}");
    let used = app.set_pass_status(&pass_id, "USED").await;
    assert_eq!(used.status, 200, "{used:?}");

    // Cash: campaign, pay at the simulator, refresh, send, read back, reconcile.
    let created = app
        .post(
            "/campaigns",
            &json!({
                "couponName": "日志扫描红包",
                "prizeType": "fixed",
                "totalMoney": "100.00",
                "totalNum": 50,
                "prizeMsg": "恭喜发财",
                "startTime": "NowTime",
                "endTime": beijing_in_days(7),
                "merchantLink": "https://www.alipay.com",
                "sendFrequency": "L5",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let crowd = created.body["crowdNo"].as_str().unwrap().to_string();
    let paid = app
        .sim_post(&format!("/sim/campaigns/{crowd}/pay"), &json!({}))
        .await;
    assert_eq!(paid.status, 200, "{paid:?}");
    assert_eq!(app.get(&format!("/campaigns/{crowd}")).await.status, 200);
    let business_id = format!("logscan{}", &new_user_id()[4..]);
    let sent = app
        .post_with_header(
            "/envelopes",
            &json!({"reason": "points_exchange", "businessId": business_id, "userId": user, "crowdNo": crowd}),
            "Idempotency-Key",
            &business_id,
        )
        .await;
    assert!((200..=202).contains(&sent.status), "{sent:?}");
    let out_biz_no = sent.body["outBizNo"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/envelopes/{out_biz_no}")).await.status,
        200
    );
    assert_eq!(
        app.get(&format!("/users/{user}/envelopes")).await.status,
        200
    );
    assert_eq!(app.get("/campaigns").await.status, 200);
    assert_eq!(app.get("/templates").await.status, 200);
    let reconciled = app
        .invoke(
            "reconciler",
            &json!({"source": "rewards.schedule", "kind": "reconcile"}),
        )
        .await;
    assert_eq!(reconciled.status, 200, "{reconciled:?}");

    // Error paths: bad input, unknown ids, refused codes, bad tokens.
    for (path, status) in [
        ("/templates/nope", 404),
        ("/passes/nope", 404),
        ("/envelopes/nope", 404),
        ("/users/bad/passes", 401),
    ] {
        let a = if status == 401 {
            app.get_public(path).await
        } else {
            app.get(path).await
        };
        assert_eq!(a.status, status, "{path}: {a:?}");
    }
    assert_eq!(app.post_raw("/templates", b"{".to_vec()).await.status, 400);
    assert_eq!(
        app.post("/envelopes", &json!({"reason": "x"})).await.status,
        400
    );
    let refused = app
        .http
        .post(format!("{}/session", app.api))
        .json(&json!({"authCode": "not-a-code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let forged = app
        .get_with_token(&format!("/users/{user}/passes"), "forged.token")
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    let stale = app
        .get_public(&format!(
            "/alipay/pass-callback?templateId={tpl}&userId={user}&token=abc&timestamp=1"
        ))
        .await;
    assert_eq!(stale.status, 400, "{stale:?}");
    // A forged token with a fresh timestamp: Alipay refuses; the caller sees no Alipay text.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let forged_claim = app
        .get_public(&format!(
            "/alipay/pass-callback?templateId={tpl}&userId={}&token=tok_forged&timestamp={now}",
            new_user_id()
        ))
        .await;
    assert_eq!(forged_claim.status, 422, "{forged_claim:?}");
    assert!(
        !forged_claim.body.to_string().contains("无效"),
        "{forged_claim:?}"
    );
    vec![auth_code, token]
}

fn request_id(line: &Value) -> Option<&str> {
    let in_spans = line
        .get("spans")
        .and_then(Value::as_array)
        .and_then(|spans| spans.iter().find_map(|s| s.get("requestId")));
    line.pointer("/span/requestId")
        .or(in_spans)
        .or_else(|| line.get("requestId"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Checks one `[<function>#<instance>] <line>` of the log file; the function's name, or what is wrong
/// (never echoing the secret itself).
fn check_line(line: &str, secrets: &[String], credentials: &[String]) -> Result<String, String> {
    let (tag, body) = line
        .strip_prefix('[')
        .and_then(|l| l.split_once("] "))
        .ok_or_else(|| format!("untagged line: {line}"))?;
    let function = tag.split('#').next().unwrap_or_default().to_string();
    if line.contains("BEGIN") || line.contains("PRIVATE KEY") {
        return Err(format!("PEM material in a log line of {function}"));
    }
    if credentials.iter().any(|c| line.contains(c.as_str())) {
        return Err(format!(
            "an auth code or session token in a log line of {function}"
        ));
    }
    if secrets.iter().any(|s| line.contains(s.as_str())) {
        return Err(format!("key material in a log line of {function}"));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("not a JSON line ({e}) from {function}: {body}"))?;
    if !v.is_object() {
        return Err(format!("not a JSON object from {function}: {body}"));
    }
    if request_id(&v).is_none() {
        return Err(format!("no request id on a line from {function}: {body}"));
    }
    Ok(function)
}

/// The checker itself catches what it is meant to (no stack needed).
#[test]
fn the_line_check_catches_leaks_plain_text_and_missing_request_ids() {
    let secrets = secrets();
    let run = &secrets[0];
    let ok = r#"[send-trigger#1] {"level":"INFO","message":"x","span":{"requestId":"r-1"}}"#;
    assert_eq!(
        check_line(ok, &secrets, &[]),
        Ok("send-trigger".to_string())
    );
    let emf = r#"[session#2] {"_aws":{},"Sessions":1.0,"requestId":"r-2"}"#;
    assert_eq!(check_line(emf, &secrets, &[]), Ok("session".to_string()));
    for bad in [
        format!(
            r#"[session#1] {{"level":"ERROR","message":"key {run}","span":{{"requestId":"r"}}}}"#
        ),
        r#"[session#1] {"message":"-----BEGIN PRIVATE KEY-----","requestId":"r"}"#.to_string(),
        r#"[session#1] {"message":"tok-123","requestId":"r"}"#.to_string(),
        "[session#1] thread 'main' panicked at src/main.rs:1:1".to_string(),
        r#"[session#1] {"level":"INFO","message":"no span"}"#.to_string(),
        "no tag".to_string(),
    ] {
        assert!(
            check_line(&bad, &secrets, &["tok-123".to_string()]).is_err(),
            "not caught: {bad}"
        );
    }
}

#[tokio::test]
async fn function_logs_carry_no_key_material_and_every_line_a_request_id() {
    let app = app();
    let credentials = run_flows(&app).await;
    // The log lines are forwarded asynchronously by local-stack: give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = std::fs::read_to_string(log_file()).unwrap();
    let secrets = secrets();
    let mut functions = HashSet::new();
    let mut lines = 0;
    for line in text.lines() {
        let function = check_line(line, &secrets, &credentials).unwrap_or_else(|e| panic!("{e}"));
        functions.insert(function);
        lines += 1;
    }
    // tunnel-reader and authorizer log only failures: nothing on these paths.
    for f in [
        "template-creator",
        "pass-callback",
        "campaign-creator",
        "send-trigger",
        "reconciler",
        "session",
    ] {
        assert!(
            functions.contains(f),
            "no log line from {f} (saw {functions:?}); the scan would be vacuous"
        );
    }
    // Alipay's refusal text is kept in the log, with the request id, for whoever investigates.
    let refusal = text
        .lines()
        .filter(|l| l.starts_with("[pass-callback"))
        .filter_map(|l| {
            l.split_once("] ")
                .and_then(|(_, b)| serde_json::from_str::<Value>(b).ok())
        })
        .find(|v| v["message"] == "Alipay refused to issue the pass")
        .expect("the refusal is logged");
    assert!(
        refusal["alipay_reason"]
            .as_str()
            .unwrap_or("")
            .contains("无效"),
        "{refusal}"
    );
    assert!(request_id(&refusal).is_some(), "{refusal}");
    eprintln!(
        "scanned {lines} function log lines from {} functions",
        functions.len()
    );
}
