//! The client against the real simulator over HTTP: every API, every outcome class, every fault,
//! and the simulator's state rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alipay_client::cash::{
    CampStatusChange, CashCreate, CashDetailQuery, CashListQuery, CashStatusModify, CashTrigger,
    EnvelopeSent, PrizeType, TriggerUser,
};
use alipay_client::oauth::{Grant, OauthToken};
use alipay_client::pass::{
    InstanceAdd, InstanceUpdate, PassHolder, PassStatus, Recognition, TemplateAdd, TemplateUpdate,
};
use alipay_client::{
    AlipayClient, AmountFen, ClientConfig, Failure, FailureKind, Keys, Outcome, UnknownReason,
};
use alipay_protocol::request::{sign_request, AppConfig, UnsignedRequest};
use alipay_protocol::response::ResponseVerifier;
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, GatewayTimestamp};
use common::{client_for, start, start_with, Env};
use serde_json::{json, Value};

const USER_A: &str = "2088000000000001";
const USER_B: &str = "2088000000000002";

fn success<T: std::fmt::Debug>(o: Outcome<T>) -> T {
    match o {
        Outcome::Success(t) => t,
        other => panic!("expected success, got {other:?}"),
    }
}

fn failure<T: std::fmt::Debug>(o: Outcome<T>) -> Failure {
    match o {
        Outcome::Failed(f) => f,
        other => panic!("expected failure, got {other:?}"),
    }
}

fn unknown<T: std::fmt::Debug>(o: Outcome<T>) -> UnknownReason {
    match o {
        Outcome::Unknown(u) => u,
        other => panic!("expected unknown, got {other:?}"),
    }
}

fn tpl_content(callback: &str) -> Value {
    json!({
        "logo": "https://example.com/logo.png",
        "strip": "https://example.com/strip.png",
        "content": {
            "evoucherInfo": {
                "title": "$title$",
                "type": "coupon",
                "product": "free",
                "startDate": "$activeTime$",
                "endDate": "$expireTime$",
                "operation": [{"format": "qrcode", "message": "$code$", "messageEncoding": "UTF-8", "altText": "出示"}],
                "einfo": {"logoText": "示例商户"}
            },
            "merchant": {"mname": "示例商户", "mcallbackUrl": callback},
            "platform": {"channelID": "$channelID$"},
            "style": {"backgroundColor": "RGB(26,150,219)"},
            "fileInfo": {"formatVersion": "2", "canShare": false, "serialNumber": "$serialNumber$"},
            "source": "alipassprod"
        }
    })
}

fn params(serial: &str) -> serde_json::Map<String, Value> {
    json!({
        "title": "满100减10", "activeTime": "2024-01-02 00:00:00", "expireTime": "2030-01-01 00:00:00",
        "code": "8888", "serialNumber": serial, "channelID": "2021000000000001"
    })
    .as_object()
    .unwrap()
    .clone()
}

/// A merchant callback (`mcallbackUrl`) that records every query it receives.
async fn merchant() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::extract::{Query, State};
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/callback",
            axum::routing::get(
                |State(seen): State<Arc<Mutex<Vec<Value>>>>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    seen.lock().unwrap().push(json!(q));
                    axum::Json(json!({"success": true, "echo": q.get("userId")}))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/callback"), seen)
}

fn add_template(unique: &str, tpl_content: Value) -> TemplateAdd {
    TemplateAdd {
        unique_id: unique.into(),
        tpl_content,
    }
}

fn update_template(tpl_id: &str, tpl_content: Value) -> TemplateUpdate {
    TemplateUpdate {
        tpl_id: tpl_id.into(),
        tpl_content,
    }
}

async fn template(env: &Env, unique: &str, callback: &str) -> String {
    let r = success(
        env.client
            .execute(&add_template(unique, tpl_content(callback)))
            .await,
    );
    r.tpl_id
}

/// A simulator holding one template whose `mcallbackUrl` is a recording merchant: the template id
/// and what the merchant received.
async fn claimable_template(unique: &str) -> (Env, String, Arc<Mutex<Vec<Value>>>) {
    let env = start().await;
    let (callback, seen) = merchant().await;
    let tpl = template(&env, unique, &callback).await;
    (env, tpl, seen)
}

async fn claim_token(env: &Env, tpl_id: &str, user: &str) -> String {
    let (status, body) = env
        .post_json("/sim/claim", json!({"templateId": tpl_id, "userId": user}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"]["success"], true);
    body["token"].as_str().unwrap().to_string()
}

fn add(tpl_id: &str, serial: &str, user: &str, token: &str) -> InstanceAdd {
    InstanceAdd {
        tpl_id: tpl_id.into(),
        tpl_params: params(serial),
        recognition: Recognition::Uid {
            user_id: user.into(),
            user_token: token.into(),
        },
    }
}

#[tokio::test]
async fn templates_report_vars_and_unique_id_replays() {
    let env = start().await;
    let first = success(
        env.client
            .execute(&add_template("u1", tpl_content("https://example.com/cb")))
            .await,
    );
    assert_eq!(
        first.tpl_params,
        [
            "title",
            "activeTime",
            "expireTime",
            "code",
            "channelID",
            "serialNumber"
        ]
    );
    let again = success(
        env.client
            .execute(&add_template("u1", json!({"logo": "x", "content": {}})))
            .await,
    );
    assert_eq!(again.tpl_id, first.tpl_id);
    let other = template(&env, "u2", "https://example.com/cb").await;
    assert_ne!(other, first.tpl_id);

    let mut content = tpl_content("https://example.com/cb2");
    content["content"]["evoucherInfo"]["title"] = json!("$title$ $extra$");
    let updated = success(
        env.client
            .execute(&update_template(&first.tpl_id, content))
            .await,
    );
    assert!(updated.tpl_params.contains(&"extra".to_string()));
    let missing = failure(
        env.client
            .execute(&update_template("nope", tpl_content("x")))
            .await,
    );
    assert_eq!(missing.kind, FailureKind::Api);
    assert_eq!(missing.error_code.as_deref(), Some("TEMPLATE_NOT_EXIST"));
    let invalid = failure(
        env.client
            .execute(&add_template(
                "u3",
                json!({"logo": "x", "content": {"evoucherInfo": {"title": "t"}}}),
            ))
            .await,
    );
    assert_eq!(invalid.error_code.as_deref(), Some("TPL_CONTENT_INVALID"));
}

#[tokio::test]
async fn claim_issue_and_token_rules() {
    let (env, tpl, seen) = claimable_template("claim").await;

    let token = claim_token(&env, &tpl, USER_A).await;
    {
        let q = seen.lock().unwrap()[0].clone();
        assert_eq!(q["templateId"], tpl.as_str());
        assert_eq!(q["userId"], USER_A);
        assert_eq!(q["token"], token.as_str());
        assert!(q["timestamp"].as_str().unwrap().parse::<u64>().unwrap() > 1_600_000_000_000);
    }
    let issued = success(env.client.execute(&add(&tpl, "SN1", USER_A, &token)).await);
    assert_eq!(issued.serial_number.as_deref(), Some("SN1"));
    assert_eq!(issued.operation.as_deref(), Some("ADD"));

    // Replay of the same serial for the same user: the earlier passId, even with the spent token.
    let replay = success(env.client.execute(&add(&tpl, "SN1", USER_A, &token)).await);
    assert_eq!(replay.pass_id, issued.pass_id);
    // A spent token with a new serial fails.
    let spent = failure(env.client.execute(&add(&tpl, "SN2", USER_A, &token)).await);
    assert_eq!(spent.error_code.as_deref(), Some("USER_TOKEN_USED"));
    // The same serial for another user fails.
    let token_b = claim_token(&env, &tpl, USER_B).await;
    let dup = failure(
        env.client
            .execute(&add(&tpl, "SN1", USER_B, &token_b))
            .await,
    );
    assert_eq!(dup.error_code.as_deref(), Some("SERIAL_NUMBER_REPEAT"));
    // Another user's token fails.
    let foreign = failure(
        env.client
            .execute(&add(&tpl, "SN3", USER_A, &token_b))
            .await,
    );
    assert_eq!(foreign.error_code.as_deref(), Some("USER_TOKEN_NOT_MATCH"));
    // An invented token fails.
    let invented = failure(env.client.execute(&add(&tpl, "SN4", USER_A, "tok_x")).await);
    assert_eq!(invented.error_code.as_deref(), Some("USER_TOKEN_INVALID"));
    // B's token is still good for B.
    let b = success(
        env.client
            .execute(&add(&tpl, "SN5", USER_B, &token_b))
            .await,
    );
    assert_ne!(b.pass_id, issued.pass_id);
    // Missing template variables fail.
    let mut short = add(&tpl, "SN6", USER_A, &claim_token(&env, &tpl, USER_A).await);
    short.tpl_params.remove("code");
    let f = failure(env.client.execute(&short).await);
    assert_eq!(f.error_code.as_deref(), Some("TPL_PARAMS_MISSING"));
    // Unknown template.
    let f = failure(env.client.execute(&add("nope", "SN7", USER_A, "t")).await);
    assert_eq!(f.error_code.as_deref(), Some("TEMPLATE_NOT_EXIST"));

    let passes = env.passes().await;
    assert_eq!(passes.len(), 2);
    assert_eq!(passes[0]["user_id"], USER_A);

    // Unknown template for the claim component.
    let (status, _) = env
        .post_json(
            "/sim/claim",
            json!({"templateId": "nope", "userId": USER_A}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn instance_update_changes_status() {
    let (env, tpl, _) = claimable_template("upd").await;
    let token = claim_token(&env, &tpl, USER_A).await;
    let issued = success(env.client.execute(&add(&tpl, "U1", USER_A, &token)).await);
    let update = |status| InstanceUpdate {
        serial_number: "U1".into(),
        channel_id: "2021000000000001".into(),
        holder: PassHolder::UserId(USER_A.into()),
        tpl_params: None,
        status: Some(status),
    };
    let used = success(env.client.execute(&update(PassStatus::Used)).await);
    assert_eq!(used.pass_id.as_deref(), Some(issued.pass_id.as_str()));
    assert_eq!(used.operation.as_deref(), Some("UPDATE"));
    success(env.client.execute(&update(PassStatus::Closed)).await);
    let f = failure(env.client.execute(&update(PassStatus::Used)).await);
    assert_eq!(f.error_code.as_deref(), Some("PASS_CLOSED"));
    assert_eq!(env.passes().await[0]["status"], "CLOSED");
    let mut unknown_serial = update(PassStatus::Used);
    unknown_serial.serial_number = "nope".into();
    let f = failure(env.client.execute(&unknown_serial).await);
    assert_eq!(f.error_code.as_deref(), Some("PASS_NOT_EXIST"));
}

#[tokio::test]
async fn instance_update_must_name_the_passs_own_user() {
    let (env, tpl, _) = claimable_template("upd-user").await;
    let token = claim_token(&env, &tpl, USER_A).await;
    success(env.client.execute(&add(&tpl, "UU1", USER_A, &token)).await);
    let update = |holder| InstanceUpdate {
        serial_number: "UU1".into(),
        channel_id: "2021000000000001".into(),
        holder,
        tpl_params: None,
        status: Some(PassStatus::Used),
    };
    // Another user: refused, nothing changes.
    let f = failure(
        env.client
            .execute(&update(PassHolder::UserId(USER_B.into())))
            .await,
    );
    assert_eq!(f.error_code.as_deref(), Some("USER_NOT_MATCH"));
    // Without any user (an old client's request, signed by hand): refused as a missing parameter.
    let body = raw_call(
        &env,
        "alipay.pass.instance.update",
        r#"{"serial_number":"UU1","channel_id":"2021000000000001","status":"USED"}"#,
        |_| {},
    )
    .await;
    let body: Value = serde_json::from_str(&body).unwrap();
    let node = &body["alipay_pass_instance_update_response"];
    assert_eq!(node["code"], "40004", "{body}");
    assert_eq!(node["sub_code"], "INVALID_PARAMETER", "{body}");
    assert_eq!(env.passes().await[0]["status"], "ACTIVE");
    // The holder by open id is the same user.
    let open_id = env.get_json(&format!("/sim/users/{USER_A}")).await["openId"]
        .as_str()
        .unwrap()
        .to_string();
    success(
        env.client
            .execute(&update(PassHolder::OpenId(open_id)))
            .await,
    );
    assert_eq!(env.passes().await[0]["status"], "USED");
}

fn create(total: i64, num: u64, freq: &str) -> CashCreate {
    CashCreate {
        coupon_name: "新年红包".into(),
        prize_type: PrizeType::Fixed,
        total_money: AmountFen::from_fen(total).unwrap(),
        total_num: num,
        prize_msg: "恭喜".into(),
        start_time: "NowTime".into(),
        end_time: GatewayTimestamp::from_utc(
            time::OffsetDateTime::now_utc() + time::Duration::days(30),
        )
        .to_string(),
        merchant_link: Some("https://example.com/m".into()),
        send_freqency: Some(freq.into()),
    }
}

fn trigger(crowd: &str, user: TriggerUser, out: &str) -> CashTrigger {
    CashTrigger {
        crowd_no: crowd.into(),
        user,
        out_biz_no: Some(out.into()),
        order_price: None,
    }
}

fn uid(u: &str) -> TriggerUser {
    TriggerUser::UserId(u.into())
}

fn by_login_id(l: &str) -> TriggerUser {
    TriggerUser::LoginId(l.into())
}

fn by_open_id(o: &str) -> TriggerUser {
    TriggerUser::OpenId(o.into())
}

fn detail_query(crowd: &str) -> CashDetailQuery {
    CashDetailQuery {
        crowd_no: crowd.into(),
    }
}

/// The first page of campaigns in `camp_status` (all when None).
fn list(camp_status: Option<&str>, page_size: u64) -> CashListQuery {
    CashListQuery {
        camp_status: camp_status.map(str::to_owned),
        page_index: 1,
        page_size,
    }
}

/// Triggers an envelope of `crowd` for the user id `user`, with this `out_biz_no`.
async fn send_envelope(
    client: &AlipayClient,
    crowd: &str,
    user: &str,
    out: &str,
) -> Outcome<EnvelopeSent> {
    client.execute(&trigger(crowd, uid(user), out)).await
}

async fn paid_campaign(env: &Env, total: i64, num: u64, freq: &str) -> String {
    let c = success(env.client.execute(&create(total, num, freq)).await);
    let (status, body) = env
        .post_json(&format!("/sim/campaigns/{}/pay", c.crowd_no), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    c.crowd_no
}

#[tokio::test]
async fn campaign_lifecycle_budget_and_replays() {
    let env = start().await;
    let created = success(env.client.execute(&create(600, 3, "L5")).await);
    let pay_url = created.pay_url.clone().unwrap();
    assert_eq!(
        pay_url,
        format!(
            "{}/sim/campaigns/{}/pay",
            env.sim.base_url, created.crowd_no
        )
    );
    let crowd = created.crowd_no;

    // Unpaid: the platform's "not exist".
    let f = failure(send_envelope(&env.client, &crowd, USER_A, "o1").await);
    assert_eq!(f.kind, FailureKind::Business);
    assert_eq!(f.sub_msg.as_deref(), Some("现金活动不存在"));
    let detail = success(env.client.execute(&detail_query(&crowd)).await);
    assert_eq!(detail.camp_status.as_deref(), Some("CREATED"));

    // Pay through the decoded pay_url.
    let r = env.http.post(&pay_url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let sent = success(send_envelope(&env.client, &crowd, USER_A, "o1").await);
    assert_eq!(sent.prize_amount, AmountFen::from_fen(200).unwrap());
    assert!(!sent.repeat_trigger_flag);
    let replay = success(send_envelope(&env.client, &crowd, USER_A, "o1").await);
    assert!(replay.repeat_trigger_flag);
    assert_eq!(replay.biz_no, sent.biz_no);
    assert_eq!(env.payouts().await.len(), 1);
    // The same out_biz_no for another user is refused.
    let f = failure(send_envelope(&env.client, &crowd, USER_B, "o1").await);
    assert_eq!(f.sub_code.as_deref(), Some("OUT_BIZ_NO_REPEAT"));

    success(send_envelope(&env.client, &crowd, USER_A, "o2").await);
    success(send_envelope(&env.client, &crowd, USER_B, "o3").await);
    // Budget exhausted: a failure inside code=10000.
    let f = failure(send_envelope(&env.client, &crowd, USER_B, "o4").await);
    assert_eq!(f.kind, FailureKind::Api);
    assert_eq!(f.error_msg.as_deref(), Some("红包已领完"));
    // A replay still answers after the budget ran out.
    let replay = success(send_envelope(&env.client, &crowd, USER_B, "o3").await);
    assert!(replay.repeat_trigger_flag);

    let payouts = env.payouts().await;
    assert_eq!(payouts.len(), 3);
    assert_eq!(payouts[0]["crowd_no"], crowd.as_str());
    assert_eq!(payouts[0]["out_biz_no"], "o1");
    assert_eq!(payouts[0]["user_id"], USER_A);
    assert_eq!(payouts[0]["amount"], "2.00");

    let detail = success(env.client.execute(&detail_query(&crowd)).await);
    assert_eq!(detail.total_amount, Some(AmountFen::from_fen(600).unwrap()));
    assert_eq!(detail.send_amount, Some(AmountFen::from_fen(600).unwrap()));
    assert_eq!(detail.camp_status.as_deref(), Some("READY"));
}

#[tokio::test]
async fn per_user_frequency_and_status_changes() {
    let env = start().await;
    let crowd = paid_campaign(&env, 2000, 10, "D1|L2").await;
    success(send_envelope(&env.client, &crowd, USER_A, "f1").await);
    let f = failure(send_envelope(&env.client, &crowd, USER_A, "f2").await);
    assert_eq!(f.error_msg.as_deref(), Some("超过领取次数限制"));
    success(send_envelope(&env.client, &crowd, USER_B, "f3").await);

    let modify = |s| CashStatusModify {
        crowd_no: crowd.clone(),
        camp_status: s,
    };
    success(env.client.execute(&modify(CampStatusChange::Pause)).await);
    let f = failure(send_envelope(&env.client, &crowd, USER_B, "f4").await);
    assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_PAUSED"));
    success(env.client.execute(&modify(CampStatusChange::Ready)).await);
    success(env.client.execute(&modify(CampStatusChange::Closed)).await);
    let f = failure(send_envelope(&env.client, &crowd, USER_B, "f5").await);
    assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_CLOSED"));
    let f = failure(env.client.execute(&modify(CampStatusChange::Ready)).await);
    assert_eq!(f.kind, FailureKind::Business);

    // Unpaid campaigns cannot be resumed; unknown ones do not exist.
    let unpaid = success(env.client.execute(&create(1000, 5, "L1")).await).crowd_no;
    let f = failure(
        env.client
            .execute(&CashStatusModify {
                crowd_no: unpaid.clone(),
                camp_status: CampStatusChange::Ready,
            })
            .await,
    );
    assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_NOT_PAID"));
    let f = failure(send_envelope(&env.client, "CROWD_NOPE", USER_A, "x").await);
    assert_eq!(f.sub_msg.as_deref(), Some("现金活动不存在"));

    let all = success(env.client.execute(&list(None, 50)).await);
    assert_eq!(all.total_size, Some(2));
    let closed = success(env.client.execute(&list(Some("CLOSED"), 10)).await);
    assert_eq!(closed.camp_list.len(), 1);
    assert_eq!(
        closed.camp_list[0].crowd_no.as_deref(),
        Some(crowd.as_str())
    );

    // Create-time validation is a definite business failure.
    let mut bad = create(100, 3, "L1");
    bad.total_money = AmountFen::from_fen(1000).unwrap();
    let f = failure(env.client.execute(&bad).await);
    assert_eq!(f.sub_code.as_deref(), Some("INVALID_PARAMETER"));
    let f = failure(env.client.execute(&create(1000, 5, "D2|L1")).await);
    assert_eq!(f.sub_code.as_deref(), Some("INVALID_PARAMETER"));
}

#[tokio::test]
async fn oauth_codes_and_open_id_triggers() {
    let env = start().await;
    let (status, minted) = env
        .post_json("/sim/auth-codes", json!({"userId": USER_A}))
        .await;
    assert_eq!(status, 201);
    let code = minted["code"].as_str().unwrap().to_string();
    let token = success(
        env.client
            .execute(&OauthToken {
                grant: Grant::AuthorizationCode(code.clone()),
            })
            .await,
    );
    assert_eq!(token.user_id.as_deref(), Some(USER_A));
    assert_eq!(token.open_id.as_deref(), minted["openId"].as_str());
    assert!(token.access_token.is_some());
    // Codes are single use; unknown codes are isv.code-invalid in an error_response.
    let f = failure(
        env.client
            .execute(&OauthToken {
                grant: Grant::AuthorizationCode(code),
            })
            .await,
    );
    assert_eq!(f.kind, FailureKind::Gateway);
    assert_eq!(f.code, "40002");
    assert_eq!(f.sub_code.as_deref(), Some("isv.code-invalid"));
    let refreshed = success(
        env.client
            .execute(&OauthToken {
                grant: Grant::RefreshToken(token.refresh_token.clone().unwrap()),
            })
            .await,
    );
    assert_eq!(refreshed.user_id.as_deref(), Some(USER_A));

    // The open id pays the same user.
    let crowd = paid_campaign(&env, 1000, 5, "L5").await;
    let open_id = token.open_id.unwrap();
    success(
        env.client
            .execute(&trigger(&crowd, by_open_id(&open_id), "oid1"))
            .await,
    );
    success(
        env.client
            .execute(&trigger(&crowd, by_login_id("someone@example.com"), "lid1"))
            .await,
    );
    let f = failure(
        env.client
            .execute(&trigger(&crowd, by_open_id("0unknown"), "oid2"))
            .await,
    );
    assert_eq!(f.sub_code.as_deref(), Some("USER_NOT_EXIST"));
    let payouts = env.payouts().await;
    assert_eq!(payouts[0]["user_id"], USER_A);
    assert_eq!(payouts[0]["open_id"], open_id.as_str());
    assert_eq!(payouts[1]["login_id"], "someone@example.com");
}

/// Sends a hand-built request and returns the raw body.
async fn raw(env: &Env, tweak: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    raw_call(
        env,
        "alipay.marketing.campaign.cash.detail.query",
        r#"{"crowd_no":"x"}"#,
        tweak,
    )
    .await
}

/// Sends a hand-built, correctly signed call of `method` with this `biz_content`.
async fn raw_call(
    env: &Env,
    method: &'static str,
    biz_content: &str,
    tweak: impl FnOnce(&mut Vec<(String, String)>),
) -> String {
    let key = AppPrivateKey::from_text(&common::read_key("app_private_pkcs1.pem")).unwrap();
    let app = AppConfig {
        app_id: "2021000000000001".into(),
        cert_mode: None,
    };
    let req = UnsignedRequest {
        method,
        biz_content: Some(biz_content),
        ..Default::default()
    };
    let signed = sign_request(&app, &key, None, &req, GatewayTimestamp::now()).unwrap();
    let mut all: Vec<(String, String)> = signed
        .query_params()
        .iter()
        .chain(signed.body_params())
        .cloned()
        .collect();
    tweak(&mut all);
    let mut form = String::new();
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            form.push('&');
        }
        form.push_str(&format!("{}={}", k, percent_encode(v)));
    }
    common::post_form(&env.http, &env.sim.url, form).await
}

fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn set(all: &mut Vec<(String, String)>, k: &str, v: Option<&str>) {
    all.retain(|(key, _)| key != k);
    if let Some(v) = v {
        all.push((k.into(), v.into()));
    }
}

fn verified_error(body: &str) -> Value {
    let verifier = ResponseVerifier::new(
        AlipayPublicKey::from_text(&common::read_key("alipay_public_spki.pem")).unwrap(),
    );
    let v = verifier
        .verify(body, "alipay.marketing.campaign.cash.detail.query")
        .unwrap();
    serde_json::from_str(&v.content).unwrap()
}

#[tokio::test]
async fn gateway_checks_every_protocol_rule_and_signs_its_errors() {
    let env = start().await;
    // A well-formed request passes the protocol checks (and fails in business: unknown crowd).
    let ok = verified_error(&raw(&env, |_| {}).await);
    assert_eq!(ok["sub_code"], "CAMPAIGN_NOT_EXIST");

    let refused = |body: String, code: &str, sub_code: &str| {
        assert!(body.starts_with("{\"error_response\":"), "{body}");
        let node = verified_error(&body);
        assert_eq!(node["code"], code, "{body}");
        assert_eq!(node["sub_code"], sub_code, "{body}");
    };
    // Sent in place of the signed biz_content: the signature no longer verifies.
    const TAMPERED_BIZ: &str = r#"{"crowd_no":"y"}"#;
    // A required parameter left out: 40001.
    for (param, sub_code) in [
        ("method", "isv.missing-method"),
        ("app_id", "isv.missing-app-id"),
        ("sign", "isv.missing-signature"),
        ("sign_type", "isv.missing-signature-type"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
        ("charset", "isv.missing-charset"),
    ] {
        refused(raw(&env, |a| set(a, param, None)).await, "40001", sub_code);
    }
    // A value the gateway does not accept: 40002.
    for (param, value, sub_code) in [
        ("app_id", "2021999999999999", "isv.invalid-app-id"),
        ("sign_type", "RSA", "isv.invalid-signature-type"),
        ("timestamp", "2024-01-02T03:04:05", "isv.invalid-timestamp"),
        ("charset", "GBK", "isv.invalid-charset"),
        ("biz_content", TAMPERED_BIZ, "isv.invalid-signature"),
    ] {
        refused(
            raw(&env, |a| set(a, param, Some(value))).await,
            "40002",
            sub_code,
        );
    }
    // A parameter sent twice.
    let twice = raw(&env, |a| a.push(("method".into(), "x".into()))).await;
    refused(twice, "40002", "isv.invalid-parameter");
    // The invalid-signature answer echoes the gateway's string to sign.
    let body = raw(&env, |a| set(a, "biz_content", Some(TAMPERED_BIZ))).await;
    let node = verified_error(&body);
    let sub_msg = node["sub_msg"].as_str().unwrap();
    assert!(sub_msg.starts_with("验签出错"), "{sub_msg}");
    assert!(sub_msg.contains("app_id=2021000000000001&biz_content={\"crowd_no\":\"y\"}&charset=utf-8&method=alipay.marketing.campaign.cash.detail.query&sign_type=RSA2&timestamp="));
}

#[tokio::test]
async fn wrong_keys_and_app_id_are_definite_gateway_failures() {
    let env = start().await;
    // Signed with the wrong private key.
    let wrong_key = Keys::new(
        AppPrivateKey::from_text(&common::read_key("alipay_private_pkcs1.pem")).unwrap(),
        AlipayPublicKey::from_text(&common::read_key("app_public_spki.pem")).unwrap(),
    );
    let client = AlipayClient::new(ClientConfig::new(
        "2021000000000001",
        &env.sim.url,
        wrong_key,
    ))
    .unwrap();
    // Our verifier now holds the wrong platform key, so the signed error does not verify: unknown.
    let u = unknown(client.execute(&detail_query("x")).await);
    assert_eq!(u, UnknownReason::BadSignature);
    // With the right verification key the rejection is a definite gateway failure.
    let wrong_sign = Keys {
        app_private_key: Arc::new(
            AppPrivateKey::from_text(&common::read_key("alipay_private_pkcs1.pem")).unwrap(),
        ),
        alipay_public_key: common::keys().alipay_public_key,
    };
    let err = AlipayClient::new(ClientConfig::new(
        "2021000000000001",
        &env.sim.url,
        wrong_sign,
    ));
    // The platform key's own public half is refused as "Alipay public key" of an app signing with it.
    assert!(err.is_err());

    let other_app = AlipayClient::new(ClientConfig::new(
        "2021000000000002",
        &env.sim.url,
        common::keys(),
    ))
    .unwrap();
    let f = failure(other_app.execute(&detail_query("x")).await);
    assert_eq!(f.kind, FailureKind::Gateway);
    assert_eq!(f.sub_code.as_deref(), Some("isv.invalid-app-id"));
}

async fn trigger_fault(
    env: &Env,
    crowd: &str,
    kind: &str,
    out: &str,
) -> Outcome<alipay_client::cash::EnvelopeSent> {
    env.fault(json!({"api": "alipay.marketing.campaign.cash.trigger", "kind": kind, "count": 1}))
        .await;
    send_envelope(&env.client, crowd, USER_A, out).await
}

#[tokio::test]
async fn faults_before_the_operation_leave_no_payout() {
    let env = start_with(Duration::from_millis(800)).await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;

    let u = unknown(trigger_fault(&env, &crowd, "http500", "a1").await);
    assert_eq!(u, UnknownReason::HttpStatus(500));
    let u = unknown(trigger_fault(&env, &crowd, "unknown_error", "a1").await);
    assert!(
        matches!(u, UnknownReason::Platform { ref code, ref sub_code, .. }
        if code == "20000" && sub_code.as_deref() == Some("isp.unknow-error")),
        "{u:?}"
    );
    let started = Instant::now();
    let u = unknown(trigger_fault(&env, &crowd, "hang", "a1").await);
    assert_eq!(u, UnknownReason::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(env.payouts().await.is_empty());

    // The retry with the same out_biz_no pays once.
    let sent = success(send_envelope(&env.client, &crowd, USER_A, "a1").await);
    assert!(!sent.repeat_trigger_flag);
    assert_eq!(env.payouts().await.len(), 1);
}

#[tokio::test]
async fn faults_after_the_operation_are_unknown_and_replay_on_retry() {
    let env = start_with(Duration::from_secs(3)).await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;

    let u = unknown(trigger_fault(&env, &crowd, "bad_signature", "b1").await);
    assert_eq!(u, UnknownReason::BadSignature);
    assert_eq!(env.payouts().await.len(), 1);
    let replay = success(send_envelope(&env.client, &crowd, USER_A, "b1").await);
    assert!(replay.repeat_trigger_flag);

    let u = unknown(trigger_fault(&env, &crowd, "commit_then_drop", "b2").await);
    assert_eq!(u, UnknownReason::Connection);
    assert_eq!(env.payouts().await.len(), 2);
    let replay = success(send_envelope(&env.client, &crowd, USER_A, "b2").await);
    assert!(replay.repeat_trigger_flag);
    assert_eq!(env.payouts().await.len(), 2);
}

#[tokio::test]
async fn latency_count_probability_and_clearing() {
    let env = start_with(Duration::from_millis(1500)).await;
    let q = list(None, 10);
    env.fault(json!({"api": "alipay.marketing.campaign.cash.list.query", "kind": "latency", "latencyMs": 300, "count": 1}))
        .await;
    let started = Instant::now();
    success(env.client.execute(&q).await);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    success(env.client.execute(&q).await);
    assert!(started.elapsed() < Duration::from_millis(300));

    env.fault(json!({"kind": "latency", "latencyMs": 3000}))
        .await;
    assert_eq!(
        unknown(env.client.execute(&q).await),
        UnknownReason::Timeout
    );
    env.clear_faults().await;

    // Faults match by API name.
    env.fault(json!({"api": "alipay.pass.template.add", "kind": "http500"}))
        .await;
    success(env.client.execute(&q).await);
    env.clear_faults().await;

    env.fault(json!({"kind": "http500", "probability": 1.0}))
        .await;
    for _ in 0..3 {
        assert_eq!(
            unknown(env.client.execute(&q).await),
            UnknownReason::HttpStatus(500)
        );
    }
    env.clear_faults().await;
    env.fault(json!({"kind": "http500", "probability": 0.0}))
        .await;
    success(env.client.execute(&q).await);
    let listed = env.get_json("/sim/faults").await;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 1);
    env.clear_faults().await;

    let (status, _) = env
        .post_json("/sim/faults", json!({"kind": "hang", "probability": 2.0}))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn nothing_listening_is_a_definite_not_sent_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/gateway.do", listener.local_addr().unwrap());
    drop(listener);
    let client = client_for(&url, Duration::from_secs(2));
    let f = failure(client.execute(&detail_query("x")).await);
    assert_eq!(f.kind, FailureKind::NotSent);
}

#[tokio::test]
async fn random_campaigns_pay_out_exactly_the_budget_over_http() {
    let env = start().await;
    let mut c = create(1000, 4, "L10");
    c.prize_type = PrizeType::Random;
    let crowd = success(env.client.execute(&c).await).crowd_no;
    env.post_json(&format!("/sim/campaigns/{crowd}/pay"), json!({}))
        .await;
    let mut sum = 0;
    for i in 0..4 {
        sum += success(send_envelope(&env.client, &crowd, USER_A, &format!("r{i}")).await)
            .prize_amount
            .fen();
    }
    assert_eq!(sum, 1000);
    let f = failure(send_envelope(&env.client, &crowd, USER_A, "r9").await);
    assert_eq!(f.error_msg.as_deref(), Some("红包已领完"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_triggers_of_one_out_biz_no_pay_once() {
    let env = start().await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let client = env.client.clone();
        let t = trigger(&crowd, uid(USER_A), "same_business_id");
        tasks.push(tokio::spawn(async move { client.execute(&t).await }));
    }
    let mut fresh = 0;
    for t in tasks {
        let sent = success(t.await.unwrap());
        assert_eq!(sent.prize_amount, AmountFen::from_fen(200).unwrap());
        if !sent.repeat_trigger_flag {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
    assert_eq!(env.payouts().await.len(), 1);
}

/// The late commits the simulator holds for `out` (from `GET /sim/faults`).
async fn late_commit(env: &Env, out: &str) -> Value {
    let listed = env.get_json("/sim/faults").await;
    listed["lateCommits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["outBizNo"] == out)
        .cloned()
        .unwrap_or_else(|| panic!("no late commit for {out}: {listed}"))
}

/// Waits until the late commit held for `out` was performed; returns it.
async fn late_commit_done(env: &Env, out: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let l = late_commit(env, out).await;
        if l["done"] == true {
            return l;
        }
        assert!(Instant::now() < deadline, "late commit never ran: {l}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn payouts_of(env: &Env, out: &str) -> usize {
    env.payouts()
        .await
        .iter()
        .filter(|p| p["out_biz_no"] == out)
        .count()
}

async fn commit_late(env: &Env, delay_ms: u64) {
    env.fault(
        json!({"api": "alipay.marketing.campaign.cash.trigger", "kind": "commit_late",
        "delayMs": delay_ms, "count": 1}),
    )
    .await;
}

#[tokio::test]
async fn commit_late_pays_after_the_client_gave_up_and_a_later_retry_replays_it() {
    let env = start_with(Duration::from_millis(300)).await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;

    commit_late(&env, 600).await;
    let u = unknown(send_envelope(&env.client, &crowd, USER_A, "late1").await);
    assert_eq!(u, UnknownReason::Timeout);
    let listed = env.get_json("/sim/faults").await;
    assert_eq!(listed["lateCommits"][0]["delayMs"], 600, "{listed}");
    assert_eq!(listed["lateCommits"][0]["crowdNo"], crowd.as_str());
    let done = late_commit_done(&env, "late1").await;
    assert_eq!(done["outcome"], "ok");
    assert_eq!(payouts_of(&env, "late1").await, 1);
    let replay = success(send_envelope(&env.client, &crowd, USER_A, "late1").await);
    assert!(replay.repeat_trigger_flag);
    assert_eq!(payouts_of(&env, "late1").await, 1);
}

#[tokio::test]
async fn a_retry_before_the_late_commit_pays_and_the_late_commit_never_pays_twice() {
    let env = start_with(Duration::from_millis(300)).await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;

    // Long enough that the retry below arrives first on any machine.
    commit_late(&env, 4000).await;
    unknown(send_envelope(&env.client, &crowd, USER_A, "late2").await);
    assert_eq!(late_commit(&env, "late2").await["done"], false);
    let sent = success(send_envelope(&env.client, &crowd, USER_A, "late2").await);
    assert!(
        !sent.repeat_trigger_flag,
        "processed normally, not replayed"
    );
    let done = late_commit_done(&env, "late2").await;
    assert_eq!(done["outcome"], "ok", "the late commit replays: {done}");
    assert_eq!(payouts_of(&env, "late2").await, 1);
}

#[tokio::test]
async fn a_late_commit_applies_the_rules_of_its_own_moment_and_survives_clearing() {
    let env = start_with(Duration::from_millis(300)).await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;
    let modify = |s| CashStatusModify {
        crowd_no: crowd.clone(),
        camp_status: s,
    };

    // Arrives while the campaign runs, is performed while it is paused: refused, nothing paid.
    commit_late(&env, 800).await;
    unknown(send_envelope(&env.client, &crowd, USER_A, "late3").await);
    success(env.client.execute(&modify(CampStatusChange::Pause)).await);
    let done = late_commit_done(&env, "late3").await;
    assert_eq!(done["outcome"], "business-error", "{done}");
    assert_eq!(payouts_of(&env, "late3").await, 0);
    success(env.client.execute(&modify(CampStatusChange::Ready)).await);

    // Clearing the faults does not cancel a call already held.
    commit_late(&env, 800).await;
    unknown(send_envelope(&env.client, &crowd, USER_A, "late4").await);
    env.clear_faults().await;
    assert!(env.get_json("/sim/faults").await["faults"]
        .as_array()
        .unwrap()
        .is_empty());
    late_commit_done(&env, "late4").await;
    assert_eq!(payouts_of(&env, "late4").await, 1);
}

#[tokio::test]
async fn trigger_replay_after_checks_refuses_a_paid_out_biz_no_of_a_paused_campaign() {
    let env = start().await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;
    let modify = |s| CashStatusModify {
        crowd_no: crowd.clone(),
        camp_status: s,
    };
    assert_eq!(
        env.get_json("/sim/settings").await["triggerReplay"],
        "before_checks"
    );
    let (status, body) = env
        .post_json("/sim/settings", json!({"triggerReplay": "after_checks"}))
        .await;
    assert_eq!(
        (status, &body["triggerReplay"]),
        (200, &json!("after_checks"))
    );
    let (status, _) = env
        .post_json("/sim/settings", json!({"triggerReplay": "sometimes"}))
        .await;
    assert_eq!(status, 422);

    let first = success(send_envelope(&env.client, &crowd, USER_A, "ac1").await);
    success(env.client.execute(&modify(CampStatusChange::Pause)).await);
    let f = failure(send_envelope(&env.client, &crowd, USER_A, "ac1").await);
    assert_eq!(f.sub_code.as_deref(), Some("CAMPAIGN_PAUSED"));
    success(env.client.execute(&modify(CampStatusChange::Ready)).await);
    let replay = success(send_envelope(&env.client, &crowd, USER_A, "ac1").await);
    assert!(replay.repeat_trigger_flag);
    assert_eq!(replay.biz_no, first.biz_no);

    // DELETE /sim/faults restores the default order: a paused campaign replays again.
    env.clear_faults().await;
    assert_eq!(
        env.get_json("/sim/settings").await["triggerReplay"],
        "before_checks"
    );
    success(env.client.execute(&modify(CampStatusChange::Pause)).await);
    let replay = success(send_envelope(&env.client, &crowd, USER_A, "ac1").await);
    assert!(replay.repeat_trigger_flag);
    assert_eq!(payouts_of(&env, "ac1").await, 1);
}

#[tokio::test]
async fn a_settled_campaign_reads_as_settled() {
    let env = start().await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;
    let (status, _) = env
        .post_json(&format!("/sim/campaigns/{crowd}/settle"), json!({}))
        .await;
    assert_eq!(status, 409, "only a closed campaign settles");
    success(
        env.client
            .execute(&CashStatusModify {
                crowd_no: crowd.clone(),
                camp_status: CampStatusChange::Closed,
            })
            .await,
    );
    let (status, body) = env
        .post_json(&format!("/sim/campaigns/{crowd}/settle"), json!({}))
        .await;
    assert_eq!((status, &body["campStatus"]), (200, &json!("SETTLED")));
    let detail = success(env.client.execute(&detail_query(&crowd)).await);
    assert_eq!(detail.camp_status.as_deref(), Some("SETTLED"));
    let settled = success(env.client.execute(&list(Some("SETTLED"), 10)).await);
    assert_eq!(settled.camp_list.len(), 1);
    assert_eq!(settled.camp_list[0].camp_status.as_deref(), Some("SETTLED"));
}

#[tokio::test]
async fn a_call_budget_bounds_each_call_and_none_left_sends_nothing() {
    // The configured timeout is long; the budget (what the caller's deadline leaves) is what ends a
    // hanging call, as an unknown outcome.
    let env = start_with(Duration::from_secs(30)).await;
    let crowd = paid_campaign(&env, 2000, 10, "L10").await;
    let left = Arc::new(Mutex::new(Some(Duration::from_millis(300))));
    let budget = {
        let left = left.clone();
        move || *left.lock().unwrap()
    };
    let client = env.client.clone().with_call_budget(Arc::new(budget));
    env.fault(json!({"api": "alipay.marketing.campaign.cash.trigger", "kind": "hang", "count": 1}))
        .await;
    let u = unknown(send_envelope(&client, &crowd, USER_A, "budget1").await);
    assert_eq!(u, UnknownReason::Timeout);
    assert!(env.payouts().await.is_empty());

    // Nothing left: the request is not sent at all.
    *left.lock().unwrap() = Some(Duration::ZERO);
    let f = failure(send_envelope(&client, &crowd, USER_A, "budget1").await);
    assert_eq!(f.kind, FailureKind::NotSent);
    assert!(env.payouts().await.is_empty());

    // No budget (outside an invocation): the configured timeout alone; the retry pays once.
    *left.lock().unwrap() = None;
    success(send_envelope(&client, &crowd, USER_A, "budget1").await);
    assert_eq!(env.payouts().await.len(), 1);
}
