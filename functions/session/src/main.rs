//! session: `POST /session` `{"authCode"}` exchanges a mini-program `my.getAuthCode` code through
//! `alipay.system.oauth.token` and returns a short-lived signed token for the mini-program routes
//! (`{"token","expiresAt","userId"}`, 15 minutes). The code and Alipay's access token are never
//! logged or returned.
use alipay_client::oauth::{Grant, OauthToken};
use alipay_client::{AlipayClient, FailureKind, Outcome};
use lambda_edge::session::SessionKey;
use lambda_edge::{deadline, json, json_body, metric, Problem};
use lambda_http::{Body, Error, Request, Response};
use rewards_app::{Env, OnFirstUse};
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
        // Not sent (no connection, or no time left before the deadline): no refusal, just retry.
        Outcome::Failed(f) if f.kind == FailureKind::NotSent => {
            tracing::warn!(reason = %f.msg, "oauth token call not sent");
            return Err(Problem::new(
                503,
                "alipay_unavailable",
                "Alipay is unavailable; retry with a new auth code",
            ));
        }
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
    // Keys on first use (warmed at init), so a hanging Secrets Manager is a 503 too.
    let ready = OnFirstUse::new(move || {
        let env = env.clone();
        async move {
            let client = env.alipay().await?.client;
            Ok((client, env.session_key().await?))
        }
    });
    ready.warm().await;
    let ready = &ready;
    deadline::serve(deadline::timeout_problem(), |req| async move {
        match ready.get().await {
            Ok((client, key)) => handle(client, key, req).await,
            Err(p) => Err(p),
        }
        .unwrap_or_else(Problem::into_response)
    })
    .await
}
