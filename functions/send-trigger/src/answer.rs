//! What a send answers, as stored for an `Idempotency-Key` replay: the ledger entry mapped to a
//! status and body, or the problem.
use lambda_http_kit::{metric, Problem};
use rewards_core::idempotency::StoredResponse;
use rewards_core::payout::{PayoutEntry, PayoutState, RailName, SendInput, SendService};
use serde::Serialize;
use serde_json::Value;

fn stored(status: u16, body: &impl Serialize) -> StoredResponse {
    let body = serde_json::to_string(body).unwrap_or_default();
    StoredResponse { status, body }
}

/// Maps a ledger entry to the HTTP answer: SENT 201/200, FAILED 422 with a stable code, PENDING /
/// UNKNOWN / NEEDS_ATTENTION 202 (the outcome is being resolved with the same out_biz_no).
fn answer(entry: &PayoutEntry, replayed: bool) -> StoredResponse {
    match &entry.state {
        PayoutState::Sent { .. } => stored(if replayed { 200 } else { 201 }, &entry.view()),
        PayoutState::Failed { refusal } => {
            let detail = match entry.rail.name() {
                RailName::Campaign => {
                    format!("Alipay refused the envelope: {}", refusal.failure_reason)
                }
                // A transfer's failure text is kept in the entry for the operator only.
                RailName::Transfer => "Alipay refused or failed the transfer".to_owned(),
            };
            let view = serde_json::to_value(entry.view()).unwrap_or(Value::Null);
            stored(
                422,
                &Problem::new(422, entry.rail.refusal_code(refusal), detail).with("entry", view),
            )
        }
        PayoutState::Pending | PayoutState::Unknown { .. } | PayoutState::NeedsAttention { .. } => {
            stored(202, &entry.view())
        }
    }
}

pub async fn send(sends: &SendService, input: &SendInput) -> StoredResponse {
    let sent = match input.validate() {
        Ok(request) => sends.send(&request).await.map_err(Problem::from),
        Err(e) => return problem_answer(&Problem::from(e)),
    };
    let outcome = sent
        .as_ref()
        .map_or_else(|p| p.code.as_str(), |r| r.entry.state.name());
    metric("Rewards", "EnvelopeSends", 1.0, &[("Outcome", outcome)]);
    match sent {
        Ok(result) => answer(&result.entry, result.replayed),
        Err(p) => problem_answer(&p),
    }
}

fn problem_answer(p: &Problem) -> StoredResponse {
    stored(p.status, p)
}
