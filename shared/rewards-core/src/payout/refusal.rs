//! A definite refusal by Alipay, and the stable codes callers see for a campaign-rail refusal (the
//! transfer rail's table is in `rail.rs`).

use serde::{Deserialize, Serialize};

/// A definite refusal by Alipay, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// The most specific text Alipay gave (`error_msg`, `sub_msg` or the code), verbatim. Named
    /// `failureReason` because the entry flattens its state next to its own `reason` (the business
    /// reason).
    pub failure_reason: String,
    /// Gateway `code`.
    pub code: Option<String>,
    /// Gateway `sub_code`.
    pub sub_code: Option<String>,
}

impl Refusal {
    /// The stable code callers see for this refusal. Alipay's sub_codes are matched first; its
    /// texts (which callers never see) only where it gives no sub_code.
    pub fn stable_code(&self) -> &'static str {
        let has = |needle: &str| self.failure_reason.contains(needle);
        match self.sub_code.as_deref() {
            Some("CAMPAIGN_NOT_EXIST") => "campaign_not_ready",
            Some("CAMPAIGN_PAUSED") => "campaign_paused",
            Some("CAMPAIGN_CLOSED") => "campaign_closed",
            Some("CAMPAIGN_NOT_STARTED") => "campaign_not_started",
            _ if has("现金活动不存在") => "campaign_not_ready",
            _ if has("已领完") || has("余额不足") || has("预算") => "budget_exhausted",
            _ if has("次数限制") || has("领取上限") => "user_limit_reached",
            _ if has("已结束") || has("关闭") => "campaign_closed",
            _ if self.code.as_deref() == Some("NOT_SENT") => "envelope_not_sent",
            _ => "envelope_refused",
        }
    }
}
