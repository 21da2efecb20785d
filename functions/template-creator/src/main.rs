//! template-creator: operator routes for pass templates and pass status.
//!
//! `POST /templates`, `GET /templates`, `GET /templates/{templateId}`, `PUT /templates/{templateId}`,
//! `POST /passes/{passId}/status`. The body of a template route is the template content
//! (`{"logo","icon","strip","content": <pass.json>}`) plus optional `paramRules` and `perUserLimit`.
use std::collections::BTreeMap;

use lambda_edge::{deadline, json, json_body, path_param, route_key, Problem};
use lambda_http::{Body, Error, Request, Response};
use rewards_app::{problem, Env, OnFirstUse};
use rewards_core::ids::{PassId, TemplateId};
use rewards_core::pass::{PassService, PassStatus};
use rewards_core::template::{ParamRule, TemplateError, TemplateRecord, TemplateService};
use serde_json::{json as j, Value};

struct Ctx {
    templates: TemplateService,
    passes: PassService,
}

/// A template route's body: the content (`tpl_content`), the parameter rules, the per-user limit.
struct TemplateBody {
    content: Value,
    rules: BTreeMap<String, ParamRule>,
    per_user_limit: Option<u32>,
}

/// Splits the body into the template content (`tpl_content`), the parameter rules and the
/// per-user limit.
///
/// Two shapes are accepted: the template content itself (`{"logo","icon"?,"strip"?,"content":
/// <pass.json>}`), or a bare pass.json (`{"evoucherInfo","merchant",…}`) whose top-level `logo`,
/// `icon` and `strip` are moved beside it. Either may carry `paramRules` and `perUserLimit`.
fn template_body(req: &Request) -> Result<TemplateBody, Problem> {
    let body: Value = json_body(req)?;
    let Value::Object(mut body) = body else {
        return Err(Problem::bad_request(
            "body_invalid",
            "the body must be a JSON object",
        ));
    };
    let rules = match body.remove("paramRules") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(r) => serde_json::from_value(r).map_err(|e| {
            Problem::bad_request("invalid_param_rules", format!("/paramRules: {e}"))
        })?,
    };
    let per_user_limit = match body.remove("perUserLimit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid_per_user_limit",
                        "/perUserLimit must be a whole number of passes",
                    )
                })?,
        ),
    };
    if body.contains_key("content") {
        return Ok(TemplateBody {
            content: Value::Object(body),
            rules,
            per_user_limit,
        });
    }
    let mut tpl = serde_json::Map::new();
    for key in ["logo", "icon", "strip"] {
        if let Some(v) = body.remove(key) {
            tpl.insert(key.into(), v);
        }
    }
    tpl.insert("content".into(), Value::Object(body));
    Ok(TemplateBody {
        content: Value::Object(tpl),
        rules,
        per_user_limit,
    })
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
                .create(&body.content, &body.rules, body.per_user_limit)
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
                .update(&id, &body.content, &body.rules, body.per_user_limit)
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
