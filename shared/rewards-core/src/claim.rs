//! The claim callback (the template's `mcallbackUrl`): crash-safe, idempotent on
//! (template, user, token), one pass under concurrency.
//!
//! Path: conditional put of the claim record (serial derived from template+user+token, params
//! filled once, fence token, lease) → `instance.add` with that serial and params → one transaction
//! writing the pass items and the claim's pass id → answer.
//!
//! - A retry that finds the claim with a pass id answers at once (no second issuance).
//! - A retry that finds it without one and with an expired lease takes the lease over (compare-and-
//!   set on the fence) and calls `instance.add` again with the **same** serial and params.
//! - A concurrent caller that finds a live lease polls (every `poll`, up to `wait`) for the winner's
//!   pass id and answers it; past `wait` it answers `claim_in_progress` (the component shows
//!   "retry", and the retry finds the pass id). A waiter that sees the winner fail answers the same
//!   failure instead of calling Alipay again.
//!
//! The answer's JSON shape for the component lives in one place: [`component_answer`].

use crate::error::{DomainError, ErrorKind};
use crate::hash::sha256_parts;
use crate::ids::{AppId, IdError, PassId, SerialNumber, TemplateId, UserId, UserToken};
use crate::pass::{PassRecord, PassStatus};
use crate::ports::{
    CasOutcome, ClaimStore, Clock, GatewayFailure, GatewayOutcome, IdGenerator, Inserted,
    IssuePassRequest, PassGateway, StoreError, TemplateStore,
};
use crate::template::{derive_serial, fill_params, FillContext, TemplateRecord};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The key of a claim: template, user and a hash of the token (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimKey {
    /// Template.
    pub template_id: TemplateId,
    /// User.
    pub user_id: UserId,
    /// 32 hex chars of SHA-256 of the token.
    pub token_hash: String,
}

impl ClaimKey {
    /// The key for a claim.
    pub fn new(template_id: &TemplateId, user_id: &UserId, token: &UserToken) -> Self {
        let h = sha256_parts(&["claim-token/v1", token.as_str()]);
        ClaimKey {
            template_id: template_id.clone(),
            user_id: user_id.clone(),
            token_hash: h[..32].to_owned(),
        }
    }
}

/// Why an earlier attempt ended without a pass (so waiters answer it instead of re-calling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ClaimFailure {
    /// Alipay refused.
    Rejected {
        /// The failure, verbatim.
        failure: GatewayFailure,
    },
    /// Outcome unknown.
    Unknown {
        /// Diagnostic.
        detail: String,
    },
}

/// The claim item (`CLAIM#{tpl}#{user}#{tokenHash}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRecord {
    /// Template.
    pub template_id: TemplateId,
    /// User.
    pub user_id: UserId,
    /// Hash of the token.
    pub token_hash: String,
    /// The serial chosen for this claim (the same on every retry).
    pub serial_number: SerialNumber,
    /// The `tpl_params` filled at the first attempt (reused on retries).
    pub params: BTreeMap<String, String>,
    /// The current holder's fence token.
    pub fence: String,
    /// Until when the holder may call Alipay undisturbed (0 = released).
    pub lease_until: Timestamp,
    /// The pass id once issued and stored.
    pub pass_id: Option<PassId>,
    /// `instance.add` calls started.
    pub attempts: u32,
    /// How the last attempt ended without a pass, if it did.
    pub last_failure: Option<ClaimFailure>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl ClaimRecord {
    /// This record's key.
    pub fn key(&self) -> ClaimKey {
        ClaimKey {
            template_id: self.template_id.clone(),
            user_id: self.user_id.clone(),
            token_hash: self.token_hash.clone(),
        }
    }
}

/// The raw callback query (untrusted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimQuery {
    /// `templateId`.
    pub template_id: Option<String>,
    /// `userId`.
    pub user_id: Option<String>,
    /// `token`.
    pub token: Option<String>,
    /// `timestamp` (epoch ms).
    pub timestamp: Option<String>,
}

/// A successful claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    /// The pass.
    pub pass_id: PassId,
    /// Its serial.
    pub serial_number: SerialNumber,
    /// True when an earlier call issued it.
    pub replayed: bool,
}

/// Claim errors.
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
    /// Another call for the same claim is still running; retry shortly.
    #[error("the claim is being processed; retry shortly")]
    InProgress,
    /// Alipay refused to issue.
    #[error("Alipay refused to issue the pass: {}", .0.reason())]
    Rejected(GatewayFailure),
    /// Outcome unknown; retrying is safe (same serial).
    #[error("the Alipay outcome is unknown; retry")]
    GatewayUnknown(String),
    /// Store failure.
    #[error("store failure")]
    Store(#[from] StoreError),
}

impl DomainError for ClaimError {
    fn code(&self) -> &'static str {
        match self {
            ClaimError::BadInput { field, .. } => match *field {
                "templateId" => "invalid_template_id",
                "userId" => "invalid_user_id",
                "token" => "invalid_token",
                _ => "invalid_timestamp",
            },
            ClaimError::StaleTimestamp => "stale_timestamp",
            ClaimError::UnknownTemplate => "unknown_template",
            ClaimError::InProgress => "claim_in_progress",
            ClaimError::Rejected(_) => "alipay_rejected",
            ClaimError::GatewayUnknown(_) => "alipay_unavailable",
            ClaimError::Store(StoreError::Unavailable(_)) => "store_unavailable",
            ClaimError::Store(StoreError::Corrupt(_)) => "store_corrupt",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            ClaimError::BadInput { .. } | ClaimError::StaleTimestamp => ErrorKind::BadInput,
            ClaimError::UnknownTemplate => ErrorKind::NotFound,
            ClaimError::InProgress => ErrorKind::Conflict,
            ClaimError::Rejected(_) => ErrorKind::Unprocessable,
            ClaimError::GatewayUnknown(_) | ClaimError::Store(StoreError::Unavailable(_)) => {
                ErrorKind::Unavailable
            }
            ClaimError::Store(StoreError::Corrupt(_)) => ErrorKind::Internal,
        }
    }
}

/// **The** answer shape for the issuance component (the only place it is defined):
/// `{"success": true, "passId": "...", "serialNumber": "..."}` or
/// `{"success": false, "code": "<stable code>", "message": "..."}`.
pub fn component_answer(result: &Result<ClaimAnswer, ClaimError>) -> Value {
    match result {
        Ok(a) => json!({"success": true, "passId": a.pass_id, "serialNumber": a.serial_number}),
        Err(e) => json!({"success": false, "code": e.code(), "message": e.to_string()}),
    }
}

/// Timing of the claim path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimConfig {
    /// How long a holder may call Alipay before others may take over (default 10 s).
    pub lease: Duration,
    /// How long a concurrent caller waits for the holder (default 3 s).
    pub wait: Duration,
    /// Poll interval while waiting (default 100 ms).
    pub poll: Duration,
    /// Allowed |now − timestamp| (default 10 min).
    pub max_skew: Duration,
}

impl Default for ClaimConfig {
    fn default() -> Self {
        ClaimConfig {
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(3),
            poll: Duration::from_millis(100),
            max_skew: Duration::from_secs(600),
        }
    }
}

/// The claim callback service.
pub struct ClaimService {
    /// Templates.
    pub templates: Arc<dyn TemplateStore>,
    /// Claims (+ pass items).
    pub claims: Arc<dyn ClaimStore>,
    /// Pass gateway.
    pub gateway: Arc<dyn PassGateway>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
    /// App id (`channelID`).
    pub app_id: AppId,
    /// Timing.
    pub config: ClaimConfig,
}

fn parse_field<T>(
    field: &'static str,
    value: Option<&String>,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<T, ClaimError> {
    let v = value.ok_or(ClaimError::BadInput {
        field,
        source: None,
    })?;
    parse(v).map_err(|e| ClaimError::BadInput {
        field,
        source: Some(e),
    })
}

impl ClaimService {
    /// Handles one callback. See the module docs for the path.
    ///
    /// # Errors
    /// [`ClaimError`]; answer it with [`component_answer`].
    pub async fn claim(&self, q: &ClaimQuery) -> Result<ClaimAnswer, ClaimError> {
        let template_id = parse_field("templateId", q.template_id.as_ref(), TemplateId::parse)?;
        let user_id = parse_field("userId", q.user_id.as_ref(), UserId::parse)?;
        let token = parse_field("token", q.token.as_ref(), UserToken::parse)?;
        let ts = q
            .timestamp
            .as_deref()
            .filter(|t| !t.is_empty() && t.len() <= 15 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or(ClaimError::BadInput {
                field: "timestamp",
                source: None,
            })?;
        let started = self.clock.now();
        let skew = i64::try_from(self.config.max_skew.as_millis()).unwrap_or(i64::MAX);
        if (started.millis() - ts).abs() > skew {
            return Err(ClaimError::StaleTimestamp);
        }
        let template = self
            .templates
            .get_template(&template_id)
            .await?
            .ok_or(ClaimError::UnknownTemplate)?;
        let key = ClaimKey::new(&template_id, &user_id, &token);
        let deadline = started.plus(self.config.wait);
        let mut try_create = true;
        for _ in 0..10_000 {
            let now = self.clock.now();
            let current = if try_create {
                try_create = false;
                let serial = derive_serial(&template_id, &user_id, &token);
                let params = fill_params(
                    &template.rules,
                    &FillContext {
                        now,
                        user: &user_id,
                        app_id: &self.app_id,
                        serial: &serial,
                    },
                );
                let fresh = ClaimRecord {
                    template_id: template_id.clone(),
                    user_id: user_id.clone(),
                    token_hash: key.token_hash.clone(),
                    serial_number: serial,
                    params,
                    fence: self.ids.fence_token(),
                    lease_until: now.plus(self.config.lease),
                    pass_id: None,
                    attempts: 1,
                    last_failure: None,
                    created_at: now,
                    updated_at: now,
                };
                match self.claims.create_claim(&fresh).await? {
                    Inserted::Inserted => return self.issue(fresh, &template, &token).await,
                    Inserted::Exists(c) => c,
                }
            } else {
                match self.claims.get_claim(&key).await? {
                    Some(c) => c,
                    None => {
                        try_create = true;
                        continue;
                    }
                }
            };
            if let Some(pass_id) = current.pass_id {
                return Ok(ClaimAnswer {
                    pass_id,
                    serial_number: current.serial_number,
                    replayed: true,
                });
            }
            if current.lease_until <= now {
                // A failure that happened while we were waiting is our answer too.
                if current.updated_at >= started {
                    match &current.last_failure {
                        Some(ClaimFailure::Rejected { failure }) => {
                            return Err(ClaimError::Rejected(failure.clone()))
                        }
                        Some(ClaimFailure::Unknown { detail }) => {
                            return Err(ClaimError::GatewayUnknown(detail.clone()))
                        }
                        None => {}
                    }
                }
                let taken = ClaimRecord {
                    fence: self.ids.fence_token(),
                    lease_until: now.plus(self.config.lease),
                    attempts: current.attempts.saturating_add(1),
                    last_failure: None,
                    updated_at: now,
                    ..current.clone()
                };
                match self.claims.replace_claim(&taken, &current.fence).await? {
                    CasOutcome::Written => return self.issue(taken, &template, &token).await,
                    CasOutcome::Lost(_) => continue,
                }
            }
            if now >= deadline {
                return Err(ClaimError::InProgress);
            }
            self.clock.sleep(self.config.poll).await;
        }
        Err(ClaimError::InProgress)
    }

    async fn issue(
        &self,
        rec: ClaimRecord,
        template: &TemplateRecord,
        token: &UserToken,
    ) -> Result<ClaimAnswer, ClaimError> {
        let req = IssuePassRequest {
            tpl_id: template.template_id.clone(),
            tpl_params: rec.params.clone(),
            user_id: rec.user_id.clone(),
            user_token: token.clone(),
        };
        match self.gateway.issue_pass(&req).await {
            GatewayOutcome::Success(issued) => {
                let now = self.clock.now();
                let pass = PassRecord {
                    pass_id: issued.pass_id.clone(),
                    user_id: rec.user_id.clone(),
                    template_id: rec.template_id.clone(),
                    serial_number: rec.serial_number.clone(),
                    status: PassStatus::Active,
                    params: rec.params.clone(),
                    created_at: now,
                    updated_at: now,
                };
                match self.claims.complete_claim(&rec.key(), &pass).await? {
                    CasOutcome::Written => Ok(ClaimAnswer {
                        pass_id: issued.pass_id,
                        serial_number: rec.serial_number,
                        replayed: false,
                    }),
                    CasOutcome::Lost(Some(ClaimRecord {
                        pass_id: Some(pass_id),
                        serial_number,
                        ..
                    })) => Ok(ClaimAnswer {
                        pass_id,
                        serial_number,
                        replayed: true,
                    }),
                    CasOutcome::Lost(_) => Err(ClaimError::Store(StoreError::Corrupt(
                        "claim vanished before completion".into(),
                    ))),
                }
            }
            GatewayOutcome::Failed(failure) => {
                self.release(
                    &rec,
                    ClaimFailure::Rejected {
                        failure: failure.clone(),
                    },
                )
                .await;
                Err(ClaimError::Rejected(failure))
            }
            GatewayOutcome::Unknown(detail) => {
                self.release(
                    &rec,
                    ClaimFailure::Unknown {
                        detail: detail.clone(),
                    },
                )
                .await;
                Err(ClaimError::GatewayUnknown(detail))
            }
        }
    }

    /// Ends our lease early (best effort) and records why, so the next call may retry at once.
    async fn release(&self, rec: &ClaimRecord, why: ClaimFailure) {
        let released = ClaimRecord {
            fence: self.ids.fence_token(),
            lease_until: Timestamp(0),
            last_failure: Some(why),
            updated_at: self.clock.now(),
            ..rec.clone()
        };
        let _ = self.claims.replace_claim(&released, &rec.fence).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    fn query(token: &str, ts: i64) -> ClaimQuery {
        ClaimQuery {
            template_id: Some(TPL.into()),
            user_id: Some(USER.into()),
            token: Some(token.into()),
            timestamp: Some(ts.to_string()),
        }
    }

    #[tokio::test]
    async fn happy_path_and_replay() {
        let w = World::new();
        w.seed_template().await;
        let svc = w.claim_service();
        let now = w.clock.now().millis();
        let a = svc.claim(&query("tok1", now)).await.unwrap();
        assert!(!a.replayed);
        let b = svc.claim(&query("tok1", now)).await.unwrap();
        assert!(b.replayed);
        assert_eq!(a.pass_id, b.pass_id);
        assert_eq!(w.pass_gw.issue_calls(), 1);
        let passes = w.store.list_user_passes_sync(USER);
        assert_eq!(passes.len(), 1);
        assert_eq!(passes[0].params["channelID"], APP);
        let body = component_answer(&Ok(a.clone()));
        assert_eq!(body["success"], true);
        assert_eq!(body["passId"], a.pass_id.as_str());
        assert_eq!(body["serialNumber"], a.serial_number.as_str());
    }

    #[tokio::test]
    async fn bad_input_is_classified() {
        let w = World::new();
        w.seed_template().await;
        let svc = w.claim_service();
        let now = w.clock.now().millis();
        let mut q = query("tok", now);
        q.user_id = Some("123".into());
        assert_eq!(svc.claim(&q).await.unwrap_err().code(), "invalid_user_id");
        let q = query("tok", now - 11 * 60_000);
        assert_eq!(svc.claim(&q).await.unwrap_err().code(), "stale_timestamp");
        let mut q = query("tok", now);
        q.timestamp = Some("12x".into());
        assert_eq!(svc.claim(&q).await.unwrap_err().code(), "invalid_timestamp");
        let mut q = query("tok", now);
        q.template_id = Some("other".into());
        let e = svc.claim(&q).await.unwrap_err();
        assert_eq!(
            (e.code(), e.kind()),
            ("unknown_template", ErrorKind::NotFound)
        );
        let body = component_answer(&Err(e));
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "unknown_template");
        assert_eq!(w.pass_gw.issue_calls(), 0);
    }

    /// Crash at every step of the path; the retry ends with exactly one pass issued by Alipay.
    #[tokio::test]
    async fn crash_at_every_step_recovers_with_one_pass() {
        for step in [
            "create_claim",
            "issue_before",
            "issue_after",
            "complete_claim",
        ] {
            let w = World::new();
            w.seed_template().await;
            let svc = w.claim_service();
            let now = w.clock.now().millis();
            match step {
                "issue_before" => w.pass_gw.fail_next_issue(GwFault::UnknownBefore),
                "issue_after" => w.pass_gw.fail_next_issue(GwFault::UnknownAfter),
                op => w.store.fail_next(op),
            }
            let first = svc.claim(&query("tok", now)).await;
            assert!(first.is_err(), "{step}");
            // The retry may come before or after the lease; try until it answers.
            let mut answer = None;
            for _ in 0..5 {
                match svc.claim(&query("tok", w.clock.now().millis())).await {
                    Ok(a) => {
                        answer = Some(a);
                        break;
                    }
                    Err(e) => {
                        assert!(
                            matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Unavailable),
                            "{step}: {e}"
                        );
                        w.clock.advance(Duration::from_secs(11));
                    }
                }
            }
            let answer = answer.unwrap_or_else(|| panic!("{step}: never answered"));
            assert_eq!(w.pass_gw.passes_issued(), 1, "{step}");
            assert_eq!(w.store.list_user_passes_sync(USER).len(), 1, "{step}");
            let again = svc
                .claim(&query("tok", w.clock.now().millis()))
                .await
                .unwrap();
            assert_eq!(again.pass_id, answer.pass_id);
            // Every instance.add carried the same serial.
            assert!(
                w.pass_gw
                    .serials_seen()
                    .iter()
                    .all(|s| s == answer.serial_number.as_str()),
                "{step}"
            );
        }
    }

    #[tokio::test]
    async fn definite_failure_is_answered_and_retry_allowed() {
        let w = World::new();
        w.seed_template().await;
        let svc = w.claim_service();
        w.pass_gw.fail_next_issue(GwFault::Refuse);
        let e = svc
            .claim(&query("tok", w.clock.now().millis()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "alipay_rejected");
        w.clock.advance(Duration::from_millis(1));
        let a = svc
            .claim(&query("tok", w.clock.now().millis()))
            .await
            .unwrap();
        assert!(!a.replayed);
        assert_eq!(w.pass_gw.passes_issued(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifty_concurrent_claims_give_one_pass() {
        let w = World::new_real_time();
        w.seed_template().await;
        w.pass_gw.set_delay(Duration::from_millis(50));
        let svc = Arc::new(w.claim_service());
        let now = w.clock.now().millis();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let svc = svc.clone();
            tasks.push(tokio::spawn(
                async move { svc.claim(&query("same", now)).await },
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            ids.insert(t.await.unwrap().unwrap().pass_id);
        }
        assert_eq!(ids.len(), 1);
        assert_eq!(w.pass_gw.issue_calls(), 1);
    }

    #[tokio::test]
    async fn waiter_answers_in_progress_past_the_bound() {
        let w = World::new();
        w.seed_template().await;
        let svc = w.claim_service();
        let now = w.clock.now();
        // A holder that never finishes: claim created with a live lease.
        let key = ClaimKey::new(
            &TemplateId::parse(TPL).unwrap(),
            &UserId::parse(USER).unwrap(),
            &UserToken::parse("t").unwrap(),
        );
        let rec = ClaimRecord {
            template_id: key.template_id.clone(),
            user_id: key.user_id.clone(),
            token_hash: key.token_hash.clone(),
            serial_number: SerialNumber::parse("S1").unwrap(),
            params: BTreeMap::new(),
            fence: "f".into(),
            lease_until: now.plus(Duration::from_secs(60)),
            pass_id: None,
            attempts: 1,
            last_failure: None,
            created_at: now,
            updated_at: now,
        };
        assert!(matches!(
            w.store.create_claim(&rec).await.unwrap(),
            Inserted::Inserted
        ));
        let e = svc.claim(&query("t", now.millis())).await.unwrap_err();
        assert_eq!(e.code(), "claim_in_progress");
        assert_eq!(w.pass_gw.issue_calls(), 0);
    }
}
