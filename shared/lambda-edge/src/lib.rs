//! # lambda-edge
//!
//! What every thin handler shares, so each function's `main.rs` is parse → domain → map error:
//! [`Problem`] (RFC 9457 problem details with a stable `code`), [`json_body`] with a size bound,
//! path and query parameters, [`json`] responses, [`init_logging`] (JSON lines carrying the Lambda
//! request id) and [`metric`] (CloudWatch embedded metric format).
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod session;

use lambda_http::http::{header::CONTENT_TYPE, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest request body any route accepts (the pass.json of a template is the biggest).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A problem-details error answer: `application/problem+json` with a stable machine `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// Stable, documented, machine-readable code, e.g. `template_not_found`.
    pub code: String,
    /// Short human summary (the status' reason).
    pub title: String,
    /// What went wrong in this request, never a secret or an internal cause.
    pub detail: String,
    /// `about:blank`-style type URI built from the code.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// HTTP status, repeated in the body as RFC 9457 does.
    #[serde(rename = "status")]
    pub status_field: u16,
    /// Extension members (RFC 9457 §3.2), e.g. `success: false` for the claim component.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem with this status, code and detail.
    pub fn new(status: u16, code: impl Into<String>, detail: impl Into<String>) -> Self {
        let code = code.into();
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_string();
        Self {
            status,
            type_uri: format!("urn:problem:{code}"),
            code,
            title,
            detail: detail.into(),
            status_field: status,
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_string(), value);
        self
    }

    /// 400 with a code.
    pub fn bad_request(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(400, code, detail)
    }

    /// 404 with a code.
    pub fn not_found(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(404, code, detail)
    }

    /// 500 with an opaque body: the cause goes to the log, never to the caller.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "the request could not be completed; it is safe to retry",
        )
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&self).unwrap_or_else(|_| "{}".to_string());
        Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, "application/problem+json")
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

impl From<Problem> for Response<Body> {
    fn from(p: Problem) -> Self {
        p.into_response()
    }
}

/// A JSON response with a status.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty)),
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            Problem::internal().into_response()
        }
    }
}

/// The raw body bytes, refused with 413 when over `MAX_BODY_BYTES`.
///
/// # Errors
/// `413 body_too_large`.
pub fn body_bytes(req: &Request) -> Result<&[u8], Problem> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            "body_too_large",
            format!("request body is over {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// Parses a JSON body into `T` (bounded size).
///
/// # Errors
/// `413 body_too_large`, `400 body_missing` or `400 body_invalid` with serde's message (which names
/// the field and position, never echoes values beyond that).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    let bytes = body_bytes(req)?;
    if bytes.is_empty() {
        return Err(Problem::bad_request(
            "body_missing",
            "a JSON body is required",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request("body_invalid", format!("the JSON body is invalid: {e}")))
}

/// A path parameter (`{name}` in the route).
///
/// # Errors
/// `400 path_parameter_missing`.
pub fn path_param(req: &Request, name: &str) -> Result<String, Problem> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
        .ok_or_else(|| {
            Problem::bad_request(
                "path_parameter_missing",
                format!("path parameter `{name}` is missing"),
            )
        })
}

/// A query parameter, if present.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_string)
}

/// A header value as text, if present and valid.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The route key of an HTTP API request (`"POST /templates"`), as API Gateway matched it.
pub fn route_key(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => format!("{} {}", req.method(), req.uri().path()),
    }
}

/// A string from the Lambda authorizer's context (`requestContext.authorizer.lambda.<name>`).
pub fn authorizer_value(req: &Request, name: &str) -> Option<String> {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.fields.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// Splits a raw Lambda event into an HTTP API request or another event (schedules, direct invokes),
/// for functions that serve both.
pub fn http_or_event(event: serde_json::Value) -> Result<Request, serde_json::Value> {
    let is_http = event.get("requestContext").is_some() && event.get("rawPath").is_some();
    if !is_http {
        return Err(event);
    }
    match serde_json::from_value::<lambda_http::request::LambdaRequest>(event.clone()) {
        Ok(req) => Ok(req.into()),
        Err(_) => Err(event),
    }
}

/// An HTTP response as the API Gateway payload 2.0 response JSON (for functions that read raw
/// events, see [`http_or_event`]).
pub fn response_event(resp: Response<Body>) -> serde_json::Value {
    let (parts, body) = resp.into_parts();
    let mut headers = serde_json::Map::new();
    for (k, v) in &parts.headers {
        if let Ok(v) = v.to_str() {
            headers.insert(
                k.as_str().to_string(),
                serde_json::Value::String(v.to_string()),
            );
        }
    }
    let (body, b64) = match body {
        Body::Empty => (String::new(), false),
        Body::Text(t) => (t, false),
        Body::Binary(b) => {
            use base64::Engine as _;
            (base64::engine::general_purpose::STANDARD.encode(b), true)
        }
        _ => (String::new(), false),
    };
    serde_json::json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": b64,
    })
}

/// JSON log lines on stdout, each carrying the current Lambda request id (the runtime opens a span with
/// `requestId` per invocation), level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
}

/// One CloudWatch embedded-metric-format line (a count), printed on stdout where the Lambda log agent
/// turns it into a metric `namespace/name` with the given dimensions.
pub fn metric(namespace: &str, name: &str, value: f64, dimensions: &[(&str, &str)]) {
    println!(
        "{}",
        metric_line(namespace, name, value, dimensions, now_millis())
    );
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn metric_line(
    namespace: &str,
    name: &str,
    value: f64,
    dimensions: &[(&str, &str)],
    ts: u128,
) -> String {
    let mut root = serde_json::Map::new();
    let dims: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    root.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": ts as u64,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dims],
                "Metrics": [{"Name": name, "Unit": "Count"}]
            }]
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).into(), serde_json::Value::String((*v).into()));
    }
    root.insert(name.into(), serde_json::json!(value));
    serde_json::Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn problems_are_problem_json_with_a_code() {
        let resp = Problem::not_found("template_not_found", "no such template").into_response();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/problem+json");
        let Body::Text(body) = resp.body() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "template_not_found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["title"], "Not Found");
    }

    #[test]
    fn oversized_and_invalid_bodies_are_refused() {
        let big = Request::new(Body::Text("x".repeat(MAX_BODY_BYTES + 1)));
        assert_eq!(
            json_body::<serde_json::Value>(&big).unwrap_err().code,
            "body_too_large"
        );
        let bad = Request::new(Body::Text("{".into()));
        assert_eq!(
            json_body::<serde_json::Value>(&bad).unwrap_err().code,
            "body_invalid"
        );
        let empty = Request::new(Body::Empty);
        assert_eq!(
            json_body::<serde_json::Value>(&empty).unwrap_err().code,
            "body_missing"
        );
    }

    #[test]
    fn metric_lines_follow_emf() {
        let line = metric_line("Rewards", "EnvelopeSent", 1.0, &[("Outcome", "sent")], 5);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "EnvelopeSent"
        );
        assert_eq!(v["Outcome"], "sent");
        assert_eq!(v["EnvelopeSent"], 1.0);
    }
}
