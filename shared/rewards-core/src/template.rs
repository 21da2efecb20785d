//! Pass templates: pass.json (`tpl_content`) validation, `$var$` collection, parameter rules for
//! filling variables at claim time, the deterministic `unique_id`, and [`TemplateService`].

use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::hash::{canonical_json, sha256_hex, sha256_parts};
use crate::ids::{AppId, SerialNumber, TemplateId, UserId};
use crate::ports::{
    AddTemplateRequest, Clock, PassGateway, StoreError, TemplateStore, UpdateTemplateRequest,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Largest accepted `tpl_content`, serialized (Alipay: String(65000)).
pub const MAX_TPL_CONTENT_BYTES: usize = 65_000;

/// One problem in a pass.json, pointing at the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateIssue {
    /// JSON pointer into `tpl_content` (rules: `/rules/<var>`), e.g. `/content/fileInfo/serialNumber`.
    pub pointer: String,
    /// Stable code: `required`, `wrong_type`, `empty`, `not_a_variable`, `callback_mismatch`,
    /// `bad_date`, `bad_url`, `too_large`, `missing_rule`, `unknown_variable`, `bad_rule`,
    /// `serial_rule` (the serial's variable must be filled with the claim's own serial),
    /// `out_of_range` (`perUserLimit`).
    pub code: String,
    /// Human text.
    pub message: String,
}

fn issue(pointer: impl Into<String>, code: &str, message: impl Into<String>) -> TemplateIssue {
    TemplateIssue {
        pointer: pointer.into(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// How to fill one `$var$` at claim time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ParamRule {
    /// The claim time, Beijing `yyyy-MM-dd HH:mm:ss`.
    Now,
    /// The claim time plus `hours`, Beijing time.
    NowPlus {
        /// Hours to add (1..=8784).
        hours: u32,
    },
    /// The claim's serial number (deterministic from template, user, token).
    Serial,
    /// A fixed text.
    Fixed {
        /// The text.
        value: String,
    },
    /// The claiming user's id.
    UserId,
    /// The app id (the pass channel).
    AppId,
}

/// The default rule for well-known variables: `activeTime`=Now, `expireTime`=Now+48h,
/// `serialNumber`=Serial, `channelID`=AppId.
pub fn default_rule(var: &str) -> Option<ParamRule> {
    match var {
        "activeTime" => Some(ParamRule::Now),
        "expireTime" => Some(ParamRule::NowPlus { hours: 48 }),
        "serialNumber" => Some(ParamRule::Serial),
        "channelID" => Some(ParamRule::AppId),
        _ => None,
    }
}

/// What the validator needs to know about this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePolicy {
    /// This deployment's callback URL; `merchant.mcallbackUrl` must equal it.
    pub callback_url: String,
    /// The logo used when a template brings neither `logo` nor `icon` (Alipay requires a logo;
    /// merchants moving from a hosted pass platform have none): the deployment's
    /// `DefaultPassLogoUrl` parameter, `DEFAULT_PASS_LOGO_URL` in the environment.
    pub default_logo: Option<String>,
}

/// The environment variable and the template.yaml parameter that set [`TemplatePolicy::default_logo`].
pub const DEFAULT_LOGO_SETTING: &str =
    "DEFAULT_PASS_LOGO_URL (template.yaml parameter DefaultPassLogoUrl)";

/// Passes one user may claim from a template when it does not say (`perUserLimit`).
pub const DEFAULT_PER_USER_LIMIT: u32 = 1;
/// The largest `perUserLimit` accepted.
pub const MAX_PER_USER_LIMIT: u32 = 100;

fn default_per_user_limit() -> u32 {
    DEFAULT_PER_USER_LIMIT
}

/// Checks a requested `perUserLimit` (1..=[`MAX_PER_USER_LIMIT`]).
///
/// # Errors
/// An issue at `/perUserLimit`, code `out_of_range`.
pub fn check_per_user_limit(limit: u32) -> Result<u32, TemplateIssue> {
    if (1..=MAX_PER_USER_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(issue(
            "/perUserLimit",
            "out_of_range",
            format!("perUserLimit must be 1..={MAX_PER_USER_LIMIT}"),
        ))
    }
}

/// A merchant's pass.json often has no `logo` (hosted pass platforms add their own): take the
/// template's `icon`, else the deployment default. Returns the content unchanged when it has a
/// logo, or when neither exists (validation then says what to set).
fn with_logo(tpl_content: &Value, policy: &TemplatePolicy) -> Value {
    let mut filled = tpl_content.clone();
    if let Value::Object(map) = &mut filled {
        if !map.contains_key("logo") {
            let icon = map.get("icon").filter(|v| v.is_string()).cloned();
            let fallback = icon.or_else(|| policy.default_logo.clone().map(Value::String));
            if let Some(logo) = fallback {
                map.insert("logo".into(), logo);
            }
        }
    }
    filled
}

/// A validated template: the content, its variables and a rule for each.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedTemplate {
    /// The `tpl_content` object.
    pub tpl_content: Value,
    /// Every `$var$` name, sorted.
    pub variables: Vec<String>,
    /// A rule for every variable.
    pub rules: BTreeMap<String, ParamRule>,
    /// The deterministic `unique_id` (hash of the canonical content).
    pub unique_id: String,
}

/// Collects `$name$` variables in a string (`name` = `[A-Za-z_][A-Za-z0-9_]{0,63}`).
pub fn variables_in(text: &str, out: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len()
                && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_')
                && j - start < 64
            {
                j += 1;
            }
            let valid_start =
                start < bytes.len() && (bytes[start].is_ascii_alphabetic() || bytes[start] == b'_');
            if j > start && valid_start && j < bytes.len() && bytes[j] == b'$' {
                out.insert(text[start..j].to_owned());
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
}

/// The variable name when `text` is exactly one `$var$`.
pub fn whole_variable(text: &str) -> Option<String> {
    let inner = text.strip_prefix('$')?.strip_suffix('$')?;
    let mut set = BTreeSet::new();
    variables_in(text, &mut set);
    (set.len() == 1 && set.contains(inner)).then(|| inner.to_owned())
}

fn collect_all(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => variables_in(s, out),
        Value::Array(items) => items.iter().for_each(|v| collect_all(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_all(v, out)),
        _ => {}
    }
}

fn escape_pointer(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

struct Checker<'a> {
    root: &'a Value,
    issues: Vec<TemplateIssue>,
}

impl<'a> Checker<'a> {
    fn get(&self, pointer: &str) -> Option<&'a Value> {
        self.root.pointer(pointer)
    }

    /// Notes a value of the wrong JSON type.
    fn wrong_type(&mut self, pointer: &str, expected: &str) {
        self.issues
            .push(issue(pointer, "wrong_type", format!("must be {expected}")));
    }

    /// Notes a missing value, when it is required.
    fn absent(&mut self, pointer: &str, required: bool) {
        if required {
            self.issues.push(issue(pointer, "required", "is required"));
        }
    }

    fn object(&mut self, pointer: &str, required: bool) -> bool {
        match self.get(pointer) {
            Some(Value::Object(_)) => return true,
            Some(_) => self.wrong_type(pointer, "an object"),
            None => self.absent(pointer, required),
        }
        false
    }

    fn string(&mut self, pointer: &str, required: bool) -> Option<&'a str> {
        match self.get(pointer) {
            Some(Value::String(s)) if s.trim().is_empty() && required => {
                self.issues
                    .push(issue(pointer, "empty", "must not be empty"));
            }
            Some(Value::String(s)) => return Some(s.as_str()),
            Some(_) => self.wrong_type(pointer, "a string"),
            None => self.absent(pointer, required),
        }
        None
    }

    fn url(&mut self, pointer: &str, required: bool) {
        if let Some(s) = self.string(pointer, required) {
            if !s.is_empty()
                && whole_variable(s).is_none()
                && !(s.starts_with("https://") || s.starts_with("http://"))
            {
                self.issues.push(issue(
                    pointer,
                    "bad_url",
                    "must be an http(s) URL or a $variable$",
                ));
            }
        }
    }

    fn date(&mut self, pointer: &str, required: bool) {
        if let Some(s) = self.string(pointer, required) {
            if whole_variable(s).is_none() && Timestamp::parse_beijing(s).is_err() {
                self.issues.push(issue(
                    pointer,
                    "bad_date",
                    "must be `yyyy-MM-dd HH:mm:ss` or a $variable$",
                ));
            }
        }
    }
}

/// Validates a `tpl_content` (`{logo, icon?, strip?, content: {evoucherInfo, merchant, platform?,
/// style?, fileInfo, ...}}`) and the given parameter rules. Returns every issue found, never panics.
///
/// # Errors
/// All [`TemplateIssue`]s, each pointing at its field.
pub fn validate_template(
    tpl_content: &Value,
    given_rules: &BTreeMap<String, ParamRule>,
    policy: &TemplatePolicy,
) -> Result<ValidatedTemplate, Vec<TemplateIssue>> {
    let filled = with_logo(tpl_content, policy);
    let tpl_content = &filled;
    let mut c = Checker {
        root: tpl_content,
        issues: Vec::new(),
    };
    if !tpl_content.is_object() {
        return Err(vec![issue(
            "",
            "wrong_type",
            "tpl_content must be a JSON object",
        )]);
    }
    let size = tpl_content.to_string().len();
    if size > MAX_TPL_CONTENT_BYTES {
        return Err(vec![issue(
            "",
            "too_large",
            format!("tpl_content is {size} bytes; at most {MAX_TPL_CONTENT_BYTES}"),
        )]);
    }
    if c.get("/logo").is_none() {
        c.issues.push(issue(
            "/logo",
            "required",
            format!(
                "is required by Alipay: give `logo` (or `icon`) in the template, or set this \
                 deployment's default logo, {DEFAULT_LOGO_SETTING}"
            ),
        ));
    } else {
        c.url("/logo", true);
    }
    c.url("/icon", false);
    c.url("/strip", false);
    if c.object("/content", true) {
        if c.object("/content/evoucherInfo", true) {
            c.string("/content/evoucherInfo/title", true);
            c.string("/content/evoucherInfo/type", true);
            c.string("/content/evoucherInfo/product", true);
            c.date("/content/evoucherInfo/startDate", true);
            c.date("/content/evoucherInfo/endDate", true);
            match c.get("/content/evoucherInfo/operation") {
                None => {}
                Some(Value::Array(ops)) => {
                    for i in 0..ops.len() {
                        let p = format!("/content/evoucherInfo/operation/{i}");
                        if c.object(&p, true) {
                            c.string(&format!("{p}/format"), true);
                            c.string(&format!("{p}/message"), true);
                        }
                    }
                }
                Some(_) => c.wrong_type("/content/evoucherInfo/operation", "an array"),
            }
            c.object("/content/evoucherInfo/einfo", false);
        }
        if c.object("/content/merchant", true) {
            c.string("/content/merchant/mname", true);
            if let Some(cb) = c.string("/content/merchant/mcallbackUrl", true) {
                if cb != policy.callback_url {
                    c.issues.push(issue(
                        "/content/merchant/mcallbackUrl",
                        "callback_mismatch",
                        format!(
                            "must be this deployment's callback URL {}",
                            policy.callback_url
                        ),
                    ));
                }
            }
        }
        c.object("/content/platform", false);
        c.object("/content/style", false);
        if c.object("/content/fileInfo", true) {
            if let Some(sn) = c.string("/content/fileInfo/serialNumber", true) {
                if whole_variable(sn).is_none() {
                    c.issues.push(issue(
                        "/content/fileInfo/serialNumber",
                        "not_a_variable",
                        "must be a $variable$ (it is unique per pass), e.g. $serialNumber$",
                    ));
                }
            }
        }
    }
    let serial_var = c
        .get("/content/fileInfo/serialNumber")
        .and_then(Value::as_str)
        .and_then(whole_variable);
    let mut vars = BTreeSet::new();
    collect_all(tpl_content, &mut vars);
    let mut rules = BTreeMap::new();
    for v in &vars {
        let implied = (serial_var.as_deref() == Some(v.as_str())).then_some(ParamRule::Serial);
        match given_rules
            .get(v)
            .cloned()
            .or_else(|| default_rule(v))
            .or(implied)
        {
            Some(rule) => {
                rules.insert(v.clone(), rule);
            }
            None => c.issues.push(issue(
                format!("/rules/{}", escape_pointer(v)),
                "missing_rule",
                format!("variable ${v}$ has no default; give a rule for it"),
            )),
        }
    }
    for (name, rule) in given_rules {
        let p = format!("/rules/{}", escape_pointer(name));
        if !vars.contains(name) {
            c.issues.push(issue(
                &p,
                "unknown_variable",
                format!("the template has no ${name}$"),
            ));
        }
        match rule {
            ParamRule::NowPlus { hours } if *hours == 0 || *hours > 8784 => {
                c.issues
                    .push(issue(&p, "bad_rule", "hours must be 1..=8784"));
            }
            // The serial we store must be the one Alipay holds: USED/CLOSED address a pass by it,
            // and the claim path derives it per (template, user, n-th pass).
            rule if serial_var.as_deref() == Some(name.as_str()) && *rule != ParamRule::Serial => {
                c.issues.push(issue(
                    &p,
                    "serial_rule",
                    format!(
                        "${name}$ is the pass's serial number (fileInfo.serialNumber): it is always \
                         the claim's own serial; remove this rule or use {{\"kind\":\"serial\"}}"
                    ),
                ));
            }
            ParamRule::Fixed { value } if value.len() > 1000 => {
                c.issues.push(issue(
                    &p,
                    "bad_rule",
                    "fixed value is longer than 1000 bytes",
                ));
            }
            _ => {}
        }
    }
    if !c.issues.is_empty() {
        return Err(c.issues);
    }
    Ok(ValidatedTemplate {
        unique_id: unique_id_for(tpl_content),
        tpl_content: tpl_content.clone(),
        variables: vars.into_iter().collect(),
        rules,
    })
}

/// The deterministic `unique_id` for template.add: `t` + the first 40 hex chars of the SHA-256 of
/// the canonical (key-sorted) content. The same content always gets the same id.
pub fn unique_id_for(tpl_content: &Value) -> String {
    let h = sha256_hex(canonical_json(tpl_content).as_bytes());
    format!("t{}", &h[..40])
}

/// The serial of a user's `n`-th pass from a template (n from 1): deterministic, so a re-tap after
/// an unknown outcome (with a new token) reuses it and cannot create a second pass.
/// `S` + 31 hex chars of SHA-256 over the length-prefixed parts.
pub fn derive_serial(template: &TemplateId, user: &UserId, n: u32) -> SerialNumber {
    let h = sha256_parts(&[
        "serial/v2",
        template.as_str(),
        user.as_str(),
        &n.to_string(),
    ]);
    SerialNumber::from_valid(format!("S{}", &h[..31]))
}

/// What the rules need at claim time.
#[derive(Debug, Clone)]
pub struct FillContext<'a> {
    /// Claim time.
    pub now: Timestamp,
    /// The claiming user.
    pub user: &'a UserId,
    pub app_id: &'a AppId,
    /// The claim's serial.
    pub serial: &'a SerialNumber,
}

/// Fills every variable by its rule.
pub fn fill_params(
    rules: &BTreeMap<String, ParamRule>,
    ctx: &FillContext<'_>,
) -> BTreeMap<String, String> {
    rules
        .iter()
        .map(|(name, rule)| {
            let v = match rule {
                ParamRule::Now => ctx.now.to_beijing(),
                ParamRule::NowPlus { hours } => ctx.now.plus_hours(i64::from(*hours)).to_beijing(),
                ParamRule::Serial => ctx.serial.to_string(),
                ParamRule::Fixed { value } => value.clone(),
                ParamRule::UserId => ctx.user.to_string(),
                ParamRule::AppId => ctx.app_id.to_string(),
            };
            (name.clone(), v)
        })
        .collect()
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRecord {
    /// Alipay's `tpl_id`.
    pub template_id: TemplateId,
    /// The `unique_id` used for template.add.
    pub unique_id: String,
    /// The `tpl_content` object.
    pub tpl_content: Value,
    /// A rule per variable.
    pub rules: BTreeMap<String, ParamRule>,
    /// The variable names (`tplParams`), sorted.
    pub tpl_params: Vec<String>,
    /// Passes one user may claim from this template (`perUserLimit`, default 1).
    #[serde(default = "default_per_user_limit")]
    pub per_user_limit: u32,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The pass.json or the rules are invalid.
    #[error("the pass template is invalid: {}", first_issue(.0))]
    Invalid(Vec<TemplateIssue>),
    /// No such template.
    #[error("unknown template")]
    NotFound,
    /// Alipay refused, or its outcome is unknown.
    #[error("{}", .0.describe("Alipay refused the template"))]
    Gateway(GatewayError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn first_issue(issues: &[TemplateIssue]) -> String {
    issues
        .first()
        .map(|i| format!("{} {}: {}", i.pointer, i.code, i.message))
        .unwrap_or_default()
}

domain_error!(
    TemplateError {
        TemplateError::Invalid(_) => "invalid_template", ErrorKind::BadInput;
        TemplateError::NotFound => "template_not_found", ErrorKind::NotFound;
    }
    gateway: Gateway;
    store: Store;
    {
        fn extensions(&self) -> Vec<(&'static str, Value)> {
            match self {
                TemplateError::Invalid(issues) => vec![(
                    "errors",
                    serde_json::to_value(issues).unwrap_or(Value::Null),
                )],
                _ => Vec::new(),
            }
        }
    }
);

/// Creates, updates, reads templates.
pub struct TemplateService {
    pub store: Arc<dyn TemplateStore>,
    /// The pass gateway.
    pub gateway: Arc<dyn PassGateway>,
    pub clock: Arc<dyn Clock>,
    /// Validation policy.
    pub policy: TemplatePolicy,
}

impl TemplateService {
    /// Validates, calls template.add with the deterministic `unique_id`, stores the record.
    /// `per_user_limit`: passes one user may claim (default [`DEFAULT_PER_USER_LIMIT`]).
    ///
    /// # Errors
    /// [`TemplateError`].
    #[tracing::instrument(skip_all, fields(per_user_limit = ?per_user_limit))]
    pub async fn create(
        &self,
        tpl_content: &Value,
        rules: &BTreeMap<String, ParamRule>,
        per_user_limit: Option<u32>,
    ) -> Result<TemplateRecord, TemplateError> {
        let (v, per_user_limit) = self.validate(
            tpl_content,
            rules,
            per_user_limit.unwrap_or(DEFAULT_PER_USER_LIMIT),
        )?;
        let req = AddTemplateRequest {
            unique_id: v.unique_id.clone(),
            tpl_content: v.tpl_content.clone(),
        };
        let result = self.gateway.add_template(&req).await.into_result()?;
        let now = self.clock.now();
        let record = TemplateRecord {
            template_id: result.tpl_id,
            unique_id: v.unique_id,
            tpl_content: v.tpl_content,
            rules: v.rules,
            tpl_params: v.variables,
            per_user_limit,
            created_at: now,
            updated_at: now,
        };
        self.store.put_template(&record).await?;
        Ok(record)
    }

    /// Validates, calls template.update, stores the record (keeping `created_at`, and the
    /// `perUserLimit` unless a new one is given).
    ///
    /// # Errors
    /// [`TemplateError`].
    #[tracing::instrument(skip_all, fields(template_id = %id))]
    pub async fn update(
        &self,
        id: &TemplateId,
        tpl_content: &Value,
        rules: &BTreeMap<String, ParamRule>,
        per_user_limit: Option<u32>,
    ) -> Result<TemplateRecord, TemplateError> {
        let existing = self
            .store
            .get_template(id)
            .await?
            .ok_or(TemplateError::NotFound)?;
        let (v, per_user_limit) = self.validate(
            tpl_content,
            rules,
            per_user_limit.unwrap_or(existing.per_user_limit),
        )?;
        let req = UpdateTemplateRequest {
            tpl_id: id.clone(),
            tpl_content: v.tpl_content.clone(),
        };
        self.gateway.update_template(&req).await.into_result()?;
        let record = TemplateRecord {
            template_id: id.clone(),
            unique_id: existing.unique_id,
            tpl_content: v.tpl_content,
            rules: v.rules,
            tpl_params: v.variables,
            per_user_limit,
            created_at: existing.created_at,
            updated_at: self.clock.now(),
        };
        self.store.put_template(&record).await?;
        Ok(record)
    }

    /// The content and rules checked together with the limit: every issue at once.
    fn validate(
        &self,
        tpl_content: &Value,
        rules: &BTreeMap<String, ParamRule>,
        per_user_limit: u32,
    ) -> Result<(ValidatedTemplate, u32), TemplateError> {
        let checked = validate_template(tpl_content, rules, &self.policy);
        match (checked, check_per_user_limit(per_user_limit)) {
            (Ok(v), Ok(limit)) => Ok((v, limit)),
            (Ok(_), Err(bad)) => Err(TemplateError::Invalid(vec![bad])),
            (Err(issues), Ok(_)) => Err(TemplateError::Invalid(issues)),
            (Err(mut issues), Err(bad)) => {
                issues.push(bad);
                Err(TemplateError::Invalid(issues))
            }
        }
    }

    /// One template.
    ///
    /// # Errors
    /// [`TemplateError::NotFound`] or a store error.
    pub async fn get(&self, id: &TemplateId) -> Result<TemplateRecord, TemplateError> {
        self.store
            .get_template(id)
            .await?
            .ok_or(TemplateError::NotFound)
    }

    /// Templates, newest first.
    ///
    /// # Errors
    /// A store error.
    pub async fn list(&self, limit: usize) -> Result<Vec<TemplateRecord>, TemplateError> {
        Ok(self.store.list_templates(limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DomainError;
    use proptest::prelude::*;
    use serde_json::json;

    pub(crate) const CB: &str = "https://example.com/alipass/callback";

    pub(crate) fn vector() -> Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/sign_cases.json"
        ))
        .unwrap();
        let all: Value = serde_json::from_str(&text).unwrap();
        let case = all["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "pass_template_add_object")
            .unwrap();
        case["biz_content"]["tpl_content"].clone()
    }

    fn policy() -> TemplatePolicy {
        TemplatePolicy {
            callback_url: CB.into(),
            default_logo: None,
        }
    }

    fn rules_for_vector() -> BTreeMap<String, ParamRule> {
        let mut rules = BTreeMap::new();
        rules.insert(
            "title".into(),
            ParamRule::Fixed {
                value: "券".into()
            },
        );
        rules.insert("code".into(), ParamRule::Serial);
        rules
    }

    #[test]
    fn a_serial_rule_other_than_the_claim_serial_is_refused() {
        for bad in [
            ParamRule::UserId,
            ParamRule::Fixed { value: "S1".into() },
            ParamRule::Now,
            ParamRule::AppId,
        ] {
            let mut rules = rules_for_vector();
            rules.insert("serialNumber".into(), bad.clone());
            let err = validate_template(&vector(), &rules, &policy()).unwrap_err();
            assert!(
                err.iter()
                    .any(|i| i.pointer == "/rules/serialNumber" && i.code == "serial_rule"),
                "{bad:?}: {err:?}"
            );
        }
        let mut rules = rules_for_vector();
        rules.insert("serialNumber".into(), ParamRule::Serial);
        assert!(validate_template(&vector(), &rules, &policy()).is_ok());
        // Whatever the serial's variable is called, it gets the claim serial and nothing else.
        let mut t = vector();
        t["content"]["fileInfo"]["serialNumber"] = json!("$sn$");
        let v = validate_template(&t, &rules_for_vector(), &policy()).unwrap();
        assert_eq!(v.rules["sn"], ParamRule::Serial);
        let mut rules = rules_for_vector();
        rules.insert("sn".into(), ParamRule::UserId);
        let err = validate_template(&t, &rules, &policy()).unwrap_err();
        assert!(err
            .iter()
            .any(|i| i.pointer == "/rules/sn" && i.code == "serial_rule"));
    }

    #[test]
    fn a_missing_logo_is_filled_from_the_icon_or_the_deployment_default() {
        let rules = rules_for_vector();
        let mut no_logo = vector();
        no_logo.as_object_mut().unwrap().remove("logo");
        let v = validate_template(&no_logo, &rules, &policy()).unwrap();
        assert_eq!(v.tpl_content["logo"], vector()["icon"]);
        no_logo.as_object_mut().unwrap().remove("icon");
        let err = validate_template(&no_logo, &rules, &policy()).unwrap_err();
        let logo = err.iter().find(|i| i.pointer == "/logo").unwrap();
        assert_eq!(logo.code, "required");
        assert!(
            logo.message.contains("DefaultPassLogoUrl"),
            "{}",
            logo.message
        );
        assert!(
            logo.message.contains("DEFAULT_PASS_LOGO_URL"),
            "{}",
            logo.message
        );
        let with_default = TemplatePolicy {
            default_logo: Some("https://cdn.example.com/logo.png".into()),
            ..policy()
        };
        let v = validate_template(&no_logo, &rules, &with_default).unwrap();
        assert_eq!(v.tpl_content["logo"], "https://cdn.example.com/logo.png");
        // The merchant's own logo always wins.
        let v = validate_template(&vector(), &rules, &with_default).unwrap();
        assert_eq!(v.tpl_content["logo"], vector()["logo"]);
    }

    #[test]
    fn per_user_limit_is_bounded() {
        assert_eq!(check_per_user_limit(1).unwrap(), 1);
        assert_eq!(
            check_per_user_limit(MAX_PER_USER_LIMIT).unwrap(),
            MAX_PER_USER_LIMIT
        );
        for bad in [0, MAX_PER_USER_LIMIT + 1] {
            let e = check_per_user_limit(bad).unwrap_err();
            assert_eq!(
                (e.pointer.as_str(), e.code.as_str()),
                ("/perUserLimit", "out_of_range")
            );
        }
        let old: TemplateRecord = serde_json::from_value(json!({
            "templateId": "t", "uniqueId": "u", "tplContent": {}, "rules": {}, "tplParams": [],
            "createdAt": 1, "updatedAt": 1
        }))
        .unwrap();
        assert_eq!(old.per_user_limit, DEFAULT_PER_USER_LIMIT);
    }

    #[test]
    fn vector_needs_rules_for_custom_vars() {
        let err = validate_template(&vector(), &BTreeMap::new(), &policy()).unwrap_err();
        let codes: Vec<_> = err
            .iter()
            .map(|i| (i.pointer.as_str(), i.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("/rules/code", "missing_rule"),
                ("/rules/title", "missing_rule")
            ]
        );
    }

    #[test]
    fn vector_validates_with_rules() {
        let mut rules = BTreeMap::new();
        rules.insert(
            "title".into(),
            ParamRule::Fixed {
                value: "十元券".into(),
            },
        );
        rules.insert("code".into(), ParamRule::Serial);
        let v = validate_template(&vector(), &rules, &policy()).unwrap();
        assert_eq!(
            v.variables,
            vec![
                "activeTime",
                "channelID",
                "code",
                "expireTime",
                "serialNumber",
                "title"
            ]
        );
        assert_eq!(v.rules["expireTime"], ParamRule::NowPlus { hours: 48 });
        assert_eq!(v.rules["channelID"], ParamRule::AppId);
        assert_eq!(v.unique_id.len(), 41);
        // Same content, other key order → same unique_id.
        let reordered: Value = serde_json::from_str(&canonical_json(&vector())).unwrap();
        assert_eq!(unique_id_for(&reordered), v.unique_id);
    }

    #[test]
    fn errors_point_at_fields() {
        let mut t = vector();
        t["content"]["fileInfo"]["serialNumber"] = json!("12345");
        t["content"]["merchant"]["mcallbackUrl"] = json!("https://evil.example/cb");
        t["content"]["evoucherInfo"]["startDate"] = json!("2024/01/01");
        t["content"]["evoucherInfo"]["title"] = json!(3);
        t.as_object_mut().unwrap().remove("logo");
        t.as_object_mut().unwrap().remove("icon");
        let err = validate_template(&t, &BTreeMap::new(), &policy()).unwrap_err();
        let has = |p: &str, c: &str| err.iter().any(|i| i.pointer == p && i.code == c);
        assert!(has("/content/fileInfo/serialNumber", "not_a_variable"));
        assert!(has("/content/merchant/mcallbackUrl", "callback_mismatch"));
        assert!(has("/content/evoucherInfo/startDate", "bad_date"));
        assert!(has("/content/evoucherInfo/title", "wrong_type"));
        assert!(has("/logo", "required"));
        assert!(validate_template(&json!([1]), &BTreeMap::new(), &policy()).is_err());
        let mut rules = BTreeMap::new();
        rules.insert("nope".into(), ParamRule::Now);
        let err = validate_template(&vector(), &rules, &policy()).unwrap_err();
        assert!(err
            .iter()
            .any(|i| i.pointer == "/rules/nope" && i.code == "unknown_variable"));
    }

    #[test]
    fn variables_scanner() {
        let mut s = BTreeSet::new();
        variables_in("a $x$ b $5 off $ sn%3D$serialNumber$ $$ $a b$", &mut s);
        assert_eq!(s.into_iter().collect::<Vec<_>>(), vec!["serialNumber", "x"]);
        assert_eq!(
            whole_variable("$serialNumber$").as_deref(),
            Some("serialNumber")
        );
        assert_eq!(whole_variable("$a$$b$"), None);
        assert_eq!(whole_variable("x$a$"), None);
    }

    #[test]
    fn fill_and_serial() {
        let tpl = TemplateId::parse("tpl1").unwrap();
        let user = UserId::parse("2088000000000001").unwrap();
        let s1 = derive_serial(&tpl, &user, 1);
        assert_eq!(s1, derive_serial(&tpl, &user, 1));
        assert_ne!(s1, derive_serial(&tpl, &user, 2));
        let other = UserId::parse("2088000000000002").unwrap();
        assert_ne!(s1, derive_serial(&tpl, &other, 1));
        let app = AppId::parse("2021000000000001").unwrap();
        let mut rules = BTreeMap::new();
        for v in ["activeTime", "expireTime", "serialNumber", "channelID"] {
            rules.insert(v.to_owned(), default_rule(v).unwrap());
        }
        rules.insert("uid".into(), ParamRule::UserId);
        let now = Timestamp::parse_beijing("2024-01-02 03:04:05").unwrap();
        let p = fill_params(
            &rules,
            &FillContext {
                now,
                user: &user,
                app_id: &app,
                serial: &s1,
            },
        );
        assert_eq!(p["activeTime"], "2024-01-02 03:04:05");
        assert_eq!(p["expireTime"], "2024-01-04 03:04:05");
        assert_eq!(p["serialNumber"], s1.as_str());
        assert_eq!(p["channelID"], "2021000000000001");
        assert_eq!(p["uid"], "2088000000000001");
    }

    #[test]
    fn rule_serde() {
        let r: ParamRule = serde_json::from_value(json!({"kind":"nowPlus","hours":24})).unwrap();
        assert_eq!(r, ParamRule::NowPlus { hours: 24 });
        let r: ParamRule = serde_json::from_value(json!({"kind":"fixed","value":"x"})).unwrap();
        assert_eq!(r, ParamRule::Fixed { value: "x".into() });
    }

    #[tokio::test]
    async fn service_create_update_get() {
        let w = crate::testkit::World::new();
        let svc = TemplateService {
            store: w.store.clone(),
            gateway: w.pass_gw.clone(),
            clock: w.clock.clone(),
            policy: policy(),
        };
        let rules = rules_for_vector();
        let t = svc.create(&vector(), &rules, None).await.unwrap();
        assert_eq!(t.tpl_params.len(), 6);
        assert_eq!(t.per_user_limit, DEFAULT_PER_USER_LIMIT);
        assert_eq!(svc.get(&t.template_id).await.unwrap(), t);
        let e = svc
            .create(&json!({"logo": 1}), &rules, None)
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.kind()),
            ("invalid_template", ErrorKind::BadInput)
        );
        w.clock.advance(std::time::Duration::from_secs(1));
        let mut v2 = vector();
        v2["logo"] = json!("https://example.com/other.png");
        let u = svc
            .update(&t.template_id, &v2, &rules, Some(3))
            .await
            .unwrap();
        assert_eq!(u.per_user_limit, 3);
        let u = svc.update(&t.template_id, &v2, &rules, None).await.unwrap();
        assert_eq!(u.per_user_limit, 3, "kept when not given");
        let e = svc
            .update(&t.template_id, &v2, &rules, Some(0))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_template");
        assert_eq!(u.created_at, t.created_at);
        assert!(u.updated_at > t.updated_at);
        assert_eq!(svc.list(10).await.unwrap().len(), 1);
        let missing = TemplateId::parse("missing").unwrap();
        assert_eq!(
            svc.update(&missing, &v2, &rules, None)
                .await
                .unwrap_err()
                .code(),
            "template_not_found"
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[$a-zA-Z ]{0,12}".prop_map(Value::String),
            Just(json!("$serialNumber$")),
            Just(json!(CB)),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("logo".to_owned()),
                        Just("content".to_owned()),
                        Just("evoucherInfo".to_owned()),
                        Just("merchant".to_owned()),
                        Just("fileInfo".to_owned()),
                        Just("serialNumber".to_owned()),
                        Just("operation".to_owned()),
                        Just("mcallbackUrl".to_owned()),
                        "[a-z/~]{1,6}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn validator_never_panics(v in arb_json()) {
            let _ = validate_template(&v, &BTreeMap::new(), &policy());
        }

        #[test]
        fn mutated_vector_never_panics(path in 0usize..8, replacement in arb_json()) {
            let mut t = vector();
            let ptrs = ["/logo", "/content", "/content/evoucherInfo", "/content/merchant", "/content/fileInfo",
                "/content/evoucherInfo/operation", "/content/fileInfo/serialNumber", "/content/evoucherInfo/startDate"];
            if let Some(slot) = t.pointer_mut(ptrs[path]) { *slot = replacement; }
            let _ = validate_template(&t, &BTreeMap::new(), &policy());
        }

        #[test]
        fn scanner_never_panics(s in ".{0,80}") {
            let mut set = BTreeSet::new();
            variables_in(&s, &mut set);
            let _ = whole_variable(&s);
        }
    }
}
