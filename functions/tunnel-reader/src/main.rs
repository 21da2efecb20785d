//! tunnel-reader: a user's passes (the "data tunnel"), read-only.
//!
//! `GET /users/{userId}/passes` → `{"passes":[…]}` newest first; `GET /passes/{passId}`; and
//! `GET /channelData/pull?key=channelData_alipayPass_fetch_{userId}`, compatible with existing apps'
//! `channelDataPull(key)` (apifm-style `{"code":0,"msg":"success","data":{…}}`, `code` 700 when the
//! user has no pass) so a mini-program switches its base URL and nothing else. On the mini-program
//! routes the authorizer's user must be the user asked for. This function has no Alipay key and no
//! write permission.
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{authorizer_value, json, path_param, query_param, route_key, Problem};
use rewards_core::ids::{PassId, UserId};
use rewards_core::pass::PassRecord;
use rewards_core::ports::{PassStore, StoreError};
use serde_json::json as j;

use rewards_core::pass::CHANNEL_KEY_PREFIX;
const LIMIT: usize = 100;

fn store_problem(e: StoreError) -> Problem {
    tracing::error!(error = %e, "store failure");
    Problem::new(
        503,
        "store_unavailable",
        "the pass store is unavailable; retry",
    )
}

fn user(text: &str, req: &Request) -> Result<UserId, Problem> {
    let user =
        UserId::parse(text).map_err(|e| Problem::bad_request("invalid_user_id", e.to_string()))?;
    // Mini-program callers may read only their own passes (the authorizer put its user here).
    if let Some(caller) = authorizer_value(req, "userId") {
        if caller != user.as_str() {
            return Err(Problem::new(
                403,
                "forbidden_user",
                "a session may read only its own passes",
            ));
        }
    }
    Ok(user)
}

async fn passes(store: &dyn PassStore, user: &UserId) -> Result<Vec<PassRecord>, Problem> {
    store
        .list_user_passes(user, LIMIT)
        .await
        .map_err(store_problem)
}

#[tracing::instrument(skip_all, fields(route = %route_key(&req)))]
async fn handle(store: &dyn PassStore, req: Request) -> Result<Response<Body>, Problem> {
    match route_key(&req).as_str() {
        "GET /users/{userId}/passes" => {
            let user = user(&path_param(&req, "userId")?, &req)?;
            Ok(json(
                200,
                &j!({ "userId": user, "passes": passes(store, &user).await? }),
            ))
        }
        "GET /channelData/pull" => {
            let key = query_param(&req, "key").unwrap_or_default();
            let Some(id) = key.strip_prefix(CHANNEL_KEY_PREFIX) else {
                return Err(Problem::bad_request(
                    "invalid_channel_key",
                    format!("key must be {CHANNEL_KEY_PREFIX}<userId>"),
                ));
            };
            let user = user(id, &req)?;
            let list = passes(store, &user).await?;
            if list.is_empty() {
                return Ok(json(
                    200,
                    &j!({ "code": 700, "msg": "暂无数据", "data": null }),
                ));
            }
            let ids: Vec<&PassId> = list.iter().map(|p| &p.pass_id).collect();
            Ok(json(
                200,
                &j!({ "code": 0, "msg": "success", "data": { "key": key, "passIds": ids, "passes": list } }),
            ))
        }
        "GET /passes/{passId}" => {
            let id = PassId::parse(&path_param(&req, "passId")?)
                .map_err(|e| Problem::bad_request("invalid_pass_id", e.to_string()))?;
            match store.get_pass(&id).await.map_err(store_problem)? {
                Some(p) => Ok(json(200, &p)),
                None => Err(Problem::not_found("pass_not_found", "no such pass")),
            }
        }
        other => Err(Problem::no_route(other)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // No secrets: the store only.
    let build = |app: rewards_app::App| async move { Ok(app.store) };
    rewards_app::serve_http(build, |store, req| handle(store.as_ref(), req)).await
}
