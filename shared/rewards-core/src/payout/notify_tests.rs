//! Transfer notifications (`alipay.fund.trans.order.changed`): proof of payment wins over any
//! state, a final failure fails only an unresolved entry, and nothing else changes the ledger.

use super::transfer_tests::{campaign_req, fen, receipt, treq};
use super::*;
use crate::ports::{TransferOutcome, TransferReceipt, TransferStatus};
use crate::testkit::*;

/// An entry of `bid` in an unresolved state (the first call's answer was lost).
async fn unresolved_entry(w: &World, bid: &str) -> PayoutEntry {
    w.transfer_gw
        .script_transfer(TransferStep::Answer(TransferOutcome::Unknown("t".into())));
    let e = w.send_service().send(&treq(bid)).await.unwrap().entry;
    assert_eq!(e.state.name(), "UNKNOWN");
    e
}

#[tokio::test]
async fn a_success_notification_records_the_payment_once() {
    let w = World::new();
    let e = unresolved_entry(&w, "n1").await;
    let n = w.notifications();
    let ok = receipt("pe_n1", TransferStatus::Success);
    let NotifyOutcome::Recorded(paid) = n.order_changed(&ok).await.unwrap() else {
        panic!()
    };
    assert!(matches!(
        &paid.state,
        PayoutState::Sent { order_id: Some(o), .. } if o == "20261129O1"
    ));
    assert_eq!(paid.out_biz_no, e.out_biz_no);
    // Duplicates and a late FAIL change nothing.
    assert!(matches!(
        n.order_changed(&ok).await.unwrap(),
        NotifyOutcome::Unchanged(_)
    ));
    let fail = receipt("pe_n1", TransferStatus::Fail);
    assert!(matches!(
        n.order_changed(&fail).await.unwrap(),
        NotifyOutcome::Unchanged(_)
    ));
    assert_eq!(w.store.all_payouts()[0], paid);
}

#[tokio::test]
async fn proof_of_payment_wins_over_a_failure_and_a_held_lease() {
    let w = World::new();
    unresolved_entry(&w, "n2").await;
    let n = w.notifications();
    // Reordered: FAIL arrives first (recorded), then SUCCESS (wins).
    let NotifyOutcome::Recorded(failed) = n
        .order_changed(&receipt("pe_n2", TransferStatus::Fail))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(failed.state.name(), "FAILED");
    let after = n
        .order_changed(&receipt("pe_n2", TransferStatus::Success))
        .await
        .unwrap();
    assert!(matches!(after, NotifyOutcome::Recorded(e) if e.state.name() == "SENT"));
    // A PENDING entry whose holder is still calling: the proof is recorded, the holder's later
    // write loses its fence and answers the recorded entry.
    let svc = w.send_service();
    let held = svc.new_entry(
        &treq("n3"),
        PayoutRail::Transfer(transfer_settings().terms(fen(150))),
        1,
    );
    assert!(svc.payouts.start_attempt(&held, None).await.unwrap());
    let paid = n
        .order_changed(&receipt("pe_n3", TransferStatus::Success))
        .await
        .unwrap();
    assert!(matches!(paid, NotifyOutcome::Recorded(_)));
    let at = w.clock.now();
    let unknown = Outcome {
        state: svc.unresolved(&held, at, "lost".into(), None),
        at,
    };
    let answered = svc.record(held, unknown).await.unwrap();
    assert_eq!(answered.state.name(), "SENT");
}

#[tokio::test]
async fn failure_notifications_fail_unresolved_entries_only() {
    for status in [
        TransferStatus::Fail,
        TransferStatus::Closed,
        TransferStatus::Refund,
    ] {
        let w = World::new();
        unresolved_entry(&w, "n4").await;
        let out = w
            .notifications()
            .order_changed(&receipt("pe_n4", status.clone()))
            .await
            .unwrap();
        assert!(
            matches!(&out, NotifyOutcome::Recorded(e) if e.state.name() == "FAILED"),
            "{status:?}: {out:?}"
        );
    }
    let w = World::new();
    unresolved_entry(&w, "n5").await;
    for status in [TransferStatus::Dealing, TransferStatus::Other("X".into())] {
        let out = w
            .notifications()
            .order_changed(&receipt("pe_n5", status))
            .await
            .unwrap();
        assert!(matches!(out, NotifyOutcome::Unchanged(e) if e.state.name() == "UNKNOWN"));
    }
}

#[tokio::test]
async fn notifications_for_unknown_or_campaign_entries_are_ignored() {
    let w = World::new();
    w.seed_campaign("C1", 200, 10, 5).await;
    let n = w.notifications();
    let unknown = receipt("pe_nobody", TransferStatus::Success);
    assert_eq!(
        n.order_changed(&unknown).await.unwrap(),
        NotifyOutcome::Ignored("unknown_out_biz_no")
    );
    let no_number = TransferReceipt::default();
    assert_eq!(
        n.order_changed(&no_number).await.unwrap(),
        NotifyOutcome::Ignored("no_out_biz_no")
    );
    let campaign = campaign_req("camp");
    let e = w.send_service().send(&campaign).await.unwrap().entry;
    let before = w.store.all_payouts();
    assert_eq!(
        n.order_changed(&receipt(e.out_biz_no.as_str(), TransferStatus::Fail))
            .await
            .unwrap(),
        NotifyOutcome::Ignored("campaign_rail")
    );
    assert_eq!(w.store.all_payouts(), before);
}

#[tokio::test]
async fn a_store_failure_is_an_error_so_alipay_delivers_again() {
    let w = World::new();
    unresolved_entry(&w, "n6").await;
    w.store.fail_next("cas_payout");
    let n = w.notifications();
    let ok = receipt("pe_n6", TransferStatus::Success);
    assert!(n.order_changed(&ok).await.is_err());
    assert!(matches!(
        n.order_changed(&ok).await.unwrap(),
        NotifyOutcome::Recorded(_)
    ));
}

#[tokio::test]
async fn a_lost_compare_and_set_that_reads_back_nothing_reads_again() {
    // Seen against the emulator: a conditional write that lost a race, then a read that missed the
    // entry. The proof of payment must still be recorded, not answered as a corrupt store.
    let w = World::new();
    let e = unresolved_entry(&w, "cas").await;
    let svc = w.send_service();
    let sent = paid_state_for_test();
    let paid = record_proof(svc.ledger(), &e.out_biz_no, sent.clone(), None)
        .await
        .unwrap();
    assert_eq!(paid.state, sent);
    assert_eq!(w.store.all_payouts()[0].state, sent);
    // An entry that is really absent is still an error.
    let missing = OutBizNo::parse("pe_absent").unwrap();
    assert!(record_proof(svc.ledger(), &missing, sent, None)
        .await
        .is_err());
}

fn paid_state_for_test() -> PayoutState {
    transfer::paid_state(
        &transfer_settings().terms(fen(150)),
        &receipt("pe_cas", TransferStatus::Success),
    )
}
