use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::ids::{PassId, SerialNumber, TemplateId, UserId, UserToken};
use crate::pass::{PassRecord, PassStatus};
use crate::ports::{ClaimStore, Clock, Inserted};
use crate::template::derive_serial;
use crate::testkit::*;
use crate::time::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn query(token: &str, ts: i64) -> ClaimQuery {
    query_for(USER, token, ts)
}

pub(super) fn query_for(user: &str, token: &str, ts: i64) -> ClaimQuery {
    ClaimQuery {
        template_id: Some(TPL.into()),
        user_id: Some(user.into()),
        token: Some(token.into()),
        timestamp: Some(ts.to_string()),
    }
}

/// The component's callback for the usual user with `token`, sent at the world's time.
async fn tap(w: &World, svc: &ClaimService, token: &str) -> Result<ClaimAnswer, ClaimError> {
    svc.claim(&query(token, w.clock.now().millis())).await
}

/// A world with the usual template, and its claim service.
async fn seeded() -> (World, ClaimService) {
    let w = World::new();
    w.seed_template().await;
    let svc = w.claim_service();
    (w, svc)
}

/// Alipay issues the pass for `token` and its answer is lost: the tap fails.
async fn lose_the_answer(w: &World, svc: &ClaimService, token: &str) {
    w.pass_gw.fail_next_issue(GwFault::UnknownAfter);
    assert!(tap(w, svc, token).await.is_err());
}

/// [`seeded`], with `quirk` applied to the world, after a tap with `token` whose pass Alipay
/// issued and whose answer was lost.
async fn after_a_lost_answer(quirk: impl FnOnce(&World), token: &str) -> (World, ClaimService) {
    let (w, svc) = seeded().await;
    quirk(&w);
    lose_the_answer(&w, &svc, token).await;
    (w, svc)
}

/// [`seeded`], with the service shared with a sweeper of batches of 10.
async fn with_sweeper() -> (World, Arc<ClaimService>, ClaimSweeper) {
    let (w, svc) = seeded().await;
    let svc = Arc::new(svc);
    let sweeper = ClaimSweeper {
        service: svc.clone(),
        batch: 10,
    };
    (w, svc, sweeper)
}

fn tpl() -> TemplateId {
    TemplateId::parse(TPL).unwrap()
}

fn user() -> UserId {
    UserId::parse(USER).unwrap()
}

/// The user id `2088…` numbered `i`.
fn user_no(i: u32) -> String {
    format!("2088{:012}", 100 + i)
}

#[tokio::test]
async fn happy_path_and_replay() {
    let (w, svc) = seeded().await;
    let now = w.clock.now().millis();
    let a = svc.claim(&query("tok1", now)).await.unwrap();
    assert!(!a.replayed);
    assert_eq!(a.serial_number, derive_serial(&tpl(), &user(), 1));
    let b = svc.claim(&query("tok1", now)).await.unwrap();
    assert!(b.replayed);
    assert_eq!(a.pass_id, b.pass_id);
    assert_eq!(w.pass_gw.issue_calls(), 1);
    let passes = w.store.list_user_passes_sync(USER);
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].params["channelID"], APP);
    let account = w.store.account_sync(TPL, USER).unwrap();
    assert_eq!((account.issued, account.pending.is_none()), (1, true));
    assert_eq!(
        account.expires_at, None,
        "an account with a pass never expires"
    );
    let body = component_answer(&Ok(a.clone()));
    assert_eq!(body["success"], true);
    assert_eq!(body["passId"], a.pass_id.as_str());
    assert_eq!(body["serialNumber"], a.serial_number.as_str());
}

#[tokio::test]
async fn bad_input_is_classified() {
    let (w, svc) = seeded().await;
    let now = w.clock.now().millis();
    let mut q = query("tok", now);
    q.user_id = Some("123".into());
    assert_eq!(svc.claim(&q).await.unwrap_err().code(), "invalid_user_id");
    let q = query("tok", now - 11 * 60_000);
    assert_eq!(svc.claim(&q).await.unwrap_err().code(), "stale_timestamp");
    let mut q = query("tok", now);
    q.timestamp = Some("12x".into());
    assert_eq!(svc.claim(&q).await.unwrap_err().code(), "invalid_timestamp");
    let mut q = query("tok", now);
    q.template_id = Some("other".into());
    let e = svc.claim(&q).await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("unknown_template", ErrorKind::NotFound)
    );
    let body = component_answer(&Err(e));
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "unknown_template");
    assert_eq!(w.pass_gw.issue_calls(), 0);
}

#[tokio::test]
async fn one_pass_per_user_unless_the_template_allows_more() {
    let (w, svc) = seeded().await;
    let now = w.clock.now().millis();
    svc.claim(&query("first", now)).await.unwrap();
    let e = svc.claim(&query("second", now)).await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("pass_limit_reached", ErrorKind::Unprocessable)
    );
    let body = component_answer(&Err(e));
    assert_eq!(
        (body["success"].clone(), body["code"].clone()),
        (json!(false), json!("pass_limit_reached"))
    );
    assert_eq!(w.pass_gw.issue_calls(), 1, "no Alipay call over the limit");

    let w = World::new();
    w.seed_template_with_limit(2).await;
    let svc = w.claim_service();
    let a = svc.claim(&query("first", now)).await.unwrap();
    let b = svc.claim(&query("second", now)).await.unwrap();
    assert_ne!(a.pass_id, b.pass_id);
    assert_eq!(b.serial_number, derive_serial(&tpl(), &user(), 2));
    assert_eq!(
        svc.claim(&query("third", now)).await.unwrap_err().code(),
        "pass_limit_reached"
    );
    assert_eq!(w.pass_gw.issue_calls(), 2);
    assert_eq!(w.store.list_user_passes_sync(USER).len(), 2);
}

/// Crash at every step of the path; a retry with the same token, or a re-tap with a new one, ends
/// with exactly one pass at Alipay and in the store, every call carrying the one serial.
#[tokio::test]
async fn crash_at_every_step_recovers_with_one_pass() {
    for retap in [false, true] {
        for refuse_repeated in [false, true] {
            for step in [
                "create_account",
                "replace_account",
                "issue_before",
                "issue_after",
                "complete_issuance",
            ] {
                let what = format!("{step} retap={retap} refuse={refuse_repeated}");
                let (w, svc) = seeded().await;
                w.pass_gw.refuse_repeated_serials(refuse_repeated);
                let now = w.clock.now().millis();
                match step {
                    "issue_before" => w.pass_gw.fail_next_issue(GwFault::UnknownBefore),
                    "issue_after" => w.pass_gw.fail_next_issue(GwFault::UnknownAfter),
                    op => w.store.fail_next(op),
                }
                let first = svc.claim(&query("tok", now)).await;
                assert!(first.is_err(), "{what}");
                let mut answered = None;
                for attempt in 0..5 {
                    let token = if retap {
                        format!("retap{attempt}")
                    } else {
                        "tok".into()
                    };
                    match tap(&w, &svc, &token).await {
                        Ok(a) => {
                            answered = Some(a);
                            break;
                        }
                        Err(e) if e.code() == "pass_limit_reached" => break,
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Unavailable),
                                "{what}: {e}"
                            );
                            w.clock.advance(Duration::from_secs(11));
                        }
                    }
                }
                assert_eq!(w.pass_gw.passes_issued(), 1, "{what}: one pass at Alipay");
                let stored = w.store.list_user_passes_sync(USER);
                assert_eq!(stored.len(), 1, "{what}: and in the store");
                if let Some(a) = answered {
                    assert_eq!(a.pass_id, stored[0].pass_id, "{what}");
                }
                let serial = derive_serial(&tpl(), &user(), 1);
                assert_eq!(stored[0].serial_number, serial, "{what}");
                assert!(
                    w.pass_gw
                        .serials_seen()
                        .iter()
                        .all(|s| s == serial.as_str()),
                    "{what}"
                );
                let account = w.store.account_sync(TPL, USER).unwrap();
                assert_eq!((account.issued, account.pending), (1, None), "{what}");
            }
        }
    }
}

#[tokio::test]
async fn a_retap_after_an_unknown_outcome_finds_the_pass_instead_of_issuing_a_second() {
    for refuse_repeated in [false, true] {
        let (w, svc) = seeded().await;
        w.pass_gw.refuse_repeated_serials(refuse_repeated);
        w.pass_gw.fail_next_issue(GwFault::UnknownAfter);
        let e = tap(&w, &svc, "lost").await.unwrap_err();
        assert_eq!(e.code(), "alipay_unavailable");
        // A new token: the serial is looked up, the pass stored, and the user is at the limit.
        let e = tap(&w, &svc, "retap").await.unwrap_err();
        assert_eq!(e.code(), "pass_limit_reached", "refuse={refuse_repeated}");
        assert_eq!(w.pass_gw.find_calls(), 1);
        assert_eq!(w.pass_gw.issue_calls(), 1, "no second instance.add");
        assert_eq!(w.store.list_user_passes_sync(USER).len(), 1);
        // The first token's callback, repeated, answers the pass.
        let a = tap(&w, &svc, "lost").await.unwrap();
        assert!(a.replayed);
    }
}

#[tokio::test]
async fn a_refused_repeat_of_the_same_token_is_resolved_by_serial() {
    let (w, svc) = after_a_lost_answer(|w| w.pass_gw.refuse_repeated_serials(true), "tok").await;
    let a = tap(&w, &svc, "tok").await.unwrap();
    assert_eq!(w.pass_gw.issue_calls(), 2);
    assert_eq!(w.pass_gw.find_calls(), 1);
    assert_eq!(w.store.list_user_passes_sync(USER)[0].pass_id, a.pass_id);
}

#[tokio::test]
async fn a_pass_alipay_does_not_name_is_stored_under_its_serial() {
    let (w, svc) = after_a_lost_answer(|w| w.pass_gw.find_without_id(true), "a").await;
    let e = tap(&w, &svc, "b").await.unwrap_err();
    assert_eq!(e.code(), "pass_limit_reached");
    let stored = w.store.list_user_passes_sync(USER);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].pass_id.as_str(), stored[0].serial_number.as_str());
}

#[tokio::test]
async fn definite_failure_is_answered_without_alipay_text_and_a_new_tap_may_try_again() {
    let (w, svc) = seeded().await;
    w.pass_gw.fail_next_issue(GwFault::Refuse);
    let e = tap(&w, &svc, "tok").await.unwrap_err();
    assert_eq!(e.code(), "alipay_rejected");
    let body = component_answer(&Err(e));
    assert_eq!(body["message"], "Alipay refused to issue the pass");
    let text = body.to_string();
    assert!(
        !text.contains("INJECTED") && !text.contains("40004"),
        "{text}"
    );
    // A later tap (the component mints a new token) is tried.
    w.clock.advance(Duration::from_millis(1));
    let account = w.store.account_sync(TPL, USER).unwrap();
    assert!(account.pending.is_none());
    assert!(
        account.expires_at.is_some(),
        "nothing permanent for a failed claim"
    );
    let a = tap(&w, &svc, "tok2").await.unwrap();
    assert!(!a.replayed);
    assert_eq!(w.pass_gw.passes_issued(), 1);
}

#[tokio::test]
async fn at_most_five_failed_claims_an_hour_reach_alipay_per_user() {
    let (w, svc) = seeded().await;
    for i in 0..5 {
        w.pass_gw.fail_next_issue(GwFault::Refuse);
        let e = tap(&w, &svc, &format!("forged{i}")).await.unwrap_err();
        assert_eq!(e.code(), "alipay_rejected");
        w.clock.advance(Duration::from_secs(60));
    }
    let e = tap(&w, &svc, "forged5").await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind().http_status()),
        ("too_many_failed_claims", 429)
    );
    let wait = e.retry_after().unwrap();
    assert!(
        wait <= Duration::from_secs(3900) && wait >= Duration::from_secs(3000),
        "{wait:?}"
    );
    assert_eq!(w.pass_gw.issue_calls(), 5, "the sixth never reached Alipay");
    // Another user of the template is not affected; the user is, until the window has passed.
    let other = user_no(1);
    svc.claim(&query_for(&other, "t", w.clock.now().millis()))
        .await
        .unwrap();
    w.clock.advance(wait);
    let a = tap(&w, &svc, "legit").await.unwrap();
    assert!(!a.replayed);
    let items = w.store.budget_items();
    assert!(items
        .iter()
        .all(|(_, bucket, _, expires)| expires.millis() > *bucket));
}

#[tokio::test]
async fn a_template_budget_caps_failed_claims_of_all_users() {
    let w = World::new();
    w.seed_template().await;
    let mut config = ClaimConfig::default();
    config.template_budget.limit = 3;
    let svc = w.claim_service_with(config);
    for i in 0..3 {
        w.pass_gw.fail_next_issue(GwFault::Refuse);
        let e = svc
            .claim(&query_for(&user_no(i), "forged", w.clock.now().millis()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "alipay_rejected");
    }
    let e = svc
        .claim(&query_for(&user_no(9), "t", w.clock.now().millis()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "too_many_failed_claims");
    assert!(matches!(
        e,
        ClaimError::Throttled {
            budget: BudgetKind::Template,
            ..
        }
    ));
    assert_eq!(w.pass_gw.issue_calls(), 3);
    // Forged hits left accounts that expire, and nothing in flight.
    for i in 0..3 {
        let a = w.store.account_sync(TPL, &user_no(i)).unwrap();
        assert!(a.pending.is_none() && a.expires_at.is_some());
    }
}

#[test]
fn budget_wait_is_the_time_until_enough_failures_leave_the_window() {
    let b = FailureBudget {
        limit: 5,
        window: Duration::from_secs(3600),
        bucket: Duration::from_secs(300),
    };
    let t0 = Timestamp(1_704_135_600_000); // a bucket boundary
    assert_eq!(b.bucket_of(Timestamp(t0.millis() + 299_999)), t0);
    assert_eq!(b.wait(t0, &[(t0, 4)]), None);
    let wait = b.wait(t0, &[(t0, 5)]).unwrap();
    assert_eq!(wait, Duration::from_secs(3900));
    // Two old failures and three new: one must leave, the oldest bucket's does first.
    let old = Timestamp(t0.millis() - 3_000_000);
    let wait = b.wait(t0, &[(old, 2), (t0, 3)]).unwrap();
    assert_eq!(wait, Duration::from_secs(3900 - 3000));
    // Buckets out of the window do not count.
    let ancient = Timestamp(t0.millis() - 4_000_000);
    assert_eq!(b.wait(t0, &[(ancient, 50)]), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_claims_give_one_pass() {
    let w = World::new_real_time();
    w.seed_template().await;
    w.pass_gw.set_delay(Duration::from_millis(50));
    let svc = Arc::new(w.claim_service());
    let now = w.clock.now().millis();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(
            async move { svc.claim(&query("same", now)).await },
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().pass_id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(w.pass_gw.issue_calls(), 1);
}

#[tokio::test]
async fn waiter_answers_in_progress_past_the_bound() {
    let (w, svc) = seeded().await;
    let now = w.clock.now();
    // A holder that never finishes: an issuance with a live lease.
    let held = ClaimAccount {
        template_id: tpl(),
        user_id: user(),
        issued: 0,
        passes: vec![],
        pending: Some(Issuance {
            n: 1,
            serial_number: derive_serial(&tpl(), &user(), 1),
            params: BTreeMap::new(),
            token_hash: token_hash(&UserToken::parse("t").unwrap()),
            lease_until: now.plus(Duration::from_secs(60)),
            attempts: 1,
            checks: 0,
            next_check_at: now.plus(Duration::from_secs(60)),
            started_at: now,
        }),
        last_failure: None,
        fence: "f".into(),
        expires_at: None,
        created_at: now,
        updated_at: now,
    };
    assert!(matches!(
        w.store.create_account(&held).await.unwrap(),
        Inserted::Inserted
    ));
    let e = svc.claim(&query("t", now.millis())).await.unwrap_err();
    assert_eq!(e.code(), "claim_in_progress");
    let e = svc.claim(&query("other", now.millis())).await.unwrap_err();
    assert_eq!(e.code(), "claim_in_progress");
    assert_eq!(w.pass_gw.issue_calls(), 0);
}

#[tokio::test]
async fn the_sweep_stores_what_alipay_issued_and_drops_what_it_did_not() {
    for (fault, issued) in [
        (GwFault::UnknownAfter, true),
        (GwFault::UnknownBefore, false),
    ] {
        let (w, svc, sweeper) = with_sweeper().await;
        w.pass_gw.fail_next_issue(fault);
        assert!(tap(&w, &svc, "t").await.is_err());
        // Not due yet: the user may still re-tap.
        assert_eq!(sweeper.run_once().await.unwrap().examined, 0);
        w.clock.advance(ClaimConfig::default().recheck);
        let report = sweeper.run_once().await.unwrap();
        assert_eq!(report.examined, 1, "{fault:?}");
        let account = w.store.account_sync(TPL, USER).unwrap();
        assert!(account.pending.is_none(), "{fault:?}");
        if issued {
            assert_eq!(report.stored, 1);
            let stored = w.store.list_user_passes_sync(USER);
            assert_eq!(stored.len(), 1);
            assert_eq!(account.issued, 1);
        } else {
            assert_eq!(report.dropped, 1);
            assert!(w.store.list_user_passes_sync(USER).is_empty());
            assert!(account.expires_at.is_some());
        }
        assert_eq!(sweeper.run_once().await.unwrap().examined, 0);
    }
}

#[tokio::test]
async fn an_unanswered_lookup_is_retried_later_with_backoff() {
    let (w, svc, sweeper) = with_sweeper().await;
    lose_the_answer(&w, &svc, "t").await;
    w.clock.advance(Duration::from_secs(60));
    w.pass_gw.fail_next_find(GwFault::UnknownBefore);
    assert_eq!(sweeper.run_once().await.unwrap().unresolved, 1);
    assert_eq!(sweeper.run_once().await.unwrap().examined, 0, "backed off");
    w.clock.advance(Duration::from_secs(60));
    assert_eq!(sweeper.run_once().await.unwrap().stored, 1);
    assert_eq!(w.store.list_user_passes_sync(USER).len(), 1);
}

#[tokio::test]
async fn passes_stored_before_accounts_existed_count_toward_the_limit() {
    let w = World::new();
    w.seed_template().await;
    let now = w.clock.now();
    let old = PassRecord {
        pass_id: PassId::parse("legacy1").unwrap(),
        user_id: user(),
        template_id: tpl(),
        serial_number: SerialNumber::parse("Sold").unwrap(),
        status: PassStatus::Active,
        params: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    let holder = ClaimAccount {
        template_id: TemplateId::parse("elsewhere").unwrap(),
        user_id: user(),
        issued: 0,
        passes: vec![],
        pending: None,
        last_failure: None,
        fence: "x".into(),
        expires_at: None,
        created_at: now,
        updated_at: now,
    };
    w.store.create_account(&holder).await.unwrap();
    w.store.complete_issuance(&holder, "x", &old).await.unwrap();
    let e = w
        .claim_service()
        .claim(&query("t", now.millis()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "pass_limit_reached");
    assert_eq!(w.pass_gw.issue_calls(), 0);
}
