//! How an issuance in flight ends: its pass stored, the issuance dropped, or Alipay asked whether it
//! holds the serial.

use super::account::{ClaimAccount, ClaimFailure, FailureNote, Issuance, IssuedPass, Resolution};
use super::errors::ClaimError;
use super::service::ClaimService;
use crate::error::GatewayError;
use crate::ids::PassId;
use crate::pass::record::{PassRecord, PassStatus};
use crate::ports::gateway::{GatewayFailure, GatewayOutcome};
use crate::ports::pass_gateway::{FindPassRequest, PassLookup};
use crate::ports::store::{CasOutcome, StoreError};

/// A failure Alipay gives for a serial it does not know.
fn is_no_such_pass(f: &GatewayFailure) -> bool {
    matches!(
        f.sub_code.as_deref(),
        Some("PASS_NOT_EXIST" | "PASS_NOT_EXISTS" | "INSTANCE_NOT_EXIST")
    )
}

impl ClaimService {
    /// Stores the pass of issuance `p` and clears it (compare-and-set on `acc`'s fence). `None`
    /// when another writer moved the account first.
    pub(super) async fn store_pass(
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
    pub(super) async fn drop_issuance(
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

    /// Asks Alipay whether it holds the serial of `p` (the issuance in flight of `account`, whose
    /// lease has passed or is ours): takes the account over, looks the serial up, and stores the
    /// pass or drops the issuance.
    pub(super) async fn resolve(
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
            GatewayOutcome::Failed(f) => {
                GatewayError::Unknown(format!("lookup refused: {}", f.reason()))
            }
            GatewayOutcome::Unknown(d) => GatewayError::Unknown(format!("lookup unanswered: {d}")),
            GatewayOutcome::Throttled(d) => {
                GatewayError::Throttled(format!("lookup throttled: {d}"))
            }
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
