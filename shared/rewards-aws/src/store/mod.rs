//! Every rewards-core store port on one DynamoDB table: one file per port, on the generic
//! reads and conditional writes here.
//!
//! | item | pk | sk | other attributes |
//! |---|---|---|---|
//! | template | `TPL#{templateId}` | `META` | gsi1 `TPL` / `{createdAt}#{id}` |
//! | claim account | `CLAIM#{tpl}#{user}` | `META` | `fence`; `expiresAt` (TTL) while it holds no pass and nothing is in flight; gsi1 `CLAIM#INFLIGHT` / `{dueAt}#{tpl}#{user}` while an issuance is in flight |
//! | failed-claims counter | `BUDGET#U#{tpl}#{user}` or `BUDGET#T#{tpl}` | `{bucketStart}` | `failures` (N), `expiresAt` (TTL) |
//! | pass by user | `USER#{userId}` | `PASS#{createdAt}#{passId}` | `pass_status` (once changed) |
//! | pass by id | `PASS#{passId}` | `META` | `pass_status` (once changed) |
//! | campaign | `CAMP#{crowdNo}` | `META` | gsi1 `CAMP` / `{createdAt}#{crowdNo}` |
//! | schedule slot | `SLOT#{plan}#{slot}` | `META` | `fence`, `state` |
//! | business pointer | `BIZ#{reason}#{businessId}` | `META` | `attempt_no` |
//! | payout | `PAYOUT#{outBizNo}` | `META` | `fence`, `state`; gsi1 `USER#{uid}`/`OPENID#{oid}` / `PAYOUT#{createdAt}#{outBizNo}` |
//! | due marker | `DUE#PAYOUT` | `{outBizNo}` | `due_at`, `state` (present while unresolved) |
//! | idempotency key | `IDEM#{caller}#{keyHash}` | `META` | `fence`, `status`, `lease_until`, `expires_at` (ms, for the conditions), `expiresAt` (TTL) |
//!
//! Every item carries the whole record as JSON in `data`; the other attributes exist for
//! conditions and indexes. Times in keys are 13-digit zero-padded epoch ms (sortable). Reads of
//! single items are strongly consistent; GSI listings are eventually consistent.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use rewards_core::ports::{CasOutcome, Inserted};
use rewards_core::StoreError;
use serde::de::DeserializeOwned;

mod campaign;
mod claim;
mod claim_budget;
mod idempotency;
mod item;
mod pass;
mod payout;
mod template;

use item::{attr_s, decode, decode_all, s, tx_failure, unavailable, Item, TxFailure};

/// The DynamoDB store (cheap to clone: the client is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Where a query reads: the table's or an index's partition `key` of attribute `key_attr`,
/// optionally only sort keys starting with a prefix.
struct Partition<'a> {
    index: Option<&'a str>,
    key_attr: &'a str,
    key: String,
    sk_prefix: Option<(&'a str, &'a str)>,
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get_item", &e))?;
        Ok(out.item)
    }

    /// The record of the item `pk`/`META` (strongly consistent).
    async fn get_record<T: DeserializeOwned>(&self, pk: String) -> Result<Option<T>, StoreError> {
        self.get(pk, item::META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn put_plain(&self, it: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .send()
            .await
            .map_err(|e| unavailable("put_item", &e))?;
        Ok(())
    }

    /// Conditional put; `Ok(None)` when written, `Ok(Some(old))` when the condition failed (the
    /// blocking item, read back if the emulator did not return it; `Some(None)` if it vanished).
    async fn put_if(
        &self,
        it: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        names: Vec<(&str, &str)>,
    ) -> Result<Option<Option<Item>>, StoreError> {
        let pk = attr_s(&it, "pk").cloned().unwrap_or_default();
        let sk = attr_s(&it, "sk").cloned().unwrap_or_default();
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        for (k, v) in names {
            req = req.expression_attribute_names(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(old) if !old.is_empty() => Ok(Some(Some(old.clone()))),
                    _ => Ok(Some(self.get(pk, &sk).await?)),
                },
                _ => Err(unavailable("put_item", &e)),
            },
        }
    }

    /// Puts `it` if `condition` holds, else hands back the stored record that blocked it;
    /// `vanished` is the (transient) error when the blocking item is gone by the time it is read.
    async fn insert_if<T: DeserializeOwned>(
        &self,
        it: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        names: Vec<(&str, &str)>,
        vanished: &str,
    ) -> Result<Inserted<T>, StoreError> {
        match self.put_if(it, condition, values, names).await? {
            None => Ok(Inserted::Inserted),
            Some(Some(old)) => Ok(Inserted::Exists(decode(&old)?)),
            Some(None) => Err(StoreError::Unavailable(vanished.into())),
        }
    }

    /// Replaces the item if its `fence` attribute is still `expected_fence`, else hands back the
    /// stored record (if any).
    async fn replace_fenced<T: DeserializeOwned>(
        &self,
        it: Item,
        expected_fence: &str,
    ) -> Result<CasOutcome<T>, StoreError> {
        match self
            .put_if(it, "fence = :f", vec![(":f", s(expected_fence))], vec![])
            .await?
        {
            None => Ok(CasOutcome::Written),
            Some(old) => Ok(CasOutcome::Lost(old.as_ref().map(decode).transpose()?)),
        }
    }

    /// One `TransactWriteItems` call, the table name set on every element.
    async fn transact(&self, op: &str, items: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        let items = items
            .into_iter()
            .map(|t| self.with_table(t))
            .collect::<Vec<_>>();
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| tx_failure(op, e))
    }

    fn with_table(&self, mut t: TransactWriteItem) -> TransactWriteItem {
        if let Some(p) = t.put.as_mut() {
            p.table_name = self.table.clone();
        }
        if let Some(d) = t.delete.as_mut() {
            d.table_name = self.table.clone();
        }
        if let Some(u) = t.update.as_mut() {
            u.table_name = self.table.clone();
        }
        if let Some(c) = t.condition_check.as_mut() {
            c.table_name = self.table.clone();
        }
        t
    }

    /// Up to `limit` items of a partition, following pages.
    async fn query(
        &self,
        at: Partition<'_>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut cond = String::from("#k = :k");
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(at.index.map(str::to_owned))
                .expression_attribute_names("#k", at.key_attr)
                .expression_attribute_values(":k", s(at.key.clone()))
                .scan_index_forward(!newest_first)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
            if let Some((sk_attr, prefix)) = at.sk_prefix {
                cond.push_str(" AND begins_with(#s, :p)");
                req = req
                    .expression_attribute_names("#s", sk_attr)
                    .expression_attribute_values(":p", s(prefix));
            }
            let page = req
                .key_condition_expression(cond)
                .send()
                .await
                .map_err(|e| unavailable("query", &e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if out.len() < limit && !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The records of up to `limit` items of a partition, newest (highest sort key) first.
    async fn list_newest<T: DeserializeOwned>(
        &self,
        at: Partition<'_>,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        decode_all(&self.query(at, true, limit).await?)
    }

    /// The records of up to `limit` items of a `gsi1` partition, newest first.
    async fn list_gsi1<T: DeserializeOwned>(
        &self,
        key: String,
        sk_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let at = Partition {
            index: Some("gsi1"),
            key_attr: "gsi1pk",
            key,
            sk_prefix: sk_prefix.map(|p| ("gsi1sk", p)),
        };
        self.list_newest(at, limit).await
    }
}
