//! Every rewards-core store port on one DynamoDB table.
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
//! | idempotency key | `IDEM#{caller}#{keyHash}` | `META` | `fence`, `status`, `lease_until`, `expires_at` |
//!
//! Every item carries the whole record as JSON in `data`; the other attributes exist for
//! conditions and indexes. Times in keys are 13-digit zero-padded epoch ms (sortable). Reads of
//! single items are strongly consistent; GSI listings are eventually consistent.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use rewards_core::campaign::{Campaign, SlotRecord, SlotState};
use rewards_core::claim::ClaimAccount;
use rewards_core::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState, StoredResponse};
use rewards_core::ids::{BusinessId, CrowdNo, OutBizNo, PassId, TemplateId, UserId};
use rewards_core::pass::{PassRecord, PassStatus};
use rewards_core::payout::{
    BizPointer, PayoutCursor, PayoutEntry, PayoutFilter, PayoutPage, PayoutStateName, Reason,
    Recipient, UnresolvedCounts,
};
use rewards_core::ports::{
    BudgetScope, CampaignStore, CasOutcome, ClaimBudgetStore, ClaimStore, IdempotencyStore,
    Inserted, PassStore, PayoutStore, TemplateStore,
};
use rewards_core::template::TemplateRecord;
use rewards_core::{StoreError, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

const META: &str = "META";
const DUE_PK: &str = "DUE#PAYOUT";
/// The `gsi2` partition of every payout entry (the operator's listing, newest first).
const PAYOUTS_PK: &str = "PAYOUTS";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn ts(t: Timestamp) -> String {
    format!("{:013}", t.millis().max(0))
}

fn unavailable<E, R>(op: &str, e: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("{op}: {}", DisplayErrorContext(e)))
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request build: {e}"))
}

fn item<T: Serialize>(pk: String, sk: String, data: &T) -> Result<Item, StoreError> {
    let json = serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(HashMap::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        ("data".to_owned(), s(json)),
    ]))
}

fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item without data".into()))?;
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("undecodable item: {e}")))
}

fn account_pk(t: &TemplateId, u: &UserId) -> String {
    format!("CLAIM#{t}#{u}")
}

/// The sparse index partition of accounts with an issuance in flight (the sweep's work list).
const IN_FLIGHT: &str = "CLAIM#INFLIGHT";

/// DynamoDB TTL wants epoch seconds.
fn ttl_seconds(t: Timestamp) -> AttributeValue {
    n(t.millis().max(0) / 1000 + 1)
}

fn payout_pk(o: &OutBizNo) -> String {
    format!("PAYOUT#{o}")
}

fn pointer_pk(reason: Reason, b: &BusinessId) -> String {
    format!("BIZ#{}#{}", reason.as_str(), b)
}

fn slot_pk(plan: &str, slot: &str) -> String {
    format!("SLOT#{plan}#{slot}")
}

fn idem_pk(k: &IdemKey) -> String {
    format!("IDEM#{}#{}", k.caller, k.key_hash)
}

fn slot_state_name(s: &SlotState) -> &'static str {
    match s {
        SlotState::Creating => "CREATING",
        SlotState::Created { .. } => "CREATED",
        SlotState::Failed { .. } => "FAILED",
        SlotState::Unknown { .. } => "UNKNOWN",
    }
}

fn payout_item(e: &PayoutEntry) -> Result<Item, StoreError> {
    let mut it = item(payout_pk(&e.out_biz_no), META.into(), e)?;
    it.insert("fence".into(), s(e.fence.clone()));
    it.insert("state".into(), s(e.state.name()));
    it.insert("gsi1pk".into(), s(e.recipient.index_key()));
    it.insert(
        "gsi1sk".into(),
        s(format!("PAYOUT#{}#{}", ts(e.created_at), e.out_biz_no)),
    );
    it.insert("gsi2pk".into(), s(PAYOUTS_PK));
    it.insert(
        "gsi2sk".into(),
        s(payout_listing_key(e.created_at, &e.out_biz_no)),
    );
    it.insert("crowd_no".into(), s(e.crowd_no.to_string()));
    it.insert("reason".into(), s(e.reason.as_str()));
    Ok(it)
}

fn payout_listing_key(created_at: Timestamp, out_biz_no: &OutBizNo) -> String {
    format!("{}#{}", ts(created_at), out_biz_no)
}

fn due_write(e: &PayoutEntry) -> Result<TransactWriteItem, StoreError> {
    Ok(match e.due_at() {
        Some(due) => TransactWriteItem::builder()
            .put(
                Put::builder()
                    .set_item(Some(HashMap::from([
                        ("pk".to_owned(), s(DUE_PK)),
                        ("sk".to_owned(), s(e.out_biz_no.to_string())),
                        ("due_at".to_owned(), n(due.millis())),
                        ("state".to_owned(), s(e.state.name())),
                    ])))
                    .table_name("placeholder")
                    .build()
                    .map_err(build_err)?,
            )
            .build(),
        None => TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .key("pk", s(DUE_PK))
                    .key("sk", s(e.out_biz_no.to_string()))
                    .table_name("placeholder")
                    .build()
                    .map_err(build_err)?,
            )
            .build(),
    })
}

/// How a failed transaction failed.
enum TxFailure {
    /// A condition did not hold.
    Condition,
    /// Anything else (conflict, throttling, network).
    Other(StoreError),
}

fn tx_failure<R: std::fmt::Debug>(
    op: &str,
    e: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> TxFailure {
    if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) =
        e.as_service_error()
    {
        let condition = c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed"));
        // Some emulators omit the reasons; the message names the condition then.
        let msg_says = c.message().is_some_and(|m| m.contains("ConditionalCheckFailed"));
        if condition || msg_says {
            return TxFailure::Condition;
        }
    }
    TxFailure::Other(unavailable(op, &e))
}

/// The DynamoDB store (cheap to clone: the client is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
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
        let pk = it
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let sk = it
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
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
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    match c.item() {
                        Some(old) if !old.is_empty() => Ok(Some(Some(old.clone()))),
                        _ => Ok(Some(self.get(pk, &sk).await?)),
                    }
                }
                _ => Err(unavailable("put_item", &e)),
            },
        }
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<
        (),
        SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    > {
        // Fill in the table name on every element (builders above use a placeholder).
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

    async fn query(
        &self,
        index: Option<&str>,
        key_attr: &str,
        key: String,
        sk_prefix: Option<(&str, &str)>,
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
                .set_index_name(index.map(str::to_owned))
                .expression_attribute_names("#k", key_attr)
                .expression_attribute_values(":k", s(key.clone()))
                .scan_index_forward(!newest_first)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
            if let Some((sk_attr, prefix)) = sk_prefix {
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
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn put_template(&self, t: &TemplateRecord) -> Result<(), StoreError> {
        let mut it = item(format!("TPL#{}", t.template_id), META.into(), t)?;
        it.insert("gsi1pk".into(), s("TPL"));
        it.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", ts(t.created_at), t.template_id)),
        );
        self.put_plain(it).await
    }

    async fn get_template(&self, id: &TemplateId) -> Result<Option<TemplateRecord>, StoreError> {
        self.get(format!("TPL#{id}"), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn list_templates(&self, limit: usize) -> Result<Vec<TemplateRecord>, StoreError> {
        self.query(Some("gsi1"), "gsi1pk", "TPL".into(), None, true, limit)
            .await?
            .iter()
            .map(decode)
            .collect()
    }
}

fn account_item(a: &ClaimAccount) -> Result<Item, StoreError> {
    let mut it = item(account_pk(&a.template_id, &a.user_id), META.into(), a)?;
    it.insert("fence".into(), s(a.fence.clone()));
    if let Some(e) = a.expires_at {
        it.insert("expiresAt".into(), ttl_seconds(e));
    }
    if let Some(due) = a.due_at() {
        it.insert("gsi1pk".into(), s(IN_FLIGHT));
        it.insert(
            "gsi1sk".into(),
            s(format!("{}#{}#{}", ts(due), a.template_id, a.user_id)),
        );
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
        self.get(account_pk(template, user), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn create_account(&self, a: &ClaimAccount) -> Result<Inserted<ClaimAccount>, StoreError> {
        match self
            .put_if(account_item(a)?, "attribute_not_exists(pk)", vec![], vec![])
            .await?
        {
            None => Ok(Inserted::Inserted),
            Some(Some(old)) => Ok(Inserted::Exists(decode(&old)?)),
            Some(None) => Err(StoreError::Unavailable(
                "claim account vanished during create".into(),
            )),
        }
    }

    async fn replace_account(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError> {
        match self
            .put_if(
                account_item(a)?,
                "fence = :f",
                vec![(":f", s(expected_fence))],
                vec![],
            )
            .await?
        {
            None => Ok(CasOutcome::Written),
            Some(old) => Ok(CasOutcome::Lost(old.as_ref().map(decode).transpose()?)),
        }
    }

    async fn complete_issuance(
        &self,
        a: &ClaimAccount,
        expected_fence: &str,
        pass: &PassRecord,
    ) -> Result<CasOutcome<ClaimAccount>, StoreError> {
        let account = Put::builder()
            .table_name("placeholder")
            .set_item(Some(account_item(a)?))
            .condition_expression("fence = :f")
            .expression_attribute_values(":f", s(expected_fence))
            .build()
            .map_err(build_err)?;
        // A pass item is written once, by the claim that stored it; never overwritten here.
        let absent = |it: Item| -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("placeholder")
                        .set_item(Some(it))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(build_err)?,
                )
                .build())
        };
        let items = vec![
            TransactWriteItem::builder().put(account).build(),
            absent(item(format!("PASS#{}", pass.pass_id), META.into(), pass)?)?,
            absent(item(
                format!("USER#{}", pass.user_id),
                format!("PASS#{}#{}", ts(pass.created_at), pass.pass_id),
                pass,
            )?)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(CasOutcome::Written),
            Err(e) => match tx_failure("complete_issuance", e) {
                TxFailure::Condition => Ok(CasOutcome::Lost(
                    self.get_account(&a.template_id, &a.user_id).await?,
                )),
                TxFailure::Other(err) => Err(err),
            },
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
        page.items.unwrap_or_default().iter().map(decode).collect()
    }
}

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

#[async_trait]
impl PassStore for DynamoStore {
    async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError> {
        self.get(format!("PASS#{id}"), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn list_user_passes(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<PassRecord>, StoreError> {
        self.query(
            None,
            "pk",
            format!("USER#{user}"),
            Some(("sk", "PASS#")),
            true,
            limit,
        )
        .await?
        .iter()
        .map(decode)
        .collect()
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
        let put = |mut it: Item| -> Result<TransactWriteItem, StoreError> {
            it.insert("pass_status".into(), s(p.status.as_str()));
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("placeholder")
                        .set_item(Some(it))
                        .condition_expression(condition)
                        .expression_attribute_values(":expected", s(expected.as_str()))
                        .build()
                        .map_err(build_err)?,
                )
                .build())
        };
        let items = vec![
            put(item(format!("PASS#{}", p.pass_id), META.into(), p)?)?,
            put(item(
                format!("USER#{}", p.user_id),
                format!("PASS#{}#{}", ts(p.created_at), p.pass_id),
                p,
            )?)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(CasOutcome::Written),
            Err(e) => match tx_failure("update_pass", e) {
                TxFailure::Condition => Ok(CasOutcome::Lost(self.get_pass(&p.pass_id).await?)),
                TxFailure::Other(err) => Err(err),
            },
        }
    }
}

fn slot_item(sl: &SlotRecord) -> Result<Item, StoreError> {
    let mut it = item(slot_pk(&sl.plan_id, &sl.slot), META.into(), sl)?;
    it.insert("fence".into(), s(sl.fence.clone()));
    it.insert("state".into(), s(slot_state_name(&sl.state)));
    Ok(it)
}

#[async_trait]
impl CampaignStore for DynamoStore {
    async fn put_campaign(&self, c: &Campaign) -> Result<(), StoreError> {
        let mut it = item(format!("CAMP#{}", c.crowd_no), META.into(), c)?;
        it.insert("gsi1pk".into(), s("CAMP"));
        it.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", ts(c.created_at), c.crowd_no)),
        );
        it.insert("status".into(), s(c.status.as_str()));
        self.put_plain(it).await
    }

    async fn get_campaign(&self, crowd_no: &CrowdNo) -> Result<Option<Campaign>, StoreError> {
        self.get(format!("CAMP#{crowd_no}"), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn list_campaigns(&self, limit: usize) -> Result<Vec<Campaign>, StoreError> {
        self.query(Some("gsi1"), "gsi1pk", "CAMP".into(), None, true, limit)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn acquire_slot(&self, sl: &SlotRecord) -> Result<Inserted<SlotRecord>, StoreError> {
        match self
            .put_if(
                slot_item(sl)?,
                "attribute_not_exists(pk) OR #st = :failed",
                vec![(":failed", s("FAILED"))],
                vec![("#st", "state")],
            )
            .await?
        {
            None => Ok(Inserted::Inserted),
            Some(Some(old)) => Ok(Inserted::Exists(decode(&old)?)),
            Some(None) => Err(StoreError::Unavailable(
                "slot vanished during acquire".into(),
            )),
        }
    }

    async fn replace_slot(
        &self,
        sl: &SlotRecord,
        expected_fence: &str,
    ) -> Result<CasOutcome<SlotRecord>, StoreError> {
        match self
            .put_if(
                slot_item(sl)?,
                "fence = :f",
                vec![(":f", s(expected_fence))],
                vec![],
            )
            .await?
        {
            None => Ok(CasOutcome::Written),
            Some(old) => Ok(CasOutcome::Lost(old.as_ref().map(decode).transpose()?)),
        }
    }

    async fn get_slot(&self, plan_id: &str, slot: &str) -> Result<Option<SlotRecord>, StoreError> {
        self.get(slot_pk(plan_id, slot), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }
}

#[async_trait]
impl PayoutStore for DynamoStore {
    async fn get_pointer(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Option<BizPointer>, StoreError> {
        self.get(pointer_pk(reason, business_id), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn start_attempt(
        &self,
        pointer: &BizPointer,
        expected_attempt: Option<u32>,
        entry: &PayoutEntry,
    ) -> Result<bool, StoreError> {
        let mut ptr = item(
            pointer_pk(pointer.reason, &pointer.business_id),
            META.into(),
            pointer,
        )?;
        ptr.insert("attempt_no".into(), n(i64::from(pointer.attempt_no)));
        let mut ptr_put = Put::builder().table_name("placeholder").set_item(Some(ptr));
        ptr_put = match expected_attempt {
            None => ptr_put.condition_expression("attribute_not_exists(pk)"),
            Some(a) => ptr_put
                .condition_expression("attempt_no = :a")
                .expression_attribute_values(":a", n(i64::from(a))),
        };
        let entry_put = Put::builder()
            .table_name("placeholder")
            .set_item(Some(payout_item(entry)?))
            .condition_expression("attribute_not_exists(pk)");
        let items = vec![
            TransactWriteItem::builder()
                .put(ptr_put.build().map_err(build_err)?)
                .build(),
            TransactWriteItem::builder()
                .put(entry_put.build().map_err(build_err)?)
                .build(),
            due_write(entry)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(e) => match tx_failure("start_attempt", e) {
                TxFailure::Condition => Ok(false),
                TxFailure::Other(err) => Err(err),
            },
        }
    }

    async fn get_payout(&self, out_biz_no: &OutBizNo) -> Result<Option<PayoutEntry>, StoreError> {
        self.get(payout_pk(out_biz_no), META)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn cas_payout(
        &self,
        entry: &PayoutEntry,
        expected_fence: &str,
    ) -> Result<CasOutcome<PayoutEntry>, StoreError> {
        let put = Put::builder()
            .table_name("placeholder")
            .set_item(Some(payout_item(entry)?))
            .condition_expression("fence = :f")
            .expression_attribute_values(":f", s(expected_fence))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            due_write(entry)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(CasOutcome::Written),
            Err(e) => match tx_failure("cas_payout", e) {
                TxFailure::Condition => {
                    Ok(CasOutcome::Lost(self.get_payout(&entry.out_biz_no).await?))
                }
                TxFailure::Other(err) => {
                    // A transaction conflict may hide a lost race: report it as lost if the fence moved.
                    match self.get_payout(&entry.out_biz_no).await? {
                        Some(cur) if cur.fence == entry.fence => Ok(CasOutcome::Written),
                        Some(cur) if cur.fence != expected_fence => Ok(CasOutcome::Lost(Some(cur))),
                        _ => Err(err),
                    }
                }
            },
        }
    }

    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<PayoutEntry>, StoreError> {
        let mut due: Vec<(i64, String)> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :k")
                .filter_expression("due_at <= :now")
                .expression_attribute_values(":k", s(DUE_PK))
                .expression_attribute_values(":now", n(now.millis()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("query due", &e))?;
            for it in page.items.unwrap_or_default() {
                let sk = it.get("sk").and_then(|v| v.as_s().ok()).cloned();
                let at = it
                    .get("due_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok());
                if let (Some(sk), Some(at)) = (sk, at) {
                    due.push((at, sk));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        due.sort();
        let mut out = Vec::new();
        for (_, out_biz_no) in due {
            if out.len() >= limit {
                break;
            }
            let Ok(o) = OutBizNo::parse(&out_biz_no) else {
                continue;
            };
            if let Some(e) = self.get_payout(&o).await? {
                if e.due_at().is_some_and(|d| d <= now) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    async fn unresolved_counts(&self) -> Result<UnresolvedCounts, StoreError> {
        let mut counts = UnresolvedCounts::default();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :k")
                .expression_attribute_values(":k", s(DUE_PK))
                .projection_expression("#s")
                .expression_attribute_names("#s", "state")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("query due", &e))?;
            for it in page.items.unwrap_or_default() {
                counts.unresolved += 1;
                let state = it.get("state").and_then(|v| v.as_s().ok());
                if state.map(String::as_str) == Some(PayoutStateName::NeedsAttention.as_str()) {
                    counts.needs_attention += 1;
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(counts)
    }

    /// One `gsi2` partition holds every entry, sorted by creation; the filters other than the day
    /// are filter expressions, so a sparse filter reads more than it returns: the loop stops after
    /// [`LISTING_READ_PAGES`] reads and hands back a cursor.
    async fn list_payouts(
        &self,
        filter: &PayoutFilter,
        cursor: Option<&PayoutCursor>,
        limit: usize,
    ) -> Result<PayoutPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut cond = String::from("gsi2pk = :p");
        let mut values: HashMap<String, AttributeValue> =
            HashMap::from([(":p".into(), s(PAYOUTS_PK))]);
        let mut names: HashMap<String, String> = HashMap::new();
        if let Some((from, until)) = filter.created {
            cond.push_str(" AND gsi2sk BETWEEN :from AND :until");
            values.insert(":from".into(), s(ts(from)));
            // `until` is exclusive: every key of the day sorts below `{until-1}#~`.
            values.insert(
                ":until".into(),
                s(format!("{}#~", ts(Timestamp(until.millis() - 1)))),
            );
        }
        let mut filters = Vec::new();
        if let Some(state) = filter.state {
            filters.push("#st = :st");
            names.insert("#st".into(), "state".into());
            values.insert(":st".into(), s(state.as_str()));
        }
        if let Some(crowd) = &filter.crowd_no {
            filters.push("crowd_no = :c");
            values.insert(":c".into(), s(crowd.to_string()));
        }
        if let Some(reason) = filter.reason {
            filters.push("#r = :r");
            names.insert("#r".into(), "reason".into());
            values.insert(":r".into(), s(reason.as_str()));
        }
        let mut start: Option<Item> = cursor.map(|c| {
            HashMap::from([
                ("pk".to_owned(), s(payout_pk(&c.out_biz_no))),
                ("sk".to_owned(), s(META)),
                ("gsi2pk".to_owned(), s(PAYOUTS_PK)),
                (
                    "gsi2sk".to_owned(),
                    s(payout_listing_key(c.created_at, &c.out_biz_no)),
                ),
            ])
        });
        let mut entries: Vec<PayoutEntry> = Vec::new();
        let mut more = false;
        for _ in 0..LISTING_READ_PAGES {
            let want = limit - entries.len();
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression(cond.clone())
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_values(Some(values.clone()))
                .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(want.max(25)).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| unavailable("query payouts", &e))?;
            let items = page.items.unwrap_or_default();
            let n = items.len();
            for (i, it) in items.iter().enumerate() {
                if entries.len() == limit {
                    // Items left on this page: the next page starts after the last one kept.
                    more = i < n;
                    break;
                }
                entries.push(decode(it)?);
            }
            if entries.len() == limit {
                more = more || page.last_evaluated_key.is_some_and(|k| !k.is_empty());
                break;
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => {
                    start = Some(k);
                    more = true;
                }
                _ => {
                    more = false;
                    break;
                }
            }
        }
        // Stopped on the read budget with a partial page: resume after the last key read, which
        // is not an entry we return; resume after the last entry we return instead (re-reading a
        // few filtered-out items is harmless).
        let next = if more {
            entries.last().map(PayoutCursor::after).or_else(|| {
                start.as_ref().and_then(|k| {
                    let key = k.get("gsi2sk")?.as_s().ok()?;
                    let (at, no) = key.split_once('#')?;
                    Some(PayoutCursor {
                        created_at: Timestamp(at.parse().ok()?),
                        out_biz_no: OutBizNo::parse(no).ok()?,
                    })
                })
            })
        } else {
            None
        };
        Ok(PayoutPage { entries, next })
    }

    async fn list_by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, StoreError> {
        self.query(
            Some("gsi1"),
            "gsi1pk",
            who.index_key(),
            Some(("gsi1sk", "PAYOUT#")),
            true,
            limit,
        )
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}

/// Reads per listing request before a sparse filter hands back a partial page with a cursor.
const LISTING_READ_PAGES: usize = 10;

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

    async fn complete(
        &self,
        key: &IdemKey,
        fence: &str,
        response: &StoredResponse,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(cur) = self.get(idem_pk(key), META).await? else {
            return Ok(());
        };
        let mut rec: IdemRecord = decode(&cur)?;
        if rec.fence != fence {
            return Ok(());
        }
        rec.state = IdemState::Completed {
            response: response.clone(),
        };
        rec.expires_at = expires_at;
        // Lost races are fine: someone else took the record over after our lease.
        let _ = self
            .put_if(
                idem_item(&rec)?,
                "fence = :f",
                vec![(":f", s(fence))],
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
