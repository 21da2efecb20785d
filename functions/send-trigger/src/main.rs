//! send-trigger: cash red envelopes, exactly once per business id.
//!
//! `POST /envelopes` `{"reason":"points_exchange"|"referral","businessId","userId"|"openId","crowdNo"?}`
//! (optional `Idempotency-Key` header: same key and body → same answer, other body → 422, still
//! running → 409); `GET /envelopes/{outBizNo}`; `GET /users/{userId}/envelopes`; the operator's
//! `GET /payouts?state=&crowdNo=&reason=&day=&cursor=&limit=` and `POST /payouts/{outBizNo}/retry`.
//! The ledger entry is written before Alipay is called; see docs/domain.md for the states and the
//! reconciliation rule. A send cut by the deadline leaves its entry PENDING; the reconciler
//! resolves it with the same out_biz_no.
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{
    header, json, json_body, json_text, metric, path_param, query_param, route_key, Problem,
};
use rewards_core::idempotency::{fingerprint, IdemKey, IdempotencyService, StoredResponse};
use rewards_core::ids::{OpenId, OutBizNo, UserId};
use rewards_core::payout::{
    ListInput, PayoutEntry, PayoutState, Recipient, SendInput, SendService,
};
use serde::Serialize;
use serde_json::{json as j, Value};

struct Ctx {
    sends: SendService,
    idempotency: IdempotencyService,
}

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
            let detail = format!("Alipay refused the envelope: {}", refusal.failure_reason);
            let view = serde_json::to_value(entry.view()).unwrap_or(Value::Null);
            stored(
                422,
                &Problem::new(422, refusal.stable_code(), detail).with("entry", view),
            )
        }
        PayoutState::Pending | PayoutState::Unknown { .. } | PayoutState::NeedsAttention { .. } => {
            stored(202, &entry.view())
        }
    }
}

#[tracing::instrument(skip_all)]
async fn send(sends: &SendService, input: &SendInput) -> StoredResponse {
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

fn out_biz_no(req: &Request) -> Result<OutBizNo, Problem> {
    OutBizNo::parse(&path_param(req, "outBizNo")?)
        .map_err(|e| Problem::bad_request("invalid_out_biz_no", e.to_string()))
}

fn recipient(req: &Request) -> Result<Recipient, Problem> {
    let text = path_param(req, "userId")?;
    Ok(match UserId::parse(&text) {
        Ok(u) => Recipient::UserId(u),
        Err(_) => Recipient::OpenId(
            OpenId::parse(&text)
                .map_err(|e| Problem::bad_request("invalid_user_id", e.to_string()))?,
        ),
    })
}

fn list_input(req: &Request) -> ListInput {
    let q = |name| query_param(req, name);
    ListInput {
        state: q("state"),
        crowd_no: q("crowdNo"),
        reason: q("reason"),
        day: q("day"),
        cursor: q("cursor"),
        limit: q("limit"),
    }
}

/// `POST /envelopes`, once per `Idempotency-Key` when the caller gives one.
async fn post_envelope(ctx: &Ctx, req: &Request) -> Result<Response<Body>, Problem> {
    let raw: Value = json_body(req)?;
    let input: SendInput = serde_json::from_value(raw.clone()).map_err(|e| {
        Problem::bad_request("body_invalid", format!("the JSON body is invalid: {e}"))
    })?;
    let answer = match header(req, "idempotency-key") {
        None => send(&ctx.sends, &input).await,
        Some(key) => {
            let key = IdemKey::new("backend", key)?;
            let fingerprint = fingerprint("POST /envelopes", &raw);
            let run = ctx
                .idempotency
                .run(&key, &fingerprint, || send(&ctx.sends, &input));
            run.await?.response
        }
    };
    Ok(json_text(answer.status, answer.body))
}

#[tracing::instrument(skip_all, fields(route = %route_key(&req)))]
async fn handle(ctx: &Ctx, req: Request) -> Result<Response<Body>, Problem> {
    let sends = &ctx.sends;
    match route_key(&req).as_str() {
        "POST /envelopes" => post_envelope(ctx, &req).await,
        "GET /envelopes/{outBizNo}" => Ok(json(200, &sends.get(&out_biz_no(&req)?).await?.view())),
        "GET /payouts" => {
            let list = list_input(&req).validate()?;
            let page = sends
                .list(&list.filter, list.cursor.as_ref(), list.limit)
                .await?;
            let views: Vec<_> = page.entries.iter().map(PayoutEntry::view).collect();
            let next = page.next.map(|c| c.encode());
            Ok(json(200, &j!({ "payouts": views, "nextCursor": next })))
        }
        "POST /payouts/{outBizNo}/retry" => {
            let entry = sends.probe_now(&out_biz_no(&req)?).await?.entry;
            Ok(json(200, &entry.view()))
        }
        "GET /users/{userId}/envelopes" => {
            let list = sends.by_recipient(&recipient(&req)?, 100).await?;
            let views: Vec<_> = list.iter().map(PayoutEntry::view).collect();
            Ok(json(200, &j!({ "envelopes": views })))
        }
        other => Err(Problem::no_route(other)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let build = |app: rewards_app::App| async move {
        let alipay = app.alipay().await?;
        Ok(Ctx {
            sends: app.send_service(&alipay),
            idempotency: app.idempotency(),
        })
    };
    rewards_app::serve_http(build, handle).await
}
