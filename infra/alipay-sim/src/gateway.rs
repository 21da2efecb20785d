//! `POST /gateway.do`: protocol checks, request signature verification, dispatch, signed answers,
//! faults.

use std::sync::Arc;
use std::time::Duration;

use alipay_protocol::response::root_name;
use alipay_protocol::sign::{string_to_sign, SignType};
use alipay_protocol::GatewayTimestamp;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::calls::Admission;
use crate::faults::{Decision, FaultKind};
use crate::state::{Biz, Reply};
use crate::{ConnKill, Sim};

/// The APIs the simulator implements.
pub const METHODS: &[&str] = &[
    "alipay.pass.template.add",
    "alipay.pass.template.update",
    "alipay.pass.instance.add",
    "alipay.pass.instance.update",
    "alipay.marketing.campaign.cash.create",
    "alipay.marketing.campaign.cash.trigger",
    "alipay.marketing.campaign.cash.detail.query",
    "alipay.marketing.campaign.cash.list.query",
    "alipay.marketing.campaign.cash.status.modify",
    "alipay.system.oauth.token",
    "alipay.open.app.alipaycert.download",
    "alipay.fund.trans.uni.transfer",
    "alipay.fund.trans.common.query",
];

const INVALID_SIGNATURE_PREFIX: &str =
    "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：";

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The protocol checks of the gateway, in its order. `Err` is the gateway's `error_response`.
pub fn check_request(sim: &Sim, params: &[(String, String)]) -> Result<(), Reply> {
    for (i, (k, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(other, _)| other == k) {
            return Err(Reply::gateway(
                "40002",
                "isv.invalid-parameter",
                format!("参数重复: {k}"),
            ));
        }
    }
    let method = required(params, "method", "isv.missing-method", "缺少方法名参数")?;
    let app_id = required(params, "app_id", "isv.missing-app-id", "缺少AppID参数")?;
    accepted(
        app_id == sim.app_id,
        "isv.invalid-app-id",
        "无效的AppID参数",
    )?;
    let sign = required(params, "sign", "isv.missing-signature", "缺少签名参数")?;
    let sign_type = required(
        params,
        "sign_type",
        "isv.missing-signature-type",
        "缺少签名类型参数",
    )?;
    accepted(
        sign_type == "RSA2",
        "isv.invalid-signature-type",
        "无效的签名类型参数, 只支持RSA2",
    )?;
    let timestamp = required(
        params,
        "timestamp",
        "isv.missing-timestamp",
        "缺少时间戳参数",
    )?;
    accepted(
        GatewayTimestamp::parse(timestamp).is_ok(),
        "isv.invalid-timestamp",
        "非法的时间戳参数, 格式为 yyyy-MM-dd HH:mm:ss",
    )?;
    let version = required(params, "version", "isv.missing-version", "缺少版本参数")?;
    accepted(version == "1.0", "isv.invalid-version", "非法的版本参数")?;
    let charset = required(params, "charset", "isv.missing-charset", "缺少字符集参数")?;
    accepted(
        charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8"),
        "isv.invalid-charset",
        "模拟器只支持utf-8字符集",
    )?;
    accepted(
        get(params, "format").is_none_or(|f| f.eq_ignore_ascii_case("json")),
        "isv.invalid-format",
        "非法的返回格式参数",
    )?;
    accepted(
        get(params, "encrypt_type").is_none(),
        "isv.invalid-encrypt-type",
        "模拟器不支持接口内容加密(AES)",
    )?;
    check_cert_sns(sim, params)?;
    let signed = string_to_sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["sign"],
    );
    if !sim.app_key.verify(SignType::Rsa2, signed.as_bytes(), sign) {
        return Err(Reply::gateway(
            "40002",
            "isv.invalid-signature",
            format!("{INVALID_SIGNATURE_PREFIX}{signed}"),
        ));
    }
    accepted(
        METHODS.contains(&method),
        "isv.invalid-method",
        "不存在的方法名",
    )
}

/// A parameter the gateway requires: absent or empty is `40001 <sub_code>`.
fn required<'a>(
    params: &'a [(String, String)],
    key: &str,
    sub_code: &str,
    sub_msg: &str,
) -> Result<&'a str, Reply> {
    get(params, key).ok_or_else(|| Reply::gateway("40001", sub_code, sub_msg))
}

/// A parameter the gateway does not accept (`ok` false) is `40002 <sub_code>`.
fn accepted(ok: bool, sub_code: &str, sub_msg: &str) -> Result<(), Reply> {
    if ok {
        Ok(())
    } else {
        Err(Reply::gateway("40002", sub_code, sub_msg))
    }
}

/// Certificate mode: the request must name the app certificate and the root bundle the simulator
/// issued (public-key mode accepts and ignores them). Sub-codes as the gateway answers:
/// `isv.missing-app-cert-sn`, `isv.app-cert-not-exist` and `isv.invalid-alipay-root-cert-sn` are
/// seen in the wild; `isv.missing-alipay-root-cert-sn` is this simulator's spelling.
fn check_cert_sns(sim: &Sim, params: &[(String, String)]) -> Result<(), Reply> {
    let Some((app_sn, root_sn)) =
        sim.with_certs(|c| (c.app_cert_sn.clone(), c.root_cert_sn.clone()))
    else {
        return Ok(());
    };
    let app = required(
        params,
        "app_cert_sn",
        "isv.missing-app-cert-sn",
        "缺少应用公钥证书序列号",
    )?;
    accepted(
        app == app_sn,
        "isv.app-cert-not-exist",
        "应用公钥证书不存在",
    )?;
    let root = required(
        params,
        "alipay_root_cert_sn",
        "isv.missing-alipay-root-cert-sn",
        "缺少支付宝根证书序列号",
    )?;
    accepted(
        root == root_sn,
        "isv.invalid-alipay-root-cert-sn",
        "无效支付宝根证书序列号",
    )
}

/// `alipay.open.app.alipaycert.download`: any Alipay certificate the simulator issued, by SN, as
/// base64 of its PEM file.
fn alipaycert_download(sim: &Sim, biz: &Biz) -> Reply {
    let Some(sn) = biz.text("alipay_cert_sn") else {
        return Reply::invalid("alipay_cert_sn", "不能为空");
    };
    match sim.with_certs(|c| c.by_sn(&sn).map(|cert| cert.pem.clone())) {
        None => Reply::business("CERT_MODE_NOT_ENABLED", "应用未启用公钥证书模式"),
        Some(None) => Reply::business("ALIPAY_CERT_NOT_EXIST", "支付宝公钥证书不存在"),
        Some(Some(pem)) => {
            use base64::Engine as _;
            let content = base64::engine::general_purpose::STANDARD.encode(pem);
            Reply::Ok(Map::from_iter([(
                "alipay_cert_content".to_string(),
                Value::String(content),
            )]))
        }
    }
}

fn biz(params: &[(String, String)]) -> Result<Biz, Reply> {
    let text =
        get(params, "biz_content").ok_or_else(|| Reply::invalid("biz_content", "不能为空"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(Biz(m)),
        _ => Err(Reply::invalid("biz_content", "不是合法的JSON对象")),
    }
}

/// Runs one verified call against the state (and posts the notification a paid transfer yields).
pub fn dispatch(
    sim: &Arc<Sim>,
    method: &str,
    params: &[(String, String)],
    now: OffsetDateTime,
) -> Reply {
    let (trigger_replay, repeated_serial) = match sim.settings.lock() {
        Ok(s) => (s.trigger_replay, s.repeated_serial),
        Err(poisoned) => {
            let s = poisoned.into_inner();
            (s.trigger_replay, s.repeated_serial)
        }
    };
    let mut state = match sim.state.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    if method == "alipay.system.oauth.token" {
        let top: Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        return state.oauth_token(&Biz(top), now);
    }
    if method == "alipay.fund.trans.uni.transfer" {
        let biz = match biz(params) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let mut settings = match sim.settings.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut payer = crate::state::Payer {
            balance_fen: settings.payer_balance_fen,
        };
        let (reply, notice) = state.uni_transfer(&biz, get(params, "notify_url"), now, &mut payer);
        settings.payer_balance_fen = payer.balance_fen;
        drop(settings);
        drop(state);
        if let Some(n) = notice {
            crate::notify::spawn(sim, n);
        }
        return reply;
    }
    let biz = match biz(params) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if method == "alipay.open.app.alipaycert.download" {
        drop(state);
        return alipaycert_download(sim, &biz);
    }
    match method {
        "alipay.pass.template.add" => state.template_add(&biz, now),
        "alipay.pass.template.update" => state.template_update(&biz),
        "alipay.pass.instance.add" => state.instance_add_with(&biz, now, repeated_serial),
        "alipay.pass.instance.update" => state.instance_update(&biz, now),
        "alipay.marketing.campaign.cash.create" => state.cash_create(&biz, now, &sim.base_url),
        "alipay.marketing.campaign.cash.trigger" => {
            state.cash_trigger_with(&biz, now, trigger_replay)
        }
        "alipay.marketing.campaign.cash.detail.query" => state.cash_detail(&biz),
        "alipay.marketing.campaign.cash.list.query" => state.cash_list(&biz),
        "alipay.marketing.campaign.cash.status.modify" => state.cash_status_modify(&biz),
        "alipay.fund.trans.common.query" => state.transfer_query(&biz),
        _ => Reply::gateway("40002", "isv.invalid-method", "不存在的方法名"),
    }
}

/// Renders a reply in the gateway's shape and signs the exact emitted span with the current
/// platform key; in certificate mode `alipay_cert_sn` (the signing certificate) sits between the
/// node and `sign`, as the gateway writes it. `corrupt` signs something else, so the signature does
/// not verify.
pub fn render(sim: &Sim, method: &str, reply: &Reply, corrupt: bool) -> String {
    let (root, node) = match reply {
        Reply::Ok(fields) => {
            let mut node = Map::new();
            node.insert("code".into(), "10000".into());
            node.insert("msg".into(), "Success".into());
            for (k, v) in fields {
                node.insert(k.clone(), v.clone());
            }
            (root_name(method), node)
        }
        Reply::Business {
            code,
            msg,
            sub_code,
            sub_msg,
        }
        | Reply::Gateway {
            code,
            msg,
            sub_code,
            sub_msg,
        } => {
            let mut node = Map::new();
            node.insert("code".into(), (*code).into());
            node.insert("msg".into(), (*msg).into());
            // An answer without a sub_code (40005 Call Limited) has none on the wire either.
            if !sub_code.is_empty() {
                node.insert("sub_code".into(), sub_code.clone().into());
            }
            if !sub_msg.is_empty() {
                node.insert("sub_msg".into(), sub_msg.clone().into());
            }
            let root = if matches!(reply, Reply::Gateway { .. }) || method.is_empty() {
                "error_response".to_string()
            } else {
                root_name(method)
            };
            (root, node)
        }
    };
    let inner = Value::Object(node).to_string();
    let signer = sim.signer();
    let sign = if corrupt {
        signer.key.sign(format!("{inner} ").as_bytes())
    } else {
        signer.key.sign(inner.as_bytes())
    };
    match signer.alipay_cert_sn {
        Some(sn) => {
            format!("{{\"{root}\":{inner},\"alipay_cert_sn\":\"{sn}\",\"sign\":\"{sign}\"}}")
        }
        None => format!("{{\"{root}\":{inner},\"sign\":\"{sign}\"}}"),
    }
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body,
    )
        .into_response()
}

fn class(reply: &Reply) -> &'static str {
    match reply {
        Reply::Ok(m) => {
            let flag = |k: &str| m.get(k).and_then(Value::as_str);
            if flag("success") == Some("false") || flag("trigger_result") == Some("false") {
                "api-failure"
            } else {
                "ok"
            }
        }
        Reply::Business { .. } => "business-error",
        Reply::Gateway { .. } => "gateway-error",
    }
}

async fn drop_connection(kill: Option<Extension<ConnKill>>) -> Response {
    if let Some(Extension(kill)) = kill {
        kill.0.notify_one();
    }
    std::future::pending::<()>().await;
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Schedules the operation of a call held by `commit_late` at `arrived + delay`, on a task of its
/// own so it happens whatever becomes of the connection. It runs the same checks and rules as an
/// answered call, with the state, settings and clock of that moment; nobody receives the answer.
fn commit_late(
    sim: &Arc<Sim>,
    method: &str,
    params: Vec<(String, String)>,
    decision: Decision,
    arrived: tokio::time::Instant,
) {
    let field = |key: &str| {
        biz(&params)
            .ok()
            .and_then(|b| b.text(key))
            .filter(|v| !v.is_empty())
    };
    let (crowd_no, out_biz_no) = (field("crowd_no"), field("out_biz_no"));
    let held = lock_faults(sim).late_commit_held(
        decision.fault_id,
        method,
        crowd_no,
        out_biz_no,
        decision.delay_ms,
    );
    let sim = Arc::clone(sim);
    let method = method.to_string();
    tokio::spawn(async move {
        tokio::time::sleep_until(arrived + Duration::from_millis(decision.delay_ms)).await;
        let reply = match check_request(&sim, &params) {
            Ok(()) => dispatch(&sim, &method, &params, OffsetDateTime::now_utc()),
            Err(r) => r,
        };
        let outcome = class(&reply);
        sim.log(&method, &format!("{outcome} (late commit)"));
        let mut faults = lock_faults(&sim);
        faults.late_commit_done(held, outcome);
        if let Reply::Business { sub_code, .. } | Reply::Gateway { sub_code, .. } = &reply {
            faults.late_commit_refused(held, sub_code);
        }
    });
}

fn lock_faults(sim: &Sim) -> std::sync::MutexGuard<'_, crate::faults::Faults> {
    match sim.faults.lock() {
        Ok(f) => f,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The `gateway.do` handler (POST form and query; GET query also accepted).
pub async fn handle(
    State(sim): State<Arc<Sim>>,
    kill: Option<Extension<ConnKill>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    params.extend(form_urlencoded::parse(&body).into_owned());
    let arrived = tokio::time::Instant::now();
    let method = get(&params, "method").unwrap_or_default().to_string();
    let (limit, latency_ms) = match sim.settings.lock() {
        Ok(s) => (s.qps_limits.get(&method).copied(), s.latency_ms),
        Err(poisoned) => {
            let s = poisoned.into_inner();
            (s.qps_limits.get(&method).copied(), s.latency_ms)
        }
    };
    // The limiter decides at arrival, before anything is executed (faults included).
    let admission = if METHODS.contains(&method.as_str()) {
        sim.lock_calls().admit(&method, limit, arrived)
    } else {
        Admission::Execute
    };
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    if admission == Admission::Limited {
        sim.log(&method, "limited (qpsLimits): 40005 Call Limited");
        return json_response(render(&sim, &method, &Reply::call_limited(), false));
    }
    let decision = lock_faults(&sim).decide(&method);
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    match decision.terminal {
        Some(FaultKind::Hang) => {
            sim.log(&method, "fault:hang");
            tokio::time::sleep(sim.hang_limit).await;
            return drop_connection(kill).await;
        }
        Some(FaultKind::CommitLate) => {
            sim.log(&method, "fault:commit_late (held)");
            commit_late(&sim, &method, params, decision, arrived);
            tokio::time::sleep(sim.hang_limit).await;
            return drop_connection(kill).await;
        }
        Some(FaultKind::Http500) => {
            sim.log(&method, "fault:http500");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
                "<html><body>500 Internal Server Error</body></html>",
            )
                .into_response();
        }
        Some(FaultKind::UnknownError) => {
            sim.log(&method, "fault:unknown_error");
            let reply = Reply::Business {
                code: "20000",
                msg: "Service Currently Unavailable",
                sub_code: "isp.unknow-error".into(),
                sub_msg: "系统繁忙".into(),
            };
            return json_response(render(&sim, &method, &reply, false));
        }
        _ => {}
    }
    let reply = match check_request(&sim, &params) {
        Ok(()) => dispatch(&sim, &method, &params, OffsetDateTime::now_utc()),
        Err(r) => r,
    };
    let corrupt = decision.terminal == Some(FaultKind::BadSignature);
    let text = render(&sim, &method, &reply, corrupt);
    match decision.terminal {
        Some(FaultKind::CommitThenDrop) => {
            sim.log(
                &method,
                &format!("{} then fault:commit_then_drop", class(&reply)),
            );
            drop_connection(kill).await
        }
        Some(FaultKind::BadSignature) => {
            sim.log(
                &method,
                &format!("{} with fault:bad_signature", class(&reply)),
            );
            json_response(text)
        }
        _ => {
            sim.log(&method, class(&reply));
            json_response(text)
        }
    }
}
