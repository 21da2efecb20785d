use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::ports::clock::Clock;
use crate::testkit::*;
use serde_json::json;
use std::time::Duration;

/// An operation that answers `status` with `body`.
fn answering(status: u16, body: &str) -> impl FnOnce() -> std::future::Ready<StoredResponse> {
    let response = StoredResponse {
        status,
        body: body.into(),
    };
    move || std::future::ready(response)
}

#[tokio::test]
async fn semantics() {
    let w = World::new();
    let svc = w.idem_service();
    let key = IdemKey::new("envelopes", "k-1").unwrap();
    let fp = fingerprint("POST /envelopes", &json!({"a": 1, "b": 2}));
    assert_eq!(fp, fingerprint("POST /envelopes", &json!({"b": 2, "a": 1})));
    let r = svc
        .run(&key, &fp, answering(201, "{\"x\":1}"))
        .await
        .unwrap();
    assert!(!r.replayed);
    let r2 = svc
        .run(&key, &fp, || async { panic!("must not run") })
        .await
        .unwrap();
    assert!(r2.replayed);
    assert_eq!(r2.response, r.response);
    let other = fingerprint("POST /envelopes", &json!({"a": 2}));
    let e = svc
        .run(&key, &other, || async { panic!("must not run") })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.kind().http_status()),
        ("idempotency_key_reused", 422)
    );
    // Expired → runs again.
    w.clock.advance(Duration::from_secs(25 * 3600));
    let r3 = svc.run(&key, &other, answering(200, "{}")).await.unwrap();
    assert!(!r3.replayed);
}

#[tokio::test]
async fn in_progress_is_409_and_5xx_is_not_stored() {
    let w = World::new();
    let svc = w.idem_service();
    let key = IdemKey::new("envelopes", "k-2").unwrap();
    let now = w.clock.now();
    let rec = IdemRecord {
        key: key.clone(),
        fingerprint: "fp".into(),
        fence: "f".into(),
        state: IdemState::InProgress,
        lease_until: now.plus(Duration::from_secs(60)),
        expires_at: now.plus(Duration::from_secs(3600)),
    };
    assert_eq!(w.store.begin(&rec, now).await.unwrap(), IdemBegin::Started);
    let e = svc
        .run(&key, "fp", || async { panic!("must not run") })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    w.clock.advance(Duration::from_secs(61));
    let r = svc.run(&key, "fp", answering(503, "{}")).await.unwrap();
    assert_eq!(r.response.status, 503);
    let r = svc.run(&key, "fp", answering(201, "{}")).await.unwrap();
    assert!(!r.replayed);
    assert!(IdemKey::new("envelopes", "").is_err());
    assert!(IdemKey::new("envelopes", "a b").is_err());
    assert!(IdemKey::new("bad#caller", "k").is_err());
}

#[tokio::test]
async fn a_transient_answer_is_never_replayed() {
    let w = World::new();
    let svc = w.idem_service();
    let key = IdemKey::new("envelopes", "k-3").unwrap();
    for transient in [202, 409] {
        let r = svc
            .run(&key, "fp", answering(transient, "{\"state\":\"UNKNOWN\"}"))
            .await
            .unwrap();
        assert_eq!(r.response.status, transient);
        let now = svc
            .run(&key, "fp", answering(200, "{\"state\":\"SENT\"}"))
            .await
            .unwrap();
        assert_eq!(now.response.status, 200, "after a stored {transient}");
        assert!(!now.replayed);
        // The fingerprint still guards the key.
        let e = svc
            .run(&key, "other", || async { panic!("must not run") })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "idempotency_key_reused");
        w.clock.advance(Duration::from_secs(25 * 3600));
    }
}
