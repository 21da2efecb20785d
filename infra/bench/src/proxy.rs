//! The counting proxy between the functions and moto.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::Res;

/// Counts AWS JSON-protocol calls (`X-Amz-Target`) per phase while forwarding them to moto.
pub(crate) struct Proxy {
    upstream: String,
    http: reqwest::Client,
    phase: Mutex<String>,
    counts: Mutex<BTreeMap<(String, String), u64>>,
    /// Time spent waiting for moto, per phase.
    moto_time: Mutex<BTreeMap<String, Duration>>,
}

impl Proxy {
    pub(crate) fn set_phase(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_string();
        }
    }

    pub(crate) fn upstream_time(&self, phase: &str) -> Duration {
        self.moto_time
            .lock()
            .ok()
            .and_then(|u| u.get(phase).copied())
            .unwrap_or_default()
    }

    pub(crate) fn counts(&self, phase: &str) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|((p, _), _)| p == phase)
                    .map(|((_, op), n)| (op.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) async fn forward(State(proxy): State<Arc<Proxy>>, req: Request<Body>) -> Response<Body> {
    match forward_inner(&proxy, req).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = Response::new(Body::from(format!("bench proxy: {e}")));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

pub(crate) async fn forward_inner(proxy: &Proxy, req: Request<Body>) -> Res<Response<Body>> {
    let (parts, body) = req.into_parts();
    let phase = proxy.phase.lock().map(|p| p.clone()).unwrap_or_default();
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(mut c) = proxy.counts.lock() {
            *c.entry((phase.clone(), target.to_string())).or_insert(0) += 1;
        }
    }
    let body = to_bytes(body, 64 * 1024 * 1024).await?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" && k != "connection" {
            headers.append(k.clone(), v.clone());
        }
    }
    let started = Instant::now();
    let resp = proxy
        .http
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let resp_headers = resp.headers().clone();
    let bytes: Bytes = resp.bytes().await?;
    if let Ok(mut u) = proxy.moto_time.lock() {
        *u.entry(phase).or_default() += started.elapsed();
    }
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    for (k, v) in &resp_headers {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out.headers_mut().append(k.clone(), v.clone());
        }
    }
    Ok(out)
}

pub(crate) async fn start_proxy(upstream: &str) -> Res<(Arc<Proxy>, String)> {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_string(),
        http: reqwest::Client::builder().build()?,
        phase: Mutex::new("seed".into()),
        counts: Mutex::new(BTreeMap::new()),
        moto_time: Mutex::new(BTreeMap::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((proxy, url))
}
