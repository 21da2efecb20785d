//! A hanging DynamoDB (a listener that accepts and never answers) ends within the caller's budget as
//! `StoreError::Unavailable`, without SDK retries; with no budget left nothing is sent at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rewards_aws::{sdk_config_within, DynamoStore};
use rewards_core::ids::PassId;
use rewards_core::ports::PassStore;
use rewards_core::StoreError;

/// Accepts connections, counts them, keeps them open, never writes a byte.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_hanging_table_ends_within_the_budget_without_retries() {
    let (url, accepted) = black_hole().await;
    std::env::set_var("AWS_ENDPOINT_URL", &url);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let left = Arc::new(Mutex::new(Some(Duration::from_millis(300))));
    let budget = {
        let left = left.clone();
        move || *left.lock().unwrap()
    };
    let sdk = sdk_config_within(Arc::new(budget)).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "t");
    let id = PassId::parse("p1").unwrap();

    let e = store.get_pass(&id).await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one attempt, no retry");

    *left.lock().unwrap() = Some(Duration::ZERO);
    let e = store.get_pass(&id).await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "nothing sent");
}
