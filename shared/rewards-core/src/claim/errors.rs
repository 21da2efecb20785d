//! Why a claim fails, with its stable codes.

use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::ids::IdError;
use crate::ports::gateway::GatewayFailure;
use crate::ports::store::StoreError;
use std::time::Duration;

/// Which failed-claims budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// The user's on this template.
    User,
    /// The template's, all users together.
    Template,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A query parameter is missing or malformed.
    #[error("query parameter {field} is missing or invalid")]
    BadInput {
        /// `templateId`, `userId`, `token` or `timestamp`.
        field: &'static str,
        /// Details.
        #[source]
        source: Option<IdError>,
    },
    /// The timestamp is more than the allowed skew away from now.
    #[error("the callback timestamp is not fresh")]
    StaleTimestamp,
    /// Not one of our templates.
    #[error("unknown template")]
    UnknownTemplate,
    /// The user holds as many passes of this template as it allows.
    #[error("this user already holds the {limit} pass(es) this template allows")]
    LimitReached {
        /// The template's `perUserLimit`.
        limit: u32,
    },
    /// Too many failed claims lately; no call is made until `retry_after` has passed.
    #[error("too many failed claims; retry after {} s", .retry_after.as_secs())]
    Throttled {
        /// Whose budget.
        budget: BudgetKind,
        /// How long until a claim may reach Alipay again.
        retry_after: Duration,
    },
    /// Another call for the same user and template is still running; retry shortly.
    #[error("the claim is being processed; retry shortly")]
    InProgress,
    /// Alipay refused to issue (the failure is kept for the log; the caller sees no Alipay text,
    /// which would tell an outsider whether a token exists and for whom), or the outcome is
    /// unknown (retrying is safe: same serial).
    #[error("{}", match .0 {
        GatewayError::Rejected(_) => "Alipay refused to issue the pass",
        GatewayError::Unknown(_) => "the Alipay outcome is unknown; retry",
        GatewayError::Throttled(_) => "Alipay is busy; retry shortly",
    })]
    Gateway(GatewayError),
    /// Store failure.
    #[error("store failure")]
    Store(#[from] StoreError),
}

domain_error!(
    ClaimError {
        ClaimError::BadInput { field, .. } => match *field {
            "templateId" => "invalid_template_id",
            "userId" => "invalid_user_id",
            "token" => "invalid_token",
            _ => "invalid_timestamp",
        }, ErrorKind::BadInput;
        ClaimError::StaleTimestamp => "stale_timestamp", ErrorKind::BadInput;
        ClaimError::UnknownTemplate => "unknown_template", ErrorKind::NotFound;
        ClaimError::LimitReached { .. } => "pass_limit_reached", ErrorKind::Unprocessable;
        ClaimError::Throttled { .. } => "too_many_failed_claims", ErrorKind::TooManyRequests;
        ClaimError::InProgress => "claim_in_progress", ErrorKind::Conflict;
    }
    gateway: Gateway;
    store: Store;
    {
        fn retry_after(&self) -> Option<Duration> {
            match self {
                ClaimError::Throttled { retry_after, .. } => Some(*retry_after),
                _ => None,
            }
        }
    }
);

impl ClaimError {
    pub(super) fn rejected(failure: GatewayFailure) -> Self {
        ClaimError::Gateway(GatewayError::Rejected(failure))
    }

    pub(super) fn unknown(detail: String) -> Self {
        ClaimError::Gateway(GatewayError::Unknown(detail))
    }

    pub(super) fn busy(detail: String) -> Self {
        ClaimError::Gateway(GatewayError::Throttled(detail))
    }

    /// Alipay's refusal, for the log (never for the caller).
    pub fn refusal(&self) -> Option<&GatewayFailure> {
        match self {
            ClaimError::Gateway(GatewayError::Rejected(f)) => Some(f),
            _ => None,
        }
    }
}
