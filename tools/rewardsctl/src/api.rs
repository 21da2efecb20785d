//! The HTTP API as the CLI calls it: every call signed with SigV4 (`execute-api`) by the AWS SDK's
//! own signer, with credentials from the standard chain; answers read as JSON, errors turned into
//! one-line [`CliError`]s that carry the server's problem+json `code`.

use crate::error::CliError;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// Characters escaped in one path segment (ids are validated by the server; this keeps a stray
/// `/` or `?` from changing the route).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Escapes one path segment.
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// Escapes one query value.
pub fn query_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (2xx).
    pub status: u16,
    /// The JSON body (`Null` when empty).
    pub body: Value,
}

/// The API client.
pub struct Api {
    base: String,
    http: reqwest::Client,
    credentials: Credentials,
    region: String,
}

/// True for an endpoint on this machine (the local stack).
pub fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    matches!(host, "127.0.0.1" | "localhost" | "[" | "::1") || rest.starts_with("[::1]")
}

/// Credentials from the standard chain (environment, profiles, SSO, …). For the local stack, which
/// checks that a SigV4 header is present but not its signature, a machine without any AWS
/// configuration gets placeholder credentials instead of an error.
pub async fn credentials(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
) -> Result<Credentials, CliError> {
    let local = is_loopback(endpoint);
    if local
        && std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
        && std::env::var_os("AWS_PROFILE").is_none()
        && std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_none()
    {
        return Ok(Credentials::new(
            "local",
            "local",
            None,
            None,
            "rewardsctl-local",
        ));
    }
    let Some(provider) = sdk.credentials_provider() else {
        return Err(CliError::unavailable(
            "no AWS credentials provider",
            "configure credentials (aws configure, aws sso login, or AWS_PROFILE)",
        ));
    };
    provider.provide_credentials().await.map_err(|e| {
        CliError::unavailable(
            format!(
                "no AWS credentials: {}",
                aws_credential_types::provider::error::CredentialsError::to_string(&e)
            ),
            "configure credentials (aws configure, aws sso login, AWS_PROFILE or --profile)",
        )
    })
}

impl Api {
    /// A client for `base` (no trailing slash), signing for `region`.
    pub fn new(base: &str, credentials: Credentials, region: String) -> Result<Api, CliError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::unavailable(format!("HTTP client: {e}"), "report this"))?;
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            http,
            credentials,
            region,
        })
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (path starts with `/` and may carry a query).
    pub async fn get(&self, path: &str) -> Result<Reply, CliError> {
        self.call("GET", path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, CliError> {
        self.call("POST", path, Some(body), &[]).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply, CliError> {
        self.call("PUT", path, Some(body), &[]).await
    }

    /// Any call, with extra headers (signed too).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, CliError> {
        let url = format!("{}{path}", self.base);
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if body.is_some() {
            all.push(("content-type", "application/json"));
        }
        let signed = self.sign(method, &url, &all, &bytes)?;
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| CliError::usage(format!("bad method {method}")))?;
        let mut rb = self.http.request(m, &url);
        for (k, v) in all.iter() {
            rb = rb.header(*k, *v);
        }
        for (k, v) in signed {
            rb = rb.header(k, v);
        }
        if body.is_some() {
            rb = rb.body(bytes);
        }
        let resp = rb.send().await.map_err(|e| {
            CliError::unavailable(
                format!("cannot reach {}: {}", self.base, root_cause(&e)),
                "start the stack (make dev) or check --endpoint / --stack",
            )
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = resp.text().await.unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            Ok(Reply { status, body })
        } else {
            Err(CliError::from_answer(status, &body).with_retry_after(retry_after))
        }
    }

    /// The SigV4 headers for one request (`execute-api`, this client's region).
    fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, CliError> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CliError::usage(format!("SigV4 parameters: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| CliError::usage(format!("cannot sign {url}: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| CliError::usage(format!("cannot sign {url}: {e}")))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}
