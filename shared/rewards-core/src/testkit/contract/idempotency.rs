//! Idempotency keys.

use crate::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState, StoredResponse};
use crate::ports::*;
use crate::time::Timestamp;

/// An idempotency record: begun once while held, completed and released only with its fence,
/// taken over once expired or once an in-progress lease has passed.
pub async fn idempotency<S: IdempotencyStore + ?Sized>(store: &S) {
    let key = IdemKey::new("envelopes", "k1").unwrap();
    let rec = IdemRecord {
        key: key.clone(),
        fingerprint: "fp".into(),
        fence: "f1".into(),
        state: IdemState::InProgress,
        lease_until: Timestamp(1_000),
        expires_at: Timestamp(100_000),
    };
    assert_eq!(
        store.begin(&rec, Timestamp(0)).await.unwrap(),
        IdemBegin::Started
    );
    let mut other = rec.clone();
    other.fence = "f2".into();
    assert!(
        matches!(store.begin(&other, Timestamp(500)).await.unwrap(), IdemBegin::Existing(r) if r.fence == "f1")
    );
    let resp = StoredResponse {
        status: 201,
        body: "{\"ok\":true}".into(),
    };
    let done = |fence: &str| IdemRecord {
        fence: fence.into(),
        state: IdemState::Completed {
            response: resp.clone(),
        },
        ..rec.clone()
    };
    store.complete(&done("wrong")).await.unwrap();
    assert!(
        matches!(store.begin(&other, Timestamp(500)).await.unwrap(), IdemBegin::Existing(r) if r.state == IdemState::InProgress)
    );
    store.complete(&done("f1")).await.unwrap();
    match store.begin(&other, Timestamp(2_000)).await.unwrap() {
        IdemBegin::Existing(r) => assert_eq!(
            r.state,
            IdemState::Completed {
                response: resp.clone()
            }
        ),
        other => panic!("{other:?}"),
    }
    // Expired → a new run may start.
    other.lease_until = Timestamp(200_000);
    other.expires_at = Timestamp(300_000);
    assert_eq!(
        store.begin(&other, Timestamp(100_000)).await.unwrap(),
        IdemBegin::Started
    );
    // Release only with the fence.
    store.release(&key, "nope").await.unwrap();
    assert!(matches!(
        store.begin(&rec, Timestamp(100_001)).await.unwrap(),
        IdemBegin::Existing(_)
    ));
    store.release(&key, "f2").await.unwrap();
    assert_eq!(
        store.begin(&other, Timestamp(100_001)).await.unwrap(),
        IdemBegin::Started
    );
    // Stale in-progress lease → takeover.
    let mut late = other.clone();
    late.fence = "f9".into();
    assert!(matches!(
        store.begin(&late, Timestamp(150_000)).await.unwrap(),
        IdemBegin::Existing(_)
    ));
    assert_eq!(
        store.begin(&late, Timestamp(200_000)).await.unwrap(),
        IdemBegin::Started
    );
}
