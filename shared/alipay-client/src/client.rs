//! The generic execute: sign → POST → verify → decode → classify.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alipay_protocol::request::{sign_request, AppConfig, CertModeSns, UnsignedRequest};
use alipay_protocol::response::{
    alipay_cert_sn, extract_signed_span, ResponseError, ResponseVerifier, Root,
};
use alipay_protocol::{AlipayPublicKey, GatewayTimestamp};
use serde::Deserialize;

use crate::alipaycert::AlipayCertDownload;
use crate::api::ApiRequest;
use crate::cert::{AlipayKeyError, CertKey, CertKeys};
use crate::config::ClientConfig;
use crate::outcome::{
    is_platform_unknown, is_throttle, Failure, FailureKind, Outcome, UnknownReason,
};

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBuildError {
    /// reqwest refused the configuration (TLS backend, …).
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The Alipay public key is the app's own public key (the classic mix-up).
    #[error("key configuration: {0}")]
    Keys(#[from] alipay_protocol::KeyError),
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    app: AppConfig,
    /// Public-key mode: the verifier. Certificate mode: the configured certificate's key without an
    /// SN requirement, for answers that name no certificate (never trusted as a success).
    verifier: ResponseVerifier,
    /// Certificate mode: the keys by SN.
    certs: Option<CertKeys>,
}

/// How long the next call may take at most, asked before each call: the caller's own deadline (for
/// example what is left of a Lambda invocation). `None`: only the configured timeout applies.
pub type CallBudget = Arc<dyn Fn() -> Option<Duration> + Send + Sync>;

/// The gateway client. Build it once per process and clone it freely (an `Arc` inside).
#[derive(Clone)]
pub struct AlipayClient {
    inner: Arc<Inner>,
    budget: Option<CallBudget>,
}

impl std::fmt::Debug for AlipayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipayClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A process-unique id for logs: time in µs (hex) and a sequence number.
fn new_request_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let seq = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{micros:x}-{seq}")
}

impl AlipayClient {
    /// Builds the HTTP client (rustls with aws-lc-rs, the configured timeouts) and the verifier.
    ///
    /// # Errors
    /// [`ClientBuildError`] when the HTTP client cannot be built or the Alipay public key is the
    /// app's own public key.
    pub fn new(config: ClientConfig) -> Result<Self, ClientBuildError> {
        config
            .keys
            .alipay_public_key
            .ensure_not_app_key(&config.keys.app_private_key)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .build()?;
        let app = AppConfig {
            app_id: config.app_id.clone(),
            cert_mode: config.cert_mode.as_ref().map(|c| CertModeSns {
                app_cert_sn: c.app_cert_sn.clone(),
                alipay_root_cert_sn: c.alipay_root_cert_sn.clone(),
            }),
        };
        let mut verifier = ResponseVerifier::new((*config.keys.alipay_public_key).clone());
        if let Some(aes) = &config.aes {
            verifier = verifier.with_aes(aes.clone());
        }
        let certs = config
            .cert_mode
            .as_ref()
            .map(|set| CertKeys::new(set, config.aes.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                app,
                verifier,
                certs,
            }),
            budget: None,
        })
    }

    /// Bounds every call by `budget` too: a call gets the smaller of the configured total timeout and
    /// what the budget says is left; with nothing left the call is not sent
    /// (`Failed` with kind `NotSent`, which the caller must treat as "try again", never as a refusal).
    pub fn with_call_budget(mut self, budget: CallBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Signs, sends and verifies one call. Logs the API name, a request id, the duration and the
    /// outcome class, nothing else.
    ///
    /// In certificate mode the answer is verified with the key of the certificate it names
    /// (`alipay_cert_sn`), downloaded and checked against the root bundle the first time an SN is
    /// new; an answer whose certificate cannot be had is unknown, and a success that names no
    /// certificate is never trusted (unknown).
    pub async fn execute<R: ApiRequest>(&self, request: &R) -> Outcome<R::Output> {
        let request_id = new_request_id();
        let started = Instant::now();
        let outcome = match self.send(request).await {
            Ok(body) => self.classify_body::<R>(&body).await,
            Err(early) => early,
        };
        log_call(R::METHOD, &request_id, started, outcome.class());
        outcome
    }

    /// Alipay's key for a certificate SN: public-key mode (or no SN), the configured key;
    /// certificate mode, the key of the certificate with that SN (cached, or downloaded with
    /// `alipay.open.app.alipaycert.download` and checked against the root bundle). For verifying
    /// what Alipay sends on its own, such as notifications.
    ///
    /// # Errors
    /// [`AlipayKeyError`] when the certificate cannot be downloaded or is not trusted.
    pub async fn alipay_key_for(
        &self,
        cert_sn: Option<&str>,
    ) -> Result<Arc<AlipayPublicKey>, AlipayKeyError> {
        match (&self.inner.certs, cert_sn.filter(|sn| !sn.is_empty())) {
            (Some(_), Some(sn)) => self.cert_key(sn).await.map(|k| k.key.clone()),
            _ => Ok(self.inner.config.keys.alipay_public_key.clone()),
        }
    }

    /// The key of certificate `sn` (certificate mode): cached, or downloaded once for all
    /// concurrent callers.
    async fn cert_key(&self, sn: &str) -> Result<Arc<CertKey>, AlipayKeyError> {
        let Some(certs) = &self.inner.certs else {
            return Err(AlipayKeyError::Untrusted {
                sn: sn.to_string(),
                reason: "the client is not in certificate mode".into(),
            });
        };
        let slot = certs.slot(sn);
        if let Some(known) = slot.get() {
            return Ok(known.clone());
        }
        let result = slot
            .get_or_try_init(|| async {
                let wait = certs.before_download(sn)?;
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                let pem = self.download_cert(sn).await?;
                certs.trust(sn, &pem).map(Arc::new)
            })
            .await
            .cloned();
        if let Err(e) = &result {
            certs.download_failed(sn, e);
        }
        result
    }

    /// `alipay.open.app.alipaycert.download` for `sn`. The answer is read without its signature
    /// (the key it would verify with is the one being fetched); the certificate's chain is what
    /// makes it trusted.
    async fn download_cert(&self, sn: &str) -> Result<Vec<u8>, AlipayKeyError> {
        let request = AlipayCertDownload {
            alipay_cert_sn: sn.to_string(),
        };
        let request_id = new_request_id();
        let started = Instant::now();
        let outcome = match self.send(&request).await {
            Ok(body) => classify_unverified::<AlipayCertDownload>(&body),
            Err(early) => early,
        };
        log_call(
            AlipayCertDownload::METHOD,
            &request_id,
            started,
            outcome.class(),
        );
        match outcome {
            Outcome::Success(pem) => Ok(pem),
            Outcome::Failed(f) => Err(AlipayKeyError::Download {
                sn: sn.to_string(),
                reason: f.to_string(),
            }),
            Outcome::Unknown(u) => Err(AlipayKeyError::Download {
                sn: sn.to_string(),
                reason: u.to_string(),
            }),
        }
    }

    /// Verifies and classifies a 200 body in the client's mode.
    async fn classify_body<R: ApiRequest>(&self, body: &str) -> Outcome<R::Output> {
        let inner = &*self.inner;
        if inner.certs.is_none() {
            return classify::<R>(body, &inner.verifier);
        }
        match alipay_cert_sn(body) {
            Some(sn) => match self.cert_key(&sn).await {
                Ok(key) => classify::<R>(body, &key.verifier),
                Err(e) => Outcome::Unknown(UnknownReason::Unverified(e.to_string())),
            },
            // No certificate named: checked with the configured certificate's key, and a success
            // is not trusted (a refusal that verifies stays a refusal).
            None => match classify::<R>(body, &inner.verifier) {
                Outcome::Success(_) => Outcome::Unknown(UnknownReason::Unverified(
                    "a certificate-mode answer without alipay_cert_sn".into(),
                )),
                other => other,
            },
        }
    }

    /// Signs and posts one call: the 200 body, or the outcome that ended it early.
    async fn send<R: ApiRequest>(&self, request: &R) -> Result<String, Outcome<R::Output>> {
        let inner = &*self.inner;
        let biz = match request.biz_content() {
            Ok(b) => b,
            Err(_) => {
                return Err(Outcome::Failed(Failure::not_sent(
                    "biz_content could not be serialized",
                )))
            }
        };
        let params = request.params();
        let unsigned = UnsignedRequest {
            method: R::METHOD,
            biz_content: biz.as_deref(),
            params: params.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect(),
            encrypt: inner.config.aes.is_some() && biz.is_some(),
        };
        let signed = match sign_request(
            &inner.app,
            &inner.config.keys.app_private_key,
            inner.config.aes.as_ref(),
            &unsigned,
            GatewayTimestamp::now(),
        ) {
            Ok(s) => s,
            Err(e) => {
                return Err(Outcome::Failed(Failure::not_sent(format!(
                    "request not built: {e}"
                ))))
            }
        };
        let mut post = inner
            .http
            .post(signed.url(&inner.config.gateway_url))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(signed.form_body());
        match self.budget.as_ref().and_then(|b| b()) {
            Some(left) if left.is_zero() => {
                return Err(Outcome::Failed(Failure::not_sent(
                    "no time left before the caller's deadline",
                )))
            }
            Some(left) => post = post.timeout(left.min(inner.config.timeout)),
            None => {}
        }
        let sent = post.send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(transport_error(&e)),
        };
        let status = response.status();
        if !status.is_success() {
            return Err(Outcome::Unknown(UnknownReason::HttpStatus(status.as_u16())));
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(transport_error(&e)),
        };
        String::from_utf8(body.to_vec())
            .map_err(|_| Outcome::Unknown(UnknownReason::Unparsable("body is not UTF-8".into())))
    }
}

fn log_call(api: &str, request_id: &str, started: Instant, class: crate::OutcomeClass) {
    tracing::info!(
        api,
        request_id = %request_id,
        duration_ms = started.elapsed().as_millis() as u64,
        outcome = class.as_str(),
        "alipay gateway call"
    );
}

fn transport_error<T>(e: &reqwest::Error) -> Outcome<T> {
    if e.is_connect() {
        // No connection, so nothing was sent (hyper retries a reused pooled connection only when the
        // request was not written).
        Outcome::Failed(Failure::not_sent("could not connect to the gateway"))
    } else if e.is_timeout() {
        Outcome::Unknown(UnknownReason::Timeout)
    } else {
        Outcome::Unknown(UnknownReason::Connection)
    }
}

#[derive(Deserialize)]
struct Common {
    #[serde(default, deserialize_with = "crate::de::opt_text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "crate::de::opt_text")]
    msg: Option<String>,
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    sub_code: Option<String>,
    #[serde(default, deserialize_with = "crate::de::opt_nonempty")]
    sub_msg: Option<String>,
}

/// Classifies a 200 response body for API `R`: verify the signature over the exact span, then read
/// `code`, then hand the node to [`ApiRequest::finish`]. Never panics, whatever the body.
pub fn classify<R: ApiRequest>(body: &str, verifier: &ResponseVerifier) -> Outcome<R::Output> {
    let verified = match verifier.verify(body, R::METHOD) {
        Ok(v) => v,
        Err(ResponseError::BadSignature) => return Outcome::Unknown(UnknownReason::BadSignature),
        // An unsigned rate-limit answer is read as one: trusting it can only make the caller try
        // again later, which is what any unsigned answer does (both are Unknown).
        Err(ResponseError::Unsigned {
            code: Some(code),
            sub_code,
            ..
        }) if is_throttle(&code, sub_code.as_deref()) => {
            return Outcome::Unknown(UnknownReason::Throttled { code, sub_code })
        }
        Err(ResponseError::Unsigned { code, sub_code, .. }) => {
            return Outcome::Unknown(UnknownReason::Unsigned { code, sub_code })
        }
        Err(
            e
            @ (ResponseError::EmptyBody | ResponseError::RootNotFound(_) | ResponseError::NotJson),
        ) => return Outcome::Unknown(UnknownReason::Unparsable(e.to_string())),
        Err(e) => return Outcome::Unknown(UnknownReason::Unverified(e.to_string())),
    };
    classify_content::<R>(verified.root, &verified.content)
}

/// Classifies an answer whose signature is not checked: only for
/// `alipay.open.app.alipaycert.download`, whose certificate is checked against the root bundle
/// instead.
fn classify_unverified<R: ApiRequest>(body: &str) -> Outcome<R::Output> {
    match extract_signed_span(body, R::METHOD) {
        Ok(span) if !span.encrypted => classify_content::<R>(span.root, span.content),
        Ok(_) => Outcome::Unknown(UnknownReason::Unparsable("encrypted answer".into())),
        Err(e) => Outcome::Unknown(UnknownReason::Unparsable(e.to_string())),
    }
}

/// Reads `code` of a verified node, then hands it to [`ApiRequest::finish`].
fn classify_content<R: ApiRequest>(root: Root, content: &str) -> Outcome<R::Output> {
    let common: Common = match serde_json::from_str(content) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Unknown(UnknownReason::Unparsable(format!("response node: {e}")))
        }
    };
    let Some(code) = common.code else {
        return Outcome::Unknown(UnknownReason::Unparsable("response has no code".into()));
    };
    // Alipay's rate limit, before anything else: not executed now, never a refusal.
    if is_throttle(&code, common.sub_code.as_deref()) {
        return Outcome::Unknown(UnknownReason::Throttled {
            code,
            sub_code: common.sub_code,
        });
    }
    if is_platform_unknown(&code, common.sub_code.as_deref()) {
        return Outcome::Unknown(UnknownReason::Platform {
            code,
            sub_code: common.sub_code,
            sub_msg: common.sub_msg,
        });
    }
    if root == Root::Error || code != "10000" {
        return Outcome::Failed(Failure {
            kind: if root == Root::Error {
                FailureKind::Gateway
            } else {
                FailureKind::Business
            },
            code,
            msg: common.msg.unwrap_or_default(),
            sub_code: common.sub_code,
            sub_msg: common.sub_msg,
            error_code: None,
            error_msg: None,
        });
    }
    match serde_json::from_str::<R::Response>(content) {
        Ok(node) => R::finish(node),
        Err(e) => Outcome::Unknown(UnknownReason::Unparsable(format!("{}: {e}", R::METHOD))),
    }
}
