//! The claim callback (the template's `mcallbackUrl`): one pass per user per template unless the
//! template allows more, crash-safe, cheap for forged hits.
//!
//! Each (template, user) has one [`ClaimAccount`]: the passes issued so far and at most one
//! issuance in flight. The serial of the user's n-th pass is derived from (template, user, n)
//! ([`derive_serial`]), so whatever token a re-tap brings, it cannot create a second pass.
//!
//! Path of a tap:
//! 1. Parse and check the query; the template must be ours.
//! 2. The same token already produced a pass → answer it (replay, no Alipay call).
//! 3. Nothing in flight: the user at the template's `perUserLimit` → `pass_limit_reached`, no call.
//!    Over the failed-claims budget → `too_many_failed_claims` (429, `Retry-After`), no call.
//!    Else write the issuance (n, serial, params filled once, this token, a lease) with a
//!    compare-and-set on the account's fence, call `instance.add`, and on success store the pass and
//!    the account in one transaction.
//! 4. An issuance in flight whose lease is live → wait for it (poll), then answer as it ends;
//!    past `wait`, `claim_in_progress` (409).
//! 5. An issuance in flight whose lease has passed (its outcome unknown, or its holder died):
//!    Alipay may hold its serial. The same token calls `instance.add` again with the same serial and
//!    params; another token first asks Alipay for the serial ([`PassGateway::find_pass`]): found →
//!    the pass is stored, then this tap goes on as a new one (usually: limit reached); not found →
//!    the issuance is dropped and this tap issues with its own token.
//!
//! Whatever Alipay answers to a repeated serial (the same pass, or a refusal), a refusal of an
//! issuance that may already exist is followed by the same lookup, so the user ends with one pass
//! and its serial is known. [`ClaimSweeper`] resolves issuances nobody taps again.
//!
//! Failed claims (definite refusals: a forged token, a spent one…) are counted per (template, user)
//! and per template in [`ClaimBudgetStore`] buckets; over either budget no call is made. Accounts
//! that never produced a pass carry an expiry (`expires_at`, the table's TTL), so forged hits
//! leave nothing permanent.
//!
//! The answer's JSON shape for the component lives in one place: [`component_answer`].

use crate::error::{domain_error, DomainError, ErrorKind, GatewayError};
use crate::hash::sha256_parts;
use crate::ids::{AppId, IdError, PassId, SerialNumber, TemplateId, UserId, UserToken};
use crate::pass::{PassRecord, PassStatus};
use crate::ports::{
    BudgetScope, CasOutcome, ClaimBudgetStore, ClaimStore, Clock, FindPassRequest, GatewayFailure,
    GatewayOutcome, IdGenerator, Inserted, IssuePassRequest, PassGateway, PassLookup, PassStore,
    StoreError, TemplateStore,
};
use crate::template::{derive_serial, fill_params, FillContext, TemplateRecord};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// 32 hex chars of SHA-256 of a claim token (the token itself is never stored).
pub fn token_hash(token: &UserToken) -> String {
    sha256_parts(&["claim-token/v1", token.as_str()])[..32].to_owned()
}

/// Why an attempt ended without a pass (so callers waiting with the same token answer it instead
/// of calling Alipay again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ClaimFailure {
    /// Alipay refused.
    Rejected {
        /// The failure, verbatim (stored and logged, never answered to the caller).
        failure: GatewayFailure,
    },
    /// Outcome unknown.
    Unknown {
        /// Diagnostic.
        detail: String,
    },
}

/// The last attempt that ended without a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureNote {
    /// Hash of the token of that attempt.
    pub token_hash: String,
    /// How it ended.
    pub failure: ClaimFailure,
    /// When.
    pub at: Timestamp,
}

/// A pass issued to this user from this template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedPass {
    /// The user's n-th pass from the template (from 1).
    pub n: u32,
    pub pass_id: PassId,
    /// Its serial.
    pub serial_number: SerialNumber,
    /// Hash of the token that issued it (a repeat of that callback answers this pass).
    pub token_hash: Option<String>,
}

/// The issuance in flight: Alipay may hold its serial until it is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issuance {
    /// Which pass of the user this is (from 1).
    pub n: u32,
    /// `derive_serial(template, user, n)`.
    pub serial_number: SerialNumber,
    /// The `tpl_params` filled at the first attempt (the same dates on every retry).
    pub params: BTreeMap<String, String>,
    /// Hash of the token of the latest attempt.
    pub token_hash: String,
    /// Until when the holder may work undisturbed.
    pub lease_until: Timestamp,
    /// `instance.add` calls started.
    pub attempts: u32,
    /// Lookups made by the sweep without an answer.
    pub checks: u32,
    /// Not before this may the sweep look it up.
    pub next_check_at: Timestamp,
    /// First attempt.
    pub started_at: Timestamp,
}

/// A user's claims on one template (`CLAIM#{tpl}#{user}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimAccount {
    pub template_id: TemplateId,
    pub user_id: UserId,
    /// Passes issued and stored (the next one is `issued + 1`).
    pub issued: u32,
    /// Those passes.
    pub passes: Vec<IssuedPass>,
    /// The issuance in flight, if any.
    pub pending: Option<Issuance>,
    /// The last attempt that ended without a pass.
    pub last_failure: Option<FailureNote>,
    /// The fence token of the latest writer.
    pub fence: String,
    /// When the item may be deleted (DynamoDB TTL): set only while the account holds no pass and
    /// nothing is in flight.
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl ClaimAccount {
    /// When the sweep may take the issuance in flight (None when nothing is in flight).
    pub fn due_at(&self) -> Option<Timestamp> {
        self.pending
            .as_ref()
            .map(|p| p.lease_until.max(p.next_check_at))
    }
}

/// The raw callback query (untrusted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimQuery {
    pub template_id: Option<String>,
    pub user_id: Option<String>,
    pub token: Option<String>,
    /// `timestamp` (epoch ms).
    pub timestamp: Option<String>,
}

/// A successful claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    pub pass_id: PassId,
    /// Its serial.
    pub serial_number: SerialNumber,
    /// True when an earlier call issued it.
    pub replayed: bool,
}

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
    fn rejected(failure: GatewayFailure) -> Self {
        ClaimError::Gateway(GatewayError::Rejected(failure))
    }

    fn unknown(detail: String) -> Self {
        ClaimError::Gateway(GatewayError::Unknown(detail))
    }

    /// Alipay's refusal, for the log (never for the caller).
    pub fn refusal(&self) -> Option<&GatewayFailure> {
        match self {
            ClaimError::Gateway(GatewayError::Rejected(f)) => Some(f),
            _ => None,
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

/// At most `limit` failed claims within any `window`, counted in buckets of `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureBudget {
    /// Failed claims allowed per window.
    pub limit: u32,
    /// The sliding window.
    pub window: Duration,
    /// Counter granularity (the window is checked conservatively: a bucket counts while any part
    /// of it is inside the window).
    pub bucket: Duration,
}

impl FailureBudget {
    fn bucket_ms(&self) -> i64 {
        i64::try_from(self.bucket.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
    fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
    /// The start of the bucket holding `t`.
    pub fn bucket_of(&self, t: Timestamp) -> Timestamp {
        Timestamp(t.millis() - t.millis().rem_euclid(self.bucket_ms()))
    }
    /// The oldest bucket start that still counts at `now`.
    pub fn counted_since(&self, now: Timestamp) -> Timestamp {
        Timestamp(self.bucket_of(now).millis() - self.window_ms())
    }
    /// When a bucket starting at `start` stops counting.
    pub fn stops_counting(&self, start: Timestamp) -> Timestamp {
        Timestamp(start.millis() + self.bucket_ms() + self.window_ms())
    }
    /// `None` when another failure may still happen; else how long until one may.
    pub fn wait(&self, now: Timestamp, buckets: &[(Timestamp, u32)]) -> Option<Duration> {
        let since = self.counted_since(now);
        let mut counted: Vec<(Timestamp, u32)> = buckets
            .iter()
            .copied()
            .filter(|(start, _)| *start >= since)
            .collect();
        counted.sort();
        let total: u64 = counted.iter().map(|(_, n)| u64::from(*n)).sum();
        if total < u64::from(self.limit) {
            return None;
        }
        // The earliest time enough old failures have left the window.
        let must_leave = total + 1 - u64::from(self.limit);
        let mut left = 0u64;
        for (start, n) in &counted {
            left += u64::from(*n);
            if left >= must_leave {
                let ms = (self.stops_counting(*start).millis() - now.millis()).max(1000);
                return Some(Duration::from_millis(u64::try_from(ms).unwrap_or(1000)));
            }
        }
        Some(self.window)
    }
}

/// Timing and budgets of the claim path.
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
    /// Failed claims of one user on one template that may reach Alipay (default 5 per hour).
    pub user_budget: FailureBudget,
    /// Failed claims of all users of one template that may reach Alipay (default 100 per 10 min).
    pub template_budget: FailureBudget,
    /// How long an account without a pass is kept (DynamoDB TTL; default 24 h).
    pub idle_account_ttl: Duration,
    /// First sweep lookup after an unknown outcome; doubles per unanswered lookup (default 1 min).
    pub recheck: Duration,
    /// Longest wait between sweep lookups (default 1 h).
    pub recheck_cap: Duration,
}

impl Default for ClaimConfig {
    fn default() -> Self {
        ClaimConfig {
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(3),
            poll: Duration::from_millis(100),
            max_skew: Duration::from_secs(600),
            user_budget: FailureBudget {
                limit: 5,
                window: Duration::from_secs(3600),
                bucket: Duration::from_secs(300),
            },
            template_budget: FailureBudget {
                limit: 100,
                window: Duration::from_secs(600),
                bucket: Duration::from_secs(60),
            },
            idle_account_ttl: Duration::from_secs(24 * 3600),
            recheck: Duration::from_secs(60),
            recheck_cap: Duration::from_secs(3600),
        }
    }
}

/// The claim callback service.
pub struct ClaimService {
    pub templates: Arc<dyn TemplateStore>,
    /// Claim accounts (+ pass items).
    pub claims: Arc<dyn ClaimStore>,
    /// Passes (a new account counts the user's stored passes of the template).
    pub passes: Arc<dyn PassStore>,
    /// Failed-claims counters.
    pub budget: Arc<dyn ClaimBudgetStore>,
    /// Pass gateway.
    pub gateway: Arc<dyn PassGateway>,
    pub clock: Arc<dyn Clock>,
    /// Fence tokens.
    pub ids: Arc<dyn IdGenerator>,
    /// App id (`channelID`).
    pub app_id: AppId,
    /// Timing and budgets.
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

/// A failure Alipay gives when the serial is already taken (our serials are ours alone, so it
/// means Alipay holds this very issuance).
fn is_serial_taken(f: &GatewayFailure) -> bool {
    f.sub_code.as_deref() == Some("SERIAL_NUMBER_REPEAT")
}

/// A failure Alipay gives for a serial it does not know.
fn is_no_such_pass(f: &GatewayFailure) -> bool {
    matches!(
        f.sub_code.as_deref(),
        Some("PASS_NOT_EXIST" | "PASS_NOT_EXISTS" | "INSTANCE_NOT_EXIST")
    )
}

/// How a lookup of the issuance in flight ended.
enum Resolution {
    /// Alipay holds it; now stored.
    Stored(IssuedPass),
    /// Alipay does not hold it; the issuance is dropped. The account after the write.
    Dropped(Box<ClaimAccount>),
    /// Another writer moved the account first.
    Lost,
    /// No definite answer; released for later.
    Unresolved(String),
}

impl ClaimService {
    /// The account with `pending` taken by this call: a fence of its own, no failure noted, no
    /// expiry while an issuance is in flight.
    fn taken(&self, account: &ClaimAccount, pending: Issuance, now: Timestamp) -> ClaimAccount {
        ClaimAccount {
            pending: Some(pending),
            last_failure: None,
            fence: self.ids.fence_token(),
            expires_at: None,
            updated_at: now,
            ..account.clone()
        }
    }

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
        let mine = token_hash(&token);
        let deadline = started.plus(self.config.wait);
        for _ in 0..10_000 {
            let now = self.clock.now();
            let account = self.account(&template, &user_id, now).await?;
            if let Some(p) = account
                .passes
                .iter()
                .rev()
                .find(|p| p.token_hash.as_deref() == Some(mine.as_str()))
            {
                return Ok(ClaimAnswer {
                    pass_id: p.pass_id.clone(),
                    serial_number: p.serial_number.clone(),
                    replayed: true,
                });
            }
            if let Some(note) = &account.last_failure {
                // An attempt with this token ended while we waited: that is our answer too.
                if note.token_hash == mine && note.at > started {
                    return Err(match &note.failure {
                        ClaimFailure::Rejected { failure } => ClaimError::rejected(failure.clone()),
                        ClaimFailure::Unknown { detail } => ClaimError::unknown(detail.clone()),
                    });
                }
            }
            match account.pending.clone() {
                Some(p) if p.lease_until > now => {
                    if now >= deadline {
                        return Err(ClaimError::InProgress);
                    }
                    self.clock.sleep(self.config.poll).await;
                }
                Some(p) if p.token_hash != mine => {
                    // Alipay may hold the serial, issued with another token: ask before issuing.
                    match self.resolve(&account, &p).await? {
                        Resolution::Unresolved(detail) => return Err(ClaimError::unknown(detail)),
                        Resolution::Stored(_) | Resolution::Dropped(_) | Resolution::Lost => {}
                    }
                }
                Some(p) => {
                    // The same token again: instance.add with the same serial and params.
                    self.check_budgets(&template_id, &user_id, now).await?;
                    let retried = Issuance {
                        lease_until: now.plus(self.config.lease),
                        next_check_at: now.plus(self.config.lease),
                        attempts: p.attempts.saturating_add(1),
                        ..p
                    };
                    let taken = self.taken(&account, retried, now);
                    if let CasOutcome::Written =
                        self.claims.replace_account(&taken, &account.fence).await?
                    {
                        return self.issue(taken, &template, &token, false).await;
                    }
                }
                None => {
                    if account.issued >= template.per_user_limit {
                        return Err(ClaimError::LimitReached {
                            limit: template.per_user_limit,
                        });
                    }
                    self.check_budgets(&template_id, &user_id, now).await?;
                    let n = account.issued + 1;
                    let serial = derive_serial(&template_id, &user_id, n);
                    let params = fill_params(
                        &template.rules,
                        &FillContext {
                            now,
                            user: &user_id,
                            app_id: &self.app_id,
                            serial: &serial,
                        },
                    );
                    let first = Issuance {
                        n,
                        serial_number: serial,
                        params,
                        token_hash: mine.clone(),
                        lease_until: now.plus(self.config.lease),
                        attempts: 1,
                        checks: 0,
                        next_check_at: now.plus(self.config.lease),
                        started_at: now,
                    };
                    let taken = self.taken(&account, first, now);
                    if let CasOutcome::Written =
                        self.claims.replace_account(&taken, &account.fence).await?
                    {
                        return self.issue(taken, &template, &token, true).await;
                    }
                }
            }
        }
        Err(ClaimError::InProgress)
    }

    /// The account, created on first use. A new account counts the passes the user already holds
    /// from this template in the store (passes issued before accounts existed), so the limit and
    /// the n of the next serial hold for them too.
    async fn account(
        &self,
        template: &TemplateRecord,
        user: &UserId,
        now: Timestamp,
    ) -> Result<ClaimAccount, ClaimError> {
        if let Some(a) = self.claims.get_account(&template.template_id, user).await? {
            return Ok(a);
        }
        let mut held: Vec<PassRecord> = self
            .passes
            .list_user_passes(user, 1000)
            .await?
            .into_iter()
            .filter(|p| p.template_id == template.template_id)
            .collect();
        held.sort_by_key(|p| p.created_at);
        let passes: Vec<IssuedPass> = held
            .into_iter()
            .zip(1u32..)
            .map(|(p, n)| IssuedPass {
                n,
                pass_id: p.pass_id,
                serial_number: p.serial_number,
                token_hash: None,
            })
            .collect();
        let fresh = ClaimAccount {
            template_id: template.template_id.clone(),
            user_id: user.clone(),
            issued: u32::try_from(passes.len()).unwrap_or(u32::MAX),
            expires_at: passes
                .is_empty()
                .then(|| now.plus(self.config.idle_account_ttl)),
            passes,
            pending: None,
            last_failure: None,
            fence: self.ids.fence_token(),
            created_at: now,
            updated_at: now,
        };
        match self.claims.create_account(&fresh).await? {
            Inserted::Inserted => Ok(fresh),
            Inserted::Exists(a) => Ok(a),
        }
    }

    /// Refuses when either failed-claims budget is spent.
    async fn check_budgets(
        &self,
        template: &TemplateId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<(), ClaimError> {
        let scopes = [
            (
                BudgetKind::User,
                BudgetScope::TemplateUser(template.clone(), user.clone()),
                self.config.user_budget,
            ),
            (
                BudgetKind::Template,
                BudgetScope::Template(template.clone()),
                self.config.template_budget,
            ),
        ];
        for (kind, scope, budget) in scopes {
            let buckets = self
                .budget
                .failures_since(&scope, budget.counted_since(now))
                .await?;
            if let Some(retry_after) = budget.wait(now, &buckets) {
                return Err(ClaimError::Throttled {
                    budget: kind,
                    retry_after,
                });
            }
        }
        Ok(())
    }

    /// Counts a failed claim in both budgets (before the lease is released, so the next holder's
    /// check sees it).
    async fn count_failure(&self, template: &TemplateId, user: &UserId) -> Result<(), StoreError> {
        let now = self.clock.now();
        for (scope, budget) in [
            (
                BudgetScope::TemplateUser(template.clone(), user.clone()),
                self.config.user_budget,
            ),
            (
                BudgetScope::Template(template.clone()),
                self.config.template_budget,
            ),
        ] {
            let bucket = budget.bucket_of(now);
            self.budget
                .add_failure(&scope, bucket, budget.stops_counting(bucket))
                .await?;
        }
        Ok(())
    }

    /// One `instance.add` for the issuance in flight of `acc` (whose fence we hold). `fresh`: no
    /// earlier attempt of this issuance exists, so a refusal proves Alipay holds nothing.
    async fn issue(
        &self,
        acc: ClaimAccount,
        template: &TemplateRecord,
        token: &UserToken,
        fresh: bool,
    ) -> Result<ClaimAnswer, ClaimError> {
        let Some(p) = acc.pending.clone() else {
            return Err(ClaimError::Store(StoreError::Corrupt(
                "issuing without an issuance".into(),
            )));
        };
        let req = IssuePassRequest {
            tpl_id: template.template_id.clone(),
            tpl_params: p.params.clone(),
            user_id: acc.user_id.clone(),
            user_token: token.clone(),
        };
        match self.gateway.issue_pass(&req).await {
            GatewayOutcome::Success(issued) => {
                match self.store_pass(&acc, &p, issued.pass_id).await? {
                    Some((_, pass)) => Ok(ClaimAnswer {
                        pass_id: pass.pass_id,
                        serial_number: pass.serial_number,
                        replayed: false,
                    }),
                    None => self.answer_after_lost_race(&acc, &p).await,
                }
            }
            GatewayOutcome::Failed(failure) if fresh && !is_serial_taken(&failure) => {
                self.count_failure(&acc.template_id, &acc.user_id).await?;
                let why = ClaimFailure::Rejected {
                    failure: failure.clone(),
                };
                self.drop_issuance(&acc, &p, Some(why)).await?;
                Err(ClaimError::rejected(failure))
            }
            GatewayOutcome::Failed(failure) => {
                // Alipay may hold this serial from an earlier attempt (or says it does): ask.
                match self.resolve(&acc, &p).await? {
                    Resolution::Stored(pass) => Ok(ClaimAnswer {
                        pass_id: pass.pass_id,
                        serial_number: pass.serial_number,
                        replayed: false,
                    }),
                    Resolution::Dropped(after) => {
                        self.count_failure(&acc.template_id, &acc.user_id).await?;
                        let note = FailureNote {
                            token_hash: p.token_hash.clone(),
                            failure: ClaimFailure::Rejected {
                                failure: failure.clone(),
                            },
                            at: self.clock.now(),
                        };
                        let noted = ClaimAccount {
                            last_failure: Some(note),
                            fence: self.ids.fence_token(),
                            ..(*after).clone()
                        };
                        let _ = self.claims.replace_account(&noted, &after.fence).await;
                        Err(ClaimError::rejected(failure))
                    }
                    Resolution::Lost => self.answer_after_lost_race(&acc, &p).await,
                    Resolution::Unresolved(detail) => Err(ClaimError::unknown(detail)),
                }
            }
            GatewayOutcome::Unknown(detail) => {
                self.release(&acc, &p, detail.clone()).await;
                Err(ClaimError::unknown(detail))
            }
        }
    }

    /// After our write lost to another writer: the pass of this issuance if it is stored by now,
    /// else "in progress" (the component retries and finds it).
    async fn answer_after_lost_race(
        &self,
        acc: &ClaimAccount,
        p: &Issuance,
    ) -> Result<ClaimAnswer, ClaimError> {
        let current = self
            .claims
            .get_account(&acc.template_id, &acc.user_id)
            .await?;
        match current.and_then(|a| a.passes.into_iter().find(|x| x.n == p.n)) {
            Some(pass) => Ok(ClaimAnswer {
                pass_id: pass.pass_id,
                serial_number: pass.serial_number,
                replayed: true,
            }),
            None => Err(ClaimError::InProgress),
        }
    }

    /// Stores the pass of issuance `p` and clears it (compare-and-set on `acc`'s fence). `None`
    /// when another writer moved the account first.
    async fn store_pass(
        &self,
        acc: &ClaimAccount,
        p: &Issuance,
        pass_id: PassId,
    ) -> Result<Option<(ClaimAccount, IssuedPass)>, ClaimError> {
        let now = self.clock.now();
        let issued = IssuedPass {
            n: p.n,
            pass_id: pass_id.clone(),
            serial_number: p.serial_number.clone(),
            token_hash: Some(p.token_hash.clone()),
        };
        let mut passes = acc.passes.clone();
        passes.push(issued.clone());
        let after = ClaimAccount {
            issued: acc.issued.max(p.n),
            passes,
            pending: None,
            last_failure: None,
            fence: self.ids.fence_token(),
            expires_at: None,
            updated_at: now,
            ..acc.clone()
        };
        let pass = PassRecord {
            pass_id,
            user_id: acc.user_id.clone(),
            template_id: acc.template_id.clone(),
            serial_number: p.serial_number.clone(),
            status: PassStatus::Active,
            params: p.params.clone(),
            created_at: now,
            updated_at: now,
        };
        match self
            .claims
            .complete_issuance(&after, &acc.fence, &pass)
            .await?
        {
            CasOutcome::Written => Ok(Some((after, issued))),
            CasOutcome::Lost(_) => Ok(None),
        }
    }

    /// Drops the issuance in flight (Alipay holds nothing for it), noting why.
    async fn drop_issuance(
        &self,
        acc: &ClaimAccount,
        p: &Issuance,
        why: Option<ClaimFailure>,
    ) -> Result<Option<ClaimAccount>, ClaimError> {
        let now = self.clock.now();
        let after = ClaimAccount {
            pending: None,
            last_failure: why.map(|failure| FailureNote {
                token_hash: p.token_hash.clone(),
                failure,
                at: now,
            }),
            fence: self.ids.fence_token(),
            expires_at: (acc.issued == 0).then(|| now.plus(self.config.idle_account_ttl)),
            updated_at: now,
            ..acc.clone()
        };
        match self.claims.replace_account(&after, &acc.fence).await? {
            CasOutcome::Written => Ok(Some(after)),
            CasOutcome::Lost(_) => Ok(None),
        }
    }

    /// Ends our lease early after an unknown outcome (best effort): the issuance stays, a re-tap
    /// may retry at once, the sweep looks it up after `recheck`.
    async fn release(&self, acc: &ClaimAccount, p: &Issuance, detail: String) {
        let now = self.clock.now();
        let after = ClaimAccount {
            pending: Some(Issuance {
                lease_until: now,
                next_check_at: now.plus(self.config.recheck),
                ..p.clone()
            }),
            last_failure: Some(FailureNote {
                token_hash: p.token_hash.clone(),
                failure: ClaimFailure::Unknown { detail },
                at: now,
            }),
            fence: self.ids.fence_token(),
            updated_at: now,
            ..acc.clone()
        };
        let _ = self.claims.replace_account(&after, &acc.fence).await;
    }

    /// Asks Alipay whether it holds the serial of `p` (the issuance in flight of `account`, whose
    /// lease has passed or is ours): takes the account over, looks the serial up, and stores the
    /// pass or drops the issuance.
    async fn resolve(
        &self,
        account: &ClaimAccount,
        p: &Issuance,
    ) -> Result<Resolution, ClaimError> {
        let now = self.clock.now();
        let held = ClaimAccount {
            pending: Some(Issuance {
                lease_until: now.plus(self.config.lease),
                ..p.clone()
            }),
            fence: self.ids.fence_token(),
            updated_at: now,
            ..account.clone()
        };
        if let CasOutcome::Lost(_) = self.claims.replace_account(&held, &account.fence).await? {
            return Ok(Resolution::Lost);
        }
        let req = FindPassRequest {
            serial_number: p.serial_number.clone(),
            channel_id: self.app_id.clone(),
            user_id: account.user_id.clone(),
            tpl_params: p.params.clone(),
        };
        let detail = match self.gateway.find_pass(&req).await {
            GatewayOutcome::Success(PassLookup::Found { pass_id }) => {
                // Alipay did not name the pass: its serial stands in for the id (a pass is
                // updated by serial and opened by partner id + serial).
                let pass_id = match pass_id {
                    Some(id) => id,
                    None => PassId::parse(p.serial_number.as_str())
                        .map_err(|e| ClaimError::Store(StoreError::Corrupt(e.to_string())))?,
                };
                return Ok(match self.store_pass(&held, p, pass_id).await? {
                    Some((_, pass)) => Resolution::Stored(pass),
                    None => Resolution::Lost,
                });
            }
            GatewayOutcome::Success(PassLookup::NotFound) => {
                return Ok(match self.drop_issuance(&held, p, None).await? {
                    Some(after) => Resolution::Dropped(Box::new(after)),
                    None => Resolution::Lost,
                });
            }
            GatewayOutcome::Failed(f) if is_no_such_pass(&f) => {
                return Ok(match self.drop_issuance(&held, p, None).await? {
                    Some(after) => Resolution::Dropped(Box::new(after)),
                    None => Resolution::Lost,
                });
            }
            GatewayOutcome::Failed(f) => format!("lookup refused: {}", f.reason()),
            GatewayOutcome::Unknown(d) => format!("lookup unanswered: {d}"),
        };
        let checks = p.checks.saturating_add(1);
        let backoff = self
            .config
            .recheck
            .saturating_mul(1u32 << checks.min(16).saturating_sub(1))
            .min(self.config.recheck_cap);
        let later = ClaimAccount {
            pending: Some(Issuance {
                lease_until: now,
                checks,
                next_check_at: now.plus(backoff),
                ..p.clone()
            }),
            fence: self.ids.fence_token(),
            updated_at: now,
            ..held.clone()
        };
        let _ = self.claims.replace_account(&later, &held.fence).await;
        Ok(Resolution::Unresolved(detail))
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Issuances looked at.
    pub examined: u32,
    /// Found at Alipay and stored.
    pub stored: u32,
    /// Not at Alipay; dropped.
    pub dropped: u32,
    /// No definite answer; looked up again later.
    pub unresolved: u32,
    /// Store errors (the next sweep tries again).
    pub errors: u32,
}

/// Resolves issuances whose outcome was lost and that nobody taps again: every pass Alipay issued
/// for us ends in the store (readable, closable), every issuance it did not is dropped.
pub struct ClaimSweeper {
    /// The claim path (its store, gateway and timing).
    pub service: Arc<ClaimService>,
    /// Most issuances per run.
    pub batch: usize,
}

impl ClaimSweeper {
    /// One pass over the issuances due now.
    ///
    /// # Errors
    /// A store error listing them.
    pub async fn run_once(&self) -> Result<SweepReport, StoreError> {
        let svc = &self.service;
        let now = svc.clock.now();
        let mut report = SweepReport::default();
        for listed in svc.claims.list_unresolved(now, self.batch).await? {
            let current = match svc
                .claims
                .get_account(&listed.template_id, &listed.user_id)
                .await
            {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(_) => {
                    report.errors += 1;
                    continue;
                }
            };
            let Some(p) = current.pending.clone() else {
                continue;
            };
            if current.due_at().is_some_and(|due| due > now) {
                continue;
            }
            report.examined += 1;
            match svc.resolve(&current, &p).await {
                Ok(Resolution::Stored(_)) => report.stored += 1,
                Ok(Resolution::Dropped(_)) => report.dropped += 1,
                Ok(Resolution::Unresolved(_)) => report.unresolved += 1,
                Ok(Resolution::Lost) => {}
                Err(_) => report.errors += 1,
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
