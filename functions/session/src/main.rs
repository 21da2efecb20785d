//! session: `POST /session` `{"authCode"}` exchanges a mini-program `my.getAuthCode` code through
//! `alipay.system.oauth.token` and returns a short-lived signed token for the mini-program routes
//! (`{"token","expiresAt","userId"}`, 15 minutes). The code and Alipay's access token are never
//! logged or returned.
use std::sync::Arc;

use alipay_client::oauth::{Grant, OauthToken};
use alipay_client::{AlipayClient, Outcome};
use lambda_edge::session::SessionKey;
use lambda_edge::{json, json_body, metric, Problem};
use lambda_http::{run, service_fn, Body, Error, Request, Response};
use rewards_app::Env;
use serde_json::{json as j, Value};

const TTL_SECS: u64 = 15 * 60;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn handle(
    client: &AlipayClient,
    key: &SessionKey,
    req: Request,
) -> Result<Response<Body>, Problem> {
    let body: Value = json_body(&req)?;
    let code = body
        .get("authCode")
        .and_then(Value::as_str)
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 128
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid_auth_code",
                "/authCode must be the code from my.getAuthCode",
            )
        })?;
    let call = OauthToken {
        grant: Grant::AuthorizationCode(code.to_string()),
    };
    let info = match client.execute(&call).await {
        Outcome::Success(info) => info,
        Outcome::Failed(f) => {
            metric("Rewards", "Sessions", 1.0, &[("Outcome", "refused")]);
            tracing::info!(code = %f.code, sub_code = ?f.sub_code, "auth code refused");
            return Err(Problem::new(
                401,
                "auth_code_refused",
                "Alipay refused the auth code; get a new one",
            ));
        }
        Outcome::Unknown(reason) => {
            tracing::warn!(%reason, "oauth token outcome unknown");
            return Err(Problem::new(
                503,
                "alipay_unavailable",
                "Alipay is unavailable; retry with a new auth code",
            ));
        }
    };
    // Passes are keyed by the Alipay user id; open-id-only apps get their open id as the subject.
    let subject = info
        .user_id
        .clone()
        .or_else(|| info.open_id.clone())
        .ok_or_else(|| {
            Problem::new(
                502,
                "no_user_identity",
                "Alipay returned neither user_id nor open_id",
            )
        })?;
    let now = now_secs();
    let token = key.issue(&subject, now, TTL_SECS).map_err(|_| {
        Problem::new(
            502,
            "no_user_identity",
            "Alipay returned an unusable user identity",
        )
    })?;
    metric("Rewards", "Sessions", 1.0, &[("Outcome", "issued")]);
    Ok(json(
        200,
        &j!({ "token": token, "expiresAt": now + TTL_SECS, "userId": subject }),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::init_logging();
    let env = Env::load().await?;
    let alipay = env.alipay().await?;
    let key = Arc::new(env.session_key().await?);
    let client = alipay.client.clone();
    run(service_fn(|req| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            Ok::<_, Error>(
                handle(&client, &key, req)
                    .await
                    .unwrap_or_else(Problem::into_response),
            )
        }
    }))
    .await
}
