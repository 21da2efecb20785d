//! The claim callback service: one tap's path (the module doc's steps, numbered at the arms).

use super::account::{
    token_hash, ClaimAccount, ClaimFailure, FailureNote, Issuance, IssuedPass, Resolution,
};
use super::answer::ClaimAnswer;
use super::budget::FailureBudget;
use super::errors::{BudgetKind, ClaimError};
use crate::error::GatewayError;
use crate::ids::{AppId, IdError, TemplateId, UserId, UserToken};
use crate::pass::record::PassRecord;
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::gateway::{GatewayFailure, GatewayOutcome};
use crate::ports::pass_gateway::{IssuePassRequest, PassGateway};
use crate::ports::store::{CasOutcome, Inserted, StoreError};
use crate::ports::stores::{BudgetScope, ClaimBudgetStore, ClaimStore, PassStore, TemplateStore};
use crate::template::params::{fill_params, FillContext};
use crate::template::record::TemplateRecord;
use crate::template::serial::derive_serial;
use crate::time::Timestamp;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

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
    /// [`ClaimError`]; answer it with [`component_answer`](super::component_answer).
    pub async fn claim(&self, q: &ClaimQuery) -> Result<ClaimAnswer, ClaimError> {
        // Step 1: parse and check the query; the template must be ours.
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
            // Step 2: the same token already produced a pass: answer it (replay, no Alipay call).
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
                        ClaimFailure::Throttled { detail } => ClaimError::busy(detail.clone()),
                    });
                }
            }
            match account.pending.clone() {
                // Step 4: an issuance in flight whose lease is live: wait for it.
                Some(p) if p.lease_until > now => {
                    if now >= deadline {
                        return Err(ClaimError::InProgress);
                    }
                    self.clock.sleep(self.config.poll).await;
                }
                Some(p) if p.token_hash != mine => {
                    // Step 5, the lease has passed and another token holds it: Alipay may hold the
                    // serial, issued with that token; ask before issuing.
                    match self.resolve(&account, &p).await? {
                        Resolution::Unresolved(e) => return Err(ClaimError::Gateway(e)),
                        Resolution::Stored(_) | Resolution::Dropped(_) | Resolution::Lost => {}
                    }
                }
                Some(p) => {
                    // Step 5, the lease has passed and it is this token's: instance.add again with
                    // the same serial and params.
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
                    // Step 3: nothing in flight: the limit, the budgets, then a new issuance.
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
                    Resolution::Unresolved(e) => Err(ClaimError::Gateway(e)),
                }
            }
            // Unknown or throttled: the issuance stays (Alipay may hold its serial, or will be
            // asked again with it); nothing is counted against a failed-claims budget.
            GatewayOutcome::Unknown(detail) => {
                let e = GatewayError::Unknown(detail);
                self.release(&acc, &p, ClaimFailure::unanswered(&e)).await;
                Err(ClaimError::Gateway(e))
            }
            GatewayOutcome::Throttled(detail) => {
                let e = GatewayError::Throttled(detail);
                self.release(&acc, &p, ClaimFailure::unanswered(&e)).await;
                Err(ClaimError::Gateway(e))
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

    /// Ends our lease early after an unknown or throttled outcome (best effort): the issuance
    /// stays, a re-tap may retry at once, the sweep looks it up after `recheck`.
    async fn release(&self, acc: &ClaimAccount, p: &Issuance, failure: ClaimFailure) {
        let now = self.clock.now();
        let after = ClaimAccount {
            pending: Some(Issuance {
                lease_until: now,
                next_check_at: now.plus(self.config.recheck),
                ..p.clone()
            }),
            last_failure: Some(FailureNote {
                token_hash: p.token_hash.clone(),
                failure,
                at: now,
            }),
            fence: self.ids.fence_token(),
            updated_at: now,
            ..acc.clone()
        };
        let _ = self.claims.replace_account(&after, &acc.fence).await;
    }
}
