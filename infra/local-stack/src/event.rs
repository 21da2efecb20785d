//! API Gateway HTTP API payload format 2.0: the request event a function receives, the REQUEST event a
//! Lambda authorizer receives, and the mapping of a function's answer back to an HTTP response.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::routes::RouteMatch;
use crate::template::LOCAL_ACCOUNT_ID;

/// The local API id (`requestContext.apiId`).
pub const LOCAL_API_ID: &str = "local";

/// An incoming HTTP request, reduced to what the event needs.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// Method as received (`GET`).
    pub method: String,
    /// The raw path, still percent-encoded.
    pub raw_path: String,
    /// The raw query string without `?` (may be empty).
    pub raw_query: String,
    /// Headers in arrival order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The client's IP address.
    pub source_ip: String,
    /// `HTTP/1.1` and so on.
    pub protocol: String,
}

/// Per-request values of `requestContext`.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// `requestContext.requestId`.
    pub request_id: String,
    /// The arrival time.
    pub time: OffsetDateTime,
    /// `requestContext.domainName` (the Host header, or `127.0.0.1`).
    pub domain_name: String,
    /// The region used in ARNs.
    pub region: String,
}

fn header<'a>(req: &'a IncomingRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Headers lower-cased, repeated headers joined with `,`, `cookie` left out (it goes to `cookies`).
fn headers_map(req: &IncomingRequest) -> Map<String, Value> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &req.headers {
        let k = k.to_ascii_lowercase();
        if k == "cookie" {
            continue;
        }
        out.entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(v);
            })
            .or_insert_with(|| v.clone());
    }
    out.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn cookies(req: &IncomingRequest) -> Vec<Value> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| Value::String(c.to_string()))
        .collect()
}

/// Query parameters decoded, repeated names joined with `,` (as HTTP API does).
fn query_map(raw: &str) -> Map<String, Value> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded_pairs(raw) {
        out.entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn form_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether a body with this content type goes to the function as text (else base64).
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/problem+json"
                | ""
        )
}

/// `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`.
pub fn clf_time(t: OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn epoch_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn request_context(
    req: &IncomingRequest,
    route_key: &str,
    meta: &RequestMeta,
    authorizer: Option<Value>,
) -> Value {
    let domain_prefix = meta
        .domain_name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut ctx = json!({
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": meta.domain_name,
        "domainPrefix": domain_prefix,
        "http": {
            "method": req.method.to_ascii_uppercase(),
            "path": req.raw_path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": header(req, "user-agent").unwrap_or_default(),
        },
        "requestId": meta.request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": clf_time(meta.time),
        "timeEpoch": epoch_ms(meta.time),
    });
    if let (Some(a), Some(obj)) = (authorizer, ctx.as_object_mut()) {
        obj.insert("authorizer".into(), a);
    }
    ctx
}

/// Common parts of the request and the authorizer event.
fn base_event(req: &IncomingRequest, m: &RouteMatch<'_>) -> Map<String, Value> {
    let mut ev = Map::new();
    ev.insert("version".into(), json!("2.0"));
    ev.insert("routeKey".into(), json!(m.route.route_key()));
    ev.insert("rawPath".into(), json!(req.raw_path));
    ev.insert("rawQueryString".into(), json!(req.raw_query));
    let cookies = cookies(req);
    if !cookies.is_empty() {
        ev.insert("cookies".into(), Value::Array(cookies));
    }
    ev.insert("headers".into(), Value::Object(headers_map(req)));
    let query = query_map(&req.raw_query);
    if !query.is_empty() {
        ev.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !m.path_params.is_empty() {
        let params: Map<String, Value> = m
            .path_params
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        ev.insert("pathParameters".into(), Value::Object(params));
    }
    ev
}

/// The payload 2.0 event for the route's function. `authorizer` becomes `requestContext.authorizer`
/// (`{"lambda": {...}}` or `{"iam": {...}}`).
pub fn http_event(
    req: &IncomingRequest,
    m: &RouteMatch<'_>,
    meta: &RequestMeta,
    authorizer: Option<Value>,
) -> Value {
    let mut ev = base_event(req, m);
    ev.insert(
        "requestContext".into(),
        request_context(req, &m.route.route_key(), meta, authorizer),
    );
    if !req.body.is_empty() {
        let text = is_text(header(req, "content-type"))
            .then(|| std::str::from_utf8(&req.body).ok())
            .flatten();
        match text {
            Some(t) => {
                ev.insert("body".into(), json!(t));
                ev.insert("isBase64Encoded".into(), json!(false));
            }
            None => {
                ev.insert("body".into(), json!(B64.encode(&req.body)));
                ev.insert("isBase64Encoded".into(), json!(true));
            }
        }
    } else {
        ev.insert("isBase64Encoded".into(), json!(false));
    }
    Value::Object(ev)
}

/// The identity source values of a Lambda authorizer, or `None` when one is missing (API Gateway then
/// answers 401 without invoking the authorizer).
pub fn identity_source(
    req: &IncomingRequest,
    headers: &[String],
    query: &[String],
) -> Option<Vec<String>> {
    let q = query_map(&req.raw_query);
    let mut out = Vec::new();
    for h in headers {
        let v = header(req, h).filter(|v| !v.is_empty())?;
        out.push(v.to_string());
    }
    for name in query {
        let v = q
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())?;
        out.push(v.to_string());
    }
    Some(out)
}

/// The REQUEST authorizer event, payload format 2.0.
pub fn authorizer_event(
    req: &IncomingRequest,
    m: &RouteMatch<'_>,
    meta: &RequestMeta,
    identity: &[String],
) -> Value {
    let mut ev = base_event(req, m);
    ev.insert("type".into(), json!("REQUEST"));
    let arn_path = req.raw_path.trim_start_matches('/');
    ev.insert(
        "routeArn".into(),
        json!(format!(
            "arn:aws:execute-api:{}:{}:{}/$default/{}/{}",
            meta.region,
            LOCAL_ACCOUNT_ID,
            LOCAL_API_ID,
            req.method.to_ascii_uppercase(),
            arn_path
        )),
    );
    ev.insert("identitySource".into(), json!(identity));
    ev.insert(
        "requestContext".into(),
        request_context(req, &m.route.route_key(), meta, None),
    );
    Value::Object(ev)
}

/// What a simple-response authorizer decided.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizerDecision {
    /// Allowed, with the context that goes to `requestContext.authorizer.lambda`.
    Allow(Value),
    /// Denied (403).
    Deny,
}

/// Reads an authorizer's answer: the simple format `{"isAuthorized", "context"}`, or (when simple
/// responses are off) an IAM policy whose first statement's `Effect` decides.
pub fn authorizer_decision(payload: &[u8], simple: bool) -> Result<AuthorizerDecision, String> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("authorizer answer is not JSON: {e}"))?;
    let context = v.get("context").cloned().unwrap_or_else(|| json!({}));
    if simple {
        return match v.get("isAuthorized").and_then(Value::as_bool) {
            Some(true) => Ok(AuthorizerDecision::Allow(context)),
            Some(false) => Ok(AuthorizerDecision::Deny),
            None => Err("authorizer answer has no boolean isAuthorized".into()),
        };
    }
    let effect = v
        .pointer("/policyDocument/Statement/0/Effect")
        .and_then(Value::as_str)
        .ok_or("authorizer answer has no policyDocument")?;
    if effect.eq_ignore_ascii_case("allow") {
        Ok(AuthorizerDecision::Allow(context))
    } else {
        Ok(AuthorizerDecision::Deny)
    }
}

/// The `requestContext.authorizer.iam` block for a SigV4 request (not verified locally): the access key
/// from `Credential=<key>/...`.
pub fn iam_context(authorization: &str) -> Value {
    let key = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("LOCAL")
        .trim()
        .to_string();
    json!({
        "iam": {
            "accessKey": key,
            "accountId": LOCAL_ACCOUNT_ID,
            "callerId": key,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": format!("arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/local"),
            "userId": key,
        }
    })
}

/// An HTTP response built from a function's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedResponse {
    /// Status code.
    pub status: u16,
    /// Headers (`set-cookie` once per cookie).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Maps a function's answer as HTTP API (payload 2.0) does: an object with `statusCode` gives that status,
/// its `headers`/`multiValueHeaders`/`cookies` and its `body` (base64-decoded when `isBase64Encoded`); any
/// other JSON gives 200 `application/json` with that JSON (a string as-is) as the body. Not JSON at all is
/// an error (502 at the front).
pub fn map_response(payload: &[u8]) -> Result<MappedResponse, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| format!("function answer is not JSON: {e}"))?;
    let json_ct = ("content-type".to_string(), "application/json".to_string());
    let Some(obj) = v.as_object().filter(|o| o.contains_key("statusCode")) else {
        let body = match &v {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        return Ok(MappedResponse {
            status: 200,
            headers: vec![json_ct],
            body,
        });
    };
    let status = match obj.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))
    .ok_or("statusCode is not a valid HTTP status")?;
    let mut headers = Vec::new();
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    if let Some(h) = obj.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let Some(v) = scalar(v) {
                headers.push((k.to_ascii_lowercase(), v));
            }
        }
    }
    if let Some(h) = obj.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, vs) in h {
            let k = k.to_ascii_lowercase();
            if headers.iter().any(|(hk, _)| *hk == k) {
                continue; // already given as a single header
            }
            for v in vs.as_array().into_iter().flatten() {
                if let Some(v) = scalar(v) {
                    headers.push((k.clone(), v));
                }
            }
        }
    }
    for c in obj
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(c) = c.as_str() {
            headers.push(("set-cookie".to_string(), c.to_string()));
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            if obj.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                B64.decode(s)
                    .map_err(|e| format!("body is not valid base64: {e}"))?
            } else {
                s.clone().into_bytes()
            }
        }
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(MappedResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{AuthKind, RouteSpec};
    use time::macros::datetime;

    fn route() -> RouteSpec {
        RouteSpec {
            method: "GET".into(),
            path: "/users/{userId}/passes".into(),
            function: "tunnel-reader".into(),
            auth: AuthKind::None,
        }
    }

    fn req() -> IncomingRequest {
        IncomingRequest {
            method: "GET".into(),
            raw_path: "/users/u%201/passes".into(),
            raw_query: "a=1&a=2&b=x%20y&c".into(),
            headers: vec![
                ("Host".into(), "127.0.0.1:3000".into()),
                ("X-Multi".into(), "1".into()),
                ("x-multi".into(), "2".into()),
                ("Cookie".into(), "s=1; t=2".into()),
                ("User-Agent".into(), "curl/8".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: br#"{"k":1}"#.to_vec(),
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1".into(),
        }
    }

    /// `route` matched with these path parameters.
    fn matched<'r>(route: &'r RouteSpec, params: &[(&str, &str)]) -> RouteMatch<'r> {
        RouteMatch {
            route,
            path_params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn meta() -> RequestMeta {
        RequestMeta {
            request_id: "rid".into(),
            time: datetime!(2020-03-12 19:03:58 UTC),
            domain_name: "127.0.0.1:3000".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn builds_payload_v2() {
        let rs = route();
        let m = matched(&rs, &[("userId", "u 1")]);
        let ev = http_event(&req(), &m, &meta(), Some(json!({"lambda": {"sub": "u 1"}})));
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["routeKey"], "GET /users/{userId}/passes");
        assert_eq!(ev["rawPath"], "/users/u%201/passes");
        assert_eq!(ev["rawQueryString"], "a=1&a=2&b=x%20y&c");
        assert_eq!(ev["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(ev["headers"]["x-multi"], "1,2");
        assert_eq!(ev["headers"]["host"], "127.0.0.1:3000");
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["queryStringParameters"]["a"], "1,2");
        assert_eq!(ev["queryStringParameters"]["b"], "x y");
        assert_eq!(ev["queryStringParameters"]["c"], "");
        assert_eq!(ev["pathParameters"]["userId"], "u 1");
        let rc = &ev["requestContext"];
        assert_eq!(rc["accountId"], LOCAL_ACCOUNT_ID);
        assert_eq!(rc["http"]["method"], "GET");
        assert_eq!(rc["http"]["path"], "/users/u%201/passes");
        assert_eq!(rc["http"]["userAgent"], "curl/8");
        assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(rc["stage"], "$default");
        assert_eq!(rc["time"], "12/Mar/2020:19:03:58 +0000");
        assert_eq!(rc["timeEpoch"], 1_584_039_838_000_i64);
        assert_eq!(rc["authorizer"]["lambda"]["sub"], "u 1");
        assert_eq!(ev["body"], r#"{"k":1}"#);
        assert_eq!(ev["isBase64Encoded"], false);
    }

    #[test]
    fn binary_body_is_base64_and_empty_parts_are_absent() {
        let rs = route();
        let m = matched(&rs, &[]);
        let mut r = req();
        r.headers = vec![("content-type".into(), "application/octet-stream".into())];
        r.body = vec![0, 159, 146, 150];
        r.raw_query = String::new();
        let ev = http_event(&r, &m, &meta(), None);
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(ev["body"], "AJ+Slg==");
        assert!(ev.get("queryStringParameters").is_none());
        assert!(ev.get("pathParameters").is_none());
        assert!(ev.get("cookies").is_none());
        assert!(ev["requestContext"].get("authorizer").is_none());
        r.body.clear();
        let ev = http_event(&r, &m, &meta(), None);
        assert!(ev.get("body").is_none());
    }

    #[test]
    fn authorizer_event_and_decisions() {
        let rs = route();
        let m = matched(&rs, &[]);
        let mut r = req();
        assert_eq!(
            identity_source(&r, &["Authorization".into()], &[]),
            None,
            "missing header"
        );
        r.headers.push(("authorization".into(), "Bearer t".into()));
        let id = identity_source(&r, &["Authorization".into()], &["b".into()]).unwrap();
        assert_eq!(id, vec!["Bearer t".to_string(), "x y".to_string()]);
        let ev = authorizer_event(&r, &m, &meta(), &id);
        assert_eq!(ev["type"], "REQUEST");
        assert_eq!(ev["identitySource"][0], "Bearer t");
        assert_eq!(
            ev["routeArn"],
            "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/users/u%201/passes"
        );
        assert_eq!(
            authorizer_decision(br#"{"isAuthorized":true,"context":{"sub":"u"}}"#, true),
            Ok(AuthorizerDecision::Allow(json!({"sub":"u"})))
        );
        assert_eq!(
            authorizer_decision(br#"{"isAuthorized":false}"#, true),
            Ok(AuthorizerDecision::Deny)
        );
        assert!(authorizer_decision(b"{}", true).is_err());
        assert!(authorizer_decision(b"nope", true).is_err());
        let policy = br#"{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Deny"}]}}"#;
        assert_eq!(
            authorizer_decision(policy, false),
            Ok(AuthorizerDecision::Deny)
        );
    }

    #[test]
    fn iam_context_takes_the_access_key() {
        let v = iam_context("AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=x");
        assert_eq!(v["iam"]["accessKey"], "AKID");
    }

    #[test]
    fn maps_structured_and_bare_responses() {
        let r = map_response(
            br#"{"statusCode":201,"headers":{"Content-Type":"application/problem+json","X-N":1},
                "multiValueHeaders":{"x-m":["a","b"]},"cookies":["a=1","b=2"],"body":"{}","isBase64Encoded":false}"#,
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert!(r
            .headers
            .contains(&("content-type".into(), "application/problem+json".into())));
        assert!(r.headers.contains(&("x-n".into(), "1".into())));
        assert_eq!(r.headers.iter().filter(|(k, _)| k == "x-m").count(), 2);
        assert_eq!(
            r.headers.iter().filter(|(k, _)| k == "set-cookie").count(),
            2
        );
        assert_eq!(r.body, b"{}");

        let r =
            map_response(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.body, b"hi");

        let r = map_response(br#""hello""#).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = map_response(br#"{"a":1}"#).unwrap();
        assert_eq!(r.body, br#"{"a":1}"#);
        assert_eq!(r.headers[0].1, "application/json");

        assert!(map_response(b"not json").is_err());
        assert!(map_response(br#"{"statusCode":"abc"}"#).is_err());
        assert!(map_response(br#"{"statusCode":99}"#).is_err());
    }
}
