//! Pass templates: pass.json (`tpl_content`) validation, `$var$` collection, parameter rules for
//! filling variables at claim time, the deterministic `unique_id`, and [`TemplateService`].
//!
//! A template is validated whole (every issue at once, each at its JSON pointer) before Alipay sees
//! it; template.add carries the deterministic `unique_id` of its content (the same content always
//! gets the same id). The stored record keeps a rule for every `$var$`, and a claim fills them once per
//! issuance ([`fill_params`]) under the serial [`derive_serial`] gives the user's n-th pass.

pub mod body;
mod errors;
pub(crate) mod params;
pub(crate) mod record;
pub(crate) mod serial;
mod service;
pub(crate) mod validate;

pub use errors::TemplateError;
pub use params::{default_rule, fill_params, variables_in, whole_variable, FillContext, ParamRule};
pub use record::{TemplateRecord, DEFAULT_PER_USER_LIMIT};
pub use serial::derive_serial;
pub use service::TemplateService;
pub use validate::{
    check_per_user_limit, unique_id_for, validate_template, TemplateIssue, TemplatePolicy,
    ValidatedTemplate, DEFAULT_LOGO_SETTING, MAX_PER_USER_LIMIT, MAX_TPL_CONTENT_BYTES,
};

#[cfg(test)]
mod tests;
