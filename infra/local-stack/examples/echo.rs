//! A tiny `lambda_http` function for local-stack's integration test: it answers with what it received.
//!
//! - `GET /echo/crash`: the process exits (the front answers 502, the next call gets a fresh instance);
//! - `GET /echo/sleep?ms=N`: sleeps N ms first (timeouts and concurrency);
//! - `GET /echo/fail`: returns a handler error (posted to `/invocation/{id}/error`).

use lambda_http::{run, service_fn, Body, Error, Request, RequestExt, Response};

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    let path = req.uri().path().to_string();
    let query = req.query_string_parameters();
    if path.ends_with("/crash") {
        std::process::exit(3);
    }
    if path.ends_with("/fail") {
        return Err("asked to fail".into());
    }
    if let Some(ms) = query.first("ms").and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let ctx = req.request_context_ref();
    let authorizer = match ctx {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => {
            serde_json::to_value(&c.authorizer).unwrap_or_default()
        }
        _ => serde_json::Value::Null,
    };
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                serde_json::Value::String(v.to_str().unwrap_or_default().to_string()),
            )
        })
        .collect();
    let body = match req.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => format!("{} bytes", b.len()),
        Body::Empty => String::new(),
        _ => String::new(),
    };
    let out = serde_json::json!({
        "method": req.method().as_str(),
        "path": path,
        "query": query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
        "pathParameters": req.path_parameters().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
        "headers": headers,
        "body": body,
        "authorizer": authorizer,
        "pid": std::process::id(),
        "tableName": std::env::var("TABLE_NAME").unwrap_or_default(),
        "functionName": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
    });
    let resp = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("set-cookie", "a=1")
        .body(Body::Text(out.to_string()))?;
    Ok(resp)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
