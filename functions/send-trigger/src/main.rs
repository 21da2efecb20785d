//! send-trigger: cash red envelopes, exactly once per business id.
//!
//! `POST /envelopes` `{"reason":"points_exchange"|"referral","businessId","userId"|"openId","crowdNo"?}`
//! (optional `Idempotency-Key` header: same key and body → same answer, other body → 422, still
//! running → 409); `GET /envelopes/{outBizNo}`; `GET /users/{userId}/envelopes`; the operator's
//! `GET /payouts?state=&crowdNo=&reason=&day=&cursor=&limit=` and `POST /payouts/{outBizNo}/retry`.
//! The ledger entry is written before Alipay is called; see docs/domain.md for the states and the
//! reconciliation rule. A send cut by the deadline leaves its entry PENDING; the reconciler
//! resolves it with the same out_biz_no.
mod answer;
mod params;

use answer::send;
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{header, json, json_body, json_text, route_key, Problem};
use params::{list_input, out_biz_no, recipient};
use rewards_core::idempotency::{fingerprint, IdemKey, IdempotencyService};
use rewards_core::payout::{PayoutEntry, SendInput, SendService};
use serde_json::{json as j, Value};

struct Ctx {
    sends: SendService,
    idempotency: IdempotencyService,
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
            let page = sends.list(&list_input(&req).validate()?).await?;
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
