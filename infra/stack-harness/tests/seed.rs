//! The seed against a real moto: the table has template.yaml's shape (as DynamoDB describes it), the
//! keys secret holds the two keys and nothing else, the session key lives in its own secret, and a
//! second seed of the same moto changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use stack_harness::{seed, template_path, MotoServer, Names, SESSION_KEY_B64};

#[tokio::test]
async fn seed_creates_the_template_table_and_the_secrets_once() {
    let moto = MotoServer::start().expect("moto starts");
    let names = Names::with_table("rewards-seed");
    seed(&moto.endpoint, &template_path(), &names)
        .await
        .unwrap();
    seed(&moto.endpoint, &template_path(), &names)
        .await
        .unwrap();

    let sdk = stack_harness::sdk_config(&moto.endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = dynamo
        .describe_table()
        .table_name(&names.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(&str, &str)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    let indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    assert_eq!(indexes, ["gsi1", "gsi2"]);
    let ttl = dynamo
        .describe_time_to_live()
        .table_name(&names.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("expiresAt"));

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let read = |id: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .unwrap()
                .secret_string
                .unwrap()
        }
    };
    let keys: Value = serde_json::from_str(&read(names.keys_secret.clone()).await).unwrap();
    let mut fields: Vec<&String> = keys.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["alipay_public_key", "app_private_key"]);
    assert_eq!(read(names.session_secret.clone()).await, SESSION_KEY_B64);
}
