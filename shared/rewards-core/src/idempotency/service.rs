//! Runs an operation under an idempotency key: the stored answer for a repeat, 422 for another
//! body, 409 while the first request runs.

use crate::hash::{canonical_json, sha256_hex};
use crate::idempotency::error::IdemError;
use crate::idempotency::record::{IdemBegin, IdemKey, IdemRecord, IdemState, StoredResponse};
use crate::idempotency::store::IdempotencyStore;
use crate::ports::clock::{Clock, IdGenerator};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The fingerprint of a request: method/route + canonical JSON body.
pub fn fingerprint(route: &str, body: &serde_json::Value) -> String {
    sha256_hex(format!("{route}\n{}", canonical_json(body)).as_bytes())
}

/// An answer and whether it was replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemOutcome {
    /// The answer.
    pub response: StoredResponse,
    /// True when it came from the record.
    pub replayed: bool,
}

/// Runs operations under an idempotency key.
pub struct IdempotencyService {
    pub store: Arc<dyn IdempotencyStore>,
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
    /// Record lifetime ([`IdempotencyService::DEFAULT_TTL`]).
    pub ttl: Duration,
    /// In-progress lease ([`IdempotencyService::DEFAULT_LEASE`]).
    pub lease: Duration,
}

impl IdempotencyService {
    /// How long a finished request's answer is kept (and replayed).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
    /// How long a request in progress holds its key before another may take it over.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

    /// With the default lifetime and lease.
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        IdempotencyService {
            store,
            clock,
            ids,
            ttl: Self::DEFAULT_TTL,
            lease: Self::DEFAULT_LEASE,
        }
    }

    /// Runs `op` at most once per (key, fingerprint) while the record lives.
    ///
    /// # Errors
    /// [`IdemError::Mismatch`] (422), [`IdemError::InProgress`] (409), store errors.
    pub async fn run<F, Fut>(
        &self,
        key: &IdemKey,
        fingerprint: &str,
        op: F,
    ) -> Result<IdemOutcome, IdemError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoredResponse>,
    {
        let now = self.clock.now();
        let rec = IdemRecord {
            key: key.clone(),
            fingerprint: fingerprint.to_owned(),
            fence: self.ids.fence_token(),
            state: IdemState::InProgress,
            lease_until: now.plus(self.lease),
            expires_at: now.plus(self.ttl),
        };
        match self.store.begin(&rec, now).await? {
            IdemBegin::Existing(existing) => {
                if existing.fingerprint != fingerprint {
                    return Err(IdemError::Mismatch);
                }
                match existing.state {
                    IdemState::Completed { response } if response.is_final() => Ok(IdemOutcome {
                        response,
                        replayed: true,
                    }),
                    // The operation is idempotent on its own (the send by business id): run it
                    // again to answer what is true now.
                    IdemState::Completed { .. } => Ok(IdemOutcome {
                        response: op().await,
                        replayed: false,
                    }),
                    IdemState::InProgress => Err(IdemError::InProgress),
                }
            }
            IdemBegin::Started => {
                let response = op().await;
                if response.status >= 500 {
                    let _ = self.store.release(key, &rec.fence).await;
                } else {
                    let done = IdemRecord {
                        state: IdemState::Completed {
                            response: response.clone(),
                        },
                        ..rec
                    };
                    let _ = self.store.complete(&done).await;
                }
                Ok(IdemOutcome {
                    response,
                    replayed: false,
                })
            }
        }
    }
}
