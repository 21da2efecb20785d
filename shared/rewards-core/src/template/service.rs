//! Creates, updates and reads templates.

use super::errors::TemplateError;
use super::params::ParamRule;
use super::record::{TemplateRecord, DEFAULT_PER_USER_LIMIT};
use super::validate::{check_per_user_limit, validate_template, TemplatePolicy, ValidatedTemplate};
use crate::ids::TemplateId;
use crate::ports::clock::Clock;
use crate::ports::pass_gateway::{AddTemplateRequest, PassGateway, UpdateTemplateRequest};
use crate::ports::stores::TemplateStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

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
