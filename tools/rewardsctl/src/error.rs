//! What can go wrong, as one line that says what to do, and the exit code.
//!
//! Exit codes: 0 done; 1 refused (the input, the request or a check failed: an invalid template, a
//! 4xx answer, a ✗ from doctor); 2 usage (bad arguments); 3 unavailable (the API or AWS could not
//! be reached, or answered 5xx: retrying the same command is safe).

use serde_json::Value;
use std::fmt;

/// The exit code for a refused input or request.
pub const EXIT_REFUSED: u8 = 1;
/// The exit code for bad arguments (also clap's).
pub const EXIT_USAGE: u8 = 2;
/// The exit code for an unreachable or failing service.
pub const EXIT_UNAVAILABLE: u8 = 3;

/// One error, shown as `error: <what> [<code>] — <what to do>`.
#[derive(Debug, Clone)]
pub struct CliError {
    /// Exit code.
    pub exit: u8,
    /// The server's problem+json `code`, when there is one.
    pub code: Option<String>,
    /// HTTP status, when an answer came.
    pub status: Option<u16>,
    /// What went wrong.
    pub what: String,
    /// What to do.
    pub hint: String,
    /// The problem document as the server sent it (for `--json`).
    pub body: Box<Value>,
}

impl CliError {
    /// Bad arguments.
    pub fn usage(what: impl Into<String>) -> Self {
        Self::new(EXIT_USAGE, what, "see --help")
    }

    /// The input was refused locally.
    pub fn refused(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(EXIT_REFUSED, what, hint)
    }

    /// Something could not be reached.
    pub fn unavailable(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(EXIT_UNAVAILABLE, what, hint)
    }

    fn new(exit: u8, what: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            exit,
            code: None,
            status: None,
            what: what.into(),
            hint: hint.into(),
            body: Box::new(Value::Null),
        }
    }

    /// A non-2xx answer: problem+json from a function, or API Gateway's own `{"message"}`.
    pub fn from_answer(status: u16, body: &Value) -> Self {
        let exit = if status >= 500 {
            EXIT_UNAVAILABLE
        } else {
            EXIT_REFUSED
        };
        let code = body.get("code").and_then(Value::as_str).map(str::to_owned);
        let what = match (
            body.get("detail").and_then(Value::as_str),
            body.get("message"),
        ) {
            (Some(detail), _) => detail.to_owned(),
            (None, Some(Value::String(m))) => format!("HTTP {status} {m}"),
            _ => match body {
                Value::String(s) if !s.is_empty() => format!("HTTP {status}: {}", first_line(s)),
                _ => format!("HTTP {status}"),
            },
        };
        let hint = hint_for(status, code.as_deref(), body);
        CliError {
            exit,
            code,
            status: Some(status),
            what,
            hint,
            body: Box::new(body.clone()),
        }
    }

    /// The answer's `Retry-After` (seconds), when it had one: a call in flight says when its
    /// lease ends, so the hint names that instead of "a few seconds".
    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        if let (Some(s), Some("payout_busy")) = (seconds, self.code.as_deref()) {
            self.hint = format!("a call is in flight: retry in {s} s, once its outcome is known");
        }
        self
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// What to do, for the codes an operator meets most, else by status.
fn hint_for(status: u16, code: Option<&str>, body: &Value) -> String {
    let by_code = match code {
        Some("invalid_template") => "correct the template (rewardsctl template validate FILE shows every problem)",
        Some("template_not_found") | Some("unknown_template") => "list the templates: rewardsctl template list",
        Some("pass_not_found") => "check the pass id (rewardsctl pass show PASSID)",
        Some("pass_status_conflict") => "a pass goes ACTIVE → USED → CLOSED only",
        Some("campaign_not_found") => "list the campaigns: rewardsctl campaign list",
        Some("campaign_not_paid") => "pay the campaign first: rewardsctl campaign show CROWDNO prints its pay URL and QR code",
        Some("campaign_paused") => "resume it: rewardsctl campaign resume CROWDNO",
        Some("campaign_closed") => "send from another campaign (--crowd-no)",
        Some("budget_exhausted") => "create a new campaign, or send from another one (--crowd-no)",
        Some("user_limit_reached") => "the campaign's sendFrequency allows no more for this user",
        Some("payout_not_found") | Some("envelope_not_found") => "list the ledger: rewardsctl payouts list",
        Some("payout_final") => "the entry is final; a FAILED business id is sent again with rewardsctl envelope send --retry-failed",
        Some("conflicting_repeat") => "this business id was already paid with other terms and nothing new was paid; --json shows the recorded entry (use a new business id for a new payout)",
        Some("payout_busy") | Some("claim_in_progress") | Some("idempotency_key_in_use") => "a call is in flight: retry in a few seconds",
        Some("idempotency_key_reused") => "use a new --idempotency-key for a different request",
        Some("alipay_rejected") => "Alipay refused the operation for the reason given; nothing was changed",
        Some("alipay_unavailable") => "Alipay's answer is not known; the same command is safe to retry",
        Some("alipay_busy") => "Alipay's rate limit did not run the call; the same command is safe to retry in a moment",
        Some("body_too_large") => "the body is over 64 KiB: make it smaller",
        _ => "",
    };
    if !by_code.is_empty() {
        return by_code.into();
    }
    let gateway_message = body.get("message").and_then(Value::as_str);
    match status {
        401 | 403 if gateway_message.is_some() => {
            "the API refused the SigV4 signature: check your AWS credentials (--profile, AWS_PROFILE), their execute-api:Invoke permission, and --region".into()
        }
        404 if gateway_message.is_some() => {
            "no such route: check --endpoint / --stack (is this the rewards API?)".into()
        }
        400 | 422 => "correct the input as the message says".into(),
        404 => "check the id".into(),
        409 => "retry in a few seconds".into(),
        429 => "throttled: retry in a few seconds".into(),
        s if s >= 500 => "the service failed or timed out; the same command is safe to retry".into(),
        _ => "see the message".into(),
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.what)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, " — {}", self.hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_shows_detail_code_and_what_to_do() {
        let e = CliError::from_answer(
            422,
            &json!({"type":"urn:problem:campaign_not_paid","title":"x","status":422,
                    "detail":"the campaign is not paid yet","code":"campaign_not_paid"}),
        );
        assert_eq!(e.exit, EXIT_REFUSED);
        assert_eq!(
            e.to_string(),
            "error: the campaign is not paid yet [campaign_not_paid] — pay the campaign first: rewardsctl campaign show CROWDNO prints its pay URL and QR code"
        );
    }

    #[test]
    fn a_retry_while_a_call_is_in_flight_is_refused_with_when_to_retry() {
        let busy = json!({"type":"urn:problem:payout_busy","title":"Conflict","status":409,
                          "detail":"a call for this payout is in flight; retry after its lease",
                          "code":"payout_busy"});
        let e = CliError::from_answer(409, &busy);
        assert_eq!(e.exit, EXIT_REFUSED);
        assert!(e.to_string().contains("a call is in flight"), "{e}");
        let e = CliError::from_answer(409, &busy).with_retry_after(Some(28));
        assert_eq!(e.exit, EXIT_REFUSED);
        assert_eq!(
            e.to_string(),
            "error: a call for this payout is in flight; retry after its lease [payout_busy] — a call is in flight: retry in 28 s, once its outcome is known"
        );
        // Other answers keep their hint whatever Retry-After says.
        let final_ = json!({"detail":"the payout is already SENT; there is nothing to retry","code":"payout_final"});
        let e = CliError::from_answer(409, &final_).with_retry_after(Some(5));
        assert!(e.hint.starts_with("the entry is final"), "{e}");
    }

    #[test]
    fn a_repeat_with_other_terms_says_nothing_new_was_paid() {
        let e = CliError::from_answer(
            409,
            &json!({"detail":"this business id was already paid with other terms (amount); nothing new was paid",
                    "code":"conflicting_repeat","fields":["amount"],"entry":{"state":"SENT"}}),
        );
        assert_eq!(e.exit, EXIT_REFUSED);
        assert!(e.hint.contains("nothing new was paid"), "{e}");
    }

    #[test]
    fn alipays_rate_limit_says_the_command_is_safe_to_repeat() {
        let e = CliError::from_answer(
            503,
            &json!({"detail":"Alipay is busy; retry later","code":"alipay_busy"}),
        );
        assert!(e.hint.contains("safe to retry"), "{e}");
        assert!(e.to_string().contains("[alipay_busy]"), "{e}");
    }

    #[test]
    fn gateway_answers_and_server_errors() {
        let e = CliError::from_answer(403, &json!({"message": "Forbidden"}));
        assert!(e
            .to_string()
            .starts_with("error: HTTP 403 Forbidden — the API refused the SigV4 signature"));
        let e = CliError::from_answer(504, &json!({"message": "Endpoint request timed out"}));
        assert_eq!(e.exit, EXIT_UNAVAILABLE);
        assert!(e.to_string().ends_with("the same command is safe to retry"));
        let e = CliError::from_answer(500, &Value::String("<html>\nboom".into()));
        assert_eq!(e.what, "HTTP 500: <html>");
    }
}
