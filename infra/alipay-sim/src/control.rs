//! `/sim/*` control routes: the claim component, the operator's payment, ledgers, faults, auth codes.

use std::sync::{Arc, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::{FaultSpec, Faults};
use crate::settings::{Settings, SettingsPatch};
use crate::state::State as SimState;
use crate::Sim;

fn state(sim: &Sim) -> MutexGuard<'_, SimState> {
    match sim.state.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn faults(sim: &Sim) -> MutexGuard<'_, Faults> {
    match sim.faults.lock() {
        Ok(f) => f,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn settings(sim: &Sim) -> MutexGuard<'_, Settings> {
    match sim.settings.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// `POST /sim/claim` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRequest {
    /// The template to claim.
    pub template_id: String,
    /// The claiming user (2088…).
    pub user_id: String,
    /// `false`: mint the token and build the callback URL but do not call it (tests replay the URL
    /// themselves, e.g. concurrently). Default `true`.
    #[serde(default = "yes")]
    pub call: bool,
}

fn yes() -> bool {
    true
}

/// `POST /sim/claim {"templateId","userId"}`: plays the UID issuance component. Mints a single-use
/// `user_token` for the user, calls the template's `merchant.mcallbackUrl` with GET `templateId`,
/// `userId`, `token`, `timestamp` (epoch ms), and answers `{"status","body","token","url"}` with the
/// merchant's HTTP status and body (JSON when it parses, text otherwise). 404 for an unknown
/// template, 422 when it has no mcallbackUrl, 502 `{"status":null,"error"}` when the merchant is unreachable.
pub async fn claim(State(sim): State<Arc<Sim>>, Json(req): Json<ClaimRequest>) -> Response {
    let (callback, token) = {
        let mut st = state(&sim);
        let Some(template) = st.template(&req.template_id) else {
            return error(StatusCode::NOT_FOUND, "template not found");
        };
        let Some(callback) = template.mcallback_url.clone() else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "template has no merchant.mcallbackUrl",
            );
        };
        (callback, st.mint_user_token(&req.template_id, &req.user_id))
    };
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
        .to_string();
    let mut url = match reqwest::Url::parse(&callback) {
        Ok(u) => u,
        Err(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "mcallbackUrl is not a URL",
            )
        }
    };
    url.query_pairs_mut()
        .append_pair("templateId", &req.template_id)
        .append_pair("userId", &req.user_id)
        .append_pair("token", &token)
        .append_pair("timestamp", &timestamp);
    let shown = url.to_string();
    if !req.call {
        return Json(json!({"status": null, "token": token, "url": shown})).into_response();
    }
    let answer =
        match sim.http.get(url).send().await {
            Ok(a) => a,
            Err(e) => return (
                StatusCode::BAD_GATEWAY,
                Json(json!({"status": null, "error": e.to_string(), "token": token, "url": shown})),
            )
                .into_response(),
        };
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    Json(json!({"status": status, "body": body, "token": token, "url": shown})).into_response()
}

/// `GET /sim/payouts` → `{"payouts":[{crowd_no,out_biz_no,user_id,open_id,login_id,amount,amount_fen,biz_no,paid_at}]}`.
pub async fn payouts(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!({"payouts": state(&sim).payouts()})).into_response()
}

/// `GET /sim/transfers` → `{"transfers":[{out_biz_no,order_id,pay_fund_order_id,amount,amount_fen,payee_type,payee,status,product_code,order_title,paid_at,notify_url}]}`.
pub async fn transfers(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!({"transfers": state(&sim).transfers()})).into_response()
}

/// `GET /sim/notifications` → `{"notifications":[{notifyId,outBizNo,status,attempt,httpStatus,acknowledged,fault}]}`.
pub async fn notifications(State(sim): State<Arc<Sim>>) -> Response {
    let list = match sim.deliveries.lock() {
        Ok(l) => l.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    Json(json!({"notifications": list})).into_response()
}

/// `GET /sim/passes` → `{"passes":[{pass_id,tpl_id,serial_number,user_id,status,tpl_params,created_at,updated_at}]}`.
pub async fn passes(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!({"passes": state(&sim).passes()})).into_response()
}

/// `GET /sim/templates` → `{"templates":[…]}`.
pub async fn templates(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!({"templates": state(&sim).templates()})).into_response()
}

/// `GET /sim/campaigns` → `{"campaigns":[…]}`.
pub async fn campaigns(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!({"campaigns": state(&sim).campaigns()})).into_response()
}

/// `POST /sim/campaigns/{crowdNo}/pay`: the operator pays; `CREATED` → `READY`.
/// Answers `{"crowdNo","campStatus"}`; 404 for an unknown campaign.
pub async fn pay(State(sim): State<Arc<Sim>>, Path(crowd_no): Path<String>) -> Response {
    match state(&sim).pay(&crowd_no) {
        Some(status) => Json(json!({"crowdNo": crowd_no, "campStatus": status})).into_response(),
        None => error(StatusCode::NOT_FOUND, "campaign not found"),
    }
}

/// `GET /sim/campaigns/{crowdNo}/pay`: the cashier page the decoded `pay_url` opens (a button that
/// POSTs to the same URL).
pub async fn pay_page(State(sim): State<Arc<Sim>>, Path(crowd_no): Path<String>) -> Response {
    let status = state(&sim)
        .campaigns()
        .into_iter()
        .find(|c| c.crowd_no == crowd_no)
        .map(|c| (c.coupon_name, c.total_fen, c.camp_status));
    let Some((name, total, status)) = status else {
        return error(StatusCode::NOT_FOUND, "campaign not found");
    };
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>alipay-sim cashier</title>\
         <p>{} — {} yuan — status {}</p>\
         <form method=post><button>Pay</button></form>",
        escape(&name),
        crate::state::yuan(total),
        escape(&status)
    );
    ([(header::CONTENT_TYPE, "text/html;charset=utf-8")], html).into_response()
}

/// `POST /sim/campaigns/{crowdNo}/settle`: the platform settles a closed campaign;
/// `CLOSED` → `SETTLED`. Answers `{"crowdNo","campStatus"}`; 404 for an unknown campaign, 409 when
/// it is not closed.
pub async fn settle(State(sim): State<Arc<Sim>>, Path(crowd_no): Path<String>) -> Response {
    match state(&sim).settle(&crowd_no) {
        Some(Ok(status)) => {
            Json(json!({"crowdNo": crowd_no, "campStatus": status})).into_response()
        }
        Some(Err(status)) => error(
            StatusCode::CONFLICT,
            format!("only a CLOSED campaign can be settled (it is {status})"),
        ),
        None => error(StatusCode::NOT_FOUND, "campaign not found"),
    }
}

/// `POST /sim/faults` with a [`FaultSpec`] → 201 and the installed fault.
pub async fn add_fault(State(sim): State<Arc<Sim>>, Json(spec): Json<FaultSpec>) -> Response {
    match faults(&sim).add(spec) {
        Ok(f) => (StatusCode::CREATED, Json(f)).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.0),
    }
}

/// `GET /sim/faults` → `{"faults":[…],"lateCommits":[…]}`: the installed faults with their
/// counters, and every call a `commit_late` fault has held (pending or performed).
pub async fn list_faults(State(sim): State<Arc<Sim>>) -> Response {
    let f = faults(&sim);
    Json(json!({"faults": f.list(), "lateCommits": f.late_commits()})).into_response()
}

/// `DELETE /sim/faults` → 204; removes every fault and resets every setting to its default.
pub async fn clear_faults(State(sim): State<Arc<Sim>>) -> Response {
    faults(&sim).clear();
    *settings(&sim) = Settings::default();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /sim/stats` → `{"calls":{api:n},"limited":{api:n},"peakQps":{api:n}}`: every gateway call
/// by API, those a QPS limit answered `40005`, and the most executed calls in any one-second window.
pub async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.lock_calls().stats()).into_response()
}

/// `DELETE /sim/stats` → 204; the counters start again from zero (the limits keep holding).
pub async fn reset_stats(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock_calls().reset();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /sim/settings` → the current switches.
pub async fn get_settings(State(sim): State<Arc<Sim>>) -> Response {
    Json(settings(&sim).clone()).into_response()
}

/// `POST /sim/settings` with a partial [`SettingsPatch`] → 200 and the switches after the change;
/// 422 for an unknown switch or value, or `rotateAlipayCert` in public-key mode.
pub async fn update_settings(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<SettingsPatch>(&body) {
        Ok(patch) => {
            if patch.rotate_alipay_cert == Some(true) {
                match sim.with_certs(|c| c.rotate().map(|cert| cert.sn.clone())) {
                    None => {
                        return error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "rotateAlipayCert needs certificate mode (SIM_CERT_MODE=1)",
                        )
                    }
                    Some(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                    Some(Ok(sn)) => sim.log("rotateAlipayCert", &format!("now {sn}")),
                }
            }
            let mut current = settings(&sim);
            current.apply(patch);
            Json(current.clone()).into_response()
        }
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

/// `GET /sim/certs` (certificate mode) → `{"appCert","appCertSn","alipayCert","alipayCertSn",
/// "alipayRootCert","alipayRootCertSn","alipayCerts":[{"sn","current"}]}`: the PEM files a merchant
/// downloads from the console (`alipayCert` is the current one). 404 in public-key mode.
pub async fn certs(State(sim): State<Arc<Sim>>) -> Response {
    let view = sim.with_certs(|c| {
        let current = c.current().sn.clone();
        json!({
            "appCert": c.app_cert_pem,
            "appCertSn": c.app_cert_sn,
            "alipayCert": c.current().pem,
            "alipayCertSn": current,
            "alipayRootCert": c.root_bundle_pem,
            "alipayRootCertSn": c.root_cert_sn,
            "alipayCerts": c.all().iter().map(|a| json!({"sn": a.sn, "current": a.sn == current})).collect::<Vec<_>>(),
        })
    });
    match view {
        Some(v) => Json(v).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "the simulator runs in public-key mode (SIM_CERT_MODE=1 for certificate mode)",
        ),
    }
}

/// `POST /sim/auth-codes` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthCodeRequest {
    /// The user the code authorizes (2088…).
    pub user_id: String,
}

/// `POST /sim/auth-codes {"userId"}` → `{"code","userId","openId"}`: a single-use code for
/// `alipay.system.oauth.token`.
pub async fn auth_code(State(sim): State<Arc<Sim>>, Json(req): Json<AuthCodeRequest>) -> Response {
    let mut st = state(&sim);
    let code = st.mint_auth_code(&req.user_id);
    let open_id = st.open_id_for(&req.user_id);
    (
        StatusCode::CREATED,
        Json(json!({"code": code, "userId": req.user_id, "openId": open_id})),
    )
        .into_response()
}

/// `GET /sim/users/{userId}` → `{"userId","openId"}` (and registers the open id for `cash.trigger`).
pub async fn user(State(sim): State<Arc<Sim>>, Path(user_id): Path<String>) -> Response {
    let open_id = state(&sim).open_id_for(&user_id);
    Json(json!({"userId": user_id, "openId": open_id})).into_response()
}
