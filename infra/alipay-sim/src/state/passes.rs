//! Pass templates (`alipay.pass.template.add` / `.update`), the claim component's user tokens and
//! pass instances (`alipay.pass.instance.add` / `.update`).

use serde::Serialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::helpers::{beijing, is_user_id, ymd};
use super::{Biz, Reply, State};
use crate::settings::RepeatedSerial;

/// `$var$` names in every string of a JSON value, in order of first appearance.
pub fn template_vars(v: &Value) -> Vec<String> {
    pub(super) fn walk(v: &Value, out: &mut Vec<String>) {
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

pub(super) fn substitute(text: &str, params: &Map<String, Value>) -> String {
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

/// The non-empty text of a template field, or the platform's refusal naming it as `shown`.
fn nonempty<'a>(at: Option<&'a Value>, shown: &str) -> Result<&'a str, Reply> {
    at.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reply::pass_fail("TPL_CONTENT_INVALID", format!("{shown} 不能为空")))
}

impl State {
    pub(super) fn read_tpl_content(biz: &Biz) -> Result<(Value, Option<String>, String), Reply> {
        let content = biz
            .object("tpl_content")?
            .ok_or_else(|| Reply::invalid("tpl_content", "不能为空"))?;
        let Some(pass @ Value::Object(_)) = content.get("content") else {
            return Err(Reply::pass_fail(
                "TPL_CONTENT_INVALID",
                "tpl_content.content 不能为空",
            ));
        };
        nonempty(content.get("logo"), "tpl_content.logo")?;
        nonempty(pass.pointer("/evoucherInfo/title"), "evoucherInfo.title")?;
        let serial = nonempty(
            pass.pointer("/fileInfo/serialNumber"),
            "fileInfo.serialNumber",
        )?
        .to_owned();
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
        if let Some(refusal) = missing_params(template, &params) {
            return refusal;
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
        if let Err(refusal) = self.spend_token(&user_token, &user_id, &tpl_id) {
            return refusal;
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

    /// Spends `token`: it must be unspent and minted for this user and template (the component
    /// binds a token to both).
    fn spend_token(&mut self, token: &str, user_id: &str, tpl_id: &str) -> Result<(), Reply> {
        let Some(t) = self.tokens.get_mut(token) else {
            return Err(Reply::pass_fail("USER_TOKEN_INVALID", "user_token 无效"));
        };
        if t.user_id != user_id {
            return Err(Reply::pass_fail(
                "USER_TOKEN_NOT_MATCH",
                "user_token 与 user_id 不匹配",
            ));
        }
        if t.template_id != tpl_id {
            return Err(Reply::pass_fail(
                "USER_TOKEN_NOT_MATCH",
                "user_token 与 tpl_id 不匹配",
            ));
        }
        if t.spent {
            return Err(Reply::pass_fail("USER_TOKEN_USED", "user_token 已使用"));
        }
        t.spent = true;
        Ok(())
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
}

/// The refusal of an issue whose `tpl_params` lack a value for one of the template's `$var$`s.
fn missing_params(template: &Template, params: &Map<String, Value>) -> Option<Reply> {
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
    (!missing.is_empty()).then(|| {
        Reply::pass_fail(
            "TPL_PARAMS_MISSING",
            format!("缺少模板参数: {}", missing.join(",")),
        )
    })
}
