//! Creates the single table (used by local dev and tests; production uses template.yaml).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use rewards_core::StoreError;
use std::time::Duration;

/// Creates `name` with `pk`/`sk` (S), GSI `gsi1` on `gsi1pk`/`gsi1sk` and GSI `gsi2` on
/// `gsi2pk`/`gsi2sk` (S, projection ALL), on-demand, and waits until it is ACTIVE. An existing
/// table is fine.
///
/// # Errors
/// [`StoreError::Unavailable`] when DynamoDB refuses.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let gsi = |index: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(&format!("{index}pk"), KeyType::Hash).map_err(build)?)
            .key_schema(key(&format!("{index}sk"), KeyType::Range).map_err(build)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build)
    };
    let res = client
        .create_table()
        .table_name(name)
        .attribute_definitions(attr("pk").map_err(build)?)
        .attribute_definitions(attr("sk").map_err(build)?)
        .attribute_definitions(attr("gsi1pk").map_err(build)?)
        .attribute_definitions(attr("gsi1sk").map_err(build)?)
        .attribute_definitions(attr("gsi2pk").map_err(build)?)
        .attribute_definitions(attr("gsi2sk").map_err(build)?)
        .key_schema(key("pk", KeyType::Hash).map_err(build)?)
        .key_schema(key("sk", KeyType::Range).map_err(build)?)
        .global_secondary_indexes(gsi("gsi1")?)
        .global_secondary_indexes(gsi("gsi2")?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    if let Err(e) = res {
        let in_use = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception());
        if !in_use {
            return Err(StoreError::Unavailable(format!(
                "create_table: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )));
        }
    }
    for _ in 0..120 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "describe_table: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ))
            })?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} did not become ACTIVE"
    )))
}
