//! # lambda-http-kit
//!
//! What every thin handler shares, so each function's `main.rs` is parse → domain → map error:
//! [`Problem`] (RFC 9457 problem details with a stable `code`), [`json_body`] with a size bound,
//! path and query parameters, [`json`] responses, [`init_logging`] (JSON lines carrying the Lambda
//! request id), [`metric`] (CloudWatch embedded metric format) and [`deadline`] (every answer before
//! the Lambda deadline, in our format).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod deadline;
pub mod session;

use lambda_http::http::header::{CONTENT_TYPE, RETRY_AFTER};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use rewards_core::{DomainError, ErrorKind};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest request body any route accepts (the pass.json of a template is the biggest).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A problem-details error answer: `application/problem+json` with a stable machine `code`.
///
/// Serialised as RFC 9457 members `type` (`urn:problem:<code>`), `title` (the status' reason),
/// `status`, `detail`, plus `code` and any extension members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Stable, documented, machine-readable code, e.g. `template_not_found`.
    pub code: String,
    /// What went wrong in this request, never a secret or an internal cause.
    pub detail: String,
    /// Extension members (RFC 9457 §3.2), e.g. `success: false` for the claim component.
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// `Retry-After` in seconds (a 503 without one gets [`DEFAULT_RETRY_AFTER_SECS`]).
    pub retry_after: Option<u32>,
}

/// `Retry-After` of a 503 that names none: every 503 of ours is worth retrying with the same request.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 2;

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let title = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let extra = self.extensions.as_deref();
        let mut map = serializer.serialize_map(Some(5 + extra.map_or(0, |e| e.len())))?;
        map.serialize_entry("type", &format!("urn:problem:{}", self.code))?;
        map.serialize_entry("title", title)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("detail", &self.detail)?;
        map.serialize_entry("code", &self.code)?;
        for (k, v) in extra.into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Problem {
    /// A problem with this status, code and detail.
    pub fn new(status: u16, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
            extensions: None,
            retry_after: None,
        }
    }

    /// Sets `Retry-After` (seconds).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value);
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

    /// 404 for a route key this function does not serve (template.yaml routed it here by mistake).
    pub fn no_route(route_key: &str) -> Self {
        Self::not_found("route_not_found", format!("no route {route_key}"))
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
        let retry_after = self
            .retry_after
            .or((self.status == 503).then_some(DEFAULT_RETRY_AFTER_SECS));
        let mut builder = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, "application/problem+json");
        if let Some(seconds) = retry_after {
            builder = builder.header(RETRY_AFTER, seconds);
        }
        builder
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// A domain error as problem+json, so handlers end in `?`: 4xx carry the error's own text and
/// extensions; 5xx are opaque, with the cause chain logged.
impl<E: DomainError> From<E> for Problem {
    fn from(err: E) -> Self {
        Problem::from_domain(&err)
    }
}

impl Problem {
    /// [`From`] for a borrowed domain error.
    pub fn from_domain<E: DomainError + ?Sized>(err: &E) -> Self {
        let status = err.kind().http_status();
        match err.kind() {
            ErrorKind::Internal | ErrorKind::Unavailable => {
                let mut chain = err.to_string();
                let mut source = err.source();
                while let Some(s) = source {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    source = s.source();
                }
                tracing::error!(code = err.code(), cause = %chain, "request failed");
                let detail = if status == 503 {
                    "a dependency is unavailable; it is safe to retry with the same request"
                } else {
                    "the request could not be completed; it is safe to retry"
                };
                Problem::new(status, err.code(), detail)
            }
            _ => {
                let p = err.extensions().into_iter().fold(
                    Problem::new(status, err.code(), err.to_string()),
                    |p, (k, v)| p.with(k, v),
                );
                match err.retry_after() {
                    // Whole seconds, rounded up: never earlier than the domain asked.
                    Some(wait) => {
                        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                        p.with_retry_after(u32::try_from(secs.max(1)).unwrap_or(u32::MAX))
                    }
                    None => p,
                }
            }
        }
    }
}

impl From<Problem> for Response<Body> {
    fn from(p: Problem) -> Self {
        p.into_response()
    }
}

/// A response from JSON text already made (e.g. a stored idempotent answer): `application/json`, or
/// `application/problem+json` for a 4xx/5xx, with the default `Retry-After` on a 503.
pub fn json_text(status: u16, body: String) -> Response<Body> {
    let content_type = if status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut builder = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type);
    if status == 503 {
        builder = builder.header(RETRY_AFTER, DEFAULT_RETRY_AFTER_SECS);
    }
    builder
        .body(Body::Text(body))
        .unwrap_or_else(|_| Problem::internal().into_response())
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

/// The name of the span `lambda_runtime` opens around each invocation (fields `requestId`, ...).
const INVOKE_SPAN: &str = "Lambda runtime invoke";
/// The target of that span: always enabled, so every line logged inside an invocation carries the
/// request id whatever `RUST_LOG` says (`RUST_LOG=warn` would otherwise disable the info-level span).
const INVOKE_SPAN_DIRECTIVE: &str = "lambda_runtime::layers::trace=info";

/// JSON log lines on stdout, each carrying the current Lambda request id (the runtime opens a span with
/// `requestId` per invocation; it is logged as `span.requestId`), level from `RUST_LOG` (default `info`).
/// Never log a secret, a key, a token or an auth code: the log-scan test (`tests/security`) fails on
/// key material in any function's output.
pub fn init_logging() {
    use tracing_subscriber::prelude::*;
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if let Ok(d) = INVOKE_SPAN_DIRECTIVE.parse() {
        filter = filter.add_directive(d);
    }
    let format = tracing_subscriber::fmt::format()
        .json()
        .with_current_span(true)
        // The whole list, so a line written inside a nested span (the money path's `payout` span)
        // still carries the invocation span's request id.
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .without_time();
    let fmt = tracing_subscriber::fmt::layer()
        .event_format(WithRequestId(format))
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(RequestIdLayer)
        .with(fmt)
        .try_init();
}

/// The JSON line format with the invocation's `requestId` at the top level whenever the current span
/// (a handler's or a service's own) is not the runtime's invoke span, which carries it already.
struct WithRequestId<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithRequestId<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        match (current_request_id(), line.strip_prefix('{')) {
            (Some(id), Some(rest)) if !line.contains("\"requestId\"") => {
                let id = serde_json::to_string(&id).map_err(|_| std::fmt::Error)?;
                let sep = if rest.starts_with('}') { "" } else { "," };
                write!(writer, "{{\"requestId\":{id}{sep}{rest}")
            }
            _ => writer.write_str(&line),
        }
    }
}

std::thread_local! {
    static REQUEST_IDS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The request id of the invocation running on this thread, if any (set while the runtime's invoke
/// span is entered, which it is whenever the handler's future is polled).
pub fn current_request_id() -> Option<String> {
    REQUEST_IDS.with(|ids| ids.borrow().last().cloned())
}

struct RequestId(String);

/// Keeps [`current_request_id`] in step with the runtime's invoke span, for lines not written through
/// `tracing` (the EMF metric lines).
struct RequestIdLayer;

impl<S> tracing_subscriber::Layer<S> for RequestIdLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != INVOKE_SPAN {
            return;
        }
        struct Visit(Option<String>);
        impl tracing::field::Visit for Visit {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "requestId" {
                    self.0 = Some(value.to_string());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "requestId" && self.0.is_none() {
                    self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
                }
            }
        }
        let mut visit = Visit(None);
        attrs.record(&mut visit);
        if let (Some(request_id), Some(span)) = (visit.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(RequestId(r)) = span.extensions().get::<RequestId>() {
                REQUEST_IDS.with(|ids| ids.borrow_mut().push(r.clone()));
            }
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if span.extensions().get::<RequestId>().is_some() {
                REQUEST_IDS.with(|ids| {
                    ids.borrow_mut().pop();
                });
            }
        }
    }
}

/// One CloudWatch embedded-metric-format line (a count), printed on stdout where the Lambda log agent
/// turns it into a metric `namespace/name` with the given dimensions. The line also carries the
/// invocation's `requestId` (a plain property: searchable in the logs, not a dimension).
pub fn metric(namespace: &str, name: &str, value: f64, dimensions: &[(&str, &str)]) {
    let mut line = metric_value(namespace, name, value, dimensions, now_millis());
    if let (Some(id), Some(o)) = (current_request_id(), line.as_object_mut()) {
        o.insert("requestId".into(), serde_json::Value::String(id));
    }
    println!("{line}");
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn metric_value(
    namespace: &str,
    name: &str,
    value: f64,
    dimensions: &[(&str, &str)],
    ts: u128,
) -> serde_json::Value {
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
    serde_json::Value::Object(root)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("the widget is invalid")]
        Invalid,
        #[error("the store said: secret host 10.0.0.1")]
        Down,
    }

    impl DomainError for Sample {
        fn code(&self) -> &'static str {
            match self {
                Sample::Invalid => "invalid_widget",
                Sample::Down => "store_unavailable",
            }
        }
        fn kind(&self) -> ErrorKind {
            match self {
                Sample::Invalid => ErrorKind::BadInput,
                Sample::Down => ErrorKind::Unavailable,
            }
        }
        fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
            vec![("errors", serde_json::json!(["/widget"]))]
        }
    }

    #[test]
    fn a_domain_error_becomes_a_problem_with_question_mark() {
        fn handler(fail: Sample) -> Result<(), Problem> {
            Err(fail)?
        }
        let bad = handler(Sample::Invalid).unwrap_err();
        assert_eq!((bad.status, bad.code.as_str()), (400, "invalid_widget"));
        assert_eq!(bad.detail, "the widget is invalid");
        let body = serde_json::to_value(&bad).unwrap();
        assert_eq!(body["errors"], serde_json::json!(["/widget"]));
        // A 5xx keeps its cause out of the answer (and out of the extensions).
        let down = handler(Sample::Down).unwrap_err();
        assert_eq!(
            (down.status, down.code.as_str()),
            (503, "store_unavailable")
        );
        assert!(!down.detail.contains("10.0.0.1"), "{}", down.detail);
        assert!(down.extensions.is_none());
        assert_eq!(down.into_response().headers()["retry-after"], "2");
    }

    #[test]
    fn a_domain_wait_becomes_retry_after_in_whole_seconds_rounded_up() {
        #[derive(Debug, thiserror::Error)]
        #[error("too many failed claims")]
        struct Throttled(std::time::Duration);
        impl DomainError for Throttled {
            fn code(&self) -> &'static str {
                "too_many_failed_claims"
            }
            fn kind(&self) -> ErrorKind {
                ErrorKind::TooManyRequests
            }
            fn retry_after(&self) -> Option<std::time::Duration> {
                Some(self.0)
            }
        }
        for (wait_ms, header) in [(1_200, "2"), (3_000, "3"), (10, "1")] {
            let p = Problem::from(Throttled(std::time::Duration::from_millis(wait_ms)));
            assert_eq!(p.status, 429);
            assert_eq!(
                p.into_response().headers()[RETRY_AFTER],
                header,
                "{wait_ms} ms"
            );
        }
    }

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
        assert!(resp.headers().get(RETRY_AFTER).is_none());
    }

    #[test]
    fn a_503_always_says_when_to_retry() {
        let resp = Problem::new(503, "store_unavailable", "x").into_response();
        assert_eq!(resp.headers()[RETRY_AFTER], "2");
        let resp = Problem::new(429, "too_many", "x")
            .with_retry_after(60)
            .into_response();
        assert_eq!(resp.headers()[RETRY_AFTER], "60");
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
        let v = metric_value("Rewards", "EnvelopeSent", 1.0, &[("Outcome", "sent")], 5);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "EnvelopeSent"
        );
        assert_eq!(v["Outcome"], "sent");
        assert_eq!(v["EnvelopeSent"], 1.0);
    }

    #[test]
    fn the_invoke_span_sets_the_request_id_whatever_the_level() {
        use tracing_subscriber::prelude::*;
        let filter = tracing_subscriber::EnvFilter::new("warn")
            .add_directive(INVOKE_SPAN_DIRECTIVE.parse().unwrap());
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(RequestIdLayer);
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(current_request_id(), None);
            // The same span lambda_runtime opens (name and target).
            let span = tracing::span!(
                target: "lambda_runtime::layers::trace",
                tracing::Level::INFO,
                "Lambda runtime invoke",
                requestId = "req-1"
            );
            span.in_scope(|| {
                assert_eq!(current_request_id().as_deref(), Some("req-1"));
                let other = tracing::warn_span!("inner");
                other.in_scope(|| assert_eq!(current_request_id().as_deref(), Some("req-1")));
            });
            assert_eq!(current_request_id(), None);
        });
    }
}
