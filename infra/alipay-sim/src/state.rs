//! The simulator's state and business rules, one method per API. Pure: no I/O, the clock is passed in.

use std::collections::{BTreeMap, HashMap};

use alipay_protocol::GatewayTimestamp;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::settings::TriggerReplay;
use time::{Duration, OffsetDateTime};

use crate::settings::RepeatedSerial;

/// How the gateway answers one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `code=10000 msg=Success` plus these fields, under `<method>_response`.
    Ok(Map<String, Value>),
    /// An error inside the method node (`40004 Business Failed`, …).
    Business {
        /// `code`.
        code: &'static str,
        /// `msg`.
        msg: &'static str,
        /// `sub_code`.
        sub_code: String,
        /// `sub_msg`.
        sub_msg: String,
    },
    /// A gateway-level `error_response`.
    Gateway {
        /// `code`.
        code: &'static str,
        /// `msg`.
        msg: &'static str,
        /// `sub_code`.
        sub_code: String,
        /// `sub_msg`.
        sub_msg: String,
    },
}

impl Reply {
    /// `40004 Business Failed` with a sub_code and sub_msg.
    pub fn business(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Reply::Business {
            code: "40004",
            msg: "Business Failed",
            sub_code: sub_code.into(),
            sub_msg: sub_msg.into(),
        }
    }

    /// `40004 INVALID_PARAMETER` naming the field.
    pub fn invalid(field: &str, why: &str) -> Self {
        Reply::business("INVALID_PARAMETER", format!("参数有误: {field} {why}"))
    }

    /// A gateway-level error.
    pub fn gateway(code: &'static str, sub_code: &str, sub_msg: impl Into<String>) -> Self {
        let msg = match code {
            "40001" => "Missing Required Arguments",
            "40002" => "Invalid Arguments",
            "40003" => "Insufficient Conditions",
            "40004" => "Business Failed",
            "20000" => "Service Currently Unavailable",
            _ => "Invalid Arguments",
        };
        Reply::Gateway {
            code,
            msg,
            sub_code: sub_code.into(),
            sub_msg: sub_msg.into(),
        }
    }

    fn ok(fields: Value) -> Self {
        match fields {
            Value::Object(m) => Reply::Ok(m),
            _ => Reply::Ok(Map::new()),
        }
    }

    /// Pass APIs: `success="true"` and `result` as a JSON string.
    fn pass_ok(result: Value) -> Self {
        Reply::ok(json!({"success": "true", "result": result.to_string()}))
    }

    /// Pass APIs: `code=10000`, `success="false"`, `result` with `errorCode`/`errorMsg`.
    fn pass_fail(error_code: &str, error_msg: impl Into<String>) -> Self {
        let result = json!({"errorCode": error_code, "errorMsg": error_msg.into()});
        Reply::ok(json!({"success": "false", "result": result.to_string()}))
    }

    /// cash.trigger: `code=10000`, `trigger_result="false"`, `error_msg`.
    fn trigger_fail(error_msg: &str) -> Self {
        Reply::ok(json!({"trigger_result": "false", "error_msg": error_msg}))
    }
}

/// `biz_content` as an object, with lenient readers.
#[derive(Debug, Clone, Default)]
pub struct Biz(pub Map<String, Value>);

impl Biz {
    /// A scalar field as text; empty is absent.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn required(&self, key: &str) -> Result<String, Reply> {
        self.text(key)
            .ok_or_else(|| Reply::invalid(key, "不能为空"))
    }

    /// An object field, given as an object or as a JSON string holding one.
    fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, Reply> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(Reply::invalid(key, "不是合法的JSON对象")),
            },
            Some(_) => Err(Reply::invalid(key, "不是合法的JSON对象")),
        }
    }
}

/// Parses a non-negative yuan string with at most two decimals into fen.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > 2
        || (text.contains('.') && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    Some(int.parse::<i64>().ok()? * 100 + cents)
}

/// Fen as a yuan string with two decimals.
pub fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn is_user_id(s: &str) -> bool {
    s.len() == 16 && s.starts_with("2088") && s.bytes().all(|b| b.is_ascii_digit())
}

fn hex_digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn beijing(t: OffsetDateTime) -> String {
    GatewayTimestamp::from_utc(t).to_string()
}

fn ymd(t: OffsetDateTime) -> String {
    beijing(t)[..10].replace('-', "")
}

/// `$var$` names in every string of a JSON value, in order of first appearance.
pub fn template_vars(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                let mut rest = s.as_str();
                while let Some(start) = rest.find('$') {
                    let after = &rest[start + 1..];
                    match after.find('$') {
                        Some(end) => {
                            let name = &after[..end];
                            if !name.is_empty()
                                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                            {
                                if !out.iter().any(|n| n == name) {
                                    out.push(name.to_string());
                                }
                                rest = &after[end + 1..];
                            } else {
                                rest = after;
                            }
                        }
                        None => break,
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) => m.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

fn substitute(text: &str, params: &Map<String, Value>) -> String {
    let mut out = text.to_string();
    for (k, v) in params {
        let val = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("${k}$"), &val);
    }
    out
}

/// A pass template.
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    /// `tpl_id`.
    pub tpl_id: String,
    /// `unique_id` it was created with.
    pub unique_id: Option<String>,
    /// `tpl_content` as stored.
    pub tpl_content: Value,
    /// `$var$` names.
    pub tpl_params: Vec<String>,
    /// `content.merchant.mcallbackUrl`.
    pub mcallback_url: Option<String>,
    /// `content.fileInfo.serialNumber` (usually `$serialNumber$`).
    pub serial_number_field: String,
}

/// An issued pass.
#[derive(Debug, Clone, Serialize)]
pub struct Pass {
    /// `passId`.
    pub pass_id: String,
    /// `tpl_id`.
    pub tpl_id: String,
    /// `serialNumber`.
    pub serial_number: String,
    /// Owner.
    pub user_id: String,
    /// `ACTIVE`, `USED` or `CLOSED`.
    pub status: String,
    /// The `$var$` values.
    pub tpl_params: Map<String, Value>,
    /// When issued (Beijing time).
    pub created_at: String,
    /// Last update (Beijing time).
    pub updated_at: String,
}

/// A `user_token` minted by the claim component.
#[derive(Debug, Clone, Serialize)]
pub struct UserToken {
    /// The user it was minted for.
    pub user_id: String,
    /// The template it was minted for.
    pub template_id: String,
    /// Spent by a successful `instance.add`.
    pub spent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Period {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Frequency {
    period: Option<(Period, u32)>,
    lifetime: u32,
}

fn parse_frequency(text: Option<&str>) -> Result<Frequency, String> {
    let Some(text) = text else {
        return Ok(Frequency {
            period: None,
            lifetime: 1,
        });
    };
    let mut period = None;
    let mut lifetime = None;
    for part in text.split('|') {
        let (kind, n) = part.split_at(part.len().min(1));
        let n: u32 = n.parse().map_err(|_| format!("无法识别 {part}"))?;
        if n == 0 {
            return Err(format!("{part} 必须大于0"));
        }
        match kind {
            "D" | "W" | "M" if period.is_some() => return Err("D/W/M 只能设置一个".into()),
            "D" => period = Some((Period::Day, n)),
            "W" => period = Some((Period::Week, n)),
            "M" => period = Some((Period::Month, n)),
            "L" if lifetime.is_none() => lifetime = Some(n),
            _ => return Err(format!("无法识别 {part}")),
        }
    }
    let lifetime = lifetime.ok_or("必须包含L")?;
    if lifetime > 100 {
        return Err("L 不能超过100".into());
    }
    if period.is_some_and(|(_, n)| n > lifetime) {
        return Err("D/W/M 不能大于 L".into());
    }
    Ok(Frequency { period, lifetime })
}

/// A cash campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// `crowd_no`.
    pub crowd_no: String,
    /// `coupon_name`.
    pub coupon_name: String,
    /// `fixed` or `random`.
    pub prize_type: String,
    /// `total_money` in fen.
    pub total_fen: i64,
    /// `total_num`.
    pub total_num: u64,
    /// `prize_msg`.
    pub prize_msg: String,
    /// `start_time` (Beijing).
    pub start_time: String,
    /// `end_time` (Beijing).
    pub end_time: String,
    /// `merchant_link`.
    pub merchant_link: Option<String>,
    /// `send_freqency` as given.
    pub send_freqency: Option<String>,
    /// `camp_status`.
    pub camp_status: String,
    /// Paid out so far, in fen.
    pub sent_fen: i64,
    /// Envelopes paid out so far.
    pub sent_num: u64,
    #[serde(skip)]
    start: OffsetDateTime,
    #[serde(skip)]
    end: OffsetDateTime,
    #[serde(skip)]
    frequency: Frequency,
}

/// One payout: money that moved.
#[derive(Debug, Clone, Serialize)]
pub struct Payout {
    /// `crowd_no`.
    pub crowd_no: String,
    /// `out_biz_no` (the platform's default value when none was given).
    pub out_biz_no: String,
    /// The receiving user.
    pub user_id: String,
    /// `open_id`, when the trigger named the user by open id.
    pub open_id: Option<String>,
    /// `login_id`, when the trigger named the user by login id.
    pub login_id: Option<String>,
    /// Yuan string.
    pub amount: String,
    /// Fen.
    pub amount_fen: i64,
    /// `biz_no`.
    pub biz_no: String,
    /// When (Beijing time).
    pub paid_at: String,
    #[serde(skip)]
    at: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct TriggerRecord {
    user_id: String,
    answer: Map<String, Value>,
}

/// Everything the simulator remembers for its lifetime.
#[derive(Debug, Default)]
pub struct State {
    app_id: String,
    seq: u64,
    templates: BTreeMap<String, Template>,
    templates_by_unique: HashMap<String, String>,
    passes: Vec<Pass>,
    serials: HashMap<(String, String), usize>,
    tokens: HashMap<String, UserToken>,
    campaigns: BTreeMap<String, Campaign>,
    campaign_order: Vec<String>,
    triggers: HashMap<(String, String), TriggerRecord>,
    payouts: Vec<Payout>,
    auth_codes: HashMap<String, String>,
    refresh_tokens: HashMap<String, String>,
    open_ids: HashMap<String, String>,
}

/// The platform's `out_biz_no` when the trigger gives none.
pub const DEFAULT_OUT_BIZ_NO: &str = "default_out_biz_no";
/// The simulator's merchant pid, reported as `partner_id`.
pub const PARTNER_ID: &str = "2088000000000000";

impl State {
    /// Empty state for `app_id`.
    pub fn new(app_id: &str) -> Self {
        Self {
            app_id: app_id.to_string(),
            ..Default::default()
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn token_text(&mut self, prefix: &str, salt: &str) -> String {
        let n = self.next();
        let digest = hex_digest(&[prefix, salt, &n.to_string(), &self.app_id]);
        format!("{prefix}{}", &digest[..24])
    }

    /// The open id this app sees for `user_id` (deterministic), remembered for `cash.trigger`.
    pub fn open_id_for(&mut self, user_id: &str) -> String {
        let open_id = format!(
            "0{}",
            &hex_digest(&["open_id", &self.app_id, user_id])[..45]
        );
        self.open_ids.insert(open_id.clone(), user_id.to_string());
        open_id
    }

    fn user_for_login(login_id: &str) -> String {
        let digest = hex_digest(&["login_id", login_id]);
        let digits: String = digest
            .bytes()
            .filter(u8::is_ascii_digit)
            .chain(std::iter::repeat(b'0'))
            .take(12)
            .map(char::from)
            .collect();
        format!("2088{digits}")
    }

    // ----- templates -----

    fn read_tpl_content(biz: &Biz) -> Result<(Value, Option<String>, String), Reply> {
        let content = biz
            .object("tpl_content")?
            .ok_or_else(|| Reply::invalid("tpl_content", "不能为空"))?;
        let Some(Value::Object(pass)) = content.get("content") else {
            return Err(Reply::pass_fail(
                "TPL_CONTENT_INVALID",
                "tpl_content.content 不能为空",
            ));
        };
        let logo_ok = content
            .get("logo")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !logo_ok {
            return Err(Reply::pass_fail(
                "TPL_CONTENT_INVALID",
                "tpl_content.logo 不能为空",
            ));
        }
        let title_ok = pass
            .get("evoucherInfo")
            .and_then(|e| e.get("title"))
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        if !title_ok {
            return Err(Reply::pass_fail(
                "TPL_CONTENT_INVALID",
                "evoucherInfo.title 不能为空",
            ));
        }
        let serial = pass
            .get("fileInfo")
            .and_then(|f| f.get("serialNumber"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Reply::pass_fail("TPL_CONTENT_INVALID", "fileInfo.serialNumber 不能为空")
            })?
            .to_string();
        let callback = pass
            .get("merchant")
            .and_then(|m| m.get("mcallbackUrl"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok((Value::Object(content), callback, serial))
    }

    /// `alipay.pass.template.add`.
    pub fn template_add(&mut self, biz: &Biz, now: OffsetDateTime) -> Reply {
        let unique_id = biz.text("unique_id");
        if let Some(u) = &unique_id {
            if let Some(tpl_id) = self.templates_by_unique.get(u) {
                if let Some(t) = self.templates.get(tpl_id) {
                    return Reply::pass_ok(json!({"tpl_id": t.tpl_id, "tpl_params": t.tpl_params}));
                }
            }
        }
        let (content, mcallback_url, serial_number_field) = match Self::read_tpl_content(biz) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let n = self.next();
        let tpl_id = format!("{}{:017}", ymd(now), n);
        let tpl_params = template_vars(&content);
        let template = Template {
            tpl_id: tpl_id.clone(),
            unique_id: unique_id.clone(),
            tpl_content: content,
            tpl_params: tpl_params.clone(),
            mcallback_url,
            serial_number_field,
        };
        self.templates.insert(tpl_id.clone(), template);
        if let Some(u) = unique_id {
            self.templates_by_unique.insert(u, tpl_id.clone());
        }
        Reply::pass_ok(json!({"tpl_id": tpl_id, "tpl_params": tpl_params}))
    }

    /// `alipay.pass.template.update`.
    pub fn template_update(&mut self, biz: &Biz) -> Reply {
        let tpl_id = match biz.required("tpl_id") {
            Ok(t) => t,
            Err(r) => return r,
        };
        if !self.templates.contains_key(&tpl_id) {
            return Reply::pass_fail("TEMPLATE_NOT_EXIST", "模板不存在");
        }
        let (content, mcallback_url, serial_number_field) = match Self::read_tpl_content(biz) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let tpl_params = template_vars(&content);
        if let Some(t) = self.templates.get_mut(&tpl_id) {
            t.tpl_content = content;
            t.tpl_params = tpl_params.clone();
            t.mcallback_url = mcallback_url;
            t.serial_number_field = serial_number_field;
        }
        Reply::pass_ok(json!({"tpl_id": tpl_id, "tpl_params": tpl_params}))
    }

    /// A template, by id.
    pub fn template(&self, tpl_id: &str) -> Option<&Template> {
        self.templates.get(tpl_id)
    }

    /// Every template.
    pub fn templates(&self) -> Vec<Template> {
        self.templates.values().cloned().collect()
    }

    /// Mints a single-use `user_token` for `user_id` (the claim component).
    pub fn mint_user_token(&mut self, template_id: &str, user_id: &str) -> String {
        let token = self.token_text("tok_", user_id);
        self.tokens.insert(
            token.clone(),
            UserToken {
                user_id: user_id.to_string(),
                template_id: template_id.to_string(),
                spent: false,
            },
        );
        token
    }

    // ----- pass instances -----

    /// `alipay.pass.instance.add` with the default rule for repeated serials.
    pub fn instance_add(&mut self, biz: &Biz, now: OffsetDateTime) -> Reply {
        self.instance_add_with(biz, now, RepeatedSerial::default())
    }

    /// `alipay.pass.instance.add`; a serial already issued to the same user is answered by
    /// `repeated` (the earlier pass, or `SERIAL_NUMBER_REPEAT`).
    pub fn instance_add_with(
        &mut self,
        biz: &Biz,
        now: OffsetDateTime,
        repeated: RepeatedSerial,
    ) -> Reply {
        let tpl_id = match biz.required("tpl_id") {
            Ok(t) => t,
            Err(r) => return r,
        };
        let params = match biz.object("tpl_params") {
            Ok(Some(p)) => p,
            Ok(None) => return Reply::invalid("tpl_params", "不能为空"),
            Err(r) => return r,
        };
        let recognition_type = match biz.required("recognition_type") {
            Ok(t) => t,
            Err(r) => return r,
        };
        let info = match biz.object("recognition_info") {
            Ok(Some(i)) => Biz(i),
            Ok(None) => return Reply::invalid("recognition_info", "不能为空"),
            Err(r) => return r,
        };
        if recognition_type != "2" {
            return Reply::pass_fail(
                "RECOGNITION_TYPE_NOT_SUPPORTED",
                "模拟器只支持 recognition_type=2 (UID发券组件)",
            );
        }
        let (Some(user_id), Some(user_token)) = (info.text("user_id"), info.text("user_token"))
        else {
            return Reply::invalid("recognition_info", "需要 user_id 和 user_token");
        };
        if !is_user_id(&user_id) {
            return Reply::pass_fail("USER_ID_INVALID", "user_id 格式错误");
        }
        let Some(template) = self.templates.get(&tpl_id) else {
            return Reply::pass_fail("TEMPLATE_NOT_EXIST", "模板不存在");
        };
        let missing: Vec<&str> = template
            .tpl_params
            .iter()
            .filter(|name| {
                !params
                    .get(name.as_str())
                    .is_some_and(|v| !v.is_null() && v != "")
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Reply::pass_fail(
                "TPL_PARAMS_MISSING",
                format!("缺少模板参数: {}", missing.join(",")),
            );
        }
        let serial = substitute(&template.serial_number_field, &params);
        if serial.is_empty() || serial.contains('$') {
            return Reply::pass_fail("SERIAL_NUMBER_INVALID", "serialNumber 无效");
        }
        // Replay (checked before the token): the same serial for the same user answers the earlier
        // pass, unless the platform is set to refuse repeated serials outright.
        if let Some(&idx) = self.serials.get(&(tpl_id.clone(), serial.clone())) {
            let pass = &self.passes[idx];
            if pass.user_id == user_id && repeated == RepeatedSerial::SamePass {
                return Reply::pass_ok(json!({
                    "serialNumber": pass.serial_number, "passId": pass.pass_id, "operation": "ADD"
                }));
            }
            return Reply::pass_fail("SERIAL_NUMBER_REPEAT", "serialNumber 已被使用");
        }
        // A token is bound to the (user, template) the component minted it for.
        match self.tokens.get(&user_token) {
            None => return Reply::pass_fail("USER_TOKEN_INVALID", "user_token 无效"),
            Some(t) if t.user_id != user_id => {
                return Reply::pass_fail("USER_TOKEN_NOT_MATCH", "user_token 与 user_id 不匹配")
            }
            Some(t) if t.template_id != tpl_id => {
                return Reply::pass_fail("USER_TOKEN_NOT_MATCH", "user_token 与 tpl_id 不匹配")
            }
            Some(t) if t.spent => return Reply::pass_fail("USER_TOKEN_USED", "user_token 已使用"),
            Some(_) => {}
        }
        if let Some(t) = self.tokens.get_mut(&user_token) {
            t.spent = true;
        }
        let n = self.next();
        let pass_id = format!("{}{:012}", ymd(now), n);
        let at = beijing(now);
        self.passes.push(Pass {
            pass_id: pass_id.clone(),
            tpl_id: tpl_id.clone(),
            serial_number: serial.clone(),
            user_id,
            status: "ACTIVE".into(),
            tpl_params: params,
            created_at: at.clone(),
            updated_at: at,
        });
        self.serials
            .insert((tpl_id, serial.clone()), self.passes.len() - 1);
        Reply::pass_ok(json!({"serialNumber": serial, "passId": pass_id, "operation": "ADD"}))
    }

    /// `alipay.pass.instance.update`.
    pub fn instance_update(&mut self, biz: &Biz, now: OffsetDateTime) -> Reply {
        let serial = match biz.required("serial_number") {
            Ok(s) => s,
            Err(r) => return r,
        };
        if let Err(r) = biz.required("channel_id") {
            return r;
        }
        let new_params = match biz.object("tpl_params") {
            Ok(p) => p,
            Err(r) => return r,
        };
        let status = biz.text("status");
        if let Some(s) = &status {
            if s != "USED" && s != "CLOSED" {
                return Reply::invalid("status", "只能是 USED 或 CLOSED");
            }
        }
        // The stricter platform: newly onboarded merchants must name the pass's user (`user_id`, or
        // `open_id` for open-id apps); an update for another user's serial changes nothing.
        let holder = match (biz.text("user_id"), biz.text("open_id")) {
            (Some(u), _) => u,
            (None, Some(o)) => match self.open_ids.get(&o) {
                Some(u) => u.clone(),
                None => return Reply::pass_fail("USER_NOT_MATCH", "open_id 与卡券用户不匹配"),
            },
            (None, None) => {
                return Reply::invalid("user_id", "新接入商户必填，user_id 与 open_id 至少填一个")
            }
        };
        let Some(pass) = self
            .passes
            .iter_mut()
            .rev()
            .find(|p| p.serial_number == serial)
        else {
            return Reply::pass_fail("PASS_NOT_EXIST", "卡券实例不存在");
        };
        if pass.user_id != holder {
            return Reply::pass_fail("USER_NOT_MATCH", "卡券实例与用户不匹配");
        }
        if pass.status == "CLOSED" && status.as_deref() != Some("CLOSED") {
            return Reply::pass_fail("PASS_CLOSED", "卡券已关闭");
        }
        if let Some(p) = new_params {
            pass.tpl_params.extend(p);
        }
        if let Some(s) = status {
            pass.status = s;
        }
        pass.updated_at = beijing(now);
        Reply::pass_ok(json!({
            "serialNumber": pass.serial_number, "passId": pass.pass_id, "operate": "UPDATE"
        }))
    }

    /// Every pass issued.
    pub fn passes(&self) -> Vec<Pass> {
        self.passes.clone()
    }

    // ----- campaigns -----

    fn parse_time(text: &str, field: &str) -> Result<OffsetDateTime, Reply> {
        GatewayTimestamp::parse(text)
            .map(GatewayTimestamp::instant)
            .map_err(|_| Reply::invalid(field, "格式应为 yyyy-MM-dd HH:mm:ss"))
    }

    /// `alipay.marketing.campaign.cash.create`.
    pub fn cash_create(&mut self, biz: &Biz, now: OffsetDateTime, pay_base: &str) -> Reply {
        let read = || -> Result<Campaign, Reply> {
            let coupon_name = biz.required("coupon_name")?;
            let prize_type = biz.required("prize_type")?;
            if prize_type != "fixed" && prize_type != "random" {
                return Err(Reply::invalid("prize_type", "只能是 fixed 或 random"));
            }
            let total_text = biz.required("total_money")?;
            let total_fen = parse_yuan(&total_text)
                .ok_or_else(|| Reply::invalid("total_money", "金额格式错误"))?;
            if !(100..=1_000_000_000).contains(&total_fen) {
                return Err(Reply::invalid("total_money", "范围 1.00 - 10000000.00"));
            }
            let total_num: u64 = biz
                .required("total_num")?
                .parse()
                .map_err(|_| Reply::invalid("total_num", "必须是整数"))?;
            if !(1..=10_000_000).contains(&total_num) {
                return Err(Reply::invalid("total_num", "范围 1 - 10000000"));
            }
            let each = total_fen / total_num as i64;
            if !(20..=20_000).contains(&each) {
                return Err(Reply::invalid(
                    "total_money",
                    "单个红包金额须在 0.20 - 200.00 之间",
                ));
            }
            if prize_type == "fixed" && total_fen % total_num as i64 != 0 {
                return Err(Reply::invalid(
                    "total_money",
                    "固定金额红包的总金额须能被个数整除",
                ));
            }
            let prize_msg = biz.required("prize_msg")?;
            let start_text = biz.required("start_time")?;
            let start = if start_text == "NowTime" {
                now
            } else {
                Self::parse_time(&start_text, "start_time")?
            };
            let end_text = biz.required("end_time")?;
            let end = Self::parse_time(&end_text, "end_time")?;
            if end <= start || end <= now {
                return Err(Reply::invalid("end_time", "须晚于开始时间和当前时间"));
            }
            if end - start > Duration::days(183) {
                return Err(Reply::invalid("end_time", "活动时间不能超过6个月"));
            }
            let send_freqency = biz.text("send_freqency");
            let frequency = parse_frequency(send_freqency.as_deref())
                .map_err(|e| Reply::invalid("send_freqency", &e))?;
            Ok(Campaign {
                crowd_no: String::new(),
                coupon_name,
                prize_type,
                total_fen,
                total_num,
                prize_msg,
                start_time: beijing(start),
                end_time: beijing(end),
                merchant_link: biz.text("merchant_link"),
                send_freqency,
                camp_status: "CREATED".into(),
                sent_fen: 0,
                sent_num: 0,
                start,
                end,
                frequency,
            })
        };
        let mut campaign = match read() {
            Ok(c) => c,
            Err(r) => return r,
        };
        let n = self.next();
        let crowd_no = format!("CROWD{}{:010}", ymd(now), n);
        campaign.crowd_no = crowd_no.clone();
        self.campaigns.insert(crowd_no.clone(), campaign);
        self.campaign_order.push(crowd_no.clone());
        let pay_url = format!("{pay_base}/sim/campaigns/{crowd_no}/pay");
        let encoded =
            percent_encoding::utf8_percent_encode(&pay_url, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        Reply::ok(json!({"crowd_no": crowd_no, "pay_url": encoded, "origin_crowd_no": crowd_no}))
    }

    /// The operator pays a campaign (`CREATED` → `READY`). Returns the new status, or `None` for an
    /// unknown campaign.
    pub fn pay(&mut self, crowd_no: &str) -> Option<String> {
        let c = self.campaigns.get_mut(crowd_no)?;
        if c.camp_status == "CREATED" {
            c.camp_status = "READY".into();
        }
        Some(c.camp_status.clone())
    }

    /// The platform settles a closed campaign (refunds what is left): `CLOSED` → `SETTLED`.
    /// `None` for an unknown campaign, `Err(status)` when it is not closed.
    pub fn settle(&mut self, crowd_no: &str) -> Option<Result<String, String>> {
        let c = self.campaigns.get_mut(crowd_no)?;
        Some(match c.camp_status.as_str() {
            "CLOSED" | "SETTLED" => {
                c.camp_status = "SETTLED".into();
                Ok(c.camp_status.clone())
            }
            other => Err(other.to_string()),
        })
    }

    fn amount_for(c: &Campaign, salt: &str) -> i64 {
        let left_num = c.total_num.saturating_sub(c.sent_num) as i64;
        let left_fen = c.total_fen - c.sent_fen;
        if c.prize_type == "fixed" {
            return (c.total_fen / c.total_num as i64).min(left_fen);
        }
        if left_num <= 1 {
            return left_fen;
        }
        let avg = left_fen / left_num;
        let h = hex_digest(&[&c.crowd_no, salt]);
        let r = u64::from_str_radix(&h[..8], 16).unwrap_or(0) % 101; // 0..=100
        let amount = avg * (50 + r as i64) / 100;
        amount.clamp(1, (left_fen - (left_num - 1)).max(1))
    }

    fn count_in_period(
        &self,
        crowd_no: &str,
        user_id: &str,
        now: OffsetDateTime,
        period: Option<Period>,
    ) -> u32 {
        let bj = |t: OffsetDateTime| t.to_offset(time::macros::offset!(+8));
        let now = bj(now);
        self.payouts
            .iter()
            .filter(|p| p.crowd_no == crowd_no && p.user_id == user_id)
            .filter(|p| {
                let at = bj(p.at);
                match period {
                    None => true,
                    Some(Period::Day) => at.date() == now.date(),
                    Some(Period::Week) => {
                        at.year() == now.year() && at.iso_week() == now.iso_week()
                    }
                    Some(Period::Month) => at.year() == now.year() && at.month() == now.month(),
                }
            })
            .count() as u32
    }

    /// Why a campaign cannot pay now (status, time window, budget), in the platform's words.
    fn campaign_refusal(campaign: &Campaign, now: OffsetDateTime) -> Option<Reply> {
        match campaign.camp_status.as_str() {
            "READY" => {}
            "CREATED" => return Some(Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在")),
            "PAUSE" => return Some(Reply::business("CAMPAIGN_PAUSED", "活动已暂停")),
            _ => return Some(Reply::business("CAMPAIGN_CLOSED", "活动已结束")),
        }
        if now < campaign.start {
            return Some(Reply::business("CAMPAIGN_NOT_STARTED", "活动未开始"));
        }
        if now > campaign.end {
            return Some(Reply::business("CAMPAIGN_CLOSED", "活动已结束"));
        }
        if campaign.sent_num >= campaign.total_num || campaign.sent_fen >= campaign.total_fen {
            return Some(Reply::trigger_fail("红包已领完"));
        }
        None
    }

    /// `alipay.marketing.campaign.cash.trigger` with the default order (known `out_biz_no`s are
    /// replayed before the campaign is checked).
    pub fn cash_trigger(&mut self, biz: &Biz, now: OffsetDateTime) -> Reply {
        self.cash_trigger_with(biz, now, TriggerReplay::BeforeChecks)
    }

    /// `alipay.marketing.campaign.cash.trigger`, replaying a known `out_biz_no` before or after the
    /// campaign's checks as `replay` says. Per-user limits always come after the replay (a paid
    /// `out_biz_no` is not refused for the payout it made).
    pub fn cash_trigger_with(
        &mut self,
        biz: &Biz,
        now: OffsetDateTime,
        replay: TriggerReplay,
    ) -> Reply {
        let crowd_no = match biz.required("crowd_no") {
            Ok(c) => c,
            Err(r) => return r,
        };
        let out_biz_no = biz.text("out_biz_no");
        if let Some(o) = &out_biz_no {
            if o.len() > 96 || !o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Reply::invalid("out_biz_no", "只能包含字母、数字、下划线，最长96位");
            }
        }
        let (user_id, open_id, login_id) = if let Some(u) = biz.text("user_id") {
            if !is_user_id(&u) {
                return Reply::invalid("user_id", "格式错误");
            }
            (u, None, None)
        } else if let Some(l) = biz.text("login_id") {
            (Self::user_for_login(&l), None, Some(l))
        } else if let Some(o) = biz.text("open_id") {
            match self.open_ids.get(&o) {
                Some(u) => (u.clone(), Some(o), None),
                None => return Reply::business("USER_NOT_EXIST", "用户不存在"),
            }
        } else {
            return Reply::invalid("user_id", "user_id、login_id、open_id 至少填一个");
        };
        let Some(campaign) = self.campaigns.get(&crowd_no) else {
            return Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在");
        };
        let effective_out = out_biz_no
            .clone()
            .unwrap_or_else(|| DEFAULT_OUT_BIZ_NO.to_string());
        let replay_key = match &out_biz_no {
            Some(o) => (crowd_no.clone(), o.clone()),
            None => (crowd_no.clone(), format!("{DEFAULT_OUT_BIZ_NO}#{user_id}")),
        };
        // By default replays come first: a known out_biz_no answers its earlier payout even after
        // the campaign was closed or ran out, so a retry can always learn what happened. The
        // platform does not promise it, so `after_checks` plays the order that hurts.
        if replay == TriggerReplay::AfterChecks {
            if let Some(refusal) = Self::campaign_refusal(campaign, now) {
                return refusal;
            }
        }
        if let Some(record) = self.triggers.get(&replay_key) {
            if record.user_id != user_id {
                return Reply::business("OUT_BIZ_NO_REPEAT", "外部业务号已被其他用户使用");
            }
            let mut answer = record.answer.clone();
            answer.insert("repeat_trigger_flag".into(), Value::String("true".into()));
            return Reply::Ok(answer);
        }
        if let Some(refusal) = Self::campaign_refusal(campaign, now) {
            return refusal;
        }
        let freq = campaign.frequency;
        if self.count_in_period(&crowd_no, &user_id, now, None) >= freq.lifetime {
            return Reply::trigger_fail("超过领取次数限制");
        }
        if let Some((period, n)) = freq.period {
            if self.count_in_period(&crowd_no, &user_id, now, Some(period)) >= n {
                return Reply::trigger_fail("超过领取次数限制");
            }
        }
        let Some(campaign) = self.campaigns.get(&crowd_no) else {
            return Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在");
        };
        let left_fen = campaign.total_fen - campaign.sent_fen;
        let amount = match biz.text("order_price") {
            Some(p) => match parse_yuan(&p) {
                Some(0) | None => return Reply::invalid("order_price", "金额格式错误"),
                Some(a) if a > left_fen => return Reply::trigger_fail("红包余额不足"),
                Some(a) => a,
            },
            None => Self::amount_for(campaign, &format!("{effective_out}#{user_id}")),
        };
        let (coupon_name, prize_msg) = (campaign.coupon_name.clone(), campaign.prize_msg.clone());
        let n = self.next();
        let biz_no = format!("{}{:016}", ymd(now), n);
        if let Some(c) = self.campaigns.get_mut(&crowd_no) {
            c.sent_fen += amount;
            c.sent_num += 1;
        }
        self.payouts.push(Payout {
            crowd_no: crowd_no.clone(),
            out_biz_no: effective_out.clone(),
            user_id: user_id.clone(),
            open_id,
            login_id,
            amount: yuan(amount),
            amount_fen: amount,
            biz_no: biz_no.clone(),
            paid_at: beijing(now),
            at: now,
        });
        let answer = json!({
            "trigger_result": "true",
            "prize_amount": yuan(amount),
            "repeat_trigger_flag": "false",
            "partner_id": PARTNER_ID,
            "coupon_name": coupon_name,
            "prize_msg": prize_msg,
            "biz_no": biz_no,
            "out_biz_no": effective_out,
        });
        let Value::Object(answer) = answer else {
            return Reply::Ok(Map::new());
        };
        self.triggers.insert(
            replay_key,
            TriggerRecord {
                user_id,
                answer: answer.clone(),
            },
        );
        Reply::Ok(answer)
    }

    /// `alipay.marketing.campaign.cash.status.modify`.
    pub fn cash_status_modify(&mut self, biz: &Biz) -> Reply {
        let (crowd_no, target) = match (biz.required("crowd_no"), biz.required("camp_status")) {
            (Ok(c), Ok(t)) => (c, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let Some(c) = self.campaigns.get_mut(&crowd_no) else {
            return Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在");
        };
        let from = c.camp_status.as_str();
        let allowed = match (from, target.as_str()) {
            (_, t) if !matches!(t, "PAUSE" | "READY" | "CLOSED") => {
                return Reply::invalid("camp_status", "只能是 PAUSE、READY 或 CLOSED")
            }
            ("CLOSED" | "SETTLED", "CLOSED") => return Reply::Ok(Map::new()),
            ("SETTLED", _) => return Reply::business("CAMPAIGN_CLOSED", "活动已结束"),
            ("CLOSED", _) => return Reply::business("CAMPAIGN_CLOSED", "活动已结束"),
            ("CREATED", "CLOSED") => true,
            ("CREATED", _) => return Reply::business("CAMPAIGN_NOT_PAID", "活动未支付"),
            ("READY" | "PAUSE", _) => true,
            _ => false,
        };
        if !allowed {
            return Reply::business("CAMPAIGN_STATUS_ERROR", "活动状态不允许此操作");
        }
        c.camp_status = target;
        Reply::Ok(Map::new())
    }

    fn detail(c: &Campaign) -> Value {
        json!({
            "crowd_no": c.crowd_no,
            "coupon_name": c.coupon_name,
            "prize_msg": c.prize_msg,
            "prize_type": c.prize_type,
            "start_time": c.start_time,
            "end_time": c.end_time,
            "total_amount": yuan(c.total_fen),
            "send_amount": yuan(c.sent_fen),
            "total_count": c.sent_num.to_string(),
            "total_num": c.total_num.to_string(),
            "origin_crowd_no": c.crowd_no,
            "camp_status": c.camp_status,
        })
    }

    /// `alipay.marketing.campaign.cash.detail.query`.
    pub fn cash_detail(&self, biz: &Biz) -> Reply {
        let crowd_no = match biz.required("crowd_no") {
            Ok(c) => c,
            Err(r) => return r,
        };
        match self.campaigns.get(&crowd_no) {
            Some(c) => Reply::ok(Self::detail(c)),
            None => Reply::business("CAMPAIGN_NOT_EXIST", "现金活动不存在"),
        }
    }

    /// `alipay.marketing.campaign.cash.list.query`.
    pub fn cash_list(&self, biz: &Biz) -> Reply {
        let status = biz.text("camp_status").unwrap_or_else(|| "ALL".into());
        let page_index: usize = match biz.text("page_index").map(|p| p.parse()) {
            None => 1,
            Some(Ok(p)) if p >= 1 => p,
            _ => return Reply::invalid("page_index", "从1开始"),
        };
        let page_size: usize = match biz.text("page_size").map(|p| p.parse()) {
            None => 10,
            Some(Ok(p)) if (1..=50).contains(&p) => p,
            _ => return Reply::invalid("page_size", "范围 1 - 50"),
        };
        let all: Vec<&Campaign> = self
            .campaign_order
            .iter()
            .filter_map(|c| self.campaigns.get(c))
            .filter(|c| status == "ALL" || c.camp_status == status)
            .collect();
        let page: Vec<Value> = all
            .iter()
            .skip((page_index - 1) * page_size)
            .take(page_size)
            .map(|c| {
                json!({
                    "crowd_no": c.crowd_no,
                    "origin_crowd_no": c.crowd_no,
                    "camp_status": c.camp_status,
                    "coupon_name": c.coupon_name,
                })
            })
            .collect();
        Reply::ok(json!({
            "camp_list": page,
            "page_index": page_index.to_string(),
            "page_size": page_size.to_string(),
            "total_size": all.len().to_string(),
        }))
    }

    /// Every campaign.
    pub fn campaigns(&self) -> Vec<Campaign> {
        self.campaign_order
            .iter()
            .filter_map(|c| self.campaigns.get(c).cloned())
            .collect()
    }

    /// Every payout.
    pub fn payouts(&self) -> Vec<Payout> {
        self.payouts.clone()
    }

    // ----- oauth -----

    /// Mints a single-use auth code for `user_id`.
    pub fn mint_auth_code(&mut self, user_id: &str) -> String {
        let code = self.token_text("code_", user_id);
        self.auth_codes.insert(code.clone(), user_id.to_string());
        self.open_id_for(user_id);
        code
    }

    /// `alipay.system.oauth.token` (parameters are top-level, not in biz_content).
    pub fn oauth_token(&mut self, params: &Biz, now: OffsetDateTime) -> Reply {
        let grant = params.text("grant_type");
        let user_id = match grant.as_deref() {
            Some("authorization_code") => {
                let Some(code) = params.text("code") else {
                    return Reply::gateway("40002", "isv.code-invalid", "授权码code无效");
                };
                if let Some(u) = self.auth_codes.remove(&code) {
                    u
                } else if let Some(u) = code.strip_prefix("sim_code_").filter(|u| is_user_id(u)) {
                    u.to_string()
                } else {
                    return Reply::gateway("40002", "isv.code-invalid", "授权码code无效");
                }
            }
            Some("refresh_token") => {
                match params
                    .text("refresh_token")
                    .and_then(|t| self.refresh_tokens.get(&t))
                {
                    Some(u) => u.clone(),
                    None => {
                        return Reply::gateway(
                            "40002",
                            "isv.refresh-token-invalid",
                            "刷新令牌refresh_token无效",
                        )
                    }
                }
            }
            _ => return Reply::gateway("40002", "isv.grant-type-invalid", "不支持的grant_type"),
        };
        let open_id = self.open_id_for(&user_id);
        let access_token = self.token_text("authusrB", &user_id);
        let refresh_token = self.token_text("authusrR", &user_id);
        self.refresh_tokens
            .insert(refresh_token.clone(), user_id.clone());
        Reply::ok(json!({
            "user_id": user_id,
            "open_id": open_id,
            "access_token": access_token,
            "expires_in": 1_296_000,
            "refresh_token": refresh_token,
            "re_expires_in": 2_592_000,
            "auth_start": beijing(now),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn biz(v: Value) -> Biz {
        match v {
            Value::Object(m) => Biz(m),
            _ => panic!(),
        }
    }

    fn now() -> OffsetDateTime {
        GatewayTimestamp::parse("2024-01-02 03:04:05")
            .unwrap()
            .instant()
    }

    fn ok(r: Reply) -> Map<String, Value> {
        match r {
            Reply::Ok(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vars_are_found_in_order_once() {
        let v = json!({"a": "$x$ and $y$", "b": ["$x$", "sn%3D$z_1$"], "c": "$ not $", "d": "¥10"});
        assert_eq!(template_vars(&v), ["x", "y", "z_1"]);
    }

    #[test]
    fn yuan_round_trip() {
        assert_eq!(parse_yuan("2.00"), Some(200));
        assert_eq!(parse_yuan("0.5"), Some(50));
        assert_eq!(parse_yuan("2."), None);
        assert_eq!(yuan(1234), "12.34");
    }

    #[test]
    fn frequency_rules() {
        assert!(parse_frequency(Some("D1|L5")).is_ok());
        assert!(parse_frequency(Some("D6|L5")).is_err());
        assert!(parse_frequency(Some("D1|W1|L5")).is_err());
        assert!(parse_frequency(Some("D1")).is_err());
        assert!(parse_frequency(Some("L101")).is_err());
        assert_eq!(parse_frequency(None).unwrap().lifetime, 1);
    }

    fn paid_campaign(s: &mut State, total: &str, num: u64) -> String {
        let created = ok(s.cash_create(
            &biz(json!({"coupon_name":"n","prize_type":"fixed","total_money":total,"total_num":num.to_string(),
                "prize_msg":"m","start_time":"NowTime","end_time":"2024-02-01 00:00:00","send_freqency":"L100"})),
            now(),
            "http://x",
        ));
        let crowd = created["crowd_no"].as_str().unwrap().to_string();
        s.pay(&crowd);
        crowd
    }

    fn trigger_biz(crowd: &str, out: &str) -> Biz {
        biz(json!({"crowd_no": crowd, "user_id": "2088000000000001", "out_biz_no": out}))
    }

    fn modify(s: &mut State, crowd: &str, status: &str) {
        ok(s.cash_status_modify(&biz(json!({"crowd_no": crowd, "camp_status": status}))));
    }

    #[test]
    fn after_checks_refuses_a_paid_out_biz_no_while_the_campaign_cannot_pay() {
        use TriggerReplay::{AfterChecks, BeforeChecks};
        let mut s = State::new("app");
        let crowd = paid_campaign(&mut s, "2.00", 1);
        let first = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_1"), now(), AfterChecks));
        assert_eq!(first["repeat_trigger_flag"], "false");
        // The budget is spent by that very payout: the default order still replays it...
        let replay = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_1"), now(), BeforeChecks));
        assert_eq!(replay["repeat_trigger_flag"], "true");
        assert_eq!(replay["biz_no"], first["biz_no"]);
        // ...the hostile order answers as if it had never paid.
        let spent = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_1"), now(), AfterChecks));
        assert_eq!(spent["trigger_result"], "false");
        assert_eq!(spent["error_msg"], "红包已领完");

        let crowd = paid_campaign(&mut s, "10.00", 5);
        ok(s.cash_trigger(&trigger_biz(&crowd, "pe_2"), now()));
        modify(&mut s, &crowd, "PAUSE");
        assert_eq!(
            s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), AfterChecks),
            Reply::business("CAMPAIGN_PAUSED", "活动已暂停")
        );
        let replay = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), BeforeChecks));
        assert_eq!(replay["repeat_trigger_flag"], "true");
        modify(&mut s, &crowd, "READY");
        let replay = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), AfterChecks));
        assert_eq!(replay["repeat_trigger_flag"], "true");
        modify(&mut s, &crowd, "CLOSED");
        assert_eq!(
            s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), AfterChecks),
            Reply::business("CAMPAIGN_CLOSED", "活动已结束")
        );
        assert_eq!(s.payouts().len(), 2, "nothing paid twice");
    }

    #[test]
    fn a_closed_campaign_settles_and_stays_closed_to_triggers() {
        let mut s = State::new("app");
        let crowd = paid_campaign(&mut s, "10.00", 5);
        assert_eq!(s.settle(&crowd), Some(Err("READY".into())));
        modify(&mut s, &crowd, "CLOSED");
        assert_eq!(s.settle(&crowd), Some(Ok("SETTLED".into())));
        assert_eq!(s.settle("nope"), None);
        let detail = ok(s.cash_detail(&biz(json!({"crowd_no": crowd}))));
        assert_eq!(detail["camp_status"], "SETTLED");
        let listed = ok(s.cash_list(&biz(json!({"camp_status": "SETTLED"}))));
        assert_eq!(listed["total_size"], "1");
        assert_eq!(
            s.cash_trigger(&trigger_biz(&crowd, "pe_3"), now()),
            Reply::business("CAMPAIGN_CLOSED", "活动已结束")
        );
        modify(&mut s, &crowd, "CLOSED");
        assert_eq!(
            s.cash_status_modify(&biz(json!({"crowd_no": crowd, "camp_status": "READY"}))),
            Reply::business("CAMPAIGN_CLOSED", "活动已结束")
        );
        assert_eq!(s.campaigns()[0].camp_status, "SETTLED");
    }

    #[test]
    fn random_campaign_spends_exactly_the_budget() {
        let mut s = State::new("app");
        let created = ok(s.cash_create(
            &biz(json!({"coupon_name":"n","prize_type":"random","total_money":"10.00","total_num":"7",
                "prize_msg":"m","start_time":"NowTime","end_time":"2024-02-01 00:00:00","send_freqency":"L100"})),
            now(),
            "http://x",
        ));
        let crowd = created["crowd_no"].as_str().unwrap().to_string();
        s.pay(&crowd);
        let mut total = 0;
        for i in 0..7 {
            let r = ok(s.cash_trigger(
                &biz(json!({"crowd_no": crowd, "user_id": "2088000000000001", "out_biz_no": format!("b{i}")})),
                now(),
            ));
            assert_eq!(r["trigger_result"], "true", "{r:?}");
            total += parse_yuan(r["prize_amount"].as_str().unwrap()).unwrap();
        }
        assert_eq!(total, 1000);
        let r = ok(s.cash_trigger(
            &biz(json!({"crowd_no": crowd, "user_id": "2088000000000001", "out_biz_no": "b9"})),
            now(),
        ));
        assert_eq!(r["trigger_result"], "false");
    }

    fn pass_result(r: Reply) -> Value {
        let m = ok(r);
        assert_eq!(m["success"], "true", "{m:?}");
        serde_json::from_str(m["result"].as_str().unwrap()).unwrap()
    }

    fn pass_error(r: Reply) -> String {
        let m = ok(r);
        assert_eq!(m["success"], "false", "{m:?}");
        let result: Value = serde_json::from_str(m["result"].as_str().unwrap()).unwrap();
        result["errorCode"].as_str().unwrap().to_string()
    }

    fn issue(tpl: &str, user: &str, token: &str, serial: &str) -> Biz {
        biz(
            json!({"tpl_id": tpl, "tpl_params": {"sn": serial}, "recognition_type": "2",
            "recognition_info": {"user_id": user, "user_token": token}}),
        )
    }

    fn two_templates(s: &mut State) -> (String, String) {
        let mut ids = Vec::new();
        for title in ["a", "b"] {
            let r = ok(s.template_add(
                &biz(json!({"unique_id": title, "tpl_content": {"logo": "https://l",
                    "content": {"evoucherInfo": {"title": title}, "fileInfo": {"serialNumber": "$sn$"}}}})),
                now(),
            ));
            let result: Value = serde_json::from_str(r["result"].as_str().unwrap()).unwrap();
            ids.push(result["tpl_id"].as_str().unwrap().to_string());
        }
        (ids[0].clone(), ids[1].clone())
    }

    #[test]
    fn a_claim_token_is_bound_to_its_user_and_template() {
        let mut s = State::new("app");
        let (a, b) = two_templates(&mut s);
        let user = "2088000000000001";
        let token = s.mint_user_token(&a, user);
        let other_user = issue(&a, "2088000000000002", &token, "s1");
        assert_eq!(
            pass_error(s.instance_add(&other_user, now())),
            "USER_TOKEN_NOT_MATCH"
        );
        let other_template = issue(&b, user, &token, "s1");
        assert_eq!(
            pass_error(s.instance_add(&other_template, now())),
            "USER_TOKEN_NOT_MATCH"
        );
        let forged = issue(&a, user, "tok_forged", "s1");
        assert_eq!(
            pass_error(s.instance_add(&forged, now())),
            "USER_TOKEN_INVALID"
        );
        pass_result(s.instance_add(&issue(&a, user, &token, "s1"), now()));
        let spent = issue(&a, user, &token, "s2");
        assert_eq!(pass_error(s.instance_add(&spent, now())), "USER_TOKEN_USED");
    }

    #[test]
    fn a_repeated_serial_answers_the_same_pass_or_a_refusal_as_set() {
        let mut s = State::new("app");
        let (a, _) = two_templates(&mut s);
        let user = "2088000000000001";
        let first = s.mint_user_token(&a, user);
        let issued = pass_result(s.instance_add(&issue(&a, user, &first, "s1"), now()));
        let second = s.mint_user_token(&a, user);
        let again = pass_result(s.instance_add_with(
            &issue(&a, user, &second, "s1"),
            now(),
            RepeatedSerial::SamePass,
        ));
        assert_eq!(again["passId"], issued["passId"]);
        let refused = s.instance_add_with(
            &issue(&a, user, &second, "s1"),
            now(),
            RepeatedSerial::Refuse,
        );
        assert_eq!(pass_error(refused), "SERIAL_NUMBER_REPEAT");
        let third = s.mint_user_token(&a, "2088000000000002");
        let foreign = issue(&a, "2088000000000002", &third, "s1");
        assert_eq!(
            pass_error(s.instance_add(&foreign, now())),
            "SERIAL_NUMBER_REPEAT"
        );
        assert_eq!(s.passes().len(), 1);
    }
}
