//! Claim accounts: `CLAIM#{tpl}#{user}` / `META` with `fence`; `expiresAt` (TTL) while it holds no
//! pass and nothing is in flight; on gsi1 `CLAIM#INFLIGHT` / `{dueAt}#{tpl}#{user}` while an
//! issuance is in flight (the sweep's work list).

use super::item::{
    decode_all, index_gsi1, item, put_when, s, ts, ttl_seconds, unavailable, Item, TxFailure, META,
};
use super::pass::pass_items;
use super::DynamoStore;
use async_trait::async_trait;
use rewards_core::claim::ClaimAccount;
use rewards_core::ids::{TemplateId, UserId};
use rewards_core::pass::PassRecord;
use rewards_core::ports::{CasOutcome, ClaimStore, Inserted};
use rewards_core::{StoreError, Timestamp};

/// The sparse index partition of accounts with an issuance in flight.
const IN_FLIGHT: &str = "CLAIM#INFLIGHT";

fn account_pk(t: &TemplateId, u: &UserId) -> String {
    format!("CLAIM#{t}#{u}")
}

fn account_item(a: &ClaimAccount) -> Result<Item, StoreError> {
    let mut it = item(account_pk(&a.template_id, &a.user_id), META.into(), a)?;
    it.insert("fence".into(), s(a.fence.clone()));
    if let Some(e) = a.expires_at {
        it.insert("expiresAt".into(), ttl_seconds(e));
    }
    if let Some(due) = a.due_at() {
        let sk = format!("{}#{}#{}", ts(due), a.template_id, a.user_id);
        index_gsi1(&mut it, IN_FLIGHT, sk);
    }
    Ok(it)
}

#[async_trait]
impl ClaimStore for DynamoStore {
    async fn get_account(
        &self,
        template: &TemplateId,
        user: &UserId,
    ) -> Result<Option<ClaimAccount>, StoreError> {
        self.get_record(account_pk(template, user)).await
    }

    async fn create_account(&self, a: &ClaimAccount) -> Result<Inserted<ClaimAccount>, StoreError> {
        self.insert_if(
            account_item(a)?,
            "attribute_not_exists(pk)",
            vec![],
            vec![],
            "claim account vanished during create",
        )
        .await
    }

    async fn replace_account(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError> {
        self.replace_fenced(account_item(a)?, expected_fence).await
    }

    async fn complete_issuance(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
        pass: &PassRecord,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError> {
        let mut items = vec![put_when(
            account_item(a)?,
            "fence = :f",
            &[(":f", s(expected_fence))],
        )?];
        // A pass item is written once, by the claim that stored it; never overwritten here.
        for it in pass_items(pass)? {
            items.push(put_when(it, "attribute_not_exists(pk)", &[])?);
        }
        match self.transact("complete_issuance", items).await {
            Ok(()) => Ok(CasOutcome::Written),
            Err(TxFailure::Condition) => Ok(CasOutcome::Lost(
                self.get_account(&a.template_id, &a.user_id).await?,
            )),
            Err(TxFailure::Other(err)) => Err(err),
        }
    }

    async fn list_unresolved(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimAccount>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :k AND gsi1sk < :s")
            .expression_attribute_values(":k", s(IN_FLIGHT))
            .expression_attribute_values(":s", s(ts(Timestamp(now.millis() + 1))))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| unavailable("query in-flight claims", &e))?;
        decode_all(&page.items.unwrap_or_default())
    }
}
