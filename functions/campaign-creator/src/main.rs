//! campaign-creator: cash red-envelope campaigns, from operator calls and from EventBridge schedules.
//!
//! HTTP: `POST /campaigns`, `GET /campaigns`, `GET /campaigns/{crowdNo}` (refreshed with
//! `cash.detail.query`), `POST /campaigns/{crowdNo}/status` `{"status":"PAUSE|READY|CLOSED"}`.
//! Schedule: `{"kind":"campaign-plan","scheduledTime":"<ISO 8601>","plan":{…}}` creates at most one
//! campaign per (plan, Beijing date of the scheduled time), however often the event is delivered.
use lambda_edge::{
    deadline, http_or_event, json, json_body, path_param, response_event, route_key, Problem,
};
use lambda_http::{Body, Error, Request, Response};
use lambda_runtime::{service_fn, LambdaEvent};
use rewards_app::{problem, Env, OnFirstUse};
use rewards_core::campaign::{
    CampaignError, CampaignService, CampaignStatus, NewCampaignInput, SchedulePlan, SendFrequency,
    SlotOutcome,
};
use rewards_core::ids::CrowdNo;
use rewards_core::ports::PrizeType;
use rewards_core::AmountFen;
use rewards_core::Timestamp;
use serde_json::{json as j, Value};

fn crowd(req: &Request) -> Result<CrowdNo, Problem> {
    CrowdNo::parse(&path_param(req, "crowdNo")?)
        .map_err(|e| Problem::bad_request("invalid_crowd_no", e.to_string()))
}

async fn http(svc: &CampaignService, req: Request) -> Result<Response<Body>, Problem> {
    match route_key(&req).as_str() {
        "POST /campaigns" => {
            let input: NewCampaignInput = json_body(&req)?;
            let new = input.validate(svc.clock.now()).map_err(|e| problem(&e))?;
            let c = svc.create(&new).await.map_err(|e| problem(&e))?;
            Ok(json(201, &c))
        }
        "GET /campaigns" => {
            let all = svc.list(100).await.map_err(|e| problem(&e))?;
            Ok(json(200, &j!({ "campaigns": all })))
        }
        "GET /campaigns/{crowdNo}" => {
            let c = svc.refresh(&crowd(&req)?).await.map_err(|e| problem(&e))?;
            Ok(json(200, &c))
        }
        "POST /campaigns/{crowdNo}/status" => {
            let crowd_no = crowd(&req)?;
            let body: Value = json_body(&req)?;
            let target = match body.get("status").and_then(Value::as_str) {
                Some("PAUSE") => CampaignStatus::Pause,
                Some("READY") => CampaignStatus::Ready,
                Some("CLOSED") => CampaignStatus::Closed,
                _ => {
                    return Err(Problem::bad_request(
                        "invalid_status",
                        "/status must be PAUSE, READY or CLOSED",
                    ))
                }
            };
            let c = svc
                .set_status(&crowd_no, target)
                .await
                .map_err(|e| problem(&e))?;
            Ok(json(200, &c))
        }
        other => Err(Problem::no_route(other)),
    }
}

/// The schedule slot: the Beijing date of the scheduled time (or of now for a hand-fired event).
fn slot_of(event: &Value, now: Timestamp) -> String {
    if let Some(slot) = event.get("slot").and_then(Value::as_str) {
        return slot.to_string();
    }
    let at = event
        .get("scheduledTime")
        .or_else(|| event.get("time"))
        .and_then(Value::as_str)
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
        .unwrap_or(now);
    at.beijing_date()
}

/// The plan as an operator writes it in `template.yaml` (yuan strings, days).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanInput {
    name: String,
    coupon_name: String,
    prize_type: PrizeType,
    total_money: String,
    total_num: u32,
    prize_msg: String,
    #[serde(default)]
    duration_days: Option<u32>,
    #[serde(default)]
    duration_hours: Option<u32>,
    merchant_link: String,
    #[serde(default)]
    send_frequency: Option<String>,
}

fn plan_of(event: &Value) -> Result<SchedulePlan, String> {
    let input: PlanInput =
        serde_json::from_value(event.get("plan").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("schedule event has no valid plan: {e}"))?;
    Ok(SchedulePlan {
        plan_id: input.name,
        coupon_name: input.coupon_name,
        prize_type: input.prize_type,
        total_money: AmountFen::parse_yuan(&input.total_money)
            .map_err(|e| format!("plan.totalMoney: {e}"))?,
        total_num: input.total_num,
        prize_msg: input.prize_msg,
        duration_hours: input
            .duration_hours
            .or(input.duration_days.map(|d| d.saturating_mul(24)))
            .unwrap_or(7 * 24),
        merchant_link: input.merchant_link,
        send_frequency: input
            .send_frequency
            .map(|f| SendFrequency::parse(&f).map_err(|e| format!("plan.sendFrequency: {e}")))
            .transpose()?,
    })
}

async fn scheduled(svc: &CampaignService, event: Value) -> Result<Value, Error> {
    let plan = plan_of(&event)?;
    let slot = slot_of(&event, svc.clock.now());
    let mut outcome = svc.create_for_slot(&plan, &slot).await;
    if matches!(outcome, Err(CampaignError::SlotUnknown)) {
        // An earlier create's answer was lost: look the campaign up by the slot's coupon name
        // (`list.query`). Found → recorded; none → the slot is freed and created now; several →
        // left for a person (the invocation fails and dead-letters).
        outcome = match svc.reconcile_slot(&plan, &slot).await {
            Ok(Some(c)) => Ok(SlotOutcome::AlreadyCreated(c)),
            Ok(None) => svc.create_for_slot(&plan, &slot).await,
            Err(e) => Err(e),
        };
    }
    match outcome {
        Ok(SlotOutcome::Created(c)) => Ok(j!({ "slot": slot, "created": true, "campaign": c })),
        Ok(SlotOutcome::AlreadyCreated(c)) => {
            Ok(j!({ "slot": slot, "created": false, "campaign": c }))
        }
        // An error makes the invocation fail, so EventBridge retries and then dead-letters it.
        Err(e) => Err(format!("{}: {e}", rewards_core::DomainError::code(&e)).into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::init_logging();
    let env = Env::load().await?;
    // Keys on first use (warmed at init), so a hanging Secrets Manager is a 503 too.
    let svc = OnFirstUse::new(move || {
        let env = env.clone();
        async move { Ok(env.campaign_service(&env.alipay().await?)) }
    });
    svc.warm().await;
    let svc = &svc;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let context = event.context;
        match http_or_event(event.payload) {
            Ok(req) => {
                let answer = deadline::within_context(&context, async {
                    match svc.get().await {
                        Ok(svc) => http(svc, req).await,
                        Err(p) => Err(p),
                    }
                    .unwrap_or_else(Problem::into_response)
                })
                .await
                .unwrap_or_else(|_| deadline::timeout_problem().into_response());
                Ok(response_event(answer))
            }
            // A schedule past its deadline fails, so EventBridge retries it (the slot makes that safe).
            Err(other) => deadline::within_context(&context, async {
                let svc = svc
                    .get()
                    .await
                    .map_err(|p| Error::from(format!("{}: {}", p.code, p.detail)))?;
                scheduled(svc, other).await
            })
            .await
            .map_err(Error::from)?,
        }
    }))
    .await
}
