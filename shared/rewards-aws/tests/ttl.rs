//! The table's TTL attribute, read from `template.yaml`, against every store writer whose items
//! should expire: each writes that attribute, as a number of epoch seconds (DynamoDB TTL ignores
//! anything else, and an attribute of another name is never looked at). A rename on either side
//! fails here, so the two cannot drift apart again.

use aws_sdk_dynamodb::types::AttributeValue;
use rewards_aws::testing::MotoServer;
use rewards_core::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState};
use rewards_core::ids::{TemplateId, UserId};
use rewards_core::ports::*;
use rewards_core::testkit::contract::{account, USER};
use rewards_core::Timestamp;

/// `TimeToLiveSpecification.AttributeName` of the template's table (the one TTL spec in the file),
/// checked to be enabled.
fn template_ttl_attribute() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    let spec = text
        .split("TimeToLiveSpecification:")
        .nth(1)
        .expect("the table has a TimeToLiveSpecification");
    let block: Vec<&str> = spec
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("        "))
        .map(str::trim)
        .collect();
    assert!(block.contains(&"Enabled: true"), "TTL enabled: {block:?}");
    block
        .iter()
        .find_map(|l| l.strip_prefix("AttributeName:"))
        .map(|n| n.trim().to_string())
        .expect("TTL AttributeName")
}

/// Every item of the table by its `pk`.
async fn items(
    moto: &MotoServer,
    table: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let client = moto.dynamo_client().await;
    client
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default()
}

#[tokio::test]
async fn every_expiring_item_carries_the_templates_ttl_attribute_in_epoch_seconds() {
    let ttl = template_ttl_attribute();
    let moto = MotoServer::start().expect("moto starts");
    let store = moto.fresh_store().await.expect("table");

    // An idempotency record that expires a day after the epoch.
    let idem = IdemRecord {
        key: IdemKey {
            caller: "envelopes".into(),
            key_hash: "a".repeat(40),
        },
        fingerprint: "f".repeat(64),
        fence: "fence1".into(),
        state: IdemState::InProgress,
        lease_until: Timestamp(30_000),
        expires_at: Timestamp(86_400_000),
    };
    assert_eq!(
        store.begin(&idem, Timestamp(0)).await.unwrap(),
        IdemBegin::Started
    );
    // A claim account that holds nothing (expires a day after the epoch too).
    assert_eq!(
        store.create_account(&account("f1")).await.unwrap(),
        Inserted::Inserted
    );
    // Failed-claims counters, both scopes, expiring ten minutes after the epoch.
    let tpl = TemplateId::parse("tpl1").unwrap();
    let user = UserId::parse(USER).unwrap();
    for scope in [
        BudgetScope::Template(tpl.clone()),
        BudgetScope::TemplateUser(tpl, user),
    ] {
        store
            .add_failure(&scope, Timestamp(0), Timestamp(600_000))
            .await
            .unwrap();
    }

    let expected = [("IDEM#", "86401"), ("CLAIM#", "86401"), ("BUDGET#", "601")];
    let all = items(&moto, store.table()).await;
    for (prefix, seconds) in expected {
        let of_kind: Vec<_> = all
            .iter()
            .filter(|it| it["pk"].as_s().is_ok_and(|pk| pk.starts_with(prefix)))
            .collect();
        assert!(!of_kind.is_empty(), "no {prefix} item was written");
        for it in of_kind {
            let pk = it["pk"].as_s().unwrap();
            let value = it.get(&ttl).unwrap_or_else(|| {
                panic!("{pk}: no {ttl} attribute (the table's TTL): it never expires")
            });
            assert_eq!(
                value.as_n().ok().map(String::as_str),
                Some(seconds),
                "{pk}: {ttl} must be a number of epoch seconds"
            );
        }
    }
}
