//! Why an operation under an idempotency key was refused.

use crate::error::{domain_error, ErrorKind};
use crate::ports::store::StoreError;

/// Idempotency errors.
#[derive(Debug, thiserror::Error)]
pub enum IdemError {
    /// The key is empty, too long or not visible ASCII.
    #[error("the Idempotency-Key header is invalid (1-255 visible ASCII characters)")]
    BadKey,
    /// Same key, other request.
    #[error("this Idempotency-Key was used with a different request")]
    Mismatch,
    /// The first request with this key is still running.
    #[error("a request with this Idempotency-Key is still being processed")]
    InProgress,
    /// Store failure.
    #[error("store failure")]
    Store(#[from] StoreError),
}

domain_error!(
    IdemError {
        IdemError::BadKey => "invalid_idempotency_key", ErrorKind::BadInput;
        IdemError::Mismatch => "idempotency_key_reused", ErrorKind::Unprocessable;
        IdemError::InProgress => "idempotency_key_in_use", ErrorKind::Conflict;
    }
    store: Store;
);
