//! Every AWS call (DynamoDB, Secrets Manager) bounded by the caller's deadline: an HTTP client for
//! the SDK that asks a [`CallBudget`] before each request how long it may take, on top of the SDK's
//! own timeouts. With nothing left the request is not sent; a request that runs out of time is
//! abandoned. Both end as a dispatch failure that the SDK does not retry (another attempt could
//! only miss the same deadline), which the store reports as `StoreError::Unavailable` (503).

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_http_client::{tls, Builder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// How long the next call may take at most (the caller's deadline), asked before each call; `None`:
/// only the SDK's configured timeouts apply (at init, in tests).
pub type CallBudget = Arc<dyn Fn() -> Option<Duration> + Send + Sync>;

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc) with every request bounded by a
/// [`CallBudget`].
#[derive(Clone)]
pub struct BudgetedHttpClient {
    inner: SharedHttpClient,
    budget: CallBudget,
}

impl std::fmt::Debug for BudgetedHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetedHttpClient").finish_non_exhaustive()
    }
}

impl BudgetedHttpClient {
    /// Wraps the default HTTPS client.
    pub fn new(budget: CallBudget) -> Self {
        let inner = Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        Self { inner, budget }
    }
}

impl HttpClient for BudgetedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            budget: self.budget.clone(),
        })
    }
}

struct BudgetedConnector {
    inner: SharedHttpConnector,
    budget: CallBudget,
}

impl std::fmt::Debug for BudgetedConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetedConnector").finish_non_exhaustive()
    }
}

/// Not a timeout or I/O error on purpose: the SDK retries those, and a retry can only miss the same
/// deadline. The message names the cause for the log.
fn out_of_time(what: &'static str) -> ConnectorError {
    ConnectorError::user(what.into())
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        // Read now, while the caller's task (and its deadline) is the one calling.
        match (self.budget)() {
            None => self.inner.call(request),
            Some(left) if left.is_zero() => HttpConnectorFuture::ready(Err(out_of_time(
                "not sent: no time left before the invocation's deadline",
            ))),
            Some(left) => {
                let call = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    match tokio::time::timeout(left, call).await {
                        Ok(answer) => answer,
                        Err(_) => Err(out_of_time(
                            "abandoned: no answer before the invocation's deadline",
                        )),
                    }
                })
            }
        }
    }
}
