//! Why a pass status change fails, with its stable codes.

use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::ports::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// No such pass.
    #[error("unknown pass")]
    NotFound,
    /// The status change is not allowed from the current status.
    #[error("a {from} pass cannot become {to}")]
    BadTransition {
        /// Current.
        from: &'static str,
        /// Requested.
        to: &'static str,
    },
    /// Alipay refused, or its outcome is unknown.
    #[error("{}", .0.describe("Alipay refused the update"))]
    Gateway(GatewayError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

domain_error!(
    PassError {
        PassError::NotFound => "pass_not_found", ErrorKind::NotFound;
        PassError::BadTransition { .. } => "pass_status_conflict", ErrorKind::Conflict;
    }
    gateway: Gateway;
    store: Store;
);
