//! pass-callback: the template's `merchant.mcallbackUrl`. Alipay's claim component calls
//! `GET /alipay/pass-callback?templateId=&userId=&token=&timestamp=` when a user taps claim; the query
//! is untrusted input (the call is not signed: authenticity rests on Alipay checking the one-time
//! `token` when we issue the pass). Answers are the component JSON documented in the README:
//! `{"success":true,"passId","serialNumber"}`, or problem+json carrying `"success":false` (429
//! with `Retry-After` when the failed-claims budget is spent). Alipay's own refusal text never
//! reaches the caller (it would tell an outsider whether a token exists and for whom); the log keeps
//! it, with the request id.
use lambda_edge::{json, metric, query_param, Problem};
use lambda_http::http::header::{HeaderValue, RETRY_AFTER};
use lambda_http::{run, service_fn, Body, Error, Request, Response};
use rewards_app::{problem, Env};
use rewards_core::claim::{component_answer, ClaimError, ClaimQuery, ClaimService};
use serde_json::json as j;

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
            if let ClaimError::Rejected(f) = &e {
                tracing::warn!(
                    alipay_code = %f.code,
                    alipay_sub_code = f.sub_code.as_deref().unwrap_or(""),
                    alipay_reason = %f.reason(),
                    "Alipay refused to issue the pass"
                );
            }
            let p: Problem = problem(&e);
            metric(
                "Rewards",
                "PassClaims",
                1.0,
                &[("Outcome", p.code.as_str())],
            );
            let message = p.detail.clone();
            let mut response = p
                .with("success", j!(false))
                .with("message", j!(message))
                .into_response();
            if let Some(wait) = e.retry_after() {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                    response.headers_mut().insert(RETRY_AFTER, v);
                }
            }
            response
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::init_logging();
    let env = Env::load().await?;
    let alipay = env.alipay().await?;
    let claims = env.claim_service(&alipay);
    run(service_fn(|req| async {
        Ok::<_, Error>(handle(&claims, req).await)
    }))
    .await
}
