//! The body an operator sends to `POST /templates` / `PUT /templates/{id}` (and the file
//! `rewardsctl template validate` reads): how it splits into the template content (`tpl_content`)
//! and the parameter rules, and how a pointer into the content maps back into the body as written.
//! One implementation for the server and the CLI, so both accept and locate exactly the same things.

use super::params::ParamRule;
use super::validate::{validate_template, TemplateIssue, TemplatePolicy};
use crate::error::{domain_error, ErrorKind};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A template body split into what `validate_template` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateBody {
    /// `{"logo","icon"?,"strip"?,"content": <pass.json>}`.
    pub tpl_content: Value,
    /// The body's `paramRules` (empty when absent).
    pub rules: BTreeMap<String, ParamRule>,
    /// The body's `perUserLimit` (None: the default).
    pub per_user_limit: Option<u32>,
    /// True when the body was a bare pass.json (its `logo`/`icon`/`strip` moved beside it).
    pub bare: bool,
}

/// Why a body is not a template body at all (before any pass.json rule is checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateBodyError {
    /// The body is JSON but not an object.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// `paramRules` is not an object of rules.
    #[error("/paramRules: {0}")]
    InvalidParamRules(String),
    /// `perUserLimit` is not a whole number.
    #[error("/perUserLimit must be a whole number of passes")]
    InvalidPerUserLimit,
}

domain_error!(
    TemplateBodyError {
        TemplateBodyError::NotAnObject => "body_invalid", ErrorKind::BadInput;
        TemplateBodyError::InvalidParamRules(_) => "invalid_param_rules", ErrorKind::BadInput;
        TemplateBodyError::InvalidPerUserLimit => "invalid_per_user_limit", ErrorKind::BadInput;
    }
);

/// The top-level fields of `tpl_content` that a bare pass.json carries beside its own fields.
const IMAGE_FIELDS: [&str; 3] = ["logo", "icon", "strip"];

/// Splits a body into the template content and the parameter rules.
///
/// Two shapes are accepted: the template content itself (`{"logo","icon"?,"strip"?,"content":
/// <pass.json>}`), or a bare pass.json (`{"evoucherInfo","merchant",…}`) whose top-level `logo`,
/// `icon` and `strip` are moved beside it. Either may carry `paramRules` and `perUserLimit`.
///
/// # Errors
/// [`TemplateBodyError`].
pub fn split_template_body(body: Value) -> Result<TemplateBody, TemplateBodyError> {
    let Value::Object(mut body) = body else {
        return Err(TemplateBodyError::NotAnObject);
    };
    let rules = match body.remove("paramRules") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(r) => serde_json::from_value(r)
            .map_err(|e| TemplateBodyError::InvalidParamRules(e.to_string()))?,
    };
    let per_user_limit = match body.remove("perUserLimit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(TemplateBodyError::InvalidPerUserLimit)?,
        ),
    };
    if body.contains_key("content") {
        return Ok(TemplateBody {
            tpl_content: Value::Object(body),
            rules,
            per_user_limit,
            bare: false,
        });
    }
    let mut tpl = Map::new();
    for key in IMAGE_FIELDS {
        if let Some(v) = body.remove(key) {
            tpl.insert(key.into(), v);
        }
    }
    tpl.insert("content".into(), Value::Object(body));
    Ok(TemplateBody {
        tpl_content: Value::Object(tpl),
        rules,
        per_user_limit,
        bare: true,
    })
}

impl TemplateBody {
    /// Validates the content and the rules with the server's rules.
    ///
    /// # Errors
    /// Every [`TemplateIssue`], as [`validate_template`] returns them.
    pub fn validate(&self, policy: &TemplatePolicy) -> Result<(), Vec<TemplateIssue>> {
        validate_template(&self.tpl_content, &self.rules, policy).map(|_| ())
    }

    /// Where a pointer into `tpl_content` (an issue's `pointer`) is in the body as written:
    /// `/rules/<var>` is `/paramRules/<var>`, and in a bare pass.json `/content/<x>` is `/<x>`.
    pub fn body_pointer(&self, tpl_pointer: &str) -> String {
        if let Some(rest) = tpl_pointer.strip_prefix("/rules") {
            return format!("/paramRules{rest}");
        }
        if !self.bare {
            return tpl_pointer.to_owned();
        }
        match tpl_pointer.strip_prefix("/content") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
            _ => tpl_pointer.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DomainError;
    use serde_json::json;

    #[test]
    fn a_bare_pass_json_gets_its_images_moved_beside_it() {
        let body = split_template_body(json!({
            "logo": "https://x/l.png", "evoucherInfo": {"title": "t"},
            "paramRules": {"v": {"kind": "fixed", "value": "a"}}
        }))
        .unwrap();
        assert!(body.bare);
        assert_eq!(
            body.tpl_content,
            json!({"logo": "https://x/l.png", "content": {"evoucherInfo": {"title": "t"}}})
        );
        assert_eq!(
            body.rules.get("v"),
            Some(&ParamRule::Fixed { value: "a".into() })
        );
        assert_eq!(
            body.body_pointer("/content/evoucherInfo/title"),
            "/evoucherInfo/title"
        );
        assert_eq!(body.body_pointer("/content"), "");
        assert_eq!(body.body_pointer("/logo"), "/logo");
        assert_eq!(body.body_pointer("/contents"), "/contents");
        assert_eq!(body.body_pointer("/rules/v"), "/paramRules/v");
    }

    #[test]
    fn a_full_tpl_content_is_kept_as_is() {
        let body = split_template_body(json!({"logo": "l", "content": {}})).unwrap();
        assert!(!body.bare);
        assert_eq!(body.tpl_content, json!({"logo": "l", "content": {}}));
        assert_eq!(body.body_pointer("/content/merchant"), "/content/merchant");
    }

    #[test]
    fn not_an_object_and_bad_rules_have_stable_codes() {
        let e = split_template_body(json!([1])).unwrap_err();
        assert_eq!(e.code(), "body_invalid");
        let e = split_template_body(json!({"paramRules": {"v": {"kind": "nope"}}})).unwrap_err();
        assert_eq!(e.code(), "invalid_param_rules");
        assert!(e.to_string().starts_with("/paramRules: "));
    }
}
