//! `Idempotency-Key` semantics (IETF draft / Stripe): same key + same body → the stored answer;
//! same key + another body → 422; the first request still running → 409.
//!
//! The record (`IDEM#{caller}#{keyHash}`) holds a request fingerprint, a fence token, a lease while
//! in progress, and the stored response once done. Responses with status ≥ 500 are not stored (the
//! record is released so a retry runs again). Only **final** answers are replayed: a stored answer
//! that described a moment (202 "being resolved", 409 "busy") is kept for its fingerprint, but a
//! repeat runs the operation again and answers the current state, so a payout that became SENT is
//! never reported as pending for the rest of the day. Expiry (24 h) is checked in code, never left to TTL.
//! If storing the response fails, the lease runs out and a retry re-executes the operation — safe
//! for `POST /envelopes` because the send is itself idempotent by business id.

use crate::error::{domain_error, ErrorKind};
use crate::hash::{canonical_json, sha256_hex, sha256_parts};
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::store::StoreError;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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

/// Idempotency keys (`IDEM#{caller}#{keyHash}`).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Conditional put of an in-progress record: absent, or expired (`expires_at <= now`), or an
    /// in-progress record whose lease has passed. Otherwise the stored record.
    async fn begin(&self, rec: &IdemRecord, now: Timestamp) -> Result<IdemBegin, StoreError>;
    /// Replaces the record with `done` (the same record, now completed with its response) if the
    /// stored one still carries `done`'s fence; otherwise (taken over after our lease, or gone) does
    /// nothing.
    async fn complete(&self, done: &IdemRecord) -> Result<(), StoreError>;
    /// Deletes the in-progress record (condition: this fence), so a retry runs again.
    async fn release(&self, key: &IdemKey, fence: &str) -> Result<(), StoreError>;
}

/// The fingerprint of a request: method/route + canonical JSON body.
pub fn fingerprint(route: &str, body: &serde_json::Value) -> String {
    sha256_hex(format!("{route}\n{}", canonical_json(body)).as_bytes())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DomainError;
    use crate::testkit::*;
    use serde_json::json;

    /// An operation that answers `status` with `body`.
    fn answering(status: u16, body: &str) -> impl FnOnce() -> std::future::Ready<StoredResponse> {
        let response = StoredResponse {
            status,
            body: body.into(),
        };
        move || std::future::ready(response)
    }

    #[tokio::test]
    async fn semantics() {
        let w = World::new();
        let svc = w.idem_service();
        let key = IdemKey::new("envelopes", "k-1").unwrap();
        let fp = fingerprint("POST /envelopes", &json!({"a": 1, "b": 2}));
        assert_eq!(fp, fingerprint("POST /envelopes", &json!({"b": 2, "a": 1})));
        let r = svc
            .run(&key, &fp, answering(201, "{\"x\":1}"))
            .await
            .unwrap();
        assert!(!r.replayed);
        let r2 = svc
            .run(&key, &fp, || async { panic!("must not run") })
            .await
            .unwrap();
        assert!(r2.replayed);
        assert_eq!(r2.response, r.response);
        let other = fingerprint("POST /envelopes", &json!({"a": 2}));
        let e = svc
            .run(&key, &other, || async { panic!("must not run") })
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.kind().http_status()),
            ("idempotency_key_reused", 422)
        );
        // Expired → runs again.
        w.clock.advance(Duration::from_secs(25 * 3600));
        let r3 = svc.run(&key, &other, answering(200, "{}")).await.unwrap();
        assert!(!r3.replayed);
    }

    #[tokio::test]
    async fn in_progress_is_409_and_5xx_is_not_stored() {
        let w = World::new();
        let svc = w.idem_service();
        let key = IdemKey::new("envelopes", "k-2").unwrap();
        let now = w.clock.now();
        let rec = IdemRecord {
            key: key.clone(),
            fingerprint: "fp".into(),
            fence: "f".into(),
            state: IdemState::InProgress,
            lease_until: now.plus(Duration::from_secs(60)),
            expires_at: now.plus(Duration::from_secs(3600)),
        };
        assert_eq!(w.store.begin(&rec, now).await.unwrap(), IdemBegin::Started);
        let e = svc
            .run(&key, "fp", || async { panic!("must not run") })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        w.clock.advance(Duration::from_secs(61));
        let r = svc.run(&key, "fp", answering(503, "{}")).await.unwrap();
        assert_eq!(r.response.status, 503);
        let r = svc.run(&key, "fp", answering(201, "{}")).await.unwrap();
        assert!(!r.replayed);
        assert!(IdemKey::new("envelopes", "").is_err());
        assert!(IdemKey::new("envelopes", "a b").is_err());
        assert!(IdemKey::new("bad#caller", "k").is_err());
    }

    #[tokio::test]
    async fn a_transient_answer_is_never_replayed() {
        let w = World::new();
        let svc = w.idem_service();
        let key = IdemKey::new("envelopes", "k-3").unwrap();
        for transient in [202, 409] {
            let r = svc
                .run(&key, "fp", answering(transient, "{\"state\":\"UNKNOWN\"}"))
                .await
                .unwrap();
            assert_eq!(r.response.status, transient);
            let now = svc
                .run(&key, "fp", answering(200, "{\"state\":\"SENT\"}"))
                .await
                .unwrap();
            assert_eq!(now.response.status, 200, "after a stored {transient}");
            assert!(!now.replayed);
            // The fingerprint still guards the key.
            let e = svc
                .run(&key, "other", || async { panic!("must not run") })
                .await
                .unwrap_err();
            assert_eq!(e.code(), "idempotency_key_reused");
            w.clock.advance(Duration::from_secs(25 * 3600));
        }
    }
}
