//! The single table's shape and its creation (local dev and tests; production creates it from
//! template.yaml, and a test of the stack harness checks that template.yaml's table is this shape).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use rewards_core::StoreError;
use std::time::Duration;

/// A table's keys, global secondary indexes (string keys, projection ALL), TTL attribute and
/// point-in-time recovery: what [`DynamoStore`](crate::DynamoStore) reads and writes, and what
/// template.yaml must declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// The partition key attribute.
    pub partition_key: String,
    /// The sort key attribute.
    pub sort_key: String,
    /// The global secondary indexes, in declaration order.
    pub indexes: Vec<IndexShape>,
    /// The TTL attribute (epoch seconds), if TTL is on.
    pub ttl_attribute: Option<String>,
    /// Point-in-time recovery on.
    pub point_in_time_recovery: bool,
}

/// A global secondary index with a string partition and sort key, projecting every attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexShape {
    /// The index name.
    pub name: String,
    /// Its partition key attribute.
    pub partition_key: String,
    /// Its sort key attribute.
    pub sort_key: String,
}

impl TableShape {
    /// The shape the store is written for: `pk`/`sk`; `gsi1` (lookups by secondary id) and `gsi2`
    /// (every payout entry, newest first), each on `<index>pk`/`<index>sk`; TTL on `expiresAt`
    /// (housekeeping items only); point-in-time recovery on.
    pub fn rewards() -> Self {
        let index = |name: &str| IndexShape {
            name: name.to_string(),
            partition_key: format!("{name}pk"),
            sort_key: format!("{name}sk"),
        };
        Self {
            partition_key: "pk".into(),
            sort_key: "sk".into(),
            indexes: vec![index("gsi1"), index("gsi2")],
            ttl_attribute: Some("expiresAt".into()),
            point_in_time_recovery: true,
        }
    }
}

/// Creates `name` in the [`TableShape::rewards`] shape; see [`create_table_shaped`].
///
/// # Errors
/// [`StoreError::Unavailable`] when DynamoDB refuses.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    create_table_shaped(client, name, &TableShape::rewards()).await
}

fn unavailable(what: &str, e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(format!(
        "{what}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    ))
}

/// Creates `name` with `shape` (string keys, on-demand), waits until it is ACTIVE, then turns on
/// its TTL and point-in-time recovery as the shape says. An existing table is fine (and left as it
/// is).
///
/// # Errors
/// [`StoreError::Unavailable`] when DynamoDB refuses.
pub async fn create_table_shaped(
    client: &Client,
    name: &str,
    shape: &TableShape,
) -> Result<(), StoreError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build)
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(build)
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .attribute_definitions(attr(&shape.partition_key)?)
        .attribute_definitions(attr(&shape.sort_key)?)
        .key_schema(key(&shape.partition_key, KeyType::Hash)?)
        .key_schema(key(&shape.sort_key, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest);
    for index in &shape.indexes {
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.name)
            .key_schema(key(&index.partition_key, KeyType::Hash)?)
            .key_schema(key(&index.sort_key, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build)?;
        req = req
            .attribute_definitions(attr(&index.partition_key)?)
            .attribute_definitions(attr(&index.sort_key)?)
            .global_secondary_indexes(gsi);
    }
    if let Err(e) = req.send().await {
        let in_use = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception());
        if !in_use {
            return Err(unavailable("create_table", e));
        }
        // Made before (by whoever made it): its TTL and backups are as they are.
        return wait_active(client, name).await;
    }
    wait_active(client, name).await?;
    if let Some(attribute) = &shape.ttl_attribute {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(true)
            .build()
            .map_err(build)?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| unavailable("update_time_to_live", e))?;
    }
    if shape.point_in_time_recovery {
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build()
            .map_err(build)?;
        client
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .map_err(|e| unavailable("update_continuous_backups", e))?;
    }
    Ok(())
}

async fn wait_active(client: &Client, name: &str) -> Result<(), StoreError> {
    for _ in 0..120 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| unavailable("describe_table", e))?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} did not become ACTIVE"
    )))
}
