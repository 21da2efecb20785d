//! Why a campaign operation fails, with its stable codes.

use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::ports::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// A field is invalid.
    #[error("{field}: {reason}")]
    BadInput {
        /// The field (camelCase).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such campaign.
    #[error("unknown campaign")]
    NotFound,
    /// Alipay refused, or its outcome is unknown.
    #[error("{}", .0.describe("Alipay refused"))]
    Gateway(GatewayError),
    /// Another delivery of the same slot is creating it right now.
    #[error("this schedule slot is being created")]
    SlotInProgress,
    /// The slot's create outcome is unknown: needs reconciliation, never re-created automatically.
    #[error("this schedule slot's campaign creation has an unknown outcome; reconcile it")]
    SlotUnknown,
    /// Status change not allowed.
    #[error("status change to {0} is not allowed (PAUSE, READY or CLOSED)")]
    BadStatus(String),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

domain_error!(
    CampaignError {
        CampaignError::BadInput { .. } => "invalid_campaign", ErrorKind::BadInput;
        CampaignError::BadStatus(_) => "invalid_status", ErrorKind::BadInput;
        CampaignError::NotFound => "campaign_not_found", ErrorKind::NotFound;
        CampaignError::SlotInProgress => "slot_in_progress", ErrorKind::Conflict;
        CampaignError::SlotUnknown => "slot_needs_reconciliation", ErrorKind::Conflict;
    }
    gateway: Gateway;
    store: Store;
);
