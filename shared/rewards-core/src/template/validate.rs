//! pass.json (`tpl_content`) validation with the parameter rules, and the deterministic
//! `unique_id`.

use super::params::{default_rule, variables_in, whole_variable, ParamRule};
use crate::hash::{canonical_json, sha256_hex};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

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

/// The largest `perUserLimit` accepted.
pub const MAX_PER_USER_LIMIT: u32 = 100;

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
