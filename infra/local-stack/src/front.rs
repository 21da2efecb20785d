//! The local HTTP API: matches requests against the template's routes, applies the route's auth, invokes
//! the function through the Runtime API emulator with a payload 2.0 event and maps its answer back.
//!
//! Extra endpoints under `/_local/` (not in AWS): `POST /_local/invoke/{function}` invokes any function with
//! a raw JSON event (Lambda `Invoke` semantics), `GET /_local/functions` lists functions and routes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::event::{self, AuthorizerDecision, IncomingRequest, RequestMeta};
use crate::routes::Router as RouteTable;
use crate::runtime::{InvokeError, Pool};
use crate::template::{AuthKind, AuthorizerSpec};

/// API Gateway's request body limit (10 MB).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How `AWS_IAM` routes are checked locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamMode {
    /// A request needs an `Authorization: AWS4-HMAC-SHA256 ...` header (the signature is NOT verified).
    RequireSigV4Header,
    /// No check at all (`LOCAL_IAM=off`).
    Off,
}

/// Everything the front needs.
#[derive(Debug)]
pub struct Front {
    /// The routes.
    pub routes: RouteTable,
    /// Function pools by function (binary) name.
    pub pools: BTreeMap<String, Arc<Pool>>,
    /// Lambda authorizers by name.
    pub authorizers: BTreeMap<String, AuthorizerSpec>,
    /// IAM check mode.
    pub iam: IamMode,
    /// Region for ARNs.
    pub region: String,
}

fn message(status: StatusCode, msg: &str) -> Response {
    json_response(status, json!({ "message": msg }))
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", HeaderValue::from_static("application/json"))],
        v.to_string(),
    )
        .into_response()
}

fn with_request_id(mut resp: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    resp
}

/// Handles every request to the front (an axum fallback handler).
pub async fn handle(
    State(front): State<Arc<Front>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let resp = handle_inner(&front, peer, req, &request_id).await;
    with_request_id(resp, &request_id)
}

async fn handle_inner(front: &Front, peer: SocketAddr, req: Request, request_id: &str) -> Response {
    let (parts, body) = req.into_parts();
    // Read (up to the limit) before answering 413, so that the client sees the answer rather than a reset.
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let path = parts.uri.path().to_string();
    if let Some(rest) = path.strip_prefix("/_local/") {
        return local_endpoint(front, parts.method.as_str(), rest, body).await;
    }
    let incoming = IncomingRequest {
        method: parts.method.as_str().to_string(),
        raw_path: path.clone(),
        raw_query: parts.uri.query().unwrap_or_default().to_string(),
        headers: header_pairs(&parts.headers),
        body: body.to_vec(),
        source_ip: peer.ip().to_string(),
        protocol: format!("{:?}", parts.version),
    };
    let Some(m) = front.routes.find(&incoming.method, &path) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let meta = RequestMeta {
        request_id: request_id.to_string(),
        time: OffsetDateTime::now_utc(),
        domain_name: parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string(),
        region: front.region.clone(),
    };
    let authorizer = match &m.route.auth {
        AuthKind::None | AuthKind::Jwt(_) => None,
        AuthKind::Iam => match front.iam {
            IamMode::Off => None,
            IamMode::RequireSigV4Header => {
                let auth = parts
                    .headers
                    .get("authorization")
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| h.starts_with("AWS4-HMAC-SHA256"));
                match auth {
                    Some(a) => Some(event::iam_context(a)),
                    None => return message(StatusCode::FORBIDDEN, "Forbidden"),
                }
            }
        },
        AuthKind::Lambda(name) => {
            let Some(spec) = front.authorizers.get(name) else {
                eprintln!(
                    "[local-stack] route {}: unknown authorizer {name}",
                    m.route.route_key()
                );
                return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            };
            let Some(identity) =
                event::identity_source(&incoming, &spec.identity_headers, &spec.identity_query)
            else {
                return message(StatusCode::UNAUTHORIZED, "Unauthorized");
            };
            let ev = event::authorizer_event(&incoming, &m, &meta, &identity);
            let Some(pool) = front.pools.get(&spec.function) else {
                return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            };
            let answer = match pool.invoke(Bytes::from(ev.to_string())).await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("[local-stack] authorizer {name} failed: {e}");
                    return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                }
            };
            match event::authorizer_decision(&answer, spec.simple_responses) {
                Ok(AuthorizerDecision::Allow(ctx)) => Some(json!({ "lambda": ctx })),
                Ok(AuthorizerDecision::Deny) => return message(StatusCode::FORBIDDEN, "Forbidden"),
                Err(e) => {
                    eprintln!("[local-stack] authorizer {name}: {e}");
                    return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                }
            }
        }
    };
    let ev = event::http_event(&incoming, &m, &meta, authorizer);
    let Some(pool) = front.pools.get(&m.route.function) else {
        eprintln!(
            "[local-stack] route {} points at unknown function {}",
            m.route.route_key(),
            m.route.function
        );
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    match pool.invoke(Bytes::from(ev.to_string())).await {
        Ok(payload) => match event::map_response(&payload) {
            Ok(mapped) => build_response(mapped),
            Err(e) => {
                eprintln!(
                    "[local-stack] {}: malformed response: {e}",
                    m.route.function
                );
                message(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }
        },
        Err(e) => invoke_error_response(&m.route.function, &e),
    }
}

fn invoke_error_response(function: &str, e: &InvokeError) -> Response {
    eprintln!("[local-stack] {function}: {e}");
    match e {
        InvokeError::Throttled(_) => message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        InvokeError::Timeout(_) => {
            message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
        }
        InvokeError::MissingBinary(path) => json_response(
            StatusCode::BAD_GATEWAY,
            json!({
                "message": "Internal Server Error",
                "localStack": format!("function {function} is not built ({path})"),
            }),
        ),
        _ => message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
    }
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

fn build_response(mapped: event::MappedResponse) -> Response {
    let mut resp = Response::new(Body::from(mapped.body));
    *resp.status_mut() = StatusCode::from_u16(mapped.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    for (k, v) in mapped.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
            h.append(k, v);
        }
    }
    resp
}

async fn local_endpoint(front: &Front, method: &str, rest: &str, body: Bytes) -> Response {
    match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
        ("POST", ["invoke", name]) => {
            let pool = front
                .pools
                .values()
                .find(|p| p.config().name == *name)
                .or_else(|| front.pools.get(*name));
            let Some(pool) = pool else {
                return json_response(
                    StatusCode::NOT_FOUND,
                    json!({"errorType":"ResourceNotFoundException","errorMessage":format!("function {name} not found")}),
                );
            };
            let payload = if body.is_empty() {
                Bytes::from_static(b"{}")
            } else {
                body
            };
            if serde_json::from_slice::<Value>(&payload).is_err() {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"errorType":"InvalidRequestContentException","errorMessage":"the event must be JSON"}),
                );
            }
            match pool.invoke(payload).await {
                Ok(out) => (
                    StatusCode::OK,
                    [("content-type", HeaderValue::from_static("application/json"))],
                    out,
                )
                    .into_response(),
                Err(e) => raw_invoke_error(name, e),
            }
        }
        ("GET", ["functions"]) => {
            let functions: Vec<Value> = front
                .pools
                .values()
                .map(|p| {
                    let c = p.config();
                    json!({
                        "name": c.name,
                        "binary": c.binary.display().to_string(),
                        "built": c.binary.is_file(),
                        "timeoutSeconds": c.timeout.as_secs_f64(),
                        "maxConcurrency": c.max_concurrency,
                        "instances": p.instances(),
                        "environment": public_environment(&c.env),
                    })
                })
                .collect();
            let routes: Vec<Value> = front
                .routes
                .routes()
                .iter()
                .map(|r| {
                    let auth = match &r.auth {
                        AuthKind::None => "NONE".to_string(),
                        AuthKind::Iam => "AWS_IAM".to_string(),
                        AuthKind::Lambda(n) | AuthKind::Jwt(n) => n.clone(),
                    };
                    json!({"routeKey": r.route_key(), "function": r.function, "auth": auth})
                })
                .collect();
            json_response(
                StatusCode::OK,
                json!({"functions": functions, "routes": routes}),
            )
        }
        _ => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Lambda `Invoke` semantics: a function error is 200 with `X-Amz-Function-Error`.
fn raw_invoke_error(name: &str, e: InvokeError) -> Response {
    eprintln!("[local-stack] invoke {name}: {e}");
    let unhandled = |error_type: &str, msg: String| {
        let mut r = json_response(
            StatusCode::OK,
            json!({"errorType": error_type, "errorMessage": msg}),
        );
        r.headers_mut().insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
        r
    };
    match e {
        InvokeError::Function { payload, .. } => {
            let mut r = (
                StatusCode::OK,
                [("content-type", HeaderValue::from_static("application/json"))],
                payload,
            )
                .into_response();
            r.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            r
        }
        InvokeError::Crashed(why) => unhandled("Runtime.ExitError", why),
        InvokeError::Timeout(_) => unhandled("Sandbox.Timedout", e.to_string()),
        InvokeError::ResponseTooLarge => unhandled("Function.ResponseSizeTooLarge", e.to_string()),
        InvokeError::Throttled(_) => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"errorType":"TooManyRequestsException","errorMessage": e.to_string()}),
        ),
        InvokeError::MissingBinary(_) | InvokeError::Spawn(_) => json_response(
            StatusCode::BAD_GATEWAY,
            json!({"errorType":"ServiceException","errorMessage": e.to_string()}),
        ),
    }
}

/// The names of a function's environment that tools may read (`rewardsctl doctor` finds the table,
/// the keys secret, the gateway and the emulator through them): configuration only, never a secret
/// value (the secrets stay in Secrets Manager; credentials are left out).
const PUBLIC_ENV: [&str; 8] = [
    "TABLE_NAME",
    "ALIPAY_KEYS_SECRET_ID",
    "SESSION_KEY_SECRET_ID",
    "ALIPAY_APP_ID",
    "ALIPAY_GATEWAY_URL",
    "PASS_CALLBACK_URL",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
];

fn public_environment(env: &[(String, String)]) -> Value {
    let map: serde_json::Map<String, Value> = env
        .iter()
        .filter(|(k, _)| PUBLIC_ENV.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(map)
}
