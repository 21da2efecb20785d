//! Runs the real `local-stack` binary on a free port with `tests/fixtures/echo-template.yaml`, whose
//! functions are this crate's examples (`echo`, a `lambda_http` function, and `authz`, a Lambda authorizer),
//! and drives it over real HTTP.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

struct Stack {
    child: Child,
    url: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SIGTERM so that local-stack stops its function processes itself.
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn examples_dir() -> PathBuf {
    // target/debug/deps/front-<hash> -> target/debug/examples
    let exe = std::env::current_exe().expect("test exe path");
    let debug = exe.parent().and_then(|p| p.parent()).expect("target dir");
    debug.join("examples")
}

fn start(extra_env: &[(&str, &str)]) -> Stack {
    let dir = examples_dir();
    assert!(
        dir.join("echo").is_file() && dir.join("authz").is_file(),
        "the examples are built by `cargo test` (missing in {})",
        dir.display()
    );
    let template =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/echo-template.yaml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_local-stack"));
    cmd.arg("--template")
        .arg(&template)
        .arg("--bin-dir")
        .arg(&dir)
        .env("API_PORT", "0")
        .env("LOCAL_QUEUE_MS", "3000")
        .env_remove("LOCAL_IAM")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn local-stack");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("local-stack listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Stack { child, url }
}

impl Stack {
    /// `send` to a path of this stack.
    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        send(method, &format!("{}{path}", self.url), headers, body).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[], Vec::new()).await
    }

    /// A raw event to a function, as Lambda's Invoke (`POST /_local/invoke/{function}`).
    async fn invoke(&self, function: &str, event: Vec<u8>) -> Resp {
        let path = format!("/_local/invoke/{function}");
        self.call("POST", &path, &[], event).await
    }
}

struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("request");
    let resp = client.request(req).await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

const SIGV4: &str = "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

#[tokio::test]
async fn public_route_gets_a_v2_event_and_maps_the_response() {
    let s = start(&[("TABLE_NAME", "from-env")]);
    let r = s
        .call(
            "POST",
            "/echo/a%20b/c?x=1&x=2&y=z",
            &[("content-type", "application/json"), ("x-custom", "v")],
            br#"{"hello":"world"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.headers.contains_key("apigw-requestid"));
    assert_eq!(
        r.headers.get("set-cookie").map(|v| v.as_bytes()),
        Some(&b"a=1"[..])
    );
    let v = r.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["pathParameters"]["proxy"], "a b/c");
    assert_eq!(v["query"]["y"], "z");
    assert_eq!(v["headers"]["x-custom"], "v");
    assert_eq!(v["body"], r#"{"hello":"world"}"#);
    assert_eq!(
        v["tableName"], "from-env",
        "local-stack's env overrides the template"
    );
    assert_eq!(v["functionName"], "echo");
}

#[tokio::test]
async fn unknown_route_oversized_body_and_unbuilt_function() {
    let s = start(&[]);
    let r = s.get("/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), serde_json::json!({"message": "Not Found"}));
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let r = s.call("POST", "/echo/x", &[], big).await;
    assert_eq!(r.status, 413);
    let r = s.get("/missing").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["message"], "Internal Server Error");
}

#[tokio::test]
async fn iam_routes_need_a_sigv4_header() {
    let s = start(&[]);
    let url = format!("{}/items/42", s.url);
    let r = send("POST", &url, &[], Vec::new()).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), serde_json::json!({"message": "Forbidden"}));
    let r = send("POST", &url, &[("authorization", SIGV4)], Vec::new()).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["pathParameters"]["id"], "42");
    assert_eq!(v["authorizer"]["iam"]["accessKey"], "AKIDLOCAL");

    let off = start(&[("LOCAL_IAM", "off")]);
    let r = off.call("POST", "/items/1", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn lambda_authorizer_routes() {
    let s = start(&[]);
    let url = format!("{}/me", s.url);
    let r = send("GET", &url, &[], Vec::new()).await;
    assert_eq!(r.status, 401, "no identity source: not invoked");
    let r = send("GET", &url, &[("authorization", "Bearer bad")], Vec::new()).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), serde_json::json!({"message": "Forbidden"}));
    let r = send(
        "GET",
        &url,
        &[("authorization", "Bearer good-u1")],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["authorizer"]["lambda"]["sub"], "u1");
}

#[tokio::test]
async fn crash_error_and_timeout_then_recovery() {
    let s = start(&[]);
    let r = s.get("/echo/crash").await;
    assert_eq!(r.status, 502);
    let r = s.get("/echo/ok").await;
    assert_eq!(r.status, 200, "a fresh instance after the crash");
    let r = s.get("/echo/fail").await;
    assert_eq!(r.status, 502);
    let r = s.get("/echo/slow?ms=3000").await;
    assert_eq!(r.status, 504, "the function's timeout is 1 s");
    let r = s.get("/echo/ok").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn reserved_concurrency_caps_instances() {
    let s = start(&[]);
    let url = format!("{}/echo/slow?ms=300", s.url);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { send("GET", &url, &[], Vec::new()).await })
        })
        .collect();
    let mut pids = HashSet::new();
    for c in calls {
        let r = c.await.expect("task");
        assert_eq!(r.status, 200);
        pids.insert(r.json()["pid"].as_u64().unwrap_or_default());
    }
    assert!(
        !pids.is_empty() && pids.len() <= 2,
        "reserved concurrency 2, saw {} processes",
        pids.len()
    );
    let r = s.get("/_local/functions").await;
    let v = r.json();
    let echo = v["functions"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == "echo"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(echo["maxConcurrency"], 2);
    // Configuration names only (tools read them), never credentials.
    assert!(echo["environment"]["TABLE_NAME"].is_string(), "{echo}");
    assert!(echo["environment"].get("AWS_SECRET_ACCESS_KEY").is_none());
}

#[tokio::test]
async fn raw_invoke_endpoint() {
    let s = start(&[]);
    let event = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events/scheduled-event.json"),
    )
    .expect("fixture");
    let r = s.invoke("authz", event).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["received"]["detail-type"], "Scheduled Event");
    let r = s.invoke("nope", b"{}".to_vec()).await;
    assert_eq!(r.status, 404);
    let r = s.invoke("authz", b"not json".to_vec()).await;
    assert_eq!(r.status, 400);
    // echo is an HTTP function: a non-HTTP event is a function error, reported like Lambda's Invoke.
    let r = s.invoke("echo", b"{}".to_vec()).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.contains_key("x-amz-function-error"));
}

#[tokio::test]
async fn sigterm_stops_function_processes() {
    let s = start(&[]);
    let r = s.get("/echo/ok").await;
    let pid = r.json()["pid"].as_u64().unwrap_or_default() as i32;
    assert!(pid > 0);
    // SAFETY: kill(pid, 0) only checks that the process exists.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0);
    drop(s); // SIGTERM, waits for exit
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: as above.
    while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    assert_ne!(
        unsafe { libc::kill(pid, 0) },
        0,
        "function process {pid} still alive"
    );
}
