use super::*;
use crate::claim::{ClaimAnswer, ClaimQuery};
use crate::error::DomainError;
use crate::error::ErrorKind;
use crate::ids::{AppId, PassId, Recipient, UserId};
use crate::ports::{CasOutcome, Clock, PassStore, StoreError};
use crate::testkit::*;
use std::sync::Arc;
use std::sync::Mutex;

/// A world with the usual template and one pass claimed by the usual user.
async fn claimed() -> (World, ClaimAnswer) {
    let w = World::new();
    w.seed_template().await;
    let claim = w
        .claim_service()
        .claim(&ClaimQuery {
            template_id: Some(TPL.into()),
            user_id: Some(USER.into()),
            token: Some("t".into()),
            timestamp: Some(w.clock.now().millis().to_string()),
        })
        .await
        .unwrap();
    (w, claim)
}

/// The world's pass service, over `store`.
fn pass_service(w: &World, store: Arc<dyn PassStore>) -> PassService {
    PassService {
        store,
        gateway: w.pass_gw.clone(),
        clock: w.clock.clone(),
        app_id: AppId::parse(APP).unwrap(),
    }
}

async fn stored_status(w: &World, id: &PassId) -> PassStatus {
    w.store.get_pass(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn status_changes_call_update_then_store() {
    let (w, claim) = claimed().await;
    let svc = pass_service(&w, w.store.clone());
    let p = svc
        .set_status(&claim.pass_id, PassStatus::Used)
        .await
        .unwrap();
    assert_eq!(p.status, PassStatus::Used);
    let up = w.pass_gw.updates();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].serial_number, claim.serial_number);
    assert_eq!(up[0].channel_id.as_str(), APP);
    assert_eq!(
        up[0].holder,
        Recipient::UserId(UserId::parse(USER).unwrap()),
        "the update names the pass's user"
    );
    assert_eq!(up[0].status, Some(PassStatus::Used));
    // Same again: no call.
    svc.set_status(&claim.pass_id, PassStatus::Used)
        .await
        .unwrap();
    assert_eq!(w.pass_gw.updates().len(), 1);
    svc.set_status(&claim.pass_id, PassStatus::Closed)
        .await
        .unwrap();
    let e = svc
        .set_status(&claim.pass_id, PassStatus::Used)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "pass_status_conflict");
    let missing = PassId::parse("nope").unwrap();
    assert_eq!(
        svc.get(&missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let reader = reader::PassReader {
        store: w.store.clone(),
    };
    let (_, list) = reader.for_user(USER, None).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, PassStatus::Closed);
    assert_eq!(PassStatus::parse_target("USED"), Some(PassStatus::Used));
    assert_eq!(PassStatus::parse_target("ACTIVE"), None);
}

/// A store where another change lands between the service's read and its write.
struct RacingStore {
    inner: Arc<MemStore>,
    concurrent: Mutex<Option<PassStatus>>,
}

#[async_trait::async_trait]
impl PassStore for RacingStore {
    async fn get_pass(&self, id: &PassId) -> Result<Option<PassRecord>, StoreError> {
        self.inner.get_pass(id).await
    }
    async fn list_user_passes(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<PassRecord>, StoreError> {
        self.inner.list_user_passes(user, limit).await
    }
    async fn update_pass(
        &self,
        p: &PassRecord,
        expected: PassStatus,
    ) -> Result<CasOutcome<PassRecord>, StoreError> {
        let other = self.concurrent.lock().unwrap().take();
        if let Some(status) = other {
            let mut first = self.inner.get_pass(&p.pass_id).await?.unwrap();
            let read = first.status;
            first.status = status;
            assert_eq!(
                self.inner.update_pass(&first, read).await?,
                CasOutcome::Written
            );
        }
        self.inner.update_pass(p, expected).await
    }
}

async fn racing(concurrent: PassStatus) -> (World, PassService, PassId) {
    let (w, claim) = claimed().await;
    let store = Arc::new(RacingStore {
        inner: w.store.clone(),
        concurrent: Mutex::new(Some(concurrent)),
    });
    let svc = pass_service(&w, store);
    (w, svc, claim.pass_id)
}

#[tokio::test]
async fn a_stale_status_write_loses_to_a_concurrent_change() {
    // Read ACTIVE, then someone closes the pass before our USED is stored: ours loses, the
    // pass stays CLOSED.
    let (w, svc, id) = racing(PassStatus::Closed).await;
    let e = svc.set_status(&id, PassStatus::Used).await.unwrap_err();
    assert_eq!(e.code(), "pass_status_conflict");
    assert_eq!(stored_status(&w, &id).await, PassStatus::Closed);

    // Read ACTIVE, then someone marks it USED before our CLOSED is stored: CLOSED still holds
    // from USED, so it is written on top.
    let (w, svc, id) = racing(PassStatus::Used).await;
    let p = svc.set_status(&id, PassStatus::Closed).await.unwrap();
    assert_eq!(p.status, PassStatus::Closed);
    assert_eq!(stored_status(&w, &id).await, PassStatus::Closed);

    // The same change twice at once: one write, both answer USED.
    let (w, svc, id) = racing(PassStatus::Used).await;
    let p = svc.set_status(&id, PassStatus::Used).await.unwrap();
    assert_eq!(p.status, PassStatus::Used);
    assert_eq!(stored_status(&w, &id).await, PassStatus::Used);
}
