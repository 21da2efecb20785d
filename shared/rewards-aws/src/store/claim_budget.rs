//! Failed-claims counters: `BUDGET#{scope}` / `{bucketStart}`, with `failures` (N) and
//! `expiresAt` (TTL).

use super::item::{n, s, ts, ttl_seconds, unavailable};
use super::DynamoStore;
use async_trait::async_trait;
use rewards_core::ports::{BudgetScope, ClaimBudgetStore};
use rewards_core::{StoreError, Timestamp};

fn budget_pk(scope: &BudgetScope) -> String {
    format!("BUDGET#{}", scope.key())
}

#[async_trait]
impl ClaimBudgetStore for DynamoStore {
    async fn failures_since(
        &self,
        scope: &BudgetScope,
        since: Timestamp,
    ) -> Result<Vec<(Timestamp, u32)>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :k AND sk >= :s")
            .expression_attribute_values(":k", s(budget_pk(scope)))
            .expression_attribute_values(":s", s(ts(since)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("query failed claims", &e))?;
        Ok(page
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|it| {
                let bucket = it.get("sk")?.as_s().ok()?.parse::<i64>().ok()?;
                let failures = it.get("failures")?.as_n().ok()?.parse::<u32>().ok()?;
                Some((Timestamp(bucket), failures))
            })
            .collect())
    }

    async fn add_failure(
        &self,
        scope: &BudgetScope,
        bucket: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(budget_pk(scope)))
            .key("sk", s(ts(bucket)))
            .update_expression("ADD failures :one SET expiresAt = :e")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":e", ttl_seconds(expires_at))
            .send()
            .await
            .map_err(|e| unavailable("update_item failed claims", &e))?;
        Ok(())
    }
}
