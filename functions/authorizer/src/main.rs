//! authorizer: the HTTP API's Lambda REQUEST authorizer (payload 2.0, simple responses) for the
//! mini-program routes. It accepts a valid session token (`Authorization: Bearer …` from
//! `POST /session`) only for the token's own user: `/users/{userId}/…` must name that user, and
//! `/channelData/pull?key=…` must carry that user's key. The user goes to the handler in
//! `requestContext.authorizer.lambda.userId`.
use std::sync::Arc;

use lambda_http_kit::session::SessionKey;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use rewards_app::App;
use serde_json::{json, Value};

use rewards_core::pass::reader::channel_key_user;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))?
        .1
        .as_str()
}

/// The decision for one request event.
fn decide(key: &SessionKey, event: &Value, now: u64) -> Value {
    let deny = json!({ "isAuthorized": false });
    let Some(token) = header(event, "authorization") else {
        return deny;
    };
    let Ok(session) = key.verify(token, now) else {
        return deny;
    };
    let path_user = event
        .pointer("/pathParameters/userId")
        .and_then(Value::as_str);
    let channel_key = event
        .pointer("/queryStringParameters/key")
        .and_then(Value::as_str);
    let owns = match (path_user, channel_key) {
        (Some(user), _) => user == session.subject,
        (None, Some(k)) => channel_key_user(k) == Some(session.subject.as_str()),
        (None, None) => false,
    };
    if !owns {
        return deny;
    }
    json!({ "isAuthorized": true, "context": { "userId": session.subject } })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http_kit::init_logging();
    let app = App::load().await?;
    // Only the session key: this function is not granted the Alipay keys.
    let key = Arc::new(app.session_key().await?);
    run(service_fn(|event: LambdaEvent<Value>| {
        let key = key.clone();
        async move { Ok::<_, Error>(decide(&key, &event.payload, now_secs())) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn key() -> SessionKey {
        SessionKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([1u8; 32]))
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn only_the_tokens_own_user_is_authorized() {
        let token = key().issue("2088000000000001", 100, 60).unwrap_or_default();
        let own = json!({"headers": {"authorization": format!("Bearer {token}")}, "pathParameters": {"userId": "2088000000000001"}});
        assert_eq!(decide(&key(), &own, 120)["isAuthorized"], true);
        assert_eq!(
            decide(&key(), &own, 120)["context"]["userId"],
            "2088000000000001"
        );
        let other = json!({"headers": {"Authorization": format!("Bearer {token}")}, "pathParameters": {"userId": "2088000000000002"}});
        assert_eq!(decide(&key(), &other, 120)["isAuthorized"], false);
        let channel = json!({"headers": {"authorization": token.clone()}, "queryStringParameters": {"key": "channelData_alipayPass_fetch_2088000000000001"}});
        assert_eq!(decide(&key(), &channel, 120)["isAuthorized"], true);
        assert_eq!(decide(&key(), &own, 200)["isAuthorized"], false, "expired");
        assert_eq!(decide(&key(), &json!({}), 120)["isAuthorized"], false);
    }
}
