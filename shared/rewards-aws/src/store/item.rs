//! The item encoding shared by every port: keys and attribute values, the record as JSON in
//! `data`, and how SDK failures become [`StoreError`]s.

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use rewards_core::{StoreError, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The sort key of every item that is alone in its partition.
pub(super) const META: &str = "META";

/// The table name written into transaction elements before [`super::DynamoStore::transact`]
/// sets the real one.
pub(super) const PLACEHOLDER_TABLE: &str = "placeholder";

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A time in a key: 13-digit zero-padded epoch ms, so keys sort by time.
pub(super) fn ts(t: Timestamp) -> String {
    format!("{:013}", t.millis().max(0))
}

/// DynamoDB TTL wants epoch seconds.
pub(super) fn ttl_seconds(t: Timestamp) -> AttributeValue {
    n(t.millis().max(0) / 1000 + 1)
}

pub(super) fn unavailable<E, R>(op: &str, e: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("{op}: {}", DisplayErrorContext(e)))
}

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request build: {e}"))
}

/// An item holding `data` as JSON under `pk`/`sk`; callers add the attributes conditions and
/// indexes need.
pub(super) fn item<T: Serialize>(pk: String, sk: String, data: &T) -> Result<Item, StoreError> {
    let json = serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(HashMap::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        ("data".to_owned(), s(json)),
    ]))
}

/// Indexes an item on gsi1 under `pk`, ordered by `sk`.
pub(super) fn index_gsi1(it: &mut Item, pk: impl Into<String>, sk: String) {
    it.insert("gsi1pk".into(), s(pk));
    it.insert("gsi1sk".into(), s(sk));
}

/// Lists an item under `label` on gsi1 by creation time, then id (see `list_gsi1`).
pub(super) fn list_by_creation(
    it: &mut Item,
    label: &str,
    created_at: Timestamp,
    id: &impl std::fmt::Display,
) {
    index_gsi1(it, label, format!("{}#{id}", ts(created_at)));
}

/// The record in an item's `data`.
pub(super) fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item without data".into()))?;
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("undecodable item: {e}")))
}

/// Every item's record.
pub(super) fn decode_all<T: DeserializeOwned>(items: &[Item]) -> Result<Vec<T>, StoreError> {
    items.iter().map(decode).collect()
}

/// A string attribute of an item, if present.
pub(super) fn attr_s<'a>(item: &'a Item, name: &str) -> Option<&'a String> {
    item.get(name).and_then(|v| v.as_s().ok())
}

/// A transaction element: put `it` if `condition` holds (`values` bind its placeholders).
pub(super) fn put_when(
    it: Item,
    condition: &str,
    values: &[(&str, AttributeValue)],
) -> Result<TransactWriteItem, StoreError> {
    let mut put = Put::builder()
        .table_name(PLACEHOLDER_TABLE)
        .set_item(Some(it))
        .condition_expression(condition);
    for (k, v) in values {
        put = put.expression_attribute_values(*k, v.clone());
    }
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(build_err)?)
        .build())
}

/// How a failed transaction failed.
pub(super) enum TxFailure {
    /// A condition did not hold.
    Condition,
    /// Anything else (conflict, throttling, network).
    Other(StoreError),
}

pub(super) fn tx_failure<R: std::fmt::Debug>(
    op: &str,
    e: SdkError<TransactWriteItemsError, R>,
) -> TxFailure {
    if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() {
        let condition = c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed"));
        // Some emulators omit the reasons; the message names the condition then.
        let msg_says = c
            .message()
            .is_some_and(|m| m.contains("ConditionalCheckFailed"));
        if condition || msg_says {
            return TxFailure::Condition;
        }
    }
    TxFailure::Other(unavailable(op, &e))
}
