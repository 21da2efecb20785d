//! Serving: the tail of every function's `main`, and what is built from secrets on first use.

use crate::app::App;
use crate::config::StartupError;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use lambda_http_kit::{deadline, Problem};
use std::future::Future;

/// How long the init phase may spend reading secrets before the function starts anyway (and reads
/// them on first use, within an invocation's deadline). Lambda's init phase is 10 s.
pub const INIT_WARM_BUDGET: Duration = Duration::from_secs(4);

type Build<T> = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StartupError>> + Send>>
        + Send
        + Sync,
>;

/// What a function builds from secrets (keys, the Alipay client, the services over them), read on
/// first use and kept for the execution environment's life. A failed read is not kept: the next
/// request tries again. [`OnFirstUse::warm`] tries once at init (bounded), so a warm function never
/// reads on the request path; [`OnFirstUse::get`] inside a request is bounded by its deadline.
pub struct OnFirstUse<T> {
    cell: tokio::sync::OnceCell<T>,
    build: Build<T>,
}

impl<T: Send + Sync + 'static> OnFirstUse<T> {
    /// `build` makes the value (it is called again after a failure).
    pub fn new<F, Fut>(build: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, StartupError>> + Send + 'static,
    {
        Self {
            cell: tokio::sync::OnceCell::new(),
            build: Box::new(move || Box::pin(build())),
        }
    }

    /// Tries to build at init within [`INIT_WARM_BUDGET`]; a failure is logged (the first request
    /// tries again), never fatal.
    pub async fn warm(&self) {
        match tokio::time::timeout(INIT_WARM_BUDGET, self.cell.get_or_try_init(&self.build)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "init: not ready; the first request retries"),
            Err(_) => tracing::warn!("init: secrets not read in time; the first request retries"),
        }
    }

    /// The value, built now if needed.
    ///
    /// # Errors
    /// `503 dependency_unavailable` (with `Retry-After`) when it cannot be built; the cause is
    /// logged, never answered.
    pub async fn get(&self) -> Result<&T, Problem> {
        self.cell.get_or_try_init(&self.build).await.map_err(|e| {
            tracing::error!(error = %e, "not ready: secrets or configuration");
            Problem::new(
                503,
                "dependency_unavailable",
                "a dependency is unavailable; it is safe to retry with the same request",
            )
        })
    }
}

/// Runs an HTTP function: loads the [`App`], builds its context with `build` on first use (warmed at
/// init, so a hanging Secrets Manager is a 503 too, not a dead function) and serves every request
/// with `handler` within its invocation's deadline ([`deadline::serve`]), a [`Problem`] answered as
/// problem+json.
///
/// # Errors
/// A bad configuration at start, or the runtime's own errors.
pub async fn serve_http<T, B, BFut, H, HFut>(build: B, handler: H) -> Result<(), lambda_http::Error>
where
    T: Send + Sync + 'static,
    B: Fn(App) -> BFut + Send + Sync + 'static,
    BFut: Future<Output = Result<T, StartupError>> + Send + 'static,
    H: Fn(&'static T, Request) -> HFut + Sync,
    HFut: Future<Output = Result<Response<Body>, Problem>> + Send,
{
    let ready = ready_on_first_use(build).await?;
    deadline::serve(deadline::timeout_problem(), |req| async {
        match ready.get().await {
            Ok(ctx) => handler(ctx, req).await,
            Err(p) => Err(p),
        }
        .unwrap_or_else(Problem::into_response)
    })
    .await
}

/// [`serve_http`] for a function that also takes plain events (e.g. EventBridge schedules): an HTTP
/// API event goes to `http` and is answered as problem+json on failure; any other event goes to
/// `event`, whose error fails the invocation (so the source retries, then dead-letters). Both run
/// within the invocation's deadline.
///
/// # Errors
/// A bad configuration at start, or the runtime's own errors.
pub async fn serve_http_and_events<T, B, BFut, H, HFut, E, EFut>(
    build: B,
    http: H,
    event: E,
) -> Result<(), lambda_http::Error>
where
    T: Send + Sync + 'static,
    B: Fn(App) -> BFut + Send + Sync + 'static,
    BFut: Future<Output = Result<T, StartupError>> + Send + 'static,
    H: Fn(&'static T, Request) -> HFut + Sync,
    HFut: Future<Output = Result<Response<Body>, Problem>> + Send,
    E: Fn(&'static T, serde_json::Value) -> EFut + Sync,
    EFut: Future<Output = Result<serde_json::Value, lambda_http::Error>> + Send,
{
    let ready = ready_on_first_use(build).await?;
    let (http, event) = (&http, &event);
    let service = lambda_runtime::service_fn(
        |invocation: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let context = invocation.context;
            match lambda_http_kit::http_or_event(invocation.payload) {
                Ok(req) => {
                    let work = async { http(ready.get().await?, req).await };
                    let answer = deadline::within_context(&context, work)
                        .await
                        .unwrap_or_else(|_| Err(deadline::timeout_problem()));
                    let answer = answer.unwrap_or_else(Problem::into_response);
                    Ok(lambda_http_kit::response_event(answer))
                }
                Err(other) => {
                    let work = async {
                        let ctx = ready
                            .get()
                            .await
                            .map_err(|p| format!("{}: {}", p.code, p.detail))?;
                        event(ctx, other).await
                    };
                    deadline::within_context(&context, work).await?
                }
            }
        },
    );
    lambda_runtime::run(service).await
}

/// Starts logging, loads the [`App`] and warms what `build` makes from it, kept for the execution
/// environment's life (the function's whole process, hence `'static`).
///
/// # Errors
/// A bad configuration.
pub async fn ready_on_first_use<T, B, BFut>(
    build: B,
) -> Result<&'static OnFirstUse<T>, StartupError>
where
    T: Send + Sync + 'static,
    B: Fn(App) -> BFut + Send + Sync + 'static,
    BFut: Future<Output = Result<T, StartupError>> + Send + 'static,
{
    lambda_http_kit::init_logging();
    let app = App::load().await?;
    let ready: &'static OnFirstUse<T> =
        Box::leak(Box::new(OnFirstUse::new(move || build(app.clone()))));
    ready.warm().await;
    Ok(ready)
}
