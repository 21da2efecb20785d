//! The payout ledger: attempts and pointers, rails, the operator's listing, and the races.

use super::fixtures::*;
use crate::ids::*;
use crate::payout::{
    beijing_day, derive_out_biz_no, ListRequest, PayoutCursor, PayoutFilter, PayoutRail,
    PayoutState, PayoutStateName, RailName, Reason, Recipient, TransferTerms,
};
use crate::ports::*;
use crate::time::Timestamp;
use crate::AmountFen;
use std::sync::Arc;

/// The ledger: an attempt starts once per pointer expectation, entries are compare-and-set on the
/// fence, due entries are listed once their lease or retry time has passed, a recipient's entries
/// newest first.
pub async fn payout_ledger<S: PayoutStore + ?Sized>(store: &S) {
    let e = entry("r1", 1, "f1", 1_000);
    assert!(store.start_attempt(&e, None).await.unwrap());
    assert!(!store.start_attempt(&e, None).await.unwrap());
    assert_eq!(
        store
            .get_pointer(Reason::Referral, &e.business_id)
            .await
            .unwrap(),
        Some(e.pointer())
    );
    assert_eq!(
        store.get_payout(&e.out_biz_no).await.unwrap(),
        Some(e.clone())
    );
    // Due once the lease has passed.
    due_from(|t| store.list_due(t, 10), 1_000, &e).await;
    // CAS: wrong fence loses, right fence writes; a final state is no longer due.
    let mut sent = e.clone();
    sent.state = PayoutState::Sent {
        amount_fen: Some(AmountFen::from_fen(200).unwrap()),
        biz_no: Some("B1".into()),
        repeat_trigger_flag: false,
        order_id: None,
        pay_fund_order_id: None,
    };
    sent.fence = "f2".into();
    assert_eq!(
        store.cas_payout(&sent, "nope").await.unwrap(),
        CasOutcome::Lost(Some(e.clone()))
    );
    assert_eq!(
        store.cas_payout(&sent, "f1").await.unwrap(),
        CasOutcome::Written
    );
    assert!(store.list_due(LATER, 10).await.unwrap().is_empty());
    // UNKNOWN is due at next_retry_at.
    let e2 = entry("r2", 1, "g1", 2_000);
    assert!(store.start_attempt(&e2, None).await.unwrap());
    let mut unk = e2.clone();
    unk.state = PayoutState::Unknown {
        next_retry_at: Timestamp(50_000),
        last_error: "timeout".into(),
        last_refusal: None,
    };
    unk.fence = "g2".into();
    assert_eq!(
        store.cas_payout(&unk, "g1").await.unwrap(),
        CasOutcome::Written
    );
    due_from(|t| store.list_due(t, 10), 50_000, &unk).await;
    // Next attempt after a failure: pointer moves from 1 to 2 only with the right expectation.
    let e3 = entry("r1", 2, "h1", 3_000);
    assert!(!store.start_attempt(&e3, None).await.unwrap());
    assert!(!store.start_attempt(&e3, Some(7)).await.unwrap());
    assert!(store.start_attempt(&e3, Some(1)).await.unwrap());
    assert_eq!(
        store
            .get_pointer(Reason::Referral, &e3.business_id)
            .await
            .unwrap()
            .unwrap()
            .attempt_no,
        2
    );
    // Due entries oldest due first, up to the limit.
    let due = store.list_due(LATER, 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|e| e.out_biz_no.as_str())
            .collect::<Vec<_>>(),
        vec!["rf2_r1", "rf_r2"]
    );
    assert_eq!(store.list_due(LATER, 1).await.unwrap().len(), 1);
    // By recipient, newest first.
    let who = Recipient::UserId(UserId::parse(USER).unwrap());
    let mine = store.list_by_recipient(&who, 10).await.unwrap();
    assert_eq!(
        mine.iter()
            .map(|e| e.out_biz_no.as_str())
            .collect::<Vec<_>>(),
        vec!["rf2_r1", "rf_r2", "rf_r1"]
    );
    let other = Recipient::OpenId(OpenId::parse("abc").unwrap());
    assert!(store
        .list_by_recipient(&other, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Both rails in one ledger: a transfer entry keeps every term it was written with, and the
/// listing filters by rail (entries written before the transfer rail count as campaign).
pub async fn payout_rails<S: PayoutStore + ?Sized>(store: &S) {
    let campaign = entry("camp", 1, "f", 0);
    assert!(store.start_attempt(&campaign, None).await.unwrap());
    let mut transfer = entry("xfer", 1, "f", 0);
    transfer.created_at = Timestamp(1);
    transfer.rail = PayoutRail::Transfer(TransferTerms {
        product: TransferProduct::TransAccountNoPwd,
        ..crate::testkit::transfer_settings().terms(AmountFen::from_fen(150).unwrap())
    });
    assert!(store.start_attempt(&transfer, None).await.unwrap());
    assert_eq!(
        store.get_payout(&transfer.out_biz_no).await.unwrap(),
        Some(transfer.clone())
    );
    let mut paid = transfer.clone();
    paid.state = PayoutState::Sent {
        amount_fen: Some(AmountFen::from_fen(150).unwrap()),
        biz_no: None,
        repeat_trigger_flag: false,
        order_id: Some("20261129O1".into()),
        pay_fund_order_id: Some("20261129P1".into()),
    };
    paid.fence = "f2".into();
    assert_eq!(
        store.cas_payout(&paid, "f").await.unwrap(),
        CasOutcome::Written
    );
    assert_eq!(
        store.get_payout(&paid.out_biz_no).await.unwrap(),
        Some(paid.clone())
    );
    let on = |rail| PayoutFilter {
        rail: Some(rail),
        ..Default::default()
    };
    assert_eq!(all_pages(store, on(RailName::Transfer), 10).await, ["xfer"]);
    assert_eq!(all_pages(store, on(RailName::Campaign), 10).await, ["camp"]);
    let c1 = PayoutFilter {
        crowd_no: Some(CrowdNo::parse("C1").unwrap()),
        ..Default::default()
    };
    assert_eq!(all_pages(store, c1, 10).await, ["camp"]);
}

/// The operator's listing (filters, newest first, cursors across pages) and the alarm's counts.
pub async fn payout_listing<S: PayoutStore + ?Sized>(store: &S) {
    // 30 entries a second apart on 2026-11-28 (Beijing), alternating campaigns; every 7th one is
    // NEEDS_ATTENTION, every 5th SENT, the rest PENDING.
    let day = beijing_day("2026-11-28").unwrap().0;
    for i in 0..30i64 {
        let mut e = entry(&format!("l{i:02}"), 1, "f", 0);
        e.created_at = Timestamp(day.millis() + 1_000 * i);
        e.lease_until = e.created_at;
        e.rail = PayoutRail::Campaign {
            crowd_no: CrowdNo::parse(if i % 2 == 0 { "C1" } else { "C2" }).unwrap(),
        };
        if i % 7 == 0 {
            e.state = PayoutState::NeedsAttention {
                next_retry_at: Timestamp(1),
                last_error: "x".into(),
                last_refusal: None,
            };
        } else if i % 5 == 0 {
            e.state = PayoutState::Sent {
                amount_fen: None,
                biz_no: None,
                repeat_trigger_flag: false,
                order_id: None,
                pay_fund_order_id: None,
            };
        }
        assert!(store.start_attempt(&e, None).await.unwrap());
    }
    // One more on the next day.
    let mut late = entry("next_day", 1, "f", 0);
    late.created_at = Timestamp(day.millis() + 86_400_000);
    assert!(store.start_attempt(&late, None).await.unwrap());

    let everything = all_pages(store, PayoutFilter::default(), 7).await;
    assert_eq!(everything.len(), 31);
    assert_eq!(everything[0], "next_day");
    assert_eq!(everything[1], "l29");
    assert_eq!(everything[30], "l00");
    let the_day = PayoutFilter {
        created: Some(beijing_day("2026-11-28").unwrap()),
        ..Default::default()
    };
    assert_eq!(all_pages(store, the_day.clone(), 4).await.len(), 30);
    let attention_c1 = PayoutFilter {
        state: Some(PayoutStateName::NeedsAttention),
        crowd_no: Some(CrowdNo::parse("C1").unwrap()),
        ..the_day
    };
    // 0, 14, 28 are even (C1) multiples of 7.
    assert_eq!(
        all_pages(store, attention_c1, 2).await,
        ["l28", "l14", "l00"]
    );
    let referral_sent = PayoutFilter {
        state: Some(PayoutStateName::Sent),
        reason: Some(Reason::Referral),
        ..Default::default()
    };
    assert_eq!(all_pages(store, referral_sent, 100).await.len(), 5);
    let points = PayoutFilter {
        reason: Some(Reason::PointsExchange),
        ..Default::default()
    };
    assert!(all_pages(store, points, 10).await.is_empty());
    // Unresolved = PENDING + NEEDS_ATTENTION (+ the next day's PENDING).
    let counts = store.unresolved_counts().await.unwrap();
    assert_eq!(counts.needs_attention, 5);
    assert_eq!(counts.unresolved, 31 - 5);
}

/// Every business id the listing returns for `filter`, following cursors `page` entries at a time.
async fn all_pages<S: PayoutStore + ?Sized>(
    store: &S,
    filter: PayoutFilter,
    page: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<PayoutCursor> = None;
    loop {
        let p = store
            .list_payouts(&ListRequest {
                filter: filter.clone(),
                cursor: cursor.clone(),
                limit: page,
            })
            .await
            .unwrap();
        assert!(p.entries.len() <= page);
        out.extend(p.entries.into_iter().map(|e| e.business_id.to_string()));
        match p.next {
            Some(c) => cursor = PayoutCursor::parse(&c.encode()),
            None => break out,
        }
    }
}

/// Twenty racing first attempts of one business id: one starts; twenty racing compare-and-sets
/// from one fence: one is written.
pub async fn racing_payout_writes<S: PayoutStore + 'static>(store: Arc<S>) {
    let wins = winners(&store, 20, |store, i| {
        let e = entry("race", 1, &format!("f{i}"), 0);
        async move { store.start_attempt(&e, None).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
    let cur = store
        .get_payout(&derive_out_biz_no(
            Reason::Referral,
            &BusinessId::parse("race").unwrap(),
            1,
        ))
        .await
        .unwrap()
        .unwrap();
    let wins = winners(&store, 20, |store, i| {
        let mut next = cur.clone();
        next.fence = format!("n{i}");
        let expected = cur.fence.clone();
        async move { store.cas_payout(&next, &expected).await.unwrap() == CasOutcome::Written }
    })
    .await;
    assert_eq!(wins, 1);
}
