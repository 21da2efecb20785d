//! The transfer rail: every arm of the send path, with the in-memory transfer gateway; the same
//! number is used for every call of an entry, never a new one (the notifications are in
//! `notify_tests.rs`).

use super::*;
use crate::error::DomainError;
use crate::ports::{
    RefusalClass, TransferLookup, TransferOutcome, TransferProduct, TransferReceipt, TransferStatus,
};
use crate::testkit::*;

fn input(bid: &str) -> SendInput {
    SendInput {
        reason: Some("points_exchange".into()),
        business_id: Some(bid.into()),
        user_id: Some(USER.into()),
        rail: Some("transfer".into()),
        amount: Some("1.50".into()),
        ..SendInput::default()
    }
}

pub(super) fn treq(bid: &str) -> SendRequest {
    input(bid).validate().unwrap()
}

/// The same send of `bid` on the campaign rail (campaign C1).
pub(super) fn campaign_req(bid: &str) -> SendRequest {
    SendInput {
        crowd_no: Some("C1".into()),
        rail: None,
        amount: None,
        ..input(bid)
    }
    .validate()
    .unwrap()
}

pub(super) fn fen(n: i64) -> AmountFen {
    AmountFen::from_fen(n).unwrap()
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

pub(super) fn receipt(out_biz_no: &str, status: TransferStatus) -> TransferReceipt {
    TransferReceipt {
        out_biz_no: Some(out_biz_no.into()),
        order_id: Some("20261129O1".into()),
        pay_fund_order_id: Some("20261129P1".into()),
        status: Some(status),
        amount: Some(fen(150)),
        ..TransferReceipt::default()
    }
}

fn refusal_code(e: &PayoutEntry) -> &'static str {
    match &e.state {
        PayoutState::Failed { refusal } => e.rail.refusal_code(refusal),
        other => panic!("not FAILED: {other:?}"),
    }
}

/// A world without campaigns whose first send, of transfer `bid`, meets `step` at the stub Alipay.
async fn first_send(bid: &str, step: TransferStep) -> (World, SendService, SendResult) {
    let (w, svc) = World::sending(&[]).await;
    w.transfer_gw.script_transfer(step);
    let r = svc.send(&treq(bid)).await.unwrap();
    (w, svc, r)
}

fn reconciler(svc: SendService) -> Reconciler {
    Reconciler {
        service: Arc::new(svc),
        batch: 10,
    }
}

#[tokio::test]
async fn a_first_transfer_pays_with_the_stored_terms() {
    let (w, svc) = World::sending(&[]).await;
    let r = svc.send(&treq("t1")).await.unwrap();
    assert!(!r.replayed);
    let PayoutState::Sent {
        amount_fen,
        order_id,
        pay_fund_order_id,
        ..
    } = &r.entry.state
    else {
        panic!("{:?}", r.entry.state);
    };
    assert_eq!(*amount_fen, Some(fen(150)));
    assert!(order_id.is_some() && pay_fund_order_id.is_some());
    assert_eq!(r.entry.out_biz_no.as_str(), "pe_t1");
    assert_eq!(
        (w.transfer_gw.transfer_calls(), w.transfer_gw.query_calls()),
        (1, 0)
    );
    let sent = &w.transfer_gw.sent()[0];
    let settings = transfer_settings();
    assert_eq!(sent.amount, fen(150));
    assert_eq!(sent.product, TransferProduct::StdRedPacket);
    assert_eq!(sent.scene_name, settings.scene_name);
    assert_eq!(sent.scene_report_infos, settings.scene_report_infos);
    assert_eq!(sent.notify_url, settings.notify_url);
    assert_eq!(sent.payee, r.entry.recipient);
    // A repeat answers the entry; no call.
    let again = svc.send(&treq("t1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.entry, r.entry);
    assert_eq!(w.transfer_gw.transfer_calls(), 1);
    assert_eq!(w.cash_gw.trigger_calls(), 0);
}

#[tokio::test]
async fn an_accepted_fail_is_a_failure_that_frees_the_business_id() {
    let (_, svc, r) = first_send("t2", TransferStep::CommitWithStatus(TransferStatus::Fail)).await;
    assert_eq!(refusal_code(&r.entry), "transfer_failed");
    // A repeat answers the failure; an explicit retry is attempt 2 with a new number.
    assert!(svc.send(&treq("t2")).await.unwrap().replayed);
    let mut retry = treq("t2");
    retry.retry_failed = true;
    let r2 = svc.send(&retry).await.unwrap();
    assert_eq!(r2.entry.out_biz_no.as_str(), "pe2_t2");
    assert_eq!(r2.entry.state.name(), "SENT");
}

#[tokio::test]
async fn accepted_without_a_final_status_is_resolved_by_query_with_the_same_number() {
    let (w, svc, r) = first_send(
        "t3",
        TransferStep::CommitWithStatus(TransferStatus::Dealing),
    )
    .await;
    assert_eq!(r.entry.state.name(), "UNKNOWN");
    let rec = reconciler(w.send_service());
    w.clock.advance(hour());
    rec.run_once().await.unwrap();
    assert_eq!(
        svc.get(&r.entry.out_biz_no).await.unwrap().state.name(),
        "UNKNOWN"
    );
    w.transfer_gw.set_status("pe_t3", TransferStatus::Success);
    w.clock.advance(hour());
    let report = rec.run_once().await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(
        (w.transfer_gw.transfer_calls(), w.transfer_gw.query_calls()),
        (1, 2)
    );
    // An accepted answer without any status is not final either.
    w.transfer_gw
        .script_transfer(TransferStep::Answer(TransferOutcome::Accepted(
            TransferReceipt {
                out_biz_no: Some("pe_t3b".into()),
                ..TransferReceipt::default()
            },
        )));
    assert_eq!(
        svc.send(&treq("t3b")).await.unwrap().entry.state.name(),
        "UNKNOWN"
    );
}

#[tokio::test]
async fn a_lost_answer_is_found_by_query_and_never_sent_again() {
    let (w, svc, r) = first_send("t4", TransferStep::CommitThenLose).await;
    assert_eq!(r.entry.state.name(), "UNKNOWN");
    // Not due yet: a repeat answers the entry.
    assert!(svc.send(&treq("t4")).await.unwrap().replayed);
    w.clock.advance(hour());
    let again = svc.send(&treq("t4")).await.unwrap();
    assert_eq!(again.entry.out_biz_no, r.entry.out_biz_no);
    assert_eq!(again.entry.state.name(), "SENT");
    assert_eq!(
        (w.transfer_gw.transfer_calls(), w.transfer_gw.query_calls()),
        (1, 1)
    );
    assert_eq!(w.transfer_gw.paid(), vec!["pe_t4".to_owned()]);
}

#[tokio::test]
async fn an_order_alipay_never_saw_is_sent_again_with_the_same_number_and_terms() {
    let (w, svc, r) = first_send(
        "t5",
        TransferStep::Answer(TransferOutcome::Unknown("timeout".into())),
    )
    .await;
    assert_eq!(r.entry.state.name(), "UNKNOWN");
    w.clock.advance(hour());
    reconciler(w.send_service()).run_once().await.unwrap();
    let e = svc.get(&r.entry.out_biz_no).await.unwrap();
    assert_eq!(e.state.name(), "SENT");
    let sent = w.transfer_gw.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0], sent[1],
        "a re-send repeats the first order exactly"
    );
    assert_eq!(w.transfer_gw.query_calls(), 1);
}

#[tokio::test]
async fn a_re_send_keeps_the_stored_terms_after_the_configuration_changed() {
    let timeout = TransferStep::Answer(TransferOutcome::Unknown("timeout".into()));
    let (w, mut svc, r) = first_send("t6", timeout).await;
    if let Some(rail) = svc.transfer.as_mut() {
        rail.settings.order_title = "另一个标题".into();
    }
    w.clock.advance(hour());
    reconciler(svc).run_once().await.unwrap();
    let sent = w.transfer_gw.sent();
    assert_eq!(sent[1].order_title, sent[0].order_title);
    assert_eq!(
        w.store.all_payouts()[0].state.name(),
        "SENT",
        "{:?}",
        r.entry
    );
}

#[tokio::test]
async fn definite_and_configuration_refusals_fail_the_first_call_only() {
    for (class, sub, code) in [
        (RefusalClass::Definite, "PAYEE_NOT_EXIST", "payee_invalid"),
        (
            RefusalClass::Configuration,
            "PRODUCT_NOT_SIGN",
            "transfer_not_configured",
        ),
    ] {
        let (_, _, r) = first_send("t7", TransferStep::Answer(transfer_refusal(class, sub))).await;
        assert_eq!(refusal_code(&r.entry), code);
        // After an unknown outcome the same refusal proves nothing: the entry stays bound.
        let (w, svc) = World::sending(&[]).await;
        w.transfer_gw
            .script_transfer(TransferStep::Answer(TransferOutcome::Unknown("t".into())));
        w.transfer_gw
            .script_transfer(TransferStep::Answer(transfer_refusal(class, sub)));
        svc.send(&treq("t7")).await.unwrap();
        w.clock.advance(hour());
        let e = svc.send(&treq("t7")).await.unwrap().entry;
        let PayoutState::Unknown { last_refusal, .. } = &e.state else {
            panic!("{:?}", e.state);
        };
        assert_eq!(
            last_refusal.as_ref().and_then(|r| r.sub_code.as_deref()),
            Some(sub)
        );
        assert_eq!(e.out_biz_no.as_str(), "pe_t7");
        assert_eq!(w.transfer_gw.query_calls(), 1, "queried before the re-send");
    }
}

#[tokio::test]
async fn retry_later_keeps_the_number_and_counts_toward_attention() {
    let (w, mut svc) = World::sending(&[]).await;
    svc.config.max_attempts = 3;
    let svc = Arc::new(svc);
    for _ in 0..3 {
        w.transfer_gw
            .script_transfer(TransferStep::Answer(transfer_refusal(
                RefusalClass::RetryLater,
                "PAYER_BALANCE_NOT_ENOUGH",
            )));
    }
    let r = svc.send(&treq("t8")).await.unwrap();
    let PayoutState::Unknown { last_refusal, .. } = &r.entry.state else {
        panic!("{:?}", r.entry.state);
    };
    assert_eq!(
        last_refusal.as_ref().unwrap().transfer_stable_code(),
        "payer_balance_insufficient"
    );
    let rec = Reconciler {
        service: svc.clone(),
        batch: 10,
    };
    for _ in 0..2 {
        w.clock.advance(hour());
        rec.run_once().await.unwrap();
    }
    let e = svc.get(&r.entry.out_biz_no).await.unwrap();
    assert_eq!(e.state.name(), "NEEDS_ATTENTION");
    // The balance is topped up: the next probe sends the same order and it is paid.
    w.clock.advance(hour());
    rec.run_once().await.unwrap();
    let e = svc.get(&r.entry.out_biz_no).await.unwrap();
    assert_eq!(e.state.name(), "SENT");
    let numbers: Vec<_> = w
        .transfer_gw
        .sent()
        .iter()
        .map(|o| o.out_biz_no.to_string())
        .collect();
    assert_eq!(numbers, vec!["pe_t8"; 4]);
}

#[tokio::test]
async fn a_failed_order_found_by_query_is_a_failure() {
    for (status, code) in [
        (TransferStatus::Fail, "transfer_failed"),
        (TransferStatus::Closed, "transfer_closed"),
        (TransferStatus::Refund, "transfer_refunded"),
    ] {
        let (w, svc) = World::sending(&[]).await;
        w.transfer_gw
            .script_transfer(TransferStep::Answer(TransferOutcome::Unknown("t".into())));
        svc.send(&treq("t9")).await.unwrap();
        w.transfer_gw
            .script_query(TransferLookup::Found(receipt("pe_t9", status)));
        w.clock.advance(hour());
        let e = svc.send(&treq("t9")).await.unwrap().entry;
        assert_eq!(refusal_code(&e), code);
        assert_eq!(w.transfer_gw.transfer_calls(), 1, "no re-send");
    }
    // A failed order's error code is more precise than its status.
    let mut r = receipt("x", TransferStatus::Fail);
    r.error_code = Some("PAYEE_NOT_EXIST".into());
    let terms = transfer_settings().terms(fen(150));
    let Some(PayoutState::Failed { refusal }) = transfer::receipt_state(&terms, &r, true) else {
        panic!()
    };
    assert_eq!(refusal.transfer_stable_code(), "payee_invalid");
}

#[tokio::test]
async fn an_unfinished_or_unanswered_query_leaves_the_entry_unresolved() {
    let unresolved = [
        TransferLookup::Found(receipt("pe_ta", TransferStatus::Dealing)),
        TransferLookup::Found(receipt("pe_ta", TransferStatus::WaitPay)),
        TransferLookup::Found(receipt("pe_ta", TransferStatus::Other("NEW".into()))),
        TransferLookup::Found(TransferReceipt::default()),
        TransferLookup::Found(receipt("pe_other", TransferStatus::Success)),
        TransferLookup::Unknown("timeout".into()),
        TransferLookup::Refused(
            match transfer_refusal(RefusalClass::Configuration, "isv.x") {
                TransferOutcome::Refused(r) => r,
                _ => unreachable!(),
            },
        ),
    ];
    for answer in unresolved {
        let (w, svc) = World::sending(&[]).await;
        w.transfer_gw
            .script_transfer(TransferStep::Answer(TransferOutcome::Unknown("t".into())));
        svc.send(&treq("ta")).await.unwrap();
        w.transfer_gw.script_query(answer.clone());
        w.clock.advance(hour());
        let e = svc.send(&treq("ta")).await.unwrap().entry;
        assert_eq!(e.state.name(), "UNKNOWN", "{answer:?}");
        assert_eq!(w.transfer_gw.transfer_calls(), 1, "{answer:?}: no re-send");
        assert_eq!(e.attempts, 2);
    }
}

#[tokio::test]
async fn alipays_paid_amount_is_recorded_when_it_differs() {
    let w = World::new();
    let mut r = receipt("pe_tb", TransferStatus::Success);
    r.amount = Some(fen(149));
    w.transfer_gw
        .script_transfer(TransferStep::Answer(TransferOutcome::Accepted(r)));
    let e = w.send_service().send(&treq("tb")).await.unwrap().entry;
    assert!(matches!(e.state, PayoutState::Sent { amount_fen: Some(a), .. } if a == fen(149)));
}

#[tokio::test]
async fn bad_amounts_and_rail_mismatches_are_refused_before_anything_is_written() {
    let (w, svc) = World::sending(&[]).await;
    let code = |i: SendInput| {
        let svc = &svc;
        async move {
            match i.validate() {
                Err(e) => e.code(),
                Ok(r) => svc.send(&r).await.unwrap_err().code(),
            }
        }
    };
    let with = |f: &dyn Fn(&mut SendInput)| {
        let mut i = input("bad");
        f(&mut i);
        i
    };
    for text in ["1.234", "-1", "abc", "", "0", "0.00", " 1.00", "1e2"] {
        let i = with(&|i| i.amount = Some(text.into()));
        assert_eq!(code(i).await, "invalid_amount", "{text}");
    }
    assert_eq!(
        code(with(&|i| i.amount = Some("200.01".into()))).await,
        "amount_above_cap"
    );
    assert_eq!(code(with(&|i| i.amount = None)).await, "amount_required");
    assert_eq!(
        code(with(&|i| i.rail = Some("wire".into()))).await,
        "invalid_rail"
    );
    assert_eq!(
        code(with(&|i| i.crowd_no = Some("C1".into()))).await,
        "crowd_no_not_for_transfer"
    );
    assert_eq!(
        code(with(&|i| i.rail = Some("campaign".into()))).await,
        "amount_not_for_campaign"
    );
    let mut no_pwd = w.send_service();
    if let Some(rail) = no_pwd.transfer.as_mut() {
        rail.settings.product = TransferProduct::TransAccountNoPwd;
    }
    let small = with(&|i| i.amount = Some("0.09".into()))
        .validate()
        .unwrap();
    assert_eq!(
        no_pwd.send(&small).await.unwrap_err().code(),
        "amount_below_minimum"
    );
    let mut none = w.send_service();
    none.transfer = None;
    let err = none.send(&treq("bad")).await.unwrap_err();
    assert_eq!(err.code(), "transfer_rail_not_configured");
    assert_eq!(err.kind(), ErrorKind::Unprocessable);
    assert!(w.store.all_payouts().is_empty());
    assert_eq!(w.transfer_gw.transfer_calls(), 0);
}

#[tokio::test]
async fn the_reason_mapping_chooses_the_rail_and_the_amount() {
    let mut svc = World::new().send_service();
    svc.reason_rails
        .insert(Reason::Referral, RailName::Transfer);
    let req = SendInput {
        reason: Some("referral".into()),
        business_id: Some("r1".into()),
        user_id: Some(USER.into()),
        ..SendInput::default()
    }
    .validate()
    .unwrap();
    let e = svc.send(&req).await.unwrap().entry;
    assert_eq!(e.rail.name(), RailName::Transfer);
    assert_eq!(e.rail.transfer().unwrap().amount_fen, fen(100));
    assert_eq!(e.out_biz_no.as_str(), "rf_r1");
}

#[tokio::test]
async fn a_business_id_is_paid_on_one_rail_only() {
    let (w, svc) = World::sending(&[("C1", 200, 10, 5)]).await;
    let campaign = campaign_req("both");
    let paid = svc.send(&campaign).await.unwrap().entry;
    assert_eq!(paid.state.name(), "SENT");
    // A repeat asking for the other rail is not answered as if honoured: the conflict names it.
    let again = svc.send(&treq("both")).await.unwrap_err();
    assert_eq!(again.code(), "conflicting_repeat");
    assert_eq!(w.transfer_gw.transfer_calls(), 0);
    let exact = svc.send(&campaign).await.unwrap();
    assert!(exact.replayed);
    assert_eq!(exact.entry, paid);
    // An unresolved transfer keeps its number and rail whatever a repeat asks for.
    w.transfer_gw
        .script_transfer(TransferStep::Answer(TransferOutcome::Unknown("t".into())));
    let t = svc.send(&treq("other")).await.unwrap().entry;
    let mut on_campaign = campaign.clone();
    on_campaign.business_id = BusinessId::parse("other").unwrap();
    let r = svc.send(&on_campaign).await.unwrap();
    assert_eq!(r.entry.out_biz_no, t.out_biz_no);
    assert_eq!(r.entry.rail.name(), RailName::Transfer);
    assert_eq!(w.cash_gw.trigger_calls(), 1);
    // A failed transfer frees the business id for the campaign rail (attempt 2, new number).
    w.transfer_gw
        .script_transfer(TransferStep::CommitWithStatus(TransferStatus::Fail));
    svc.send(&treq("third")).await.unwrap();
    on_campaign.business_id = BusinessId::parse("third").unwrap();
    let r = svc.send(&on_campaign).await.unwrap().entry;
    assert_eq!(
        (r.out_biz_no.as_str(), r.rail.name(), r.state.name()),
        ("pe2_third", RailName::Campaign, "SENT")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_transfers_of_one_business_id_pay_once() {
    let w = World::new_real_time();
    let svc = Arc::new(w.send_service());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move { svc.send(&treq("c1")).await }));
    }
    for t in tasks {
        let _ = t.await.unwrap();
    }
    assert_eq!(w.transfer_gw.transfer_calls(), 1);
    assert_eq!(w.transfer_gw.paid(), vec!["pe_c1".to_owned()]);
}

#[test]
fn entries_without_a_rail_read_as_campaign_and_transfer_terms_round_trip() {
    let legacy = serde_json::json!({
        "outBizNo": "pe_a", "reason": "points_exchange", "businessId": "a", "attemptNo": 1,
        "crowdNo": "C1", "recipient": {"userId": USER}, "state": "PENDING", "fence": "f",
        "leaseUntil": 1, "attempts": 1, "createdAt": 1, "updatedAt": 1
    });
    let e: PayoutEntry = serde_json::from_value(legacy).unwrap();
    assert_eq!(e.rail.crowd_no().map(CrowdNo::as_str), Some("C1"));
    let written = serde_json::to_value(&e).unwrap();
    assert_eq!(written["rail"], "campaign");
    let transfer = PayoutEntry {
        rail: PayoutRail::Transfer(transfer_settings().terms(fen(150))),
        state: PayoutState::Sent {
            amount_fen: Some(fen(150)),
            biz_no: None,
            repeat_trigger_flag: false,
            order_id: Some("O1".into()),
            pay_fund_order_id: Some("P1".into()),
        },
        ..e
    };
    let v = serde_json::to_value(&transfer).unwrap();
    assert_eq!(v["rail"], "transfer");
    assert_eq!(v["transfer"]["amountFen"], 150);
    assert_eq!(v["transfer"]["product"], "STD_RED_PACKET");
    assert_eq!(v["transfer"]["sceneReportInfos"][0]["infoType"], "活动名称");
    assert_eq!(v["orderId"], "O1");
    assert!(v.get("crowdNo").is_none());
    assert_eq!(serde_json::from_value::<PayoutEntry>(v).unwrap(), transfer);
    let view = serde_json::to_value(transfer.view()).unwrap();
    assert_eq!(view["rail"], "transfer");
    assert_eq!(view["transfer"]["amountFen"], 150);
    // A record naming both rails, or neither, is corrupt rather than guessed.
    let mut both = serde_json::to_value(&transfer).unwrap();
    both["crowdNo"] = "C1".into();
    assert!(serde_json::from_value::<PayoutEntry>(both).is_err());
}

#[test]
fn transfer_refusals_map_to_stable_codes() {
    let r = |code: &str, sub: Option<&str>, text: &str| Refusal {
        failure_reason: text.into(),
        code: Some(code.into()),
        sub_code: sub.map(Into::into),
    };
    // Refusals of a call: the sub_code decides.
    let by_sub_code = [
        ("PAYEE_NOT_EXIST", "payee_invalid"),
        ("PAYEE_USER_INFO_ERROR", "payee_invalid"),
        ("PAYEE_NOT_RELNAME_CERTIFY", "payee_cannot_receive"),
        ("BALANCE_IS_NOT_ENOUGH", "payer_balance_insufficient"),
        ("EXCEED_LIMIT_DM_AMOUNT", "transfer_limit_reached"),
        ("EXCEED_LIMIT_SM_MIN_AMOUNT", "transfer_amount_refused"),
        ("PRODUCT_NOT_SIGN", "transfer_not_configured"),
    ]
    .map(|(sub, code)| (r("40004", Some(sub), "x"), code));
    for (refusal, code) in by_sub_code.into_iter().chain([
        (
            r("40006", Some("isv.missing-app-cert-sn"), "x"),
            "transfer_not_configured",
        ),
        (r(ORDER_FAILED, None, "活动已关闭"), "transfer_failed"),
        (r(ORDER_CLOSED, None, "x"), "transfer_closed"),
        (r(ORDER_REFUNDED, None, "x"), "transfer_refunded"),
        // Alipay's text is never read on this rail (it would say campaign_closed otherwise).
        (
            r("40004", Some("SOMETHING_NEW"), "已关闭"),
            "transfer_refused",
        ),
    ]) {
        assert_eq!(refusal.transfer_stable_code(), code, "{refusal:?}");
    }
}

#[test]
fn transfer_settings_are_checked_at_init() {
    assert!(transfer_settings().check().is_ok());
    let broken: [&dyn Fn(&mut TransferSettings); 6] = [
        &|s| s.order_title = " ".into(),
        &|s| s.scene_name = String::new(),
        &|s| s.scene_report_infos.clear(),
        &|s| s.scene_report_infos[1].info_type = "活动名称".into(),
        &|s| s.notify_url = Some("ftp://x".into()),
        &|s| {
            s.default_amounts
                .insert(Reason::PointsExchange, fen(100_000));
        },
    ];
    for (i, f) in broken.iter().enumerate() {
        let mut s = transfer_settings();
        f(&mut s);
        assert!(s.check().is_err(), "case {i}");
    }
}
