//! # rewards-alipay
//!
//! The adapter between the domain and Alipay: [`AlipayGateway`] implements rewards-core's
//! [`PassGateway`], [`CashGateway`] and `TransferGateway` ports (the last in [`transfer`]) with the
//! typed [`AlipayClient`]. Outcomes map one to one:
//! `Success` → `Success`, a definite `Failed` → `Failed` (code, sub_code, sub_msg and the API's own
//! error text kept verbatim), `Unknown` → `Unknown` (never folded into a failure). A request that
//! never left (`FailureKind::NotSent`) becomes `Unknown`: retrying it is safe, recording it as a
//! final refusal would not be. A rate-limit answer (`UnknownReason::Throttled`: Alipay's `40005`
//! or a throttle sub_code) is the domain's `Throttled`, with a diagnostic that starts with
//! [`THROTTLED`]: the call was not executed now and is made again later with the same key.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod notification;
pub mod transfer;

use alipay_client::cash::{
    CampStatusChange, CashCreate, CashDetailQuery, CashListQuery, CashStatusModify, CashTrigger,
    PrizeType as ClientPrize, TriggerUser,
};
use alipay_client::oauth::{Grant, OauthToken};
use alipay_client::pass::{
    InstanceAdd, InstanceUpdate, PassHolder, PassStatus as ClientPassStatus, Recognition,
    TemplateAdd, TemplateUpdate,
};
use alipay_client::{AlipayClient, Failure, FailureKind, Outcome, UnknownReason};
use async_trait::async_trait;
use rewards_core::campaign::{CampaignStatus, NewCampaign};
use rewards_core::ids::{CrowdNo, PassId, SerialNumber, TemplateId};
use rewards_core::pass::PassStatus;
use rewards_core::payout::Recipient;
use rewards_core::ports::{
    AddTemplateRequest, CampaignCreated, CampaignDetail, CampaignPage, CampaignSummary,
    CashGateway, FindPassRequest, IssuePassRequest, ListCampaignsRequest, PassGateway, PassIssued,
    PassLookup, PrizeType, TemplateResult, TriggerRequest, TriggerResult, UpdatePassRequest,
    UpdateTemplateRequest,
};
use rewards_core::session::{AlipayIdentity, AuthCode, AuthCodeGateway};
use rewards_core::{GatewayFailure, GatewayOutcome};

/// The real gateway behind the domain's ports.
#[derive(Debug, Clone)]
pub struct AlipayGateway {
    client: AlipayClient,
}

impl AlipayGateway {
    /// Wraps a client (built once per execution environment).
    pub fn new(client: AlipayClient) -> Self {
        Self { client }
    }
}

/// How every diagnostic of a throttled call starts: Alipay's rate limit answered, the call was not
/// executed now. The rest names the code and sub_code, never Alipay's text.
pub const THROTTLED: &str = "throttled by Alipay's rate limit";

/// The diagnostic of a throttled call (codes only: no `msg`/`sub_msg`, no request data).
pub fn throttled(code: &str, sub_code: Option<&str>) -> String {
    format!(
        "{THROTTLED} (code {code}, sub_code {}): not executed, call again later with the same key",
        sub_code.unwrap_or("-")
    )
}

/// An unknown outcome in the domain's words: Alipay's rate limit (`Ok`, its diagnostic), or any
/// other unknown (`Err`, its diagnostic).
fn unknown_diagnostic(reason: &UnknownReason) -> Result<String, String> {
    match reason {
        UnknownReason::Throttled { code, sub_code } => Ok(throttled(code, sub_code.as_deref())),
        other => Err(other.to_string()),
    }
}

fn failure(f: Failure) -> GatewayFailure {
    GatewayFailure {
        code: f.code,
        sub_code: f.sub_code.or(f.error_code),
        sub_msg: f.sub_msg,
        error_msg: f.error_msg,
    }
}

/// Maps a client outcome; `convert` may itself find the answer unusable (an id that does not parse),
/// which is an Unknown: the call may have taken effect.
fn map<T, U>(
    outcome: Outcome<T>,
    convert: impl FnOnce(T) -> Result<U, String>,
) -> GatewayOutcome<U> {
    match outcome {
        Outcome::Success(t) => match convert(t) {
            Ok(u) => GatewayOutcome::Success(u),
            Err(why) => GatewayOutcome::Unknown(why),
        },
        // A request that never left is definitely not done, but it is no refusal either: the domain
        // would record it as a final failure (and free a business id). Reported as unknown, the same
        // request is simply tried again with the same idempotency key, which is always safe.
        Outcome::Failed(f) if f.kind == FailureKind::NotSent => {
            GatewayOutcome::Unknown(format!("not sent: {}", f.msg))
        }
        Outcome::Failed(f) => GatewayOutcome::Failed(failure(f)),
        Outcome::Unknown(reason) => match unknown_diagnostic(&reason) {
            Ok(throttled) => GatewayOutcome::Throttled(throttled),
            Err(why) => GatewayOutcome::Unknown(why),
        },
    }
}

fn tpl_params(
    params: &std::collections::BTreeMap<String, String>,
) -> serde_json::Map<String, serde_json::Value> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect()
}

fn template_result(r: alipay_client::pass::TemplateResult) -> Result<TemplateResult, String> {
    Ok(TemplateResult {
        tpl_id: TemplateId::parse(&r.tpl_id).map_err(|e| format!("tpl_id: {e}"))?,
        tpl_params: r.tpl_params,
    })
}

#[async_trait]
impl AuthCodeGateway for AlipayGateway {
    async fn exchange_auth_code(&self, code: &AuthCode) -> GatewayOutcome<AlipayIdentity> {
        let call = OauthToken {
            grant: Grant::AuthorizationCode(code.expose().to_string()),
        };
        map(self.client.execute(&call).await, |info| {
            Ok(AlipayIdentity {
                user_id: info.user_id,
                open_id: info.open_id,
            })
        })
    }
}

#[async_trait]
impl PassGateway for AlipayGateway {
    async fn add_template(&self, req: &AddTemplateRequest) -> GatewayOutcome<TemplateResult> {
        let call = TemplateAdd {
            unique_id: req.unique_id.clone(),
            tpl_content: req.tpl_content.clone(),
        };
        map(self.client.execute(&call).await, template_result)
    }

    async fn update_template(&self, req: &UpdateTemplateRequest) -> GatewayOutcome<TemplateResult> {
        let call = TemplateUpdate {
            tpl_id: req.tpl_id.as_str().to_string(),
            tpl_content: req.tpl_content.clone(),
        };
        map(self.client.execute(&call).await, template_result)
    }

    async fn issue_pass(&self, req: &IssuePassRequest) -> GatewayOutcome<PassIssued> {
        let call = InstanceAdd {
            tpl_id: req.tpl_id.as_str().to_string(),
            tpl_params: tpl_params(&req.tpl_params),
            recognition: Recognition::Uid {
                user_id: req.user_id.as_str().to_string(),
                user_token: req.user_token.as_str().to_string(),
            },
        };
        map(self.client.execute(&call).await, |issued| {
            Ok(PassIssued {
                pass_id: PassId::parse(&issued.pass_id).map_err(|e| format!("passId: {e}"))?,
                serial_number: optional_id(
                    "serialNumber",
                    issued.serial_number.as_deref(),
                    SerialNumber::parse,
                )?,
            })
        })
    }

    async fn update_pass(&self, req: &UpdatePassRequest) -> GatewayOutcome<()> {
        let status = match req.status {
            Some(PassStatus::Used) => Some(ClientPassStatus::Used),
            Some(PassStatus::Closed) => Some(ClientPassStatus::Closed),
            // ACTIVE is not a status the platform accepts: only parameters change.
            Some(PassStatus::Active) | None => None,
        };
        let call = InstanceUpdate {
            serial_number: req.serial_number.as_str().to_string(),
            channel_id: req.channel_id.as_str().to_string(),
            holder: match &req.holder {
                Recipient::UserId(u) => PassHolder::UserId(u.as_str().to_string()),
                Recipient::OpenId(o) => PassHolder::OpenId(o.as_str().to_string()),
            },
            tpl_params: req.tpl_params.as_ref().map(tpl_params),
            status,
        };
        map(self.client.execute(&call).await, |_| Ok(()))
    }

    async fn find_pass(&self, req: &FindPassRequest) -> GatewayOutcome<PassLookup> {
        // instance.update addresses a pass by serial and answers its passId; sending the parameters
        // the pass was issued with changes nothing the user sees.
        let call = InstanceUpdate {
            serial_number: req.serial_number.as_str().to_string(),
            channel_id: req.channel_id.as_str().to_string(),
            holder: PassHolder::UserId(req.user_id.as_str().to_string()),
            tpl_params: Some(tpl_params(&req.tpl_params)),
            status: None,
        };
        map(self.client.execute(&call).await, |updated| {
            Ok(PassLookup::Found {
                pass_id: optional_id("passId", updated.pass_id.as_deref(), PassId::parse)?,
            })
        })
    }
}

/// An id the answer may leave out, read with the domain's parser; an error names the wire field.
fn optional_id<T, E: std::fmt::Display>(
    field: &str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, String> {
    text.map(parse)
        .transpose()
        .map_err(|e| format!("{field}: {e}"))
}

#[async_trait]
impl CashGateway for AlipayGateway {
    async fn create_campaign(&self, terms: &NewCampaign) -> GatewayOutcome<CampaignCreated> {
        let call = CashCreate {
            coupon_name: terms.coupon_name.clone(),
            prize_type: match terms.prize_type {
                PrizeType::Fixed => ClientPrize::Fixed,
                PrizeType::Random => ClientPrize::Random,
            },
            total_money: terms.total_money,
            total_num: u64::from(terms.total_num),
            prize_msg: terms.prize_msg.clone(),
            start_time: terms.start.as_sent(),
            end_time: terms.end.to_beijing(),
            merchant_link: Some(terms.merchant_link.clone()).filter(|l| !l.is_empty()),
            send_freqency: terms.send_frequency.as_ref().map(|f| f.as_str().to_owned()),
        };
        map(self.client.execute(&call).await, |c| {
            Ok(CampaignCreated {
                crowd_no: CrowdNo::parse(&c.crowd_no).map_err(|e| format!("crowd_no: {e}"))?,
                // Decoded once, by the client; the domain stores it as given.
                pay_url: c.pay_url.unwrap_or_default(),
                origin_crowd_no: c.origin_crowd_no,
            })
        })
    }

    async fn trigger(&self, req: &TriggerRequest) -> GatewayOutcome<TriggerResult> {
        let call = CashTrigger {
            crowd_no: req.crowd_no.as_str().to_string(),
            user: match &req.recipient {
                Recipient::UserId(u) => TriggerUser::UserId(u.as_str().to_string()),
                Recipient::OpenId(o) => TriggerUser::OpenId(o.as_str().to_string()),
            },
            out_biz_no: Some(req.out_biz_no.as_str().to_string()),
            order_price: req.order_price,
        };
        map(self.client.execute(&call).await, |sent| {
            Ok(TriggerResult {
                trigger_result: true,
                prize_amount: Some(sent.prize_amount),
                repeat_trigger_flag: sent.repeat_trigger_flag,
                biz_no: sent.biz_no,
                out_biz_no: sent.out_biz_no,
                error_msg: None,
                partner_id: sent.partner_id,
            })
        })
    }

    async fn detail(&self, crowd_no: &CrowdNo) -> GatewayOutcome<CampaignDetail> {
        let call = CashDetailQuery {
            crowd_no: crowd_no.as_str().to_string(),
        };
        map(self.client.execute(&call).await, |d| {
            Ok(CampaignDetail {
                crowd_no: d.crowd_no.unwrap_or_else(|| crowd_no.as_str().to_string()),
                coupon_name: d.coupon_name,
                prize_msg: d.prize_msg,
                prize_type: d.prize_type,
                start_time: d.start_time,
                end_time: d.end_time,
                total_amount: d.total_amount,
                send_amount: d.send_amount,
                total_count: d.total_count.or(d.total_num).map(|n| n.to_string()),
                origin_crowd_no: d.origin_crowd_no,
                camp_status: d.camp_status.unwrap_or_default(),
            })
        })
    }

    async fn list(&self, req: &ListCampaignsRequest) -> GatewayOutcome<CampaignPage> {
        let call = CashListQuery {
            camp_status: req.camp_status.clone(),
            page_index: u64::from(req.page_index),
            page_size: u64::from(req.page_size),
        };
        map(self.client.execute(&call).await, |l| {
            let narrow = |n: Option<u64>, default: u32| {
                n.and_then(|n| u32::try_from(n).ok()).unwrap_or(default)
            };
            Ok(CampaignPage {
                camp_list: l
                    .camp_list
                    .into_iter()
                    .map(|c| CampaignSummary {
                        crowd_no: c.crowd_no.unwrap_or_default(),
                        origin_crowd_no: c.origin_crowd_no,
                        camp_status: c.camp_status.unwrap_or_default(),
                        coupon_name: c.coupon_name.unwrap_or_default(),
                    })
                    .collect(),
                page_index: narrow(l.page_index, req.page_index),
                page_size: narrow(l.page_size, req.page_size),
                total_size: narrow(l.total_size, 0),
            })
        })
    }

    async fn modify_status(
        &self,
        crowd_no: &CrowdNo,
        status: CampaignStatus,
    ) -> GatewayOutcome<()> {
        let change = match status {
            CampaignStatus::Pause => CampStatusChange::Pause,
            CampaignStatus::Ready => CampStatusChange::Ready,
            CampaignStatus::Closed => CampStatusChange::Closed,
            other => {
                return GatewayOutcome::Failed(GatewayFailure {
                    code: "NOT_SENT".into(),
                    error_msg: Some(format!("status {} cannot be set", other.as_str())),
                    ..GatewayFailure::default()
                })
            }
        };
        let call = CashStatusModify {
            crowd_no: crowd_no.as_str().to_string(),
            camp_status: change,
        };
        map(self.client.execute(&call).await, |_| Ok(()))
    }
}
