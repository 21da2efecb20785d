//! campaign-creator: cash red-envelope campaigns, from operator calls and from EventBridge schedules.
//!
//! HTTP: `POST /campaigns`, `GET /campaigns`, `GET /campaigns/{crowdNo}` (refreshed with
//! `cash.detail.query`), `POST /campaigns/{crowdNo}/status` `{"status":"PAUSE|READY|CLOSED"}`.
//! Schedule: `{"kind":"campaign-plan","scheduledTime":"<ISO 8601>","plan":{…}}` creates at most one
//! campaign per (plan, Beijing date of the scheduled time), however often the event is delivered.
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{json, json_body, path_param, route_key, Problem};
use rewards_core::campaign::{
    CampaignService, CampaignStatus, NewCampaignInput, ScheduleEvent, SlotOutcome,
};
use rewards_core::ids::CrowdNo;
use serde_json::{json as j, Value};

fn crowd(req: &Request) -> Result<CrowdNo, Problem> {
    CrowdNo::parse(&path_param(req, "crowdNo")?)
        .map_err(|e| Problem::bad_request("invalid_crowd_no", e.to_string()))
}

#[tracing::instrument(skip_all, fields(route = %route_key(&req)))]
async fn http(svc: &CampaignService, req: Request) -> Result<Response<Body>, Problem> {
    match route_key(&req).as_str() {
        "POST /campaigns" => {
            let input: NewCampaignInput = json_body(&req)?;
            Ok(json(
                201,
                &svc.create(&input.validate(svc.clock.now())?).await?,
            ))
        }
        "GET /campaigns" => Ok(json(200, &j!({ "campaigns": svc.list(100).await? }))),
        "GET /campaigns/{crowdNo}" => Ok(json(200, &svc.refresh(&crowd(&req)?).await?)),
        "POST /campaigns/{crowdNo}/status" => {
            let crowd_no = crowd(&req)?;
            let body: Value = json_body(&req)?;
            let target = match body.get("status").and_then(Value::as_str) {
                Some("PAUSE") => CampaignStatus::Pause,
                Some("READY") => CampaignStatus::Ready,
                Some("CLOSED") => CampaignStatus::Closed,
                _ => {
                    let detail = "/status must be PAUSE, READY or CLOSED";
                    return Err(Problem::bad_request("invalid_status", detail));
                }
            };
            Ok(json(200, &svc.set_status(&crowd_no, target).await?))
        }
        other => Err(Problem::no_route(other)),
    }
}

/// A schedule event; an error makes the invocation fail, so EventBridge retries and then
/// dead-letters it (the slot makes the retries safe).
async fn scheduled(svc: &CampaignService, event: Value) -> Result<Value, Error> {
    let ScheduleEvent { plan, slot } = ScheduleEvent::from_json(&event, svc.clock.now())?;
    let (created, campaign) = match svc.run_slot(&plan, &slot).await {
        Ok(SlotOutcome::Created(c)) => (true, c),
        Ok(SlotOutcome::AlreadyCreated(c)) => (false, c),
        Err(e) => return Err(format!("{}: {e}", rewards_core::DomainError::code(&e)).into()),
    };
    Ok(j!({ "slot": slot, "created": created, "campaign": campaign }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let build =
        |app: rewards_app::App| async move { Ok(app.campaign_service(&app.alipay().await?)) };
    rewards_app::serve_http_and_events(build, http, scheduled).await
}
