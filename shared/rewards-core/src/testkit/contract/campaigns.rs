//! Campaigns and their creation slots.

use super::fixtures::*;
use crate::campaign::{CampaignStatus, SlotState};
use crate::ids::*;
use crate::ports::*;

/// Campaigns (put replaces, listed newest first) and schedule slots (acquired once unless FAILED,
/// compare-and-set on the fence).
pub async fn campaigns_and_slots<S: CampaignStore + ?Sized>(store: &S) {
    store.put_campaign(&camp("C1", 1)).await.unwrap();
    store.put_campaign(&camp("C2", 2)).await.unwrap();
    let mut c1 = camp("C1", 1);
    c1.status = CampaignStatus::Ready;
    store.put_campaign(&c1).await.unwrap();
    assert_eq!(
        store.get_campaign(&c1.crowd_no).await.unwrap(),
        Some(c1.clone())
    );
    let list = store.list_campaigns(10).await.unwrap();
    assert_eq!(
        list.iter().map(|c| c.crowd_no.as_str()).collect::<Vec<_>>(),
        vec!["C2", "C1"]
    );
    assert_eq!(store.list_campaigns(1).await.unwrap().len(), 1);

    assert_eq!(acquire(store, "a").await, Inserted::Inserted);
    assert!(matches!(acquire(store, "b").await, Inserted::Exists(s) if s.fence == "a"));
    let failed = slot(
        "c",
        SlotState::Failed {
            failure: GatewayFailure {
                code: "40004".into(),
                ..Default::default()
            },
        },
    );
    fenced(|fence| store.replace_slot(&failed, fence), "a").await;
    // A FAILED slot may be acquired again; a CREATED one not.
    assert_eq!(acquire(store, "d").await, Inserted::Inserted);
    let created = slot(
        "e",
        SlotState::Created {
            crowd_no: CrowdNo::parse("C1").unwrap(),
        },
    );
    assert_eq!(
        store.replace_slot(&created, "d").await.unwrap(),
        CasOutcome::Written
    );
    assert!(matches!(acquire(store, "f").await, Inserted::Exists(_)));
    assert_eq!(
        store
            .get_slot("monday", "2024-06-03")
            .await
            .unwrap()
            .unwrap()
            .state,
        created.state
    );
    assert_eq!(store.get_slot("monday", "nope").await.unwrap(), None);
}
