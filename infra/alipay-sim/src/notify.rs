//! The `alipay.fund.trans.order.changed` notification: signed (V2 rule: only `sign` left out) with
//! the platform key, posted as a form to the transfer request's `notify_url`, retried until the
//! receiver answers exactly `success`, at most `notifyAttempts` times, a few milliseconds apart.
//! Notification faults (`notify_lost`, `notify_duplicate`, `notify_stale`, `notify_late`) are
//! installed through `POST /sim/faults` like the gateway faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alipay_protocol::sign::string_to_sign;
use alipay_protocol::AppPrivateKey;
use serde::Serialize;
use serde_json::Value;

use crate::faults::{FaultKind, NOTIFY_API};
use crate::state::Notice;
use crate::Sim;

/// The content type Alipay is reported to send (malformed on purpose: receivers must parse the body
/// themselves).
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; text/html; charset=UTF-8";

/// One notification post (`GET /sim/notifications`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// `notify_id` (a retry or a duplicate keeps it).
    pub notify_id: String,
    /// The order's `out_biz_no`.
    pub out_biz_no: String,
    /// `status` in the posted content.
    pub status: String,
    /// 1 for the first post of this notification, 2 for its first retry, …
    pub attempt: u32,
    /// The receiver's HTTP status (None: unreachable, or not posted).
    pub http_status: Option<u16>,
    /// The receiver answered exactly `success`.
    pub acknowledged: bool,
    /// The fault applied, if any (`notify_lost`, `notify_duplicate`, `notify_stale`, `notify_late`).
    pub fault: Option<String>,
}

static NOTIFY_SEQ: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

fn record(sim: &Sim, d: Delivery) {
    match sim.deliveries.lock() {
        Ok(mut l) => l.push(d),
        Err(poisoned) => poisoned.into_inner().push(d),
    }
}

/// The signed form of one notification.
pub fn signed_form(sim: &Sim, notify_id: &str, biz_content: &Value) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("notify_id".into(), notify_id.into()),
        ("utc_timestamp".into(), now_ms().to_string()),
        ("msg_method".into(), NOTIFY_API.into()),
        ("app_id".into(), sim.app_id.clone()),
        ("version".into(), "1.1".into()),
        ("charset".into(), "UTF-8".into()),
        ("sign_type".into(), "RSA2".into()),
        ("biz_content".into(), biz_content.to_string()),
    ];
    let (key, alipay_cert_sn) = signer(sim);
    let content = string_to_sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["sign"],
    );
    params.push(("sign".into(), key.sign(content.as_bytes())));
    // Certificate mode: the signing certificate's SN travels beside the signature, outside the
    // signed content (receivers leave out `sign` and `alipay_cert_sn`).
    if let Some(sn) = alipay_cert_sn {
        params.push(("alipay_cert_sn".into(), sn));
    }
    params
}

/// The key that signs notifications and, in certificate mode, its certificate's SN (the current
/// one: a rotation applies to notifications too).
fn signer(sim: &Sim) -> (Arc<AppPrivateKey>, Option<String>) {
    let signer = sim.signer();
    (signer.key, signer.alipay_cert_sn)
}

/// Posts `notice` (on a task of its own), with the notification faults that fire.
pub fn spawn(sim: &Arc<Sim>, notice: Notice) {
    let decision = match sim.faults.lock() {
        Ok(mut f) => f.decide(NOTIFY_API),
        Err(poisoned) => poisoned.into_inner().decide(NOTIFY_API),
    };
    let attempts = match sim.settings.lock() {
        Ok(s) => s.notify_attempts,
        Err(poisoned) => poisoned.into_inner().notify_attempts,
    };
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let fault = decision.terminal;
        let name = fault.map(|k| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        });
        let status = notice
            .biz_content
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let notify_id = format!(
            "sim{:x}{:06}",
            now_ms(),
            NOTIFY_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        match fault {
            Some(FaultKind::NotifyLost) => {
                sim.log(NOTIFY_API, "fault:notify_lost");
                record(
                    &sim,
                    Delivery {
                        notify_id,
                        out_biz_no: notice.out_biz_no,
                        status,
                        attempt: 0,
                        http_status: None,
                        acknowledged: false,
                        fault: name,
                    },
                );
                return;
            }
            Some(FaultKind::NotifyLate) => {
                tokio::time::sleep(Duration::from_millis(decision.delay_ms)).await;
            }
            _ => {}
        }
        deliver(
            &sim,
            &notice,
            &notify_id,
            &notice.biz_content,
            attempts,
            &name,
        )
        .await;
        match fault {
            Some(FaultKind::NotifyDuplicate) => {
                deliver(&sim, &notice, &notify_id, &notice.biz_content, 1, &name).await;
            }
            Some(FaultKind::NotifyStale) => {
                let mut stale = notice.biz_content.clone();
                stale["status"] = Value::String("DEALING".into());
                if let Some(m) = stale.as_object_mut() {
                    m.remove("pay_date");
                    m.remove("action_type");
                }
                let stale_id = format!("{notify_id}s");
                deliver(&sim, &notice, &stale_id, &stale, attempts, &name).await;
            }
            _ => {}
        }
    });
}

/// Posts until `success` or `attempts` posts.
async fn deliver(
    sim: &Sim,
    notice: &Notice,
    notify_id: &str,
    content: &Value,
    attempts: u32,
    fault: &Option<String>,
) {
    let status = content
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for attempt in 1..=attempts.max(1) {
        let form = signed_form(sim, notify_id, content);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        let answer = sim
            .http
            .post(&notice.notify_url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await;
        let (http_status, acknowledged) = match answer {
            Ok(r) => {
                let code = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                (Some(code), code == 200 && text == "success")
            }
            Err(_) => (None, false),
        };
        sim.log(
            NOTIFY_API,
            if acknowledged {
                "notify acknowledged"
            } else {
                "notify not acknowledged"
            },
        );
        record(
            sim,
            Delivery {
                notify_id: notify_id.to_string(),
                out_biz_no: notice.out_biz_no.clone(),
                status: status.clone(),
                attempt,
                http_status,
                acknowledged,
                fault: fault.clone(),
            },
        );
        if acknowledged {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
    }
}
