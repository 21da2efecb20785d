//! template-creator: operator routes for pass templates and pass status.
//!
//! `POST /templates`, `GET /templates`, `GET /templates/{templateId}`, `PUT /templates/{templateId}`,
//! `POST /passes/{passId}/status`. The body of a template route is the template content
//! (`{"logo","icon","strip","content": <pass.json>}`) plus optional `paramRules` and `perUserLimit`.

use lambda_edge::{deadline, json, json_body, path_param, route_key, Problem};
use lambda_http::{Body, Error, Request, Response};
use rewards_app::{problem, Env, OnFirstUse};
use rewards_core::ids::{PassId, TemplateId};
use rewards_core::pass::{PassService, PassStatus};
use rewards_core::template::{TemplateError, TemplateRecord, TemplateService};
use rewards_core::template_body::{split_template_body, TemplateBody};
use serde_json::{json as j, Value};

struct Ctx {
    templates: TemplateService,
    passes: PassService,
}

/// Splits the body into the template content (`tpl_content`), the parameter rules and the
/// per-user limit (`rewards_core::template_body`, shared with `rewardsctl template validate`).
fn template_body(req: &Request) -> Result<TemplateBody, Problem> {
    let body: Value = json_body(req)?;
    split_template_body(body).map_err(|e| problem(&e))
}

/// Domain errors; a validation failure lists every issue with its JSON pointer.
fn template_problem(e: &TemplateError) -> Problem {
    match e {
        TemplateError::Invalid(issues) => {
            let first = issues
                .first()
                .map(|i| format!("{} {}: {}", i.pointer, i.code, i.message))
                .unwrap_or_default();
            Problem::bad_request(
                "invalid_template",
                format!("the pass template is invalid: {first}"),
            )
            .with(
                "errors",
                serde_json::to_value(issues).unwrap_or(Value::Null),
            )
        }
        other => problem(other),
    }
}

fn summary(t: &TemplateRecord) -> Value {
    j!({
        "templateId": t.template_id,
        "tplParams": t.tpl_params,
        "perUserLimit": t.per_user_limit,
        "template": t
    })
}

async fn handle(ctx: &Ctx, req: Request) -> Result<Response<Body>, Problem> {
    match route_key(&req).as_str() {
        "POST /templates" => {
            let body = template_body(&req)?;
            let t = ctx
                .templates
                .create(&body.tpl_content, &body.rules, body.per_user_limit)
                .await
                .map_err(|e| template_problem(&e))?;
            Ok(json(201, &summary(&t)))
        }
        "GET /templates" => {
            let all = ctx.templates.list(100).await.map_err(|e| problem(&e))?;
            Ok(json(200, &j!({ "templates": all })))
        }
        "GET /templates/{templateId}" => {
            let id = TemplateId::parse(&path_param(&req, "templateId")?)
                .map_err(|e| Problem::bad_request("invalid_template_id", e.to_string()))?;
            let t = ctx.templates.get(&id).await.map_err(|e| problem(&e))?;
            Ok(json(200, &t))
        }
        "PUT /templates/{templateId}" => {
            let id = TemplateId::parse(&path_param(&req, "templateId")?)
                .map_err(|e| Problem::bad_request("invalid_template_id", e.to_string()))?;
            let body = template_body(&req)?;
            let t = ctx
                .templates
                .update(&id, &body.tpl_content, &body.rules, body.per_user_limit)
                .await
                .map_err(|e| template_problem(&e))?;
            Ok(json(200, &summary(&t)))
        }
        "POST /passes/{passId}/status" => {
            let id = PassId::parse(&path_param(&req, "passId")?)
                .map_err(|e| Problem::bad_request("invalid_pass_id", e.to_string()))?;
            let body: Value = json_body(&req)?;
            let status = match body.get("status").and_then(Value::as_str) {
                Some("USED") => PassStatus::Used,
                Some("CLOSED") => PassStatus::Closed,
                _ => {
                    return Err(Problem::bad_request(
                        "invalid_status",
                        "/status must be USED or CLOSED",
                    ))
                }
            };
            let p = ctx
                .passes
                .set_status(&id, status)
                .await
                .map_err(|e| problem(&e))?;
            Ok(json(200, &p))
        }
        other => Err(Problem::no_route(other)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::init_logging();
    let env = Env::load().await?;
    // Keys on first use (warmed at init), so a hanging Secrets Manager is a 503 too.
    let ctx = OnFirstUse::new(move || {
        let env = env.clone();
        async move {
            let alipay = env.alipay().await?;
            Ok(Ctx {
                templates: env.template_service(&alipay),
                passes: env.pass_service(&alipay),
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
