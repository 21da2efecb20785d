//! Every store operation against a real moto server: the store contract of rewards-core (the
//! same functions the in-memory store runs), conditional-write races included, plus what only the
//! DynamoDB items show (index and TTL attributes) and the claim service over DynamoDB.

use rewards_aws::testing::MotoServer;
use rewards_aws::{DynamoStore, KeyProvider, RandomIds, SystemClock};
use rewards_core::claim::{ClaimQuery, ClaimService};
use rewards_core::ids::*;
use rewards_core::ports::*;
use rewards_core::testkit::contract::{self, account, in_flight, tpl, USER};
use rewards_core::testkit::StubPassGateway;
use std::sync::Arc;

async fn setup() -> (MotoServer, Arc<DynamoStore>) {
    let moto = MotoServer::start().expect("moto starts");
    let store = moto.fresh_store().await.expect("table");
    (moto, Arc::new(store))
}

/// The store contract of rewards-core, each function on a fresh table of one moto server.
#[tokio::test]
async fn store_contract() {
    let moto = MotoServer::start().expect("moto starts");
    contract::single_task_cases(|| async { moto.fresh_store().await.expect("table") }).await;
}

/// The contract's races (twenty racing creates, takeovers, first attempts and compare-and-sets,
/// ten status changes from one read: one wins each), each on a fresh table of one moto server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_contract_races() {
    let moto = MotoServer::start().expect("moto starts");
    contract::races(|| async { moto.fresh_store().await.expect("table") }).await;
}

/// The raw claim-account item: indexed for the sweep while an issuance is in flight, a TTL (in
/// epoch seconds) only while it holds nothing.
#[tokio::test]
async fn claim_account_item_index_and_ttl() {
    let (_moto, store) = setup().await;
    let raw = || async {
        store
            .client()
            .get_item()
            .table_name(store.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("CLAIM#tpl1#2088000000000001".into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    let done = contract::claim_once(&*store, "p1", 5_000).await;
    let again = in_flight(&done, "f6", 7_000);
    store.replace_account(&again, "f4").await.unwrap();
    let item = raw().await;
    assert!(
        item.contains_key("gsi1pk"),
        "in flight: indexed for the sweep"
    );
    assert!(!item.contains_key("expiresAt"), "holds a pass: no TTL");
    store.replace_account(&account("f8"), "f6").await.unwrap();
    let item = raw().await;
    assert_eq!(
        item["expiresAt"].as_n().unwrap(),
        "86401",
        "TTL in epoch seconds"
    );
    assert!(!item.contains_key("gsi1pk"));
}

#[tokio::test]
async fn key_provider_reads_once_and_caches() {
    let moto = MotoServer::start().unwrap();
    let sm = moto.secrets_client().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys/");
    let app = std::fs::read_to_string(format!("{dir}app_private_pkcs8.pem")).unwrap();
    let ali = std::fs::read_to_string(format!("{dir}alipay_public_spki.pem")).unwrap();
    let secret = serde_json::json!({"app_private_key": app, "alipay_public_key": ali}).to_string();
    sm.create_secret()
        .name("alipay-keys")
        .secret_string(secret)
        .send()
        .await
        .unwrap();
    let provider = KeyProvider::new(sm.clone(), "alipay-keys");
    let k1 = provider.keys().await.unwrap();
    // Cached: works after the secret is gone.
    sm.delete_secret()
        .secret_id("alipay-keys")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let k2 = provider.keys().await.unwrap();
    assert!(Arc::ptr_eq(&k1, &k2));
    let missing = KeyProvider::new(sm, "absent");
    let e = missing.keys().await.unwrap_err();
    assert!(e.to_string().contains("absent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_service_over_dynamodb_twenty_concurrent_one_pass() {
    let (_moto, store) = setup().await;
    store.put_template(&tpl("tpl1", 1)).await.unwrap();
    // One pass per serial (Alipay's uniqueness), answered slowly so the claims overlap.
    let gw = Arc::new(StubPassGateway::default());
    gw.set_delay(std::time::Duration::from_millis(100));
    let svc = Arc::new(ClaimService {
        templates: store.clone(),
        claims: store.clone(),
        passes: store.clone(),
        budget: store.clone(),
        gateway: gw.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds::default()),
        app_id: AppId::parse("2021000000000001").unwrap(),
        config: Default::default(),
    });
    let now = SystemClock.now().millis();
    let q = ClaimQuery {
        template_id: Some("tpl1".into()),
        user_id: Some(USER.into()),
        token: Some("tok".into()),
        timestamp: Some(now.to_string()),
    };
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let svc = svc.clone();
        let q = q.clone();
        tasks.push(tokio::spawn(async move { svc.claim(&q).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().pass_id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(gw.issue_calls(), 1);
    let passes = store
        .list_user_passes(&UserId::parse(USER).unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].params["channelID"], "2021000000000001");
}

/// A payout item written before the transfer rail existed (no `rail` in its record or its
/// attributes) reads as a campaign entry, and the listing's campaign filter keeps it.
#[tokio::test]
async fn a_payout_item_without_a_rail_reads_as_campaign() {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    use rewards_core::payout::{ListRequest, PayoutFilter, RailName};
    let (_moto, store) = setup().await;
    let data = serde_json::json!({
        "outBizNo": "pe_old", "reason": "points_exchange", "businessId": "old", "attemptNo": 1,
        "crowdNo": "C1", "recipient": {"userId": USER}, "state": "SENT", "amountFen": 200,
        "bizNo": "B1", "repeatTriggerFlag": false, "fence": "f", "leaseUntil": 1, "attempts": 1,
        "createdAt": 1, "updatedAt": 1
    });
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", S("PAYOUT#pe_old".into()))
        .item("sk", S("META".into()))
        .item("data", S(data.to_string()))
        .item("fence", S("f".into()))
        .item("state", S("SENT".into()))
        .item("gsi2pk", S("PAYOUTS".into()))
        .item("gsi2sk", S("0000000000001#pe_old".into()))
        .item("crowd_no", S("C1".into()))
        .item("reason", S("points_exchange".into()))
        .send()
        .await
        .unwrap();
    let e = store
        .get_payout(&OutBizNo::parse("pe_old").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.rail.name(), RailName::Campaign);
    assert_eq!(e.rail.crowd_no().map(CrowdNo::as_str), Some("C1"));
    for (rail, expected) in [(RailName::Campaign, 1), (RailName::Transfer, 0)] {
        let filter = PayoutFilter {
            rail: Some(rail),
            ..Default::default()
        };
        let request = ListRequest {
            filter,
            cursor: None,
            limit: 10,
        };
        let page = store.list_payouts(&request).await.unwrap();
        assert_eq!(page.entries.len(), expected, "{rail:?}");
    }
}
