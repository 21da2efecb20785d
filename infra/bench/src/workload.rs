//! The warm workload through local-stack: pass claims, passes reads, envelope sends and bare
//! simulator round trips, each timed and counted at the proxy.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::proxy::Proxy;
use crate::stats::children_peak_rss;
use crate::{key_file, root, Args, Res, Stack, APP_ID, IAM_HEADER, SESSION_KEY_B64};

pub(crate) struct Client {
    http: reqwest::Client,
    api: String,
    sim: String,
}

impl Client {
    pub(crate) async fn call(&self, rb: reqwest::RequestBuilder) -> Res<(u16, Value)> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub(crate) async fn api_post(&self, path: &str, body: &Value) -> Res<(u16, Value)> {
        self.call(
            self.http
                .post(format!("{}{path}", self.api))
                .header("authorization", IAM_HEADER)
                .json(body),
        )
        .await
    }

    pub(crate) async fn sim_post(&self, path: &str, body: &Value) -> Res<(u16, Value)> {
        self.call(self.http.post(format!("{}{path}", self.sim)).json(body))
            .await
    }

    pub(crate) async fn create_template(&self) -> Res<String> {
        let text = std::fs::read_to_string(root().join("infra/local-stack/fixtures/pass.json"))?;
        let mut v: Value = serde_json::from_str(&text)?;
        let callback = format!("{}/alipay/pass-callback", self.api);
        for pointer in ["/merchant/mcallbackUrl", "/content/merchant/mcallbackUrl"] {
            if let Some(url) = v.pointer_mut(pointer) {
                *url = json!(callback);
            }
        }
        let (status, body) = self.api_post("/templates", &v).await?;
        body["templateId"]
            .as_str()
            .filter(|_| status == 201)
            .map(str::to_string)
            .ok_or_else(|| format!("create template: {status} {body}").into())
    }

    pub(crate) async fn claim(&self, template_id: &str, user: &str) -> Res<()> {
        let (status, body) = self
            .sim_post(
                "/sim/claim",
                &json!({"templateId": template_id, "userId": user}),
            )
            .await?;
        if status == 200 && body["status"] == 200 && body["body"]["success"] == true {
            Ok(())
        } else {
            Err(format!("claim: {status} {body}").into())
        }
    }

    pub(crate) async fn read_passes(&self, user: &str, token: &str) -> Res<()> {
        let (status, body) = self
            .call(
                self.http
                    .get(format!("{}/users/{user}/passes", self.api))
                    .header("authorization", format!("Bearer {token}")),
            )
            .await?;
        if status == 200 && body["passes"].as_array().is_some_and(|p| !p.is_empty()) {
            Ok(())
        } else {
            Err(format!("read passes: {status} {body}").into())
        }
    }

    pub(crate) async fn create_campaign(&self, total_num: u64) -> Res<String> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        let end = rewards_core::Timestamp(i64::try_from(now_ms)? + 7 * 24 * 3600 * 1000);
        let body = json!({
            "couponName": "压测红包",
            "prizeType": "fixed",
            "totalMoney": format!("{}.00", total_num),
            "totalNum": total_num,
            "prizeMsg": "恭喜发财",
            "startTime": "NowTime",
            "endTime": end.to_beijing(),
            "merchantLink": "https://www.alipay.com",
            "sendFrequency": "L1",
        });
        let (status, created) = self.api_post("/campaigns", &body).await?;
        let crowd = created["crowdNo"]
            .as_str()
            .filter(|_| status == 201)
            .ok_or_else(|| format!("create campaign: {status} {created}"))?
            .to_string();
        let (status, paid) = self
            .sim_post(&format!("/sim/campaigns/{crowd}/pay"), &json!({}))
            .await?;
        if status != 200 {
            return Err(format!("pay campaign: {status} {paid}").into());
        }
        Ok(crowd)
    }

    pub(crate) async fn send(&self, crowd: &str, user: &str, business_id: &str) -> Res<()> {
        let (status, body) = self
            .api_post(
                "/envelopes",
                &json!({"reason": "points_exchange", "businessId": business_id, "userId": user, "crowdNo": crowd}),
            )
            .await?;
        if status == 201 {
            Ok(())
        } else {
            Err(format!("send: {status} {body}").into())
        }
    }
}

pub(crate) fn user_id(n: u64) -> String {
    format!("2088{:012}", 100_000_000_000 + n)
}

pub(crate) fn token_for(user: &str) -> Res<String> {
    let key = lambda_http_kit::session::SessionKey::from_base64(SESSION_KEY_B64)
        .map_err(|e| format!("session key: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    key.issue(user, now, 3600)
        .map_err(|e| format!("session token: {e}").into())
}

/// Times `n` sequential calls of `op(i)` after `warmup` untimed ones; the proxy counts the timed ones
/// under `phase`.
pub(crate) async fn timed<F, Fut>(
    proxy: &Proxy,
    phase: &str,
    warmup: usize,
    n: usize,
    mut op: F,
) -> Res<Vec<Duration>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Res<()>>,
{
    proxy.set_phase("warmup");
    for i in 0..warmup {
        op(i).await?;
    }
    proxy.set_phase(phase);
    let mut out = Vec::with_capacity(n);
    for i in warmup..warmup + n {
        let t = Instant::now();
        op(i).await?;
        out.push(t.elapsed());
    }
    proxy.set_phase("idle");
    Ok(out)
}

/// The warm samples of each operation, and every process's peak RSS after the workload.
pub(crate) struct Warm {
    pub(crate) claims: Vec<Duration>,
    pub(crate) reads: Vec<Duration>,
    pub(crate) sends: Vec<Duration>,
    pub(crate) bare: Vec<Duration>,
    pub(crate) peak_rss: std::collections::BTreeMap<String, u64>,
}

/// `--warmup` + `--requests` sequential calls of each operation through the stack at `api`.
pub(crate) async fn measure(args: &Args, stack: &Stack, api: String) -> Res<Warm> {
    let proxy = &stack.proxy;
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        api,
        sim: stack.sim.base_url.clone(),
    };
    let (n, w) = (args.requests, args.warmup);

    eprintln!("stack-bench: pass claims ({w} warm-up + {n})");
    let template_id = client.create_template().await?;
    let claims = timed(proxy, "claim", w, n, |i| {
        let (c, t) = (&client, template_id.clone());
        async move { c.claim(&t, &user_id(i as u64)).await }
    })
    .await?;

    eprintln!("stack-bench: passes reads ({w} warm-up + {n})");
    let tokens: Vec<String> = (0..w + n)
        .map(|i| token_for(&user_id(i as u64)))
        .collect::<Res<_>>()?;
    let reads = timed(proxy, "read", w, n, |i| {
        let (c, t) = (&client, &tokens[i]);
        async move { c.read_passes(&user_id(i as u64), t).await }
    })
    .await?;

    eprintln!("stack-bench: envelope sends ({w} warm-up + {n})");
    let total = u64::try_from(2 * (w + n) + 10)?;
    let crowd = client.create_campaign(total).await?;
    let sends = timed(proxy, "send", w, n, |i| {
        let (c, cr) = (&client, crowd.clone());
        async move {
            c.send(&cr, &user_id(10_000 + i as u64), &format!("bench-{i}"))
                .await
        }
    })
    .await?;

    eprintln!("stack-bench: bare simulator round trips ({w} warm-up + {n})");
    let bare = bare_round_trips(stack, &crowd, w, n).await?;

    proxy.set_phase("other");
    touch_the_other_functions(&client).await?;
    let peak_rss = children_peak_rss();
    proxy.set_phase("idle");
    Ok(Warm {
        claims,
        reads,
        sends,
        bare,
        peak_rss,
    })
}

/// `cash.trigger` signed and verified by alipay-client, straight to the simulator.
async fn bare_round_trips(stack: &Stack, crowd: &str, w: usize, n: usize) -> Res<Vec<Duration>> {
    let gateway = alipay_client::AlipayClient::new(alipay_client::ClientConfig::new(
        APP_ID,
        stack.sim.url.clone(),
        alipay_client::Keys::new(
            alipay_protocol::AppPrivateKey::from_text(&key_file("app_private_pkcs1.pem")?)?,
            alipay_protocol::AlipayPublicKey::from_text(&key_file("alipay_public_spki.pem")?)?,
        ),
    ))?;
    timed(&stack.proxy, "bare", w, n, |i| {
        let (g, cr) = (&gateway, crowd.to_string());
        async move {
            let req = alipay_client::cash::CashTrigger {
                crowd_no: cr,
                user: alipay_client::cash::TriggerUser::UserId(user_id(20_000 + i as u64)),
                out_biz_no: Some(format!("bare{i}")),
                order_price: None,
            };
            match g.execute(&req).await {
                alipay_client::Outcome::Success(_) => Ok(()),
                other => Err(format!("bare cash.trigger: {other:?}").into()),
            }
        }
    })
    .await
}

/// The functions the workload did not touch, once each, so every process has served an event.
async fn touch_the_other_functions(client: &Client) -> Res<()> {
    let (_, code) = client
        .sim_post("/sim/auth-codes", &json!({"userId": user_id(1)}))
        .await?;
    let _ = client
        .call(
            client
                .http
                .post(format!("{}/session", client.api))
                .json(&json!({"authCode": code["code"]})),
        )
        .await?;
    let event: Value = serde_json::from_str(&std::fs::read_to_string(
        root().join("infra/local-stack/events/reconciler-schedule.json"),
    )?)?;
    let _ = client
        .call(
            client
                .http
                .post(format!("{}/_local/invoke/reconciler", client.api))
                .json(&event),
        )
        .await?;
    Ok(())
}
