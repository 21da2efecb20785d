//! The body of a template route, in either of its two accepted forms.

use super::ParamRule;
use crate::error::{DomainError, ErrorKind};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A template route's body split into the template content (`tpl_content`), the parameter rules
/// and the per-user limit.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateBody {
    /// `{"logo","icon"?,"strip"?,"content": <pass.json>}`.
    pub content: Value,
    /// A rule per `$var$` (`paramRules`; empty = the defaults).
    pub rules: BTreeMap<String, ParamRule>,
    /// `perUserLimit`, when given.
    pub per_user_limit: Option<u32>,
}

/// Why a template body could not be read (before the pass.json itself is validated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateBodyError {
    /// The body is JSON but not an object.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// `paramRules` does not parse.
    #[error("/paramRules: {0}")]
    ParamRules(String),
    /// `perUserLimit` is not a whole number that fits.
    #[error("/perUserLimit must be a whole number of passes")]
    PerUserLimit,
}

impl DomainError for TemplateBodyError {
    fn code(&self) -> &'static str {
        match self {
            TemplateBodyError::NotAnObject => "body_invalid",
            TemplateBodyError::ParamRules(_) => "invalid_param_rules",
            TemplateBodyError::PerUserLimit => "invalid_per_user_limit",
        }
    }
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

impl TemplateBody {
    /// Reads a body in one of two forms: the template content itself (`{"logo","icon"?,"strip"?,
    /// "content": <pass.json>}`), or a bare pass.json (`{"evoucherInfo","merchant",…}`) whose
    /// top-level `logo`, `icon` and `strip` are moved beside it. Either may carry `paramRules` and
    /// `perUserLimit`, which are taken out of the content.
    ///
    /// # Errors
    /// [`TemplateBodyError`].
    pub fn from_json(body: Value) -> Result<Self, TemplateBodyError> {
        let Value::Object(mut body) = body else {
            return Err(TemplateBodyError::NotAnObject);
        };
        let rules = match body.remove("paramRules") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(r) => serde_json::from_value(r)
                .map_err(|e| TemplateBodyError::ParamRules(e.to_string()))?,
        };
        let per_user_limit = match body.remove("perUserLimit") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(TemplateBodyError::PerUserLimit)?,
            ),
        };
        let content = if body.contains_key("content") {
            Value::Object(body)
        } else {
            let mut tpl = Map::new();
            for key in ["logo", "icon", "strip"] {
                if let Some(v) = body.remove(key) {
                    tpl.insert(key.into(), v);
                }
            }
            tpl.insert("content".into(), Value::Object(body));
            Value::Object(tpl)
        };
        Ok(Self {
            content,
            rules,
            per_user_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_template_content_form_is_kept_as_it_is() {
        let b = TemplateBody::from_json(json!({
            "logo": "L", "content": {"merchant": {}}, "perUserLimit": 3,
            "paramRules": {"x": {"kind": "now"}}
        }))
        .unwrap();
        assert_eq!(b.content, json!({"logo": "L", "content": {"merchant": {}}}));
        assert_eq!(b.per_user_limit, Some(3));
        assert_eq!(b.rules.get("x"), Some(&ParamRule::Now));
    }

    #[test]
    fn a_bare_pass_json_gets_its_images_moved_beside_it() {
        let b = TemplateBody::from_json(json!({
            "logo": "L", "strip": "S", "merchant": {}, "evoucherInfo": {}
        }))
        .unwrap();
        assert_eq!(
            b.content,
            json!({"logo": "L", "strip": "S", "content": {"merchant": {}, "evoucherInfo": {}}})
        );
        assert!(b.rules.is_empty());
        assert_eq!(b.per_user_limit, None);
    }

    #[test]
    fn bad_bodies_have_stable_codes() {
        let code = |v: Value| TemplateBody::from_json(v).unwrap_err().code();
        assert_eq!(code(json!([1])), "body_invalid");
        assert_eq!(
            code(json!({"content": {}, "paramRules": 3})),
            "invalid_param_rules"
        );
        assert_eq!(
            code(json!({"content": {}, "perUserLimit": -1})),
            "invalid_per_user_limit"
        );
        assert_eq!(
            code(json!({"content": {}, "perUserLimit": "2"})),
            "invalid_per_user_limit"
        );
        // Null means "not given".
        let b = TemplateBody::from_json(json!({"content": {}, "perUserLimit": null})).unwrap();
        assert_eq!(b.per_user_limit, None);
    }
}
