//! Campaigns (`CAMP#{crowdNo}` / `META`, listed newest first on gsi1 `CAMP`) and schedule slots
//! (`SLOT#{plan}#{slot}` / `META`, with `fence` and `state` for the conditions).

use super::item::{item, list_by_creation, s, Item, META};
use super::DynamoStore;
use async_trait::async_trait;
use rewards_core::campaign::{Campaign, SlotRecord, SlotState};
use rewards_core::ids::CrowdNo;
use rewards_core::ports::{CampaignStore, CasOutcome, Inserted};
use rewards_core::StoreError;

fn campaign_pk(crowd_no: &CrowdNo) -> String {
    format!("CAMP#{crowd_no}")
}

fn slot_pk(plan: &str, slot: &str) -> String {
    format!("SLOT#{plan}#{slot}")
}

fn slot_state_name(s: &SlotState) -> &'static str {
    match s {
        SlotState::Creating => "CREATING",
        SlotState::Created { .. } => "CREATED",
        SlotState::Failed { .. } => "FAILED",
        SlotState::Unknown { .. } => "UNKNOWN",
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
        let mut it = item(campaign_pk(&c.crowd_no), META.into(), c)?;
        list_by_creation(&mut it, "CAMP", c.created_at, &c.crowd_no);
        it.insert("status".into(), s(c.status.as_str()));
        self.put_plain(it).await
    }

    async fn get_campaign(&self, crowd_no: &CrowdNo) -> Result<Option<Campaign>, StoreError> {
        self.get_record(campaign_pk(crowd_no)).await
    }

    async fn list_campaigns(&self, limit: usize) -> Result<Vec<Campaign>, StoreError> {
        self.list_gsi1("CAMP".into(), None, limit).await
    }

    async fn acquire_slot(&self, sl: &SlotRecord) -> Result<Inserted<SlotRecord>, StoreError> {
        self.insert_if(
            slot_item(sl)?,
            "attribute_not_exists(pk) OR #st = :failed",
            vec![(":failed", s("FAILED"))],
            vec![("#st", "state")],
            "slot vanished during acquire",
        )
        .await
    }

    async fn replace_slot(
        &self,
        sl: &SlotRecord,
        expected_fence: &str,
    ) -> Result<CasOutcome<SlotRecord>, StoreError> {
        self.replace_fenced(slot_item(sl)?, expected_fence).await
    }

    async fn get_slot(&self, plan_id: &str, slot: &str) -> Result<Option<SlotRecord>, StoreError> {
        self.get_record(slot_pk(plan_id, slot)).await
    }
}
