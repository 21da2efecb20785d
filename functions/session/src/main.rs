//! session: `POST /session` `{"authCode"}` exchanges a mini-program `my.getAuthCode` code through
//! `alipay.system.oauth.token` and returns a short-lived signed token for the mini-program routes
//! (`{"token","expiresAt","userId"}`, 15 minutes). The code and Alipay's access token are never
//! logged or returned.
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{json, json_body, metric, Problem};
use rewards_core::session::{AuthCode, IssuedSession, SessionError, SessionService};
use rewards_core::DomainError;
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer {
    token: String,
    expires_at: u64,
    user_id: String,
}

#[tracing::instrument(skip_all)]
async fn handle(svc: &SessionService, req: Request) -> Result<Response<Body>, Problem> {
    let body: Value = json_body(&req)?;
    let code = AuthCode::parse(body.get("authCode").and_then(Value::as_str))?;
    let IssuedSession {
        token,
        expires_at,
        user_id,
    } = svc.sign_in(&code).await.map_err(|e| match e {
        SessionError::Refused(_) => {
            metric("Rewards", "Sessions", 1.0, &[("Outcome", "refused")]);
            Problem::from(e)
        }
        // The caller's next step is a new code, not the same request again.
        SessionError::Unavailable(_) => Problem::new(503, e.code(), e.to_string()),
        e => Problem::from(e),
    })?;
    metric("Rewards", "Sessions", 1.0, &[("Outcome", "issued")]);
    let answer = SessionAnswer {
        token,
        expires_at,
        user_id,
    };
    Ok(json(200, &answer))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let build = |app: rewards_app::App| async move {
        let alipay = app.alipay().await?;
        app.session_service(&alipay, app.session_key().await?)
    };
    rewards_app::serve_http(build, handle).await
}
