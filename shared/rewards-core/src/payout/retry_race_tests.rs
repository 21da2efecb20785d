//! The operator's retry raced by more retries (two operators, a double click): only the one that
//! takes the entry over probes it; every other answers what is true when it looks, `payout_busy`
//! with the lease's `Retry-After` while the winner's call is in flight, `payout_final` with the
//! entry once it is SENT or FAILED. The interleaving is the test's, not the scheduler's: every
//! retry's read is held until all have read, then let go one by one.

use super::fakes::*;
use super::*;
use crate::error::DomainError;
use crate::ports::TransferStatus;
use crate::testkit::*;
use serde_json::Value;
use tokio::sync::mpsc;

const RETRIES: usize = 3;

/// An UNKNOWN campaign entry of business id `bid` (the first trigger timed out before Alipay).
async fn unknown_envelope(s: &Staged, bid: &str) -> PayoutEntry {
    s.w.cash_gw.fail_next_trigger(GwFault::UnknownBefore);
    let input = SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some(bid.into()),
        user_id: Some(USER.into()),
        crowd_no: Some("C1".into()),
        ..SendInput::default()
    };
    let e = s.svc.send(&input.validate().unwrap()).await.unwrap().entry;
    assert_eq!(e.state.name(), "UNKNOWN");
    e
}

/// Starts [`RETRIES`] operator retries of `out_biz_no` and returns once each has read the entry
/// (their reads held); their answers arrive on the receiver in the order they finish.
async fn racing_retries(
    s: &Staged,
    out_biz_no: &OutBizNo,
) -> mpsc::UnboundedReceiver<Result<SendResult, SendError>> {
    let (tx, rx) = mpsc::unbounded_channel();
    s.store.reads.hold_next(RETRIES);
    for _ in 0..RETRIES {
        let (svc, tx, no) = (s.svc.clone(), tx.clone(), out_biz_no.clone());
        tokio::spawn(async move { tx.send(svc.probe_now(&no).await).unwrap() });
    }
    s.store
        .reads
        .arrivals(u32::try_from(RETRIES).unwrap())
        .await;
    rx
}

/// The `entry` member of the problem a retry answered.
fn problem_entry(e: &SendError) -> Option<Value> {
    e.extensions()
        .into_iter()
        .find(|(k, _)| *k == "entry")
        .map(|(_, v)| v)
}

fn view(e: &PayoutEntry) -> Value {
    serde_json::to_value(e.view()).unwrap()
}

#[tokio::test]
async fn retries_that_lose_the_takeover_while_the_call_is_in_flight_answer_busy() {
    let s = Staged::new().await;
    let unknown = unknown_envelope(&s, "busy").await;
    s.alipay.calls.hold_next(1);
    let mut answers = racing_retries(&s, &unknown.out_biz_no).await;
    // One retry goes on: it takes the entry over and calls Alipay, where it is held.
    s.store.reads.release(1);
    s.alipay.calls.arrivals(1).await;
    // The others find the winner's PENDING entry within its lease.
    s.store.reads.release(RETRIES - 1);
    for _ in 1..RETRIES {
        let e = answers.recv().await.unwrap().unwrap_err();
        assert_eq!(e.code(), "payout_busy", "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        // The test clock stands still: the whole lease is left.
        assert_eq!(e.retry_after(), Some(SendConfig::default().lease), "{e:?}");
    }
    // The winner's call ends: it alone answers the probe.
    s.alipay.calls.release(1);
    let won = answers.recv().await.unwrap().unwrap();
    assert!(!won.replayed);
    assert_eq!(won.entry.out_biz_no, unknown.out_biz_no);
    assert_eq!(won.entry.state.name(), "SENT");
    assert_eq!(won.entry.attempts, 2, "one probe, not three");
    assert_eq!(s.w.cash_gw.trigger_calls(), 2);
    assert_eq!(s.w.cash_gw.payouts().len(), 1);
}

#[tokio::test]
async fn retries_that_lose_the_takeover_to_a_finished_probe_answer_final_with_the_entry() {
    let s = Staged::new().await;
    let unknown = unknown_envelope(&s, "final").await;
    let mut answers = racing_retries(&s, &unknown.out_biz_no).await;
    // One retry goes on and finishes: SENT.
    s.store.reads.release(1);
    let won = answers.recv().await.unwrap().unwrap();
    assert!(!won.replayed);
    assert_eq!(won.entry.state.name(), "SENT");
    // The others held the UNKNOWN entry they read; they find it SENT.
    s.store.reads.release(RETRIES - 1);
    for _ in 1..RETRIES {
        let e = answers.recv().await.unwrap().unwrap_err();
        assert_eq!(e.code(), "payout_final", "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(problem_entry(&e), Some(view(&won.entry)), "{e:?}");
    }
    assert_eq!(s.w.cash_gw.trigger_calls(), 2);
}

#[tokio::test]
async fn retries_that_lose_the_takeover_to_a_failed_order_answer_final_with_the_entry() {
    let s = Staged::new().await;
    s.w.transfer_gw
        .script_transfer(TransferStep::CommitWithStatus(TransferStatus::Dealing));
    let input = SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some("failing".into()),
        user_id: Some(USER.into()),
        rail: Some("transfer".into()),
        amount: Some("1.50".into()),
        ..SendInput::default()
    };
    let dealing = s.svc.send(&input.validate().unwrap()).await.unwrap().entry;
    assert_eq!(dealing.state.name(), "UNKNOWN");
    s.w.transfer_gw
        .set_status(dealing.out_biz_no.as_str(), TransferStatus::Fail);
    let mut answers = racing_retries(&s, &dealing.out_biz_no).await;
    s.store.reads.release(1);
    let won = answers.recv().await.unwrap().unwrap();
    assert_eq!(won.entry.state.name(), "FAILED");
    s.store.reads.release(RETRIES - 1);
    for _ in 1..RETRIES {
        let e = answers.recv().await.unwrap().unwrap_err();
        assert_eq!(e.code(), "payout_final", "{e:?}");
        assert_eq!(problem_entry(&e), Some(view(&won.entry)), "{e:?}");
    }
    assert_eq!(s.w.transfer_gw.query_calls(), 1, "one probe, not three");
}

#[tokio::test]
async fn a_retry_that_finds_the_entry_still_unresolved_after_another_probe_probes_it_itself() {
    let s = Staged::new().await;
    let unknown = unknown_envelope(&s, "again").await;
    // Two retries read UNKNOWN; the first's probe times out again (UNKNOWN, attempts 2).
    let (tx, mut answers) = mpsc::unbounded_channel();
    s.store.reads.hold_next(2);
    for _ in 0..2 {
        let (svc, tx, no) = (s.svc.clone(), tx.clone(), unknown.out_biz_no.clone());
        tokio::spawn(async move { tx.send(svc.probe_now(&no).await).unwrap() });
    }
    s.store.reads.arrivals(2).await;
    s.w.cash_gw.fail_next_trigger(GwFault::UnknownBefore);
    s.store.reads.release(1);
    let first = answers.recv().await.unwrap().unwrap();
    assert_eq!(
        (first.entry.state.name(), first.entry.attempts),
        ("UNKNOWN", 2)
    );
    // The second lost its takeover to a probe that is over: it takes the entry over and probes.
    s.store.reads.release(1);
    let second = answers.recv().await.unwrap().unwrap();
    assert!(!second.replayed);
    assert_eq!(
        (second.entry.state.name(), second.entry.attempts),
        ("SENT", 3)
    );
    assert_eq!(s.w.cash_gw.trigger_calls(), 3);
}

#[tokio::test]
async fn a_retry_of_an_entry_whose_call_is_in_flight_answers_busy_with_the_lease_left() {
    let s = Staged::new().await;
    let unknown = unknown_envelope(&s, "lease").await;
    s.alipay.calls.hold_next(1);
    let probe = {
        let (svc, no) = (s.svc.clone(), unknown.out_biz_no.clone());
        tokio::spawn(async move { svc.probe_now(&no).await })
    };
    s.alipay.calls.arrivals(1).await;
    s.w.clock.advance(Duration::from_millis(12_345));
    let e = s.svc.probe_now(&unknown.out_biz_no).await.unwrap_err();
    assert_eq!(e.code(), "payout_busy");
    assert_eq!(
        e.retry_after(),
        Some(Duration::from_millis(30_000 - 12_345))
    );
    s.alipay.calls.release(1);
    assert_eq!(probe.await.unwrap().unwrap().entry.state.name(), "SENT");
}
