//! The pass gateway: `alipay.pass.template.*` and `alipay.pass.instance.*`.

use super::gateway::GatewayOutcome;
use crate::ids::{AppId, PassId, Recipient, SerialNumber, TemplateId, UserId, UserToken};
use crate::pass::record::PassStatus;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// `alipay.pass.template.add` input.
#[derive(Debug, Clone, PartialEq)]
pub struct AddTemplateRequest {
    /// Deterministic `unique_id` (hash of the content).
    pub unique_id: String,
    /// The validated `tpl_content` object (`{logo, icon?, strip?, content}`).
    pub tpl_content: serde_json::Value,
}

/// `alipay.pass.template.update` input.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateTemplateRequest {
    /// The template id.
    pub tpl_id: TemplateId,
    /// The validated `tpl_content` object.
    pub tpl_content: serde_json::Value,
}

/// The `result` of template.add / template.update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateResult {
    pub tpl_id: TemplateId,
    /// `tpl_params`: the `$var$` names Alipay found.
    pub tpl_params: Vec<String>,
}

/// `alipay.pass.instance.add` input (always `recognition_type` 2: user id + user token).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuePassRequest {
    pub tpl_id: TemplateId,
    /// `tpl_params`: values for every `$var$`.
    pub tpl_params: BTreeMap<String, String>,
    /// `recognition_info.user_id`.
    pub user_id: UserId,
    /// `recognition_info.user_token`.
    pub user_token: UserToken,
}

/// The `result` of instance.add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassIssued {
    pub pass_id: PassId,
    /// `serialNumber` as echoed by Alipay, when present.
    pub serial_number: Option<SerialNumber>,
}

/// `alipay.pass.instance.update` input.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePassRequest {
    pub serial_number: SerialNumber,
    /// `channel_id` (the app id).
    pub channel_id: AppId,
    /// The pass's user: `user_id`, or `open_id` for open-id apps (required of newly onboarded
    /// merchants; an update without it may be refused).
    pub holder: Recipient,
    /// `status`: `USED` or `CLOSED`.
    pub status: Option<PassStatus>,
    /// New `$var$` values, if any.
    pub tpl_params: Option<BTreeMap<String, String>>,
}

/// Asks Alipay whether it holds a pass with this serial (after an issuance whose outcome was lost):
/// an `alipay.pass.instance.update` that sets the parameters the pass was issued with, so nothing
/// visible changes, and whose answer names the pass.
#[derive(Debug, Clone, PartialEq)]
pub struct FindPassRequest {
    pub serial_number: SerialNumber,
    /// `channel_id` (the app id).
    pub channel_id: AppId,
    /// The user the serial was issued for.
    pub user_id: UserId,
    /// The `tpl_params` the pass was issued with (sent again unchanged).
    pub tpl_params: BTreeMap<String, String>,
}

/// What Alipay holds for a serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassLookup {
    /// The pass exists; its id when Alipay's answer names it.
    Found {
        /// `passId`, if reported.
        pass_id: Option<PassId>,
    },
    /// Alipay says no pass has this serial (a definite answer).
    NotFound,
}

/// The pass APIs.
#[async_trait]
pub trait PassGateway: Send + Sync {
    /// `alipay.pass.template.add`.
    async fn add_template(&self, req: &AddTemplateRequest) -> GatewayOutcome<TemplateResult>;
    /// `alipay.pass.template.update`.
    async fn update_template(&self, req: &UpdateTemplateRequest) -> GatewayOutcome<TemplateResult>;
    /// `alipay.pass.instance.add`.
    async fn issue_pass(&self, req: &IssuePassRequest) -> GatewayOutcome<PassIssued>;
    /// `alipay.pass.instance.update`.
    async fn update_pass(&self, req: &UpdatePassRequest) -> GatewayOutcome<()>;
    /// Whether Alipay holds a pass with this serial (see [`FindPassRequest`]).
    async fn find_pass(&self, req: &FindPassRequest) -> GatewayOutcome<PassLookup>;
}
