//! pass-callback: the template's `merchant.mcallbackUrl`. Alipay's claim component calls
//! `GET /alipay/pass-callback?templateId=&userId=&token=&timestamp=` when a user taps claim; the query
//! is untrusted input (the call is not signed: authenticity rests on Alipay checking the one-time
//! `token` when we issue the pass). Answers are the component JSON documented in the README:
//! `{"success":true,"passId","serialNumber"}`, or problem+json carrying `"success":false` (429
//! with `Retry-After` when the failed-claims budget is spent; 503 `alipay_busy` with `Retry-After`
//! when Alipay's rate limit answered, which counts as no failed claim). Alipay's own refusal text never
//! reaches the caller (it would tell an outsider whether a token exists and for whom); the log keeps
//! it, with the request id.
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{deadline, json, metric, query_param, Problem};
use rewards_core::claim::{component_answer, ClaimQuery, ClaimService};
use serde_json::json as j;

#[tracing::instrument(skip_all)]
async fn handle(claims: &ClaimService, req: Request) -> Response<Body> {
    let query = ClaimQuery {
        template_id: query_param(&req, "templateId"),
        user_id: query_param(&req, "userId"),
        token: query_param(&req, "token"),
        timestamp: query_param(&req, "timestamp"),
    };
    match claims.claim(&query).await {
        Ok(answer) => {
            metric(
                "Rewards",
                "PassClaims",
                1.0,
                &[(
                    "Outcome",
                    if answer.replayed {
                        "replayed"
                    } else {
                        "issued"
                    },
                )],
            );
            json(200, &component_answer(&Ok(answer)))
        }
        Err(e) => {
            if let Some(f) = e.refusal() {
                tracing::warn!(
                    alipay_code = %f.code,
                    alipay_sub_code = f.sub_code.as_deref().unwrap_or(""),
                    alipay_reason = %f.reason(),
                    "Alipay refused to issue the pass"
                );
            }
            let p = Problem::from_domain(&e);
            metric(
                "Rewards",
                "PassClaims",
                1.0,
                &[("Outcome", p.code.as_str())],
            );
            component_problem(p).into_response()
        }
    }
}

/// A problem as the claim component reads it (`success:false` and `message` beside the code).
fn component_problem(p: Problem) -> Problem {
    let message = p.detail.clone();
    p.with("success", j!(false)).with("message", j!(message))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The component gets its answer within ANSWER_BUDGET_MS (template parameter ClaimAnswerBudgetMs).
    let claims = rewards_app::ready_on_first_use(|app| async move {
        Ok(app.claim_service(&app.alipay().await?))
    })
    .await?;
    let on_timeout = component_problem(deadline::timeout_problem());
    deadline::serve(on_timeout, |req| async move {
        match claims.get().await {
            Ok(claims) => handle(claims, req).await,
            Err(p) => component_problem(p).into_response(),
        }
    })
    .await
}
