//! Idempotency keys: `IDEM#{caller}#{keyHash}` / `META` with `fence`, `status`, `lease_until`,
//! `expires_at` (epoch ms) for the conditions, and `expiresAt` (epoch seconds) for the table's TTL.
//!
//! Records written before `expiresAt` existed carry only `expires_at`: the conditions already treat
//! them as absent once expired (so a reused key takes them over, rewriting them with `expiresAt`),
//! and DynamoDB never deletes them; docs/deploy.md has the one-off command that adds the attribute.

use super::item::{decode, item, n, s, ttl_seconds, unavailable, Item, META};
use super::DynamoStore;
use async_trait::async_trait;
use rewards_core::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState};
use rewards_core::ports::IdempotencyStore;
use rewards_core::{StoreError, Timestamp};

fn idem_pk(k: &IdemKey) -> String {
    format!("IDEM#{}#{}", k.caller, k.key_hash)
}

fn idem_item(r: &IdemRecord) -> Result<Item, StoreError> {
    let mut it = item(idem_pk(&r.key), META.into(), r)?;
    it.insert("fence".into(), s(r.fence.clone()));
    it.insert(
        "status".into(),
        s(match r.state {
            IdemState::InProgress => "IN_PROGRESS",
            IdemState::Completed { .. } => "COMPLETED",
        }),
    );
    it.insert("lease_until".into(), n(r.lease_until.millis()));
    it.insert("expires_at".into(), n(r.expires_at.millis()));
    it.insert("expiresAt".into(), ttl_seconds(r.expires_at));
    Ok(it)
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin(&self, rec: &IdemRecord, now: Timestamp) -> Result<IdemBegin, StoreError> {
        for _ in 0..3 {
            let res = self
                .put_if(
                    idem_item(rec)?,
                    "attribute_not_exists(pk) OR expires_at <= :now OR (#st = :ip AND lease_until <= :now)",
                    vec![(":now", n(now.millis())), (":ip", s("IN_PROGRESS"))],
                    vec![("#st", "status")],
                )
                .await?;
            match res {
                None => return Ok(IdemBegin::Started),
                Some(Some(old)) => return Ok(IdemBegin::Existing(decode(&old)?)),
                Some(None) => continue, // deleted between the put and the read: try again
            }
        }
        Err(StoreError::Unavailable(
            "idempotency record keeps changing".into(),
        ))
    }

    async fn complete(&self, done: &IdemRecord) -> Result<(), StoreError> {
        // One conditional put, no read: a missing record or another fence fails the condition. Lost
        // races are fine: someone else took the record over after our lease.
        let _ = self
            .put_if(
                idem_item(done)?,
                "fence = :f",
                vec![(":f", s(&done.fence))],
                vec![],
            )
            .await?;
        Ok(())
    }

    async fn release(&self, key: &IdemKey, fence: &str) -> Result<(), StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(idem_pk(key)))
            .key("sk", s(META))
            .condition_expression("fence = :f")
            .expression_attribute_values(":f", s(fence))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("delete_item", &e)),
        }
    }
}
