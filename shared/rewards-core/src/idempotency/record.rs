//! The idempotency record (`IDEM#{caller}#{keyHash}`): its scoped key, its state and the answer
//! it stores.

use crate::hash::sha256_parts;
use crate::idempotency::error::IdemError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The scoped key: caller (route or client id) + hash of the header value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdemKey {
    /// The scope, `[A-Za-z0-9_.-]{1,64}` (e.g. `envelopes` or a client id).
    pub caller: String,
    /// 40 hex chars of SHA-256 of the header value.
    pub key_hash: String,
}

impl IdemKey {
    /// Validates the header value (1–255 visible ASCII) and scopes it.
    ///
    /// # Errors
    /// [`IdemError::BadKey`].
    pub fn new(caller: &str, key: &str) -> Result<Self, IdemError> {
        let caller_ok = !caller.is_empty()
            && caller.len() <= 64
            && caller
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        let key_ok =
            !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic());
        if !caller_ok || !key_ok {
            return Err(IdemError::BadKey);
        }
        let h = sha256_parts(&["idem/v1", key]);
        Ok(IdemKey {
            caller: caller.to_owned(),
            key_hash: h[..40].to_owned(),
        })
    }
}

/// A stored HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Body (JSON text).
    pub body: String,
}

impl StoredResponse {
    /// False for answers that describe a passing moment (202 accepted / still resolving, 409 busy):
    /// a repeat must look again rather than replay them.
    pub fn is_final(&self) -> bool {
        !matches!(self.status, 202 | 409)
    }
}

/// Record state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdemState {
    /// Running.
    InProgress,
    /// Done.
    Completed {
        /// The answer.
        response: StoredResponse,
    },
}

/// The idempotency record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdemRecord {
    pub key: IdemKey,
    /// Request fingerprint.
    pub fingerprint: String,
    /// Fence token of the runner.
    pub fence: String,
    #[serde(flatten)]
    pub state: IdemState,
    /// Until when an in-progress runner is alive.
    pub lease_until: Timestamp,
    /// After this the record is ignored.
    pub expires_at: Timestamp,
}

/// Result of [`IdempotencyStore::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemBegin {
    /// Our in-progress record is written; run the operation.
    Started,
    /// A live record exists.
    Existing(IdemRecord),
}
