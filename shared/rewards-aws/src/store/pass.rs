//! Passes: `PASS#{passId}` / `META` and `USER#{userId}` / `PASS#{createdAt}#{passId}`, the same
//! record on both, written together (by the claim that stored the pass, then by status changes).

use super::item::{item, put_when, s, ts, Item, TxFailure, META};
use super::{DynamoStore, Partition};
use async_trait::async_trait;
use rewards_core::ids::{PassId, UserId};
use rewards_core::pass::{PassRecord, PassStatus};
use rewards_core::ports::{CasOutcome, PassStore};
use rewards_core::StoreError;

pub(super) fn pass_pk(id: &PassId) -> String {
    format!("PASS#{id}")
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

/// The two items of a pass: by id, by user.
pub(super) fn pass_items(p: &PassRecord) -> Result<[Item; 2], StoreError> {
    Ok([
        item(pass_pk(&p.pass_id), META.into(), p)?,
        item(
            user_pk(&p.user_id),
            format!("PASS#{}#{}", ts(p.created_at), p.pass_id),
            p,
        )?,
    ])
}

#[async_trait]
impl PassStore for DynamoStore {
    async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError> {
        self.get_record(pass_pk(id)).await
    }

    async fn list_user_passes(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<PassRecord>, StoreError> {
        let at = Partition {
            index: None,
            key_attr: "pk",
            key: user_pk(user),
            sk_prefix: Some(("sk", "PASS#")),
        };
        self.list_newest(at, limit).await
    }

    async fn update_pass(
        &self,
        p: &PassRecord,
        expected: PassStatus,
    ) -> Result<CasOutcome<PassRecord>, StoreError> {
        // Items written by the claim carry no `pass_status` attribute: they are ACTIVE until the
        // first status write, which always sets it. The status only moves forward, so checking it
        // alone is a compare-and-set (no ABA).
        let condition = if expected == PassStatus::Active {
            "attribute_exists(pk) AND (attribute_not_exists(pass_status) OR pass_status = :expected)"
        } else {
            "attribute_exists(pk) AND pass_status = :expected"
        };
        let items = pass_items(p)?
            .into_iter()
            .map(|mut it| {
                it.insert("pass_status".into(), s(p.status.as_str()));
                put_when(it, condition, &[(":expected", s(expected.as_str()))])
            })
            .collect::<Result<Vec<_>, _>>()?;
        match self.transact("update_pass", items).await {
            Ok(()) => Ok(CasOutcome::Written),
            Err(TxFailure::Condition) => Ok(CasOutcome::Lost(self.get_pass(&p.pass_id).await?)),
            Err(TxFailure::Other(err)) => Err(err),
        }
    }
}
