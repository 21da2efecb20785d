//! A tiny Lambda authorizer (REQUEST, payload 2.0, simple responses) for local-stack's integration test:
//! `Authorization: Bearer good-<user>` is allowed with context `{"sub": "<user>"}`, anything else denied.
//! Invoked with any other event (for example a scheduled event), it answers `{"received": <event>}`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handle(ev: LambdaEvent<Value>) -> Result<Value, Error> {
    let (event, _ctx) = ev.into_parts();
    if event.get("type").and_then(Value::as_str) != Some("REQUEST") {
        return Ok(json!({ "received": event }));
    }
    let token = event
        .pointer("/headers/authorization")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match token.strip_prefix("Bearer good-") {
        Some(user) => Ok(json!({"isAuthorized": true, "context": {"sub": user}})),
        None => Ok(json!({"isAuthorized": false})),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
