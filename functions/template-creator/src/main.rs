//! template-creator: operator routes for pass templates and pass status.
//!
//! `POST /templates`, `GET /templates`, `GET /templates/{templateId}`, `PUT /templates/{templateId}`,
//! `POST /passes/{passId}/status`. The body of a template route is read by
//! `rewards_core::template_body::split_template_body` (either of its two forms, plus `paramRules`
//! and `perUserLimit`; the same code `rewardsctl template validate` runs).
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{json, json_body, path_param, route_key, Problem};
use rewards_core::ids::{PassId, TemplateId};
use rewards_core::pass::{PassService, PassStatus};
use rewards_core::template::{TemplateRecord, TemplateService};
use rewards_core::template_body::split_template_body;
use serde::Serialize;
use serde_json::{json as j, Value};

struct Ctx {
    templates: TemplateService,
    passes: PassService,
}

impl Ctx {
    /// Both services share one Alipay client.
    async fn build(app: rewards_app::App) -> Result<Self, rewards_app::StartupError> {
        let alipay = app.alipay().await?;
        Ok(Self {
            templates: app.template_service(&alipay),
            passes: app.pass_service(&alipay),
        })
    }
}

/// The answer to a create or update: the template's id, variables and limit, and the record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    template_id: &'a TemplateId,
    tpl_params: &'a [String],
    per_user_limit: u32,
    template: &'a TemplateRecord,
}

fn summary(t: &TemplateRecord) -> Summary<'_> {
    Summary {
        template_id: &t.template_id,
        tpl_params: &t.tpl_params,
        per_user_limit: t.per_user_limit,
        template: t,
    }
}

fn template_id(req: &Request) -> Result<TemplateId, Problem> {
    TemplateId::parse(&path_param(req, "templateId")?)
        .map_err(|e| Problem::bad_request("invalid_template_id", e.to_string()))
}

#[tracing::instrument(skip_all, fields(route = %route_key(&req)))]
async fn handle(ctx: &Ctx, req: Request) -> Result<Response<Body>, Problem> {
    let svc = &ctx.templates;
    match route_key(&req).as_str() {
        "POST /templates" => {
            let b = split_template_body(json_body(&req)?)?;
            let t = svc
                .create(&b.tpl_content, &b.rules, b.per_user_limit)
                .await?;
            Ok(json(201, &summary(&t)))
        }
        "GET /templates" => Ok(json(200, &j!({ "templates": svc.list(100).await? }))),
        "GET /templates/{templateId}" => Ok(json(200, &svc.get(&template_id(&req)?).await?)),
        "PUT /templates/{templateId}" => {
            let id = template_id(&req)?;
            let b = split_template_body(json_body(&req)?)?;
            let t = svc
                .update(&id, &b.tpl_content, &b.rules, b.per_user_limit)
                .await?;
            Ok(json(200, &summary(&t)))
        }
        "POST /passes/{passId}/status" => {
            let id = PassId::parse(&path_param(&req, "passId")?)
                .map_err(|e| Problem::bad_request("invalid_pass_id", e.to_string()))?;
            let body: Value = json_body(&req)?;
            let status = body
                .get("status")
                .and_then(Value::as_str)
                .and_then(PassStatus::parse_target)
                .ok_or_else(|| {
                    Problem::bad_request("invalid_status", "/status must be USED or CLOSED")
                })?;
            Ok(json(200, &ctx.passes.set_status(&id, status).await?))
        }
        other => Err(Problem::no_route(other)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    rewards_app::serve_http(Ctx::build, handle).await
}
