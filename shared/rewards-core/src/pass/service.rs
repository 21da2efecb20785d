//! Status changes of a pass through `instance.update`.

use super::errors::PassError;
use super::record::{PassRecord, PassStatus};
use crate::ids::{AppId, PassId, Recipient};
use crate::ports::clock::Clock;
use crate::ports::pass_gateway::{PassGateway, UpdatePassRequest};
use crate::ports::store::CasOutcome;
use crate::ports::stores::PassStore;
use std::sync::Arc;

/// Changes passes' status.
pub struct PassService {
    pub store: Arc<dyn PassStore>,
    pub gateway: Arc<dyn PassGateway>,
    pub clock: Arc<dyn Clock>,
    /// The app id (`channel_id`).
    pub app_id: AppId,
}

impl PassService {
    pub(super) async fn get(&self, id: &PassId) -> Result<PassRecord, PassError> {
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
