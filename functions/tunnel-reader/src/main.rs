//! tunnel-reader: a user's passes (the "data tunnel"), read-only, through
//! [`rewards_core::pass::reader::PassReader`].
//!
//! `GET /users/{userId}/passes` → `{"passes":[…]}` newest first; `GET /passes/{passId}`; and
//! `GET /channelData/pull?key=channelData_alipayPass_fetch_{userId}`, compatible with existing apps'
//! `channelDataPull(key)` (apifm-style `{"code":0,"msg":"success","data":{…}}`, `code` 700 when the
//! user has no pass) so a mini-program switches its base URL and nothing else. On the mini-program
//! routes the authorizer's user must be the user asked for. This function has no Alipay key and no
//! write permission.
use lambda_http::{Body, Error, Request, Response};
use lambda_http_kit::{authorizer_value, json, path_param, query_param, route_key, Problem};
use rewards_core::ids::PassId;
use rewards_core::pass::reader::PassReader;
use serde_json::json as j;

#[tracing::instrument(skip_all, fields(route = %route_key(&req)))]
async fn handle(reader: &PassReader, req: Request) -> Result<Response<Body>, Problem> {
    let session_user = authorizer_value(&req, "userId");
    let session_user = session_user.as_deref();
    match route_key(&req).as_str() {
        "GET /users/{userId}/passes" => {
            let (user, passes) = reader
                .for_user(&path_param(&req, "userId")?, session_user)
                .await?;
            Ok(json(200, &j!({ "userId": user, "passes": passes })))
        }
        "GET /channelData/pull" => {
            let key = query_param(&req, "key").unwrap_or_default();
            let (_, list) = reader.for_channel_key(&key, session_user).await?;
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
        "GET /passes/{passId}" => Ok(json(200, &reader.get(&path_param(&req, "passId")?).await?)),
        other => Err(Problem::no_route(other)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // No secrets: the store only.
    let build = |app: rewards_app::App| async move { Ok(PassReader { store: app.store }) };
    rewards_app::serve_http(build, handle).await
}
