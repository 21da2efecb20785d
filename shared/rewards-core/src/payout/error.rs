//! Why a send, a probe or a listing was refused, and the stable code and HTTP kind of each.

use crate::error::{DomainError, ErrorKind};
use crate::ids::IdError;
use crate::payout::entry::PayoutEntry;
use crate::ports::store::StoreError;
use std::time::Duration;

/// Why a send, a probe or a listing was refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A field is missing or invalid.
    #[error("{field} is missing or invalid")]
    BadInput {
        field: &'static str,
        /// Details.
        #[source]
        source: Option<IdError>,
    },
    /// No crowd_no given and no campaign mapped to the reason.
    #[error("no campaign is configured for this reason")]
    NoCampaign,
    /// Unknown campaign.
    #[error("unknown campaign")]
    CampaignNotFound,
    /// The campaign is not paid yet (pay through its pay_url).
    #[error("the campaign is not paid yet; pay it through its pay_url first")]
    CampaignNotPaid,
    /// The campaign is paused.
    #[error("the campaign is paused")]
    CampaignPaused,
    /// The campaign is closed or settled.
    #[error("the campaign is closed")]
    CampaignClosed,
    /// Alipay reported a campaign state we do not know; nothing is sent until a person looks.
    #[error("the campaign is in a state this service does not know ({0})")]
    CampaignStateUnrecognised(String),
    /// The business id already belongs to another recipient.
    #[error("this business id was already used for another recipient")]
    BusinessIdConflict,
    /// Could not check the campaign with Alipay.
    #[error("Alipay is unavailable: {0}")]
    GatewayUnknown(String),
    /// Another request changed the entry concurrently too many times; retry.
    #[error("the payout is busy; retry")]
    Busy,
    /// A call for the entry is in flight (PENDING within its lease): the operator's retry probes
    /// nothing; the call's outcome is known by the end of the lease.
    #[error("a call for this payout is in flight; retry after its lease")]
    CallInFlight {
        /// What is left of the lease.
        retry_after: Duration,
    },
    /// The entry is SENT or FAILED: there is nothing to probe.
    #[error("the payout is already {}; there is nothing to retry", .0.state.name())]
    PayoutFinal(Box<PayoutEntry>),
    /// A repeat of a paid business id asks for other terms than were paid; nothing new is paid.
    #[error(
        "this business id was already paid with other terms ({}); nothing new was paid",
        .fields.join(", ")
    )]
    ConflictingRepeat {
        /// The request's fields that differ from the recorded entry.
        fields: Vec<&'static str>,
        /// The recorded (SENT) entry.
        entry: Box<PayoutEntry>,
    },
    /// Store failure.
    #[error("store failure")]
    Store(#[from] StoreError),
    /// No such payout.
    #[error("unknown payout")]
    NotFound,
    /// The transfer rail was asked for but is not configured here.
    #[error("the transfer rail is not configured")]
    TransferNotConfigured,
    /// A transfer without an amount, and no default amount for its reason.
    #[error("a transfer needs an amount (no default amount is configured for this reason)")]
    AmountRequired,
    /// The amount is outside the product's limits or above the per-payout cap.
    #[error("the amount is not allowed: {0}")]
    AmountNotAllowed(&'static str),
    /// A field that belongs to the other rail (`crowdNo` on a transfer, `amount` on a campaign
    /// envelope, whose amount the campaign fixes).
    #[error("{0} does not apply to the {1} rail")]
    NotForRail(&'static str, &'static str),
}

impl DomainError for SendError {
    fn code(&self) -> &'static str {
        match self {
            SendError::BadInput { field, .. } => match *field {
                "reason" => "invalid_reason",
                "businessId" => "invalid_business_id",
                "userId" => "invalid_user_id",
                "openId" => "invalid_open_id",
                "crowdNo" => "invalid_crowd_no",
                "state" => "invalid_state",
                "day" => "invalid_day",
                "cursor" => "invalid_cursor",
                "limit" => "invalid_limit",
                "rail" => "invalid_rail",
                "amount" => "invalid_amount",
                _ => "invalid_parameter",
            },
            SendError::NoCampaign => "no_campaign_for_reason",
            SendError::CampaignNotFound => "campaign_not_found",
            SendError::CampaignNotPaid => "campaign_not_paid",
            SendError::CampaignPaused => "campaign_paused",
            SendError::CampaignClosed => "campaign_closed",
            SendError::CampaignStateUnrecognised(_) => "campaign_state_unrecognised",
            SendError::BusinessIdConflict => "business_id_conflict",
            SendError::GatewayUnknown(_) => "alipay_unavailable",
            SendError::Busy | SendError::CallInFlight { .. } => "payout_busy",
            SendError::PayoutFinal(_) => "payout_final",
            SendError::ConflictingRepeat { .. } => "conflicting_repeat",
            SendError::Store(e) => e.code(),
            SendError::NotFound => "payout_not_found",
            SendError::TransferNotConfigured => "transfer_rail_not_configured",
            SendError::AmountRequired => "amount_required",
            SendError::AmountNotAllowed(code) => code,
            SendError::NotForRail("crowdNo", _) => "crowd_no_not_for_transfer",
            SendError::NotForRail(..) => "amount_not_for_campaign",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            SendError::BadInput { .. } | SendError::AmountRequired | SendError::NotForRail(..) => {
                ErrorKind::BadInput
            }
            SendError::TransferNotConfigured | SendError::AmountNotAllowed(_) => {
                ErrorKind::Unprocessable
            }
            SendError::CampaignNotFound | SendError::NotFound => ErrorKind::NotFound,
            SendError::NoCampaign
            | SendError::CampaignNotPaid
            | SendError::CampaignPaused
            | SendError::CampaignClosed
            | SendError::CampaignStateUnrecognised(_)
            | SendError::BusinessIdConflict => ErrorKind::Unprocessable,
            SendError::Busy
            | SendError::CallInFlight { .. }
            | SendError::PayoutFinal(_)
            | SendError::ConflictingRepeat { .. } => ErrorKind::Conflict,
            SendError::GatewayUnknown(_) => ErrorKind::Unavailable,
            SendError::Store(e) => e.kind(),
        }
    }
    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        let view = |e: &PayoutEntry| serde_json::to_value(e.view()).unwrap_or_default();
        match self {
            SendError::PayoutFinal(entry) => vec![("entry", view(entry))],
            SendError::ConflictingRepeat { fields, entry } => {
                vec![
                    ("fields", serde_json::json!(fields)),
                    ("entry", view(entry)),
                ]
            }
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::CallInFlight { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}
