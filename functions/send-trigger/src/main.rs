//! send-trigger: cash red envelopes, exactly once per business id.
//!
//! `POST /envelopes` `{"reason":"points_exchange"|"referral","businessId","userId"|"openId","crowdNo"?}`
//! (optional `Idempotency-Key` header: same key and body → same answer, other body → 422, still
//! running → 409); `GET /envelopes/{outBizNo}`; `GET /users/{userId}/envelopes`; the operator's
//! `GET /payouts?state=&crowdNo=&reason=&day=&cursor=&limit=` and `POST /payouts/{outBizNo}/retry`.
//! The ledger entry is written before Alipay is called; see docs/domain.md for the states and the
//! reconciliation rule.
use lambda_edge::{
    deadline, header, json, json_body, metric, path_param, query_param, route_key, Problem,
};
use lambda_http::{Body, Error, Request, Response};
use rewards_app::{problem, Env, OnFirstUse};
use rewards_core::idempotency::{fingerprint, IdemKey, IdempotencyService, StoredResponse};
use rewards_core::ids::{OpenId, OutBizNo, UserId};
use rewards_core::payout::{
    ListInput, PayoutEntry, PayoutState, Recipient, SendInput, SendResult, SendService,
};
use serde_json::{json as j, Value};

struct Ctx {
    sends: SendService,
    idempotency: IdempotencyService,
}

/// The entry as callers see it (the fence token and lease are internal).
fn view(entry: &PayoutEntry) -> Value {
    let mut v = serde_json::to_value(entry).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("fence");
        o.remove("leaseUntil");
        o.insert("state".into(), j!(entry.state.name()));
        o.insert(
            "outcome".into(),
            serde_json::to_value(&entry.state).unwrap_or(Value::Null),
        );
    }
    v
}

/// Maps a ledger entry to the HTTP answer: SENT 201/200, FAILED 422 with a stable code, PENDING /
/// UNKNOWN / NEEDS_ATTENTION 202 (the outcome is being resolved with the same out_biz_no).
fn answer(entry: &PayoutEntry, replayed: bool) -> StoredResponse {
    let (status, body) = match &entry.state {
        PayoutState::Sent { .. } => (if replayed { 200 } else { 201 }, view(entry)),
        PayoutState::Failed { refusal } => {
            let p = Problem::new(
                422,
                refusal.stable_code(),
                format!("Alipay refused the envelope: {}", refusal.failure_reason),
            )
            .with("entry", view(entry));
            (422, serde_json::to_value(&p).unwrap_or(Value::Null))
        }
        PayoutState::Pending | PayoutState::Unknown { .. } | PayoutState::NeedsAttention { .. } => {
            (202, view(entry))
        }
    };
    StoredResponse {
        status,
        body: body.to_string(),
    }
}

fn respond(r: StoredResponse) -> Response<Body> {
    let content_type = if r.status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut builder = Response::builder()
        .status(r.status)
        .header(lambda_http::http::header::CONTENT_TYPE, content_type);
    if r.status == 503 {
        builder = builder.header(
            lambda_http::http::header::RETRY_AFTER,
            lambda_edge::DEFAULT_RETRY_AFTER_SECS,
        );
    }
    builder
        .body(Body::Text(r.body))
        .unwrap_or_else(|_| Problem::internal().into_response())
}

async fn send(sends: &SendService, input: &SendInput) -> StoredResponse {
    let request = match input.validate() {
        Ok(r) => r,
        Err(e) => {
            let p = problem(&e);
            return StoredResponse {
                status: p.status,
                body: serde_json::to_string(&p).unwrap_or_default(),
            };
        }
    };
    match sends.send(&request).await {
        Ok(result) => {
            metric(
                "Rewards",
                "EnvelopeSends",
                1.0,
                &[("Outcome", result.entry.state.name())],
            );
            answer(&result.entry, result.replayed)
        }
        Err(e) => {
            let p = problem(&e);
            metric(
                "Rewards",
                "EnvelopeSends",
                1.0,
                &[("Outcome", p.code.as_str())],
            );
            StoredResponse {
                status: p.status,
                body: serde_json::to_string(&p).unwrap_or_default(),
            }
        }
    }
}

fn out_biz_no(req: &Request) -> Result<OutBizNo, Problem> {
    OutBizNo::parse(&path_param(req, "outBizNo")?)
        .map_err(|e| Problem::bad_request("invalid_out_biz_no", e.to_string()))
}

async fn handle(ctx: &Ctx, req: Request) -> Result<Response<Body>, Problem> {
    match route_key(&req).as_str() {
        "POST /envelopes" => {
            let raw: Value = json_body(&req)?;
            let input: SendInput = serde_json::from_value(raw.clone()).map_err(|e| {
                Problem::bad_request("body_invalid", format!("the JSON body is invalid: {e}"))
            })?;
            let Some(key) = header(&req, "idempotency-key") else {
                return Ok(respond(send(&ctx.sends, &input).await));
            };
            let key = IdemKey::new("backend", key).map_err(|e| problem(&e))?;
            let outcome = ctx
                .idempotency
                .run(&key, &fingerprint("POST /envelopes", &raw), || {
                    send(&ctx.sends, &input)
                })
                .await
                .map_err(|e| problem(&e))?;
            Ok(respond(outcome.response))
        }
        "GET /envelopes/{outBizNo}" => {
            let entry = ctx
                .sends
                .get(&out_biz_no(&req)?)
                .await
                .map_err(|e| problem(&e))?;
            Ok(json(200, &view(&entry)))
        }
        "GET /payouts" => {
            let input = ListInput {
                state: query_param(&req, "state"),
                crowd_no: query_param(&req, "crowdNo"),
                reason: query_param(&req, "reason"),
                day: query_param(&req, "day"),
                cursor: query_param(&req, "cursor"),
                limit: query_param(&req, "limit"),
            };
            let list = input.validate().map_err(|e| problem(&e))?;
            let page = ctx
                .sends
                .list(&list.filter, list.cursor.as_ref(), list.limit)
                .await
                .map_err(|e| problem(&e))?;
            let views: Vec<Value> = page.entries.iter().map(view).collect();
            Ok(json(
                200,
                &j!({ "payouts": views, "nextCursor": page.next.map(|c| c.encode()) }),
            ))
        }
        "POST /payouts/{outBizNo}/retry" => {
            let SendResult { entry, .. } = ctx
                .sends
                .probe_now(&out_biz_no(&req)?)
                .await
                .map_err(|e| problem(&e))?;
            Ok(json(200, &view(&entry)))
        }
        "GET /users/{userId}/envelopes" => {
            let text = path_param(&req, "userId")?;
            let who = match UserId::parse(&text) {
                Ok(u) => Recipient::UserId(u),
                Err(_) => Recipient::OpenId(
                    OpenId::parse(&text)
                        .map_err(|e| Problem::bad_request("invalid_user_id", e.to_string()))?,
                ),
            };
            let list = ctx
                .sends
                .by_recipient(&who, 100)
                .await
                .map_err(|e| problem(&e))?;
            let views: Vec<Value> = list.iter().map(view).collect();
            Ok(json(200, &j!({ "envelopes": views })))
        }
        other => Err(Problem::no_route(other)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::init_logging();
    let env = Env::load().await?;
    // Keys on first use (warmed at init), so a hanging Secrets Manager is a 503 too. A send cut by
    // the deadline leaves its entry PENDING; the reconciler resolves it with the same out_biz_no.
    let ctx = OnFirstUse::new(move || {
        let env = env.clone();
        async move {
            let alipay = env.alipay().await?;
            Ok(Ctx {
                sends: env.send_service(&alipay),
                idempotency: env.idempotency(),
            })
        }
    });
    ctx.warm().await;
    let ctx = &ctx;
    deadline::serve(deadline::timeout_problem(), |req| async move {
        match ctx.get().await {
            Ok(ctx) => handle(ctx, req).await,
            Err(p) => Err(p),
        }
        .unwrap_or_else(Problem::into_response)
    })
    .await
}
