//! Passes: the stored record, status changes through `instance.update`, a user's passes
//! ([`reader`]).

use crate::error::{domain_error, ErrorKind, GatewayError};
use crate::ids::{AppId, PassId, SerialNumber, TemplateId, UserId};
use crate::payout::Recipient;
use crate::ports::{CasOutcome, Clock, PassGateway, PassStore, StoreError, UpdatePassRequest};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub mod reader;

/// The `channelDataPull` key of a user's passes is this prefix and the user id (what existing
/// mini-programs ask for).
pub const CHANNEL_KEY_PREFIX: &str = "channelData_alipayPass_fetch_";

/// A pass's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PassStatus {
    /// Issued, usable.
    Active,
    /// Used (verified).
    Used,
    /// Closed (withdrawn).
    Closed,
}

impl PassStatus {
    /// `ACTIVE`, `USED`, `CLOSED` (Alipay's `status` for the last two).
    pub fn as_str(self) -> &'static str {
        match self {
            PassStatus::Active => "ACTIVE",
            PassStatus::Used => "USED",
            PassStatus::Closed => "CLOSED",
        }
    }

    /// Parses a requested target status (`USED` or `CLOSED` only).
    pub fn parse_target(s: &str) -> Option<PassStatus> {
        match s {
            "USED" => Some(PassStatus::Used),
            "CLOSED" => Some(PassStatus::Closed),
            _ => None,
        }
    }
}

/// A stored pass (`PASS#{passId}` and `USER#{userId}`/`PASS#{createdAt}#{passId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassRecord {
    /// Alipay's pass id.
    pub pass_id: PassId,
    /// The holder.
    pub user_id: UserId,
    pub template_id: TemplateId,
    /// The serial (`fileInfo.serialNumber` value).
    pub serial_number: SerialNumber,
    pub status: PassStatus,
    /// The filled `$var$` values (dates among them).
    pub params: BTreeMap<String, String>,
    /// Issued.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

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

/// Changes passes' status.
pub struct PassService {
    pub store: Arc<dyn PassStore>,
    pub gateway: Arc<dyn PassGateway>,
    pub clock: Arc<dyn Clock>,
    /// The app id (`channel_id`).
    pub app_id: AppId,
}

impl PassService {
    async fn get(&self, id: &PassId) -> Result<PassRecord, PassError> {
        self.store.get_pass(id).await?.ok_or(PassError::NotFound)
    }

    /// Marks a pass USED or CLOSED: `instance.update` (serial, channel = app id, the pass's user,
    /// status), then the store, conditional on the status read. Same status again is a no-op;
    /// ACTIVE→USED/CLOSED and USED→CLOSED are allowed.
    ///
    /// When another change was stored between our read and our write, ours is written on top of it
    /// only if the transition still holds from there (USED, then our CLOSED); otherwise the answer is
    /// the conflict (the status only moves forward, so a stale writer never undoes a newer one).
    ///
    /// # Errors
    /// [`PassError`].
    #[tracing::instrument(skip_all, fields(pass_id = %id, target = target.as_str()))]
    pub async fn set_status(
        &self,
        id: &PassId,
        target: PassStatus,
    ) -> Result<PassRecord, PassError> {
        let mut pass = self.get(id).await?;
        if pass.status == target {
            return Ok(pass);
        }
        check_transition(pass.status, target)?;
        let req = UpdatePassRequest {
            serial_number: pass.serial_number.clone(),
            channel_id: self.app_id.clone(),
            holder: Recipient::UserId(pass.user_id.clone()),
            status: Some(target),
            tpl_params: None,
        };
        self.gateway.update_pass(&req).await.into_result()?;
        // At most one write per status (they only move forward), plus ours.
        for _ in 0..3 {
            let read = pass.status;
            let mut next = pass.clone();
            next.status = target;
            next.updated_at = self.clock.now();
            match self.store.update_pass(&next, read).await? {
                CasOutcome::Written => return Ok(next),
                CasOutcome::Lost(None) => return Err(PassError::NotFound),
                CasOutcome::Lost(Some(current)) if current.status == target => return Ok(current),
                CasOutcome::Lost(Some(current)) => {
                    check_transition(current.status, target)?;
                    pass = current;
                }
            }
        }
        Err(PassError::BadTransition {
            from: pass.status.as_str(),
            to: target.as_str(),
        })
    }
}

/// ACTIVE→USED/CLOSED and USED→CLOSED only.
fn check_transition(from: PassStatus, to: PassStatus) -> Result<(), PassError> {
    let allowed = matches!(
        (from, to),
        (PassStatus::Active, PassStatus::Used | PassStatus::Closed)
            | (PassStatus::Used, PassStatus::Closed)
    );
    if allowed {
        Ok(())
    } else {
        Err(PassError::BadTransition {
            from: from.as_str(),
            to: to.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::{ClaimAnswer, ClaimQuery};
    use crate::error::DomainError;
    use crate::testkit::*;
    use std::sync::Mutex;

    /// A world with the usual template and one pass claimed by the usual user.
    async fn claimed() -> (World, ClaimAnswer) {
        let w = World::new();
        w.seed_template().await;
        let claim = w
            .claim_service()
            .claim(&ClaimQuery {
                template_id: Some(TPL.into()),
                user_id: Some(USER.into()),
                token: Some("t".into()),
                timestamp: Some(w.clock.now().millis().to_string()),
            })
            .await
            .unwrap();
        (w, claim)
    }

    /// The world's pass service, over `store`.
    fn pass_service(w: &World, store: Arc<dyn PassStore>) -> PassService {
        PassService {
            store,
            gateway: w.pass_gw.clone(),
            clock: w.clock.clone(),
            app_id: AppId::parse(APP).unwrap(),
        }
    }

    async fn stored_status(w: &World, id: &PassId) -> PassStatus {
        w.store.get_pass(id).await.unwrap().unwrap().status
    }

    #[tokio::test]
    async fn status_changes_call_update_then_store() {
        let (w, claim) = claimed().await;
        let svc = pass_service(&w, w.store.clone());
        let p = svc
            .set_status(&claim.pass_id, PassStatus::Used)
            .await
            .unwrap();
        assert_eq!(p.status, PassStatus::Used);
        let up = w.pass_gw.updates();
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].serial_number, claim.serial_number);
        assert_eq!(up[0].channel_id.as_str(), APP);
        assert_eq!(
            up[0].holder,
            Recipient::UserId(UserId::parse(USER).unwrap()),
            "the update names the pass's user"
        );
        assert_eq!(up[0].status, Some(PassStatus::Used));
        // Same again: no call.
        svc.set_status(&claim.pass_id, PassStatus::Used)
            .await
            .unwrap();
        assert_eq!(w.pass_gw.updates().len(), 1);
        svc.set_status(&claim.pass_id, PassStatus::Closed)
            .await
            .unwrap();
        let e = svc
            .set_status(&claim.pass_id, PassStatus::Used)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "pass_status_conflict");
        let missing = PassId::parse("nope").unwrap();
        assert_eq!(
            svc.get(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let reader = reader::PassReader {
            store: w.store.clone(),
        };
        let (_, list) = reader.for_user(USER, None).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, PassStatus::Closed);
        assert_eq!(PassStatus::parse_target("USED"), Some(PassStatus::Used));
        assert_eq!(PassStatus::parse_target("ACTIVE"), None);
    }

    /// A store where another change lands between the service's read and its write.
    struct RacingStore {
        inner: Arc<MemStore>,
        concurrent: Mutex<Option<PassStatus>>,
    }

    #[async_trait::async_trait]
    impl PassStore for RacingStore {
        async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError> {
            self.inner.get_pass(id).await
        }
        async fn list_user_passes(
            &self,
            user: &UserId,
            limit: usize,
        ) -> Result<Vec<PassRecord>, StoreError> {
            self.inner.list_user_passes(user, limit).await
        }
        async fn update_pass(
            &self,
            p: &PassRecord,
            expected: PassStatus,
        ) -> Result<CasOutcome<PassRecord>, StoreError> {
            let other = self.concurrent.lock().unwrap().take();
            if let Some(status) = other {
                let mut first = self.inner.get_pass(&p.pass_id).await?.unwrap();
                let read = first.status;
                first.status = status;
                assert_eq!(
                    self.inner.update_pass(&first, read).await?,
                    CasOutcome::Written
                );
            }
            self.inner.update_pass(p, expected).await
        }
    }

    async fn racing(concurrent: PassStatus) -> (World, PassService, PassId) {
        let (w, claim) = claimed().await;
        let store = Arc::new(RacingStore {
            inner: w.store.clone(),
            concurrent: Mutex::new(Some(concurrent)),
        });
        let svc = pass_service(&w, store);
        (w, svc, claim.pass_id)
    }

    #[tokio::test]
    async fn a_stale_status_write_loses_to_a_concurrent_change() {
        // Read ACTIVE, then someone closes the pass before our USED is stored: ours loses, the
        // pass stays CLOSED.
        let (w, svc, id) = racing(PassStatus::Closed).await;
        let e = svc.set_status(&id, PassStatus::Used).await.unwrap_err();
        assert_eq!(e.code(), "pass_status_conflict");
        assert_eq!(stored_status(&w, &id).await, PassStatus::Closed);

        // Read ACTIVE, then someone marks it USED before our CLOSED is stored: CLOSED still holds
        // from USED, so it is written on top.
        let (w, svc, id) = racing(PassStatus::Used).await;
        let p = svc.set_status(&id, PassStatus::Closed).await.unwrap();
        assert_eq!(p.status, PassStatus::Closed);
        assert_eq!(stored_status(&w, &id).await, PassStatus::Closed);

        // The same change twice at once: one write, both answer USED.
        let (w, svc, id) = racing(PassStatus::Used).await;
        let p = svc.set_status(&id, PassStatus::Used).await.unwrap();
        assert_eq!(p.status, PassStatus::Used);
        assert_eq!(stored_status(&w, &id).await, PassStatus::Used);
    }
}
