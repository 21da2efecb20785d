//! Backoff is counted from the outcome: however long an attempt's Alipay calls take, an unresolved
//! entry's `nextRetryAt` is its `updatedAt` (the clock read after the attempt's last answer) plus
//! the backoff for its calls, on both rails and on every path that leaves an entry unresolved.

use super::fakes::*;
use super::*;
use crate::ports::{
    RefusalClass, TransferLookup, TransferOutcome, TransferReceipt, TransferRefusal, TransferStatus,
};
use crate::testkit::*;
use proptest::prelude::*;
use std::sync::atomic::Ordering;

/// What Alipay answers next, scripted.
#[derive(Debug, Clone)]
enum Script {
    /// The next cash.trigger meets this fault (None: the stub's own answer).
    Trigger(Option<GwFault>),
    /// The next uni.transfer answers so.
    Transfer(TransferStep),
    /// The next common.query answers so.
    Query(TransferLookup),
}

/// What drives the entry next.
#[derive(Debug, Clone, Copy)]
enum Drive {
    /// The caller sends the same request again.
    Repeat,
    /// A reconciler run.
    Reconcile,
    /// The operator's retry.
    OperatorRetry,
    /// The operator's retry from a function without the transfer rail configured.
    OperatorRetryWithoutTransferRail,
}

fn refusal(class: RefusalClass) -> TransferRefusal {
    match transfer_refusal(class, "SOME_SUB_CODE") {
        TransferOutcome::Refused(r) => r,
        other => unreachable!("{other:?}"),
    }
}

fn receipt(out_biz_no: &str, status: TransferStatus) -> TransferReceipt {
    TransferReceipt {
        out_biz_no: Some(out_biz_no.into()),
        order_id: Some("O1".into()),
        status: Some(status),
        ..TransferReceipt::default()
    }
}

/// What the campaign rail's Alipay answers next.
fn campaign_script() -> impl Strategy<Value = Script> {
    prop_oneof![
        Just(None),
        Just(Some(GwFault::UnknownBefore)),
        Just(Some(GwFault::UnknownAfter)),
        Just(Some(GwFault::Refuse)),
        Just(Some(GwFault::RefuseBeforeReplay)),
    ]
    .prop_map(Script::Trigger)
}

/// What the transfer rail's Alipay answers next (to uni.transfer or to common.query).
fn transfer_script() -> impl Strategy<Value = Script> {
    let classes = vec![
        RefusalClass::Definite,
        RefusalClass::RetryLater,
        RefusalClass::Configuration,
    ];
    prop_oneof![
        prop_oneof![
            Just(TransferStep::Answer(TransferOutcome::Unknown(
                "timeout".into()
            ))),
            proptest::sample::select(classes.clone())
                .prop_map(|c| TransferStep::Answer(TransferOutcome::Refused(refusal(c)))),
            Just(TransferStep::Answer(TransferOutcome::Accepted(receipt(
                "pe_another",
                TransferStatus::Success
            )))),
            Just(TransferStep::CommitThenLose),
            Just(TransferStep::CommitWithStatus(TransferStatus::Dealing)),
            Just(TransferStep::CommitWithStatus(TransferStatus::Success)),
            Just(TransferStep::CommitWithStatus(TransferStatus::Fail)),
        ]
        .prop_map(Script::Transfer),
        prop_oneof![
            Just(TransferLookup::Unknown("timeout".into())),
            Just(TransferLookup::NotFound),
            proptest::sample::select(classes).prop_map(|c| TransferLookup::Refused(refusal(c))),
            Just(TransferLookup::Found(receipt(
                "pe_p",
                TransferStatus::Dealing
            ))),
            Just(TransferLookup::Found(receipt(
                "pe_p",
                TransferStatus::WaitPay
            ))),
            Just(TransferLookup::Found(receipt(
                "pe_another",
                TransferStatus::Success
            ))),
        ]
        .prop_map(Script::Query),
    ]
}

/// A rail, the answer its first call meets, and a plan of (next answer, what drives the entry,
/// milliseconds that pass before).
fn case() -> impl Strategy<Value = (bool, Script, Vec<(Script, Drive, u64)>)> {
    any::<bool>().prop_flat_map(|transfer| {
        let script = if transfer {
            transfer_script().boxed()
        } else {
            campaign_script().boxed()
        };
        let plan = proptest::collection::vec((script.clone(), drive(), 0u64..120_000), 0..12);
        (Just(transfer), script, plan)
    })
}

fn drive() -> impl Strategy<Value = Drive> {
    prop_oneof![
        Just(Drive::Repeat),
        Just(Drive::Reconcile),
        Just(Drive::OperatorRetry),
        Just(Drive::OperatorRetryWithoutTransferRail),
    ]
}

fn config() -> impl Strategy<Value = SendConfig> {
    (1u64..60_000, 1u32..8, 1u32..6).prop_map(|(base_ms, cap_factor, max_attempts)| SendConfig {
        backoff_base: Duration::from_millis(base_ms),
        backoff_cap: Duration::from_millis(base_ms * u64::from(cap_factor)),
        max_attempts,
        ..SendConfig::default()
    })
}

fn send_request(transfer: bool) -> SendRequest {
    send_request_for("p", transfer)
}

/// A points-exchange send of `bid` to the usual user: 1.50 on the transfer rail, else from `C1`.
pub(super) fn send_request_for(bid: &str, transfer: bool) -> SendRequest {
    SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some(bid.into()),
        user_id: Some(USER.into()),
        crowd_no: (!transfer).then(|| "C1".into()),
        rail: transfer.then(|| "transfer".into()),
        amount: transfer.then(|| "1.50".into()),
        ..SendInput::default()
    }
    .validate()
    .unwrap()
}

/// Every unresolved entry of the ledger waits exactly its backoff from its own `updatedAt`.
fn check_backoffs(store: &MemStore, config: &SendConfig) -> Result<(), TestCaseError> {
    for e in store.all_payouts() {
        let (next_retry_at, wait) = match &e.state {
            PayoutState::Unknown { next_retry_at, .. } => {
                (*next_retry_at, config.backoff(e.attempts))
            }
            PayoutState::NeedsAttention { next_retry_at, .. } => {
                (*next_retry_at, config.backoff_cap)
            }
            _ => continue,
        };
        prop_assert!(
            next_retry_at >= e.updated_at,
            "nextRetryAt before updatedAt: {e:?}"
        );
        prop_assert_eq!(
            next_retry_at,
            e.updated_at.plus(wait),
            "the wait is not counted from the outcome: {:?}",
            e
        );
    }
    Ok(())
}

/// Queues `script` at the stub Alipay.
fn queue(w: &World, script: Script) {
    match script {
        Script::Trigger(Some(fault)) => w.cash_gw.fail_next_trigger(fault),
        Script::Trigger(None) => {}
        Script::Transfer(step) => w.transfer_gw.script_transfer(step),
        Script::Query(answer) => w.transfer_gw.script_query(answer),
    }
}

/// Sends business id `p` on a rail, its first call meeting `first`, then drives it by `plan`
/// (Alipay's next answer, what drives the entry, the time that passes before), checking the
/// ledger after every step.
async fn play(
    transfer: bool,
    step_ms: u64,
    config: SendConfig,
    first: Script,
    plan: Vec<(Script, Drive, u64)>,
) -> Result<(), TestCaseError> {
    let staged = Staged::with(|svc| svc.config = config).await;
    staged.alipay.step_ms.store(step_ms, Ordering::SeqCst);
    let w = &staged.w;
    let mut without_rail = w.send_service();
    without_rail.payouts = staged.store.clone();
    without_rail.gateway = staged.alipay.clone();
    without_rail.config = config;
    without_rail.transfer = None;
    let reconciler = Reconciler {
        service: staged.svc.clone(),
        batch: 10,
    };
    let req = send_request(transfer);
    queue(w, first);
    let out_biz_no = staged.svc.send(&req).await.unwrap().entry.out_biz_no;
    check_backoffs(&w.store, &config)?;
    for (script, drive, gap_ms) in plan {
        queue(w, script);
        w.clock.advance(Duration::from_millis(gap_ms));
        // Errors (payout_final, payout_busy) are answers too; only the ledger is checked.
        match drive {
            Drive::Repeat => drop(staged.svc.send(&req).await),
            Drive::Reconcile => drop(reconciler.run_once().await),
            Drive::OperatorRetry => drop(staged.svc.probe_now(&out_biz_no).await),
            Drive::OperatorRetryWithoutTransferRail => {
                drop(without_rail.probe_now(&out_biz_no).await)
            }
        }
        check_backoffs(&w.store, &config)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Alipay's calls take `step_ms` each on the test clock; whatever the rail, the answers and
    /// what drives the entry, every wait is counted from the outcome.
    #[test]
    fn every_backoff_is_counted_from_the_outcome(
        (transfer, first, plan) in case(),
        step_ms in prop_oneof![Just(0u64), 1u64..20_000],
        config in config(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(play(transfer, step_ms, config, first, plan))?;
    }
}

/// The case of the review: a 3 s timeout of the first uni.transfer and a 300 ms backoff.
#[tokio::test]
async fn a_timed_out_transfer_waits_its_backoff_after_the_timeout() {
    let staged = Staged::with(|svc| svc.config.backoff_base = Duration::from_millis(300)).await;
    staged.alipay.step_ms.store(3000, Ordering::SeqCst);
    staged
        .w
        .transfer_gw
        .script_transfer(TransferStep::Answer(TransferOutcome::Unknown(
            "timeout".into(),
        )));
    let before = staged.w.clock.now();
    let e = staged.svc.send(&send_request(true)).await.unwrap().entry;
    let PayoutState::Unknown { next_retry_at, .. } = e.state else {
        panic!("{e:?}");
    };
    assert_eq!(e.updated_at, before.plus(Duration::from_millis(3000)));
    assert_eq!(next_retry_at, e.updated_at.plus(Duration::from_millis(300)));
}
