//! Every answer in time: each invocation gets an *answer-by* instant, taken from the Lambda
//! context's deadline minus [`LAMBDA_MARGIN`] (and, when `ANSWER_BUDGET_MS` is set, no later than
//! that long after the invocation started). While the handler runs, [`remaining`] tells the outbound
//! clients (Alipay, DynamoDB, Secrets Manager) how long they may still take, so a hanging dependency
//! ends in a 503 problem+json with `Retry-After` written by us, never in API Gateway's
//! `504 {"message":"Endpoint request timed out"}`. If the handler itself is not done by the
//! answer-by instant it is dropped (what a crash at that point would do: every flow writes its
//! record before calling out, so nothing is lost) and [`serve`] answers the timeout problem.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::{Body, Context, Request, RequestExt, Response};

use crate::Problem;

/// How long before the Lambda deadline the answer is due: time to serialise it and hand it to the
/// runtime API before Lambda kills the invocation.
pub const LAMBDA_MARGIN: Duration = Duration::from_millis(500);

/// `Retry-After` (seconds) of the answer written when the deadline is reached.
pub const TIMEOUT_RETRY_AFTER_SECS: u32 = 2;

/// The environment variable that shortens every invocation's budget (milliseconds from the start of
/// the invocation), e.g. for the claim component, which waits less than the function timeout.
pub const ANSWER_BUDGET_ENV: &str = "ANSWER_BUDGET_MS";

tokio::task_local! {
    static ANSWER_BY: Instant;
}

/// The answer-by instant of an invocation: the Lambda deadline (epoch ms, as the runtime API sends
/// it) minus [`LAMBDA_MARGIN`], capped by `budget` from `started`.
pub fn answer_by(deadline_ms: u64, budget: Option<Duration>, started: Instant) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    // A context without a deadline (0, or one already past) gives no time at all but the margin's
    // worth of nothing: answer at once rather than hang.
    let until_deadline = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    let by_lambda = Instant::now() + until_deadline.saturating_sub(LAMBDA_MARGIN);
    match budget {
        Some(b) => by_lambda.min(started + b),
        None => by_lambda,
    }
}

/// The budget from `ANSWER_BUDGET_MS` (unset, empty, zero or unparsable: none).
pub fn budget_from_env() -> Option<Duration> {
    std::env::var(ANSWER_BUDGET_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// Time left until the current invocation's answer-by instant, or `None` outside an invocation (at
/// init, in tests): then only the clients' own timeouts apply.
pub fn remaining() -> Option<Duration> {
    ANSWER_BY
        .try_with(|by| by.saturating_duration_since(Instant::now()))
        .ok()
}

/// [`remaining`] minus `reserve`: what an outbound call may take when the caller still needs
/// `reserve` after it (to record the outcome and answer). Zero means: do not start the call.
pub fn remaining_for_call(reserve: Duration) -> Option<Duration> {
    remaining().map(|r| r.saturating_sub(reserve))
}

/// The deadline was reached before the handler finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the invocation's answer-by deadline was reached")]
pub struct DeadlineReached;

/// Runs `work` with `answer_by` as the current invocation's deadline ([`remaining`] sees it) and
/// drops it when the deadline is reached.
///
/// # Errors
/// [`DeadlineReached`].
pub async fn within<F: Future>(answer_by: Instant, work: F) -> Result<F::Output, DeadlineReached> {
    ANSWER_BY
        .scope(answer_by, async move {
            tokio::time::timeout_at(tokio::time::Instant::from_std(answer_by), work)
                .await
                .map_err(|_| DeadlineReached)
        })
        .await
}

/// [`within`] for a raw Lambda event (`lambda_runtime` functions), with the budget of
/// `ANSWER_BUDGET_MS`.
///
/// # Errors
/// [`DeadlineReached`].
pub async fn within_context<F: Future>(
    context: &Context,
    work: F,
) -> Result<F::Output, DeadlineReached> {
    let by = answer_by(context.deadline, budget_from_env(), Instant::now());
    within(by, work).await
}

/// The default answer when the deadline is reached: `503 dependency_timeout` with `Retry-After`.
pub fn timeout_problem() -> Problem {
    Problem::new(
        503,
        "dependency_timeout",
        "a dependency did not answer in time; it is safe to retry with the same request",
    )
    .with_retry_after(TIMEOUT_RETRY_AFTER_SECS)
}

/// Runs an HTTP function: every request is handled [`within`] its invocation's deadline (taken from
/// the Lambda context and `ANSWER_BUDGET_MS`); a handler still running at that instant is dropped
/// and `on_timeout` (e.g. [`timeout_problem`]) is answered instead.
///
/// # Errors
/// The runtime's own errors (the runtime API is unreachable).
pub async fn serve<H, Fut>(on_timeout: Problem, handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    let budget = budget_from_env();
    let handler = &handler;
    let on_timeout = &on_timeout;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        let started = Instant::now();
        let deadline_ms = req.lambda_context_ref().map_or(0, |c| c.deadline);
        let by = answer_by(deadline_ms, budget, started);
        let response = match within(by, handler(req)).await {
            Ok(response) => response,
            Err(DeadlineReached) => {
                tracing::warn!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "answer-by deadline reached: the handler was dropped"
                );
                on_timeout.clone().into_response()
            }
        };
        Ok::<_, lambda_http::Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        u64::try_from(
            (SystemTime::now() + d)
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    }

    #[test]
    fn the_answer_is_due_a_margin_before_the_lambda_deadline_or_at_the_budget() {
        let started = Instant::now();
        let by = answer_by(epoch_ms_in(Duration::from_secs(10)), None, started);
        let left = by.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(10) - LAMBDA_MARGIN, "{left:?}");
        assert!(left > Duration::from_secs(8), "{left:?}");
        let capped = answer_by(
            epoch_ms_in(Duration::from_secs(10)),
            Some(Duration::from_secs(3)),
            started,
        );
        assert!(capped <= started + Duration::from_secs(3));
        // No deadline (or one already past): due now.
        assert!(answer_by(0, None, started) <= Instant::now());
    }

    #[tokio::test]
    async fn remaining_is_seen_inside_and_only_inside_an_invocation() {
        assert_eq!(remaining(), None);
        let by = Instant::now() + Duration::from_secs(60);
        let seen = within(by, async { remaining_for_call(Duration::from_secs(10)) })
            .await
            .unwrap()
            .unwrap();
        assert!(seen <= Duration::from_secs(50) && seen > Duration::from_secs(40));
        let past = within(Instant::now(), async { remaining_for_call(Duration::ZERO) }).await;
        // Already due: either dropped at once or zero left, never a budget.
        assert!(matches!(
            past,
            Err(DeadlineReached) | Ok(Some(Duration::ZERO))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_past_the_deadline_is_dropped() {
        let by = Instant::now() + Duration::from_secs(1);
        let r = within(by, std::future::pending::<()>()).await;
        assert_eq!(r, Err(DeadlineReached));
        let p = timeout_problem().into_response();
        assert_eq!(p.status(), 503);
        assert_eq!(p.headers()["retry-after"], "2");
    }
}
