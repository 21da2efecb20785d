//! The stored template.

use super::params::ParamRule;
use crate::ids::TemplateId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Passes one user may claim from a template when it does not say (`perUserLimit`).
pub const DEFAULT_PER_USER_LIMIT: u32 = 1;

fn default_per_user_limit() -> u32 {
    DEFAULT_PER_USER_LIMIT
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
