//! Alipay's rate limit on the claim path: "not now", never "no". A throttled `instance.add` or
//! lookup answers `alipay_busy` (503), counts against no failed-claims budget, and keeps the
//! issuance exactly as an unknown outcome does (no orphan, no second pass).

use super::tests::query_for;
use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::ids::{TemplateId, UserId};
use crate::ports::Clock;
use crate::template::derive_serial;
use crate::testkit::*;
use proptest::prelude::*;
use std::time::Duration;

async fn tap_as(
    w: &World,
    svc: &ClaimService,
    user: &str,
    token: &str,
) -> Result<ClaimAnswer, ClaimError> {
    svc.claim(&query_for(user, token, w.clock.now().millis()))
        .await
}

fn user_no(i: u32) -> String {
    format!("2088{:012}", 100 + i)
}

#[tokio::test]
async fn a_throttled_issue_answers_alipay_busy_and_keeps_the_issuance() {
    let w = World::new();
    w.seed_template().await;
    let svc = w.claim_service();
    w.pass_gw.fail_next_issue(GwFault::Throttle);
    let e = tap_as(&w, &svc, USER, "tok").await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind(), e.kind().http_status()),
        ("alipay_busy", ErrorKind::Unavailable, 503)
    );
    let body = component_answer(&Err(e));
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "alipay_busy");
    assert!(!body.to_string().contains("40005"), "{body}");
    // Counted nowhere; the issuance is kept with its serial and released for a re-tap.
    assert_eq!(w.store.budget_items(), vec![]);
    let account = w.store.account_sync(TPL, USER).unwrap();
    let pending = account
        .pending
        .expect("the issuance stays, as after an unknown outcome");
    let serial = derive_serial(
        &TemplateId::parse(TPL).unwrap(),
        &UserId::parse(USER).unwrap(),
        1,
    );
    assert_eq!(pending.serial_number, serial);
    assert!(pending.lease_until <= w.clock.now());
    // The component retries (same token): the same serial is issued, once.
    w.clock.advance(Duration::from_millis(1));
    let a = tap_as(&w, &svc, USER, "tok").await.unwrap();
    assert_eq!(a.serial_number, serial);
    assert_eq!(w.pass_gw.passes_issued(), 1);
    assert_eq!(w.pass_gw.serials_seen(), vec![serial.to_string(); 2]);
}

#[tokio::test]
async fn a_throttled_lookup_answers_alipay_busy_and_the_pass_is_found_later() {
    let w = World::new();
    w.seed_template().await;
    let svc = w.claim_service();
    // Alipay issued for "tok1" but the answer was lost; a re-tap with another token must ask
    // first, and that lookup is throttled.
    w.pass_gw.fail_next_issue(GwFault::UnknownAfter);
    assert!(tap_as(&w, &svc, USER, "tok1").await.is_err());
    w.clock.advance(Duration::from_millis(1));
    w.pass_gw.fail_next_find(GwFault::Throttle);
    let e = tap_as(&w, &svc, USER, "tok2").await.unwrap_err();
    assert_eq!(e.code(), "alipay_busy");
    assert_eq!(w.store.budget_items(), vec![]);
    assert!(w.store.account_sync(TPL, USER).unwrap().pending.is_some());
    // Once the sweep's recheck is due, the next tap finds the pass Alipay holds: one pass.
    w.clock.advance(Duration::from_secs(3600));
    let e = tap_as(&w, &svc, USER, "tok3").await.unwrap_err();
    assert_eq!(e.code(), "pass_limit_reached");
    assert_eq!(w.pass_gw.passes_issued(), 1);
    assert_eq!(w.store.list_user_passes_sync(USER).len(), 1);
}

#[tokio::test]
async fn throttled_claims_never_trip_the_template_budget() {
    let w = World::new();
    w.seed_template().await;
    let mut config = ClaimConfig::default();
    config.template_budget.limit = 3;
    config.user_budget.limit = 1;
    let svc = w.claim_service_with(config);
    for i in 0..20 {
        w.pass_gw.fail_next_issue(GwFault::Throttle);
        let e = tap_as(&w, &svc, &user_no(i % 4), &format!("t{i}"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "alipay_busy", "tap {i}");
    }
    // The throttle lifts: every user gets a pass.
    for i in 0..4 {
        tap_as(&w, &svc, &user_no(i), "final").await.unwrap();
    }
    assert_eq!(w.pass_gw.passes_issued(), 4);
    assert_eq!(w.store.budget_items(), vec![]);
}

#[derive(Debug, Clone, Copy)]
enum Hit {
    /// `instance.add` answers Alipay's rate limit.
    IssueThrottled,
    /// The lookup a stale issuance needs answers Alipay's rate limit.
    FindThrottled,
    /// `instance.add` times out before Alipay saw it.
    Timeout,
    /// Alipay issues, the answer is lost.
    Lost,
    /// Alipay answers.
    Fine,
}

fn hit() -> impl Strategy<Value = (Hit, u32, u32, u64)> {
    (
        prop_oneof![
            3 => Just(Hit::IssueThrottled),
            2 => Just(Hit::FindThrottled),
            1 => Just(Hit::Timeout),
            1 => Just(Hit::Lost),
            1 => Just(Hit::Fine),
        ],
        0u32..3,
        0u32..3,
        0u64..20_000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// No throttle answer ever produces a refusal or a counted failure: whatever mix of throttles,
    /// timeouts and lost answers users meet, a throttled tap answers `alipay_busy`, no budget
    /// bucket is ever written, and once Alipay answers every user holds exactly one pass.
    #[test]
    fn no_throttle_answer_refuses_a_claim_or_counts_a_failure(
        hits in proptest::collection::vec(hit(), 1..24),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let w = World::new();
            w.seed_template().await;
            let mut config = ClaimConfig::default();
            config.template_budget.limit = 1;
            config.user_budget.limit = 1;
            let svc = w.claim_service_with(config);
            for (i, (hit, user, token, wait)) in hits.iter().enumerate() {
                match hit {
                    Hit::IssueThrottled => w.pass_gw.fail_next_issue(GwFault::Throttle),
                    Hit::FindThrottled => w.pass_gw.fail_next_find(GwFault::Throttle),
                    Hit::Timeout => w.pass_gw.fail_next_issue(GwFault::UnknownBefore),
                    Hit::Lost => w.pass_gw.fail_next_issue(GwFault::UnknownAfter),
                    Hit::Fine => {}
                }
                let answer = tap_as(&w, &svc, &user_no(*user), &format!("t{token}")).await;
                if let Err(e) = &answer {
                    prop_assert!(
                        matches!(
                            e.code(),
                            "alipay_busy" | "alipay_unavailable" | "pass_limit_reached" | "claim_in_progress"
                        ),
                        "tap {}: {:?}", i, e
                    );
                }
                if matches!(hit, Hit::IssueThrottled) {
                    if let Err(e) = &answer {
                        prop_assert!(e.code() != "alipay_unavailable", "a throttle is busy: {:?}", e);
                    }
                }
                prop_assert_eq!(w.store.budget_items(), vec![], "tap {}", i);
                w.clock.advance(Duration::from_millis(*wait));
                // Faults a tap did not consume must not leak into the end.
                w.pass_gw.clear_faults();
            }
            // Alipay answers again: every user who tapped ends with one pass.
            w.clock.advance(Duration::from_secs(7200));
            let mut users: Vec<u32> = hits.iter().map(|(_, u, _, _)| *u).collect();
            users.sort_unstable();
            users.dedup();
            for u in &users {
                let answer = tap_as(&w, &svc, &user_no(*u), "last").await;
                prop_assert!(
                    answer.is_ok() || answer.as_ref().is_err_and(|e| e.code() == "pass_limit_reached"),
                    "{:?}", answer
                );
                prop_assert_eq!(w.store.list_user_passes_sync(&user_no(*u)).len(), 1);
            }
            prop_assert_eq!(w.pass_gw.passes_issued(), users.len());
            Ok(())
        })?;
    }
}
