//! A repeat of a paid business id with other terms is not answered as if it had been honoured:
//! `conflicting_repeat` (409) naming the fields that differ, with the recorded entry, and nothing
//! new is paid. An exact repeat (a field left out counts as the recorded one) answers the entry.
//! After FAILED other terms are the next attempt; while unresolved the stored terms are paid.

use super::*;
use crate::ports::{TransferOutcome, TransferStatus};
use crate::testkit::*;
use serde_json::{json, Value};

fn transfer_input(bid: &str, amount: Option<&str>) -> SendInput {
    SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some(bid.into()),
        user_id: Some(USER.into()),
        rail: Some("transfer".into()),
        amount: amount.map(Into::into),
        ..SendInput::default()
    }
}

fn campaign_input(bid: &str, crowd: &str) -> SendInput {
    SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some(bid.into()),
        user_id: Some(USER.into()),
        crowd_no: Some(crowd.into()),
        ..SendInput::default()
    }
}

async fn send(svc: &SendService, input: SendInput) -> Result<SendResult, SendError> {
    svc.send(&input.validate().unwrap()).await
}

/// Asserts `e` is a `conflicting_repeat` naming `fields` and carrying `recorded`.
fn assert_conflict(e: &SendError, fields: &[&str], recorded: &PayoutEntry) {
    assert_eq!(e.code(), "conflicting_repeat", "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let members: BTreeMap<&str, Value> = e.extensions().into_iter().collect();
    assert_eq!(members.get("fields"), Some(&json!(fields)), "{e:?}");
    assert_eq!(
        members.get("entry"),
        Some(&serde_json::to_value(recorded.view()).unwrap()),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_repeat_of_a_paid_transfer_with_another_amount_is_a_conflict_and_pays_nothing() {
    let (w, svc) = World::sending(&[]).await;
    let paid = send(&svc, transfer_input("t", Some("1.50"))).await.unwrap();
    assert_eq!(paid.entry.state.name(), "SENT");
    let more = send(&svc, transfer_input("t", Some("2.00")))
        .await
        .unwrap_err();
    assert_conflict(&more, &["amount"], &paid.entry);
    let retry_failed = SendInput {
        retry_failed: Some(true),
        ..transfer_input("t", Some("2.00"))
    };
    let more = send(&svc, retry_failed).await.unwrap_err();
    assert_conflict(&more, &["amount"], &paid.entry);
    assert_eq!(w.transfer_gw.transfer_calls(), 1);
    assert_eq!(w.transfer_gw.query_calls(), 0);
    // The exact repeat still answers the recorded entry.
    let again = send(&svc, transfer_input("t", Some("1.5"))).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.entry, paid.entry);
    assert_eq!(svc.get(&paid.entry.out_biz_no).await.unwrap(), paid.entry);
}

#[tokio::test]
async fn a_repeat_of_a_paid_envelope_on_another_rail_or_campaign_is_a_conflict() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 5), ("C2", 200, 10, 5)]).await;
    let paid = send(&svc, campaign_input("c", "C1")).await.unwrap().entry;
    assert_eq!(paid.state.name(), "SENT");
    let on_transfer = send(&svc, transfer_input("c", Some("2.00"))).await;
    assert_conflict(&on_transfer.unwrap_err(), &["rail"], &paid);
    let other_amount = send(&svc, transfer_input("c", Some("1.50"))).await;
    assert_conflict(&other_amount.unwrap_err(), &["rail", "amount"], &paid);
    let other_campaign = send(&svc, campaign_input("c", "C2")).await;
    assert_conflict(&other_campaign.unwrap_err(), &["crowdNo"], &paid);
    assert_eq!(w.cash_gw.trigger_calls(), 1);
    assert_eq!(w.transfer_gw.transfer_calls(), 0);
    // Without an amount (the campaign fixes it) the repeat is exact.
    let again = send(&svc, campaign_input("c", "C1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.entry, paid);
}

#[tokio::test]
async fn a_repeat_that_leaves_out_the_amount_is_an_exact_repeat() {
    let (w, mut svc) = World::sending(&[]).await;
    svc.reason_rails
        .insert(Reason::Referral, RailName::Transfer);
    let referral = |amount: Option<&str>| SendInput {
        reason: Some("referral".into()),
        rail: None,
        ..transfer_input("r", amount)
    };
    // The reason's default amount (1.00 yuan) paid it.
    let paid = send(&svc, referral(None)).await.unwrap().entry;
    assert_eq!(paid.rail.transfer().unwrap().amount_fen.fen(), 100);
    for exact in [referral(None), referral(Some("1.00"))] {
        let again = send(&svc, exact).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.entry, paid);
    }
    let more = send(&svc, referral(Some("1.01"))).await.unwrap_err();
    assert_conflict(&more, &["amount"], &paid);
    // An amount stated once and left out by the repeat: the recorded one is what it asks for.
    let stated = send(&svc, transfer_input("s", Some("3.00")))
        .await
        .unwrap()
        .entry;
    let again = send(&svc, transfer_input("s", None)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.entry, stated);
    assert_eq!(w.transfer_gw.transfer_calls(), 2);
}

#[tokio::test]
async fn after_a_failed_order_a_repeat_with_a_corrected_amount_is_the_next_attempt() {
    let (w, svc) = World::sending(&[]).await;
    w.transfer_gw
        .script_transfer(TransferStep::CommitWithStatus(TransferStatus::Fail));
    let failed = send(&svc, transfer_input("f", Some("1.50"))).await.unwrap();
    assert_eq!(failed.entry.state.name(), "FAILED");
    let corrected = send(&svc, transfer_input("f", Some("2.00"))).await.unwrap();
    assert!(!corrected.replayed);
    assert_eq!(corrected.entry.out_biz_no.as_str(), "pe2_f");
    assert_eq!(corrected.entry.attempt_no, 2);
    let PayoutState::Sent { amount_fen, .. } = corrected.entry.state else {
        panic!("{:?}", corrected.entry.state);
    };
    assert_eq!(amount_fen.map(AmountFen::fen), Some(200));
}

#[tokio::test]
async fn while_unresolved_a_repeat_with_other_terms_is_answered_and_the_stored_terms_are_paid() {
    let (w, svc) = World::sending(&[]).await;
    w.transfer_gw
        .script_transfer(TransferStep::Answer(TransferOutcome::Unknown(
            "timeout".into(),
        )));
    let unknown = send(&svc, transfer_input("u", Some("1.50"))).await.unwrap();
    assert_eq!(unknown.entry.state.name(), "UNKNOWN");
    // Before its backoff: the entry as it is.
    let early = send(&svc, transfer_input("u", Some("2.00"))).await.unwrap();
    assert!(early.replayed);
    assert_eq!(early.entry, unknown.entry);
    // After it: probed with its own number, and its own order is the one sent again.
    w.clock.advance(Duration::from_secs(3600));
    let late = send(&svc, transfer_input("u", Some("2.00"))).await.unwrap();
    assert_eq!(late.entry.out_biz_no, unknown.entry.out_biz_no);
    assert_eq!(late.entry.state.name(), "SENT");
    let sent = w.transfer_gw.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|o| o.amount.fen() == 150), "{sent:?}");
}
