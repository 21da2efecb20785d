//! Why a template operation fails, with its stable codes.

use super::validate::TemplateIssue;
use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::ports::store::StoreError;
use serde_json::Value;

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
