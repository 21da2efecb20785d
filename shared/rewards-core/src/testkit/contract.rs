//! The store contract: what every implementation of the store ports must do, conditional writes
//! and races included. One function per port (or per group of ports written together), generic
//! over the store, so the in-memory store of the core's tests and the DynamoDB store run the very
//! same assertions; each implementation writes its conditions on its own, and this is what checks
//! that they agree.
//!
//! Every function expects a fresh, empty store. The race functions spawn tasks, so they need a
//! multi-threaded tokio runtime to mean anything.

use crate::campaign::{Campaign, CampaignStatus, SlotRecord, SlotState};
use crate::claim::{ClaimAccount, Issuance, IssuedPass};
use crate::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState, StoredResponse};
use crate::ids::*;
use crate::pass::{PassRecord, PassStatus};
use crate::payout::{
    beijing_day, derive_out_biz_no, ListRequest, PayoutCursor, PayoutEntry, PayoutFilter,
    PayoutRail, PayoutState, PayoutStateName, RailName, Reason, Recipient, TransferTerms,
};
use crate::ports::*;
use crate::template::{default_rule, TemplateRecord};
use crate::time::Timestamp;
use crate::AmountFen;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// The user of every fixture.
pub const USER: &str = "2088000000000001";

// ------------------------------------------------------------------ fixtures

/// A template created at `at` (epoch ms).
pub fn tpl(id: &str, at: i64) -> TemplateRecord {
    let mut rules = BTreeMap::new();
    for v in ["activeTime", "expireTime", "serialNumber", "channelID"] {
        rules.insert(v.to_owned(), default_rule(v).unwrap());
    }
    TemplateRecord {
        template_id: TemplateId::parse(id).unwrap(),
        unique_id: format!("u{id}"),
        tpl_content: serde_json::json!({"logo": "https://x.example/l.png"}),
        rules,
        tpl_params: vec!["serialNumber".into()],
        per_user_limit: 1,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

/// A fresh account of [`USER`] on `tpl1` holding nothing (so it expires).
pub fn account(fence: &str) -> ClaimAccount {
    ClaimAccount {
        template_id: TemplateId::parse("tpl1").unwrap(),
        user_id: UserId::parse(USER).unwrap(),
        issued: 0,
        passes: vec![],
        pending: None,
        last_failure: None,
        fence: fence.into(),
        expires_at: Some(Timestamp(86_400_000)),
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    }
}

/// `a` with an issuance of serial `S1` in flight, due at `due`.
pub fn in_flight(a: &ClaimAccount, fence: &str, due: i64) -> ClaimAccount {
    ClaimAccount {
        pending: Some(Issuance {
            n: a.issued + 1,
            serial_number: SerialNumber::parse("S1").unwrap(),
            params: BTreeMap::from([("serialNumber".to_owned(), "S1".to_owned())]),
            token_hash: "h".into(),
            lease_until: Timestamp(due),
            attempts: 1,
            checks: 0,
            next_check_at: Timestamp(due),
            started_at: Timestamp(1),
        }),
        fence: fence.into(),
        expires_at: None,
        ..a.clone()
    }
}

/// `a` with its issuance completed as pass `pass_id`.
pub fn completed(a: &ClaimAccount, fence: &str, pass_id: &str) -> ClaimAccount {
    let mut passes = a.passes.clone();
    passes.push(IssuedPass {
        n: a.issued + 1,
        pass_id: PassId::parse(pass_id).unwrap(),
        serial_number: SerialNumber::parse("S1").unwrap(),
        token_hash: Some("h".into()),
    });
    ClaimAccount {
        issued: a.issued + 1,
        passes,
        pending: None,
        fence: fence.into(),
        expires_at: None,
        ..a.clone()
    }
}

/// An ACTIVE pass of [`USER`] created at `at`.
pub fn pass(id: &str, at: i64) -> PassRecord {
    PassRecord {
        pass_id: PassId::parse(id).unwrap(),
        user_id: UserId::parse(USER).unwrap(),
        template_id: TemplateId::parse("tpl1").unwrap(),
        serial_number: SerialNumber::parse("S1").unwrap(),
        status: PassStatus::Active,
        params: BTreeMap::new(),
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

/// A CREATED campaign created at `at`.
pub fn camp(crowd: &str, at: i64) -> Campaign {
    Campaign {
        crowd_no: CrowdNo::parse(crowd).unwrap(),
        coupon_name: "n".into(),
        prize_type: PrizeType::Fixed,
        total_money: AmountFen::from_fen(1000).unwrap(),
        total_num: 5,
        prize_msg: "m".into(),
        start_time: "NowTime".into(),
        end_time: "2030-01-01 00:00:00".into(),
        merchant_link: "https://x.example".into(),
        send_frequency: None,
        pay_url: Some("https://pay.example/?a=1&b=2".into()),
        pay_instructions: None,
        status: CampaignStatus::Created,
        origin_crowd_no: None,
        send_amount: None,
        slot: None,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

/// The `monday` plan's slot `2024-06-03`.
pub fn slot(fence: &str, state: SlotState) -> SlotRecord {
    SlotRecord {
        plan_id: "monday".into(),
        slot: "2024-06-03".into(),
        coupon_name: "n 2024-06-03".into(),
        state,
        fence: fence.into(),
        lease_until: Timestamp(0),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

/// Attempt `attempt` of referral `bid` to [`USER`], PENDING.
pub fn entry(bid: &str, attempt: u32, fence: &str, lease: i64) -> PayoutEntry {
    let b = BusinessId::parse(bid).unwrap();
    let out = derive_out_biz_no(Reason::Referral, &b, attempt);
    PayoutEntry {
        out_biz_no: out,
        reason: Reason::Referral,
        business_id: b,
        attempt_no: attempt,
        rail: PayoutRail::Campaign {
            crowd_no: CrowdNo::parse("C1").unwrap(),
        },
        recipient: Recipient::UserId(UserId::parse(USER).unwrap()),
        state: PayoutState::Pending,
        fence: fence.into(),
        lease_until: Timestamp(lease),
        attempts: 1,
        throttled_calls: 0,
        created_at: Timestamp(lease),
        updated_at: Timestamp(lease),
    }
}

/// Takes a fresh account through one claim, as the claim service does: created (fence `f1`), its
/// issuance in flight (`f3`, due at 10 000), completed as pass `pass_id` created at `at` (`f4`).
/// Answers the completed account.
pub async fn claim_once<S: ClaimStore + ?Sized>(store: &S, pass_id: &str, at: i64) -> ClaimAccount {
    let a = account("f1");
    assert_eq!(store.create_account(&a).await.unwrap(), Inserted::Inserted);
    let flying = in_flight(&a, "f3", 10_000);
    assert_eq!(
        store.replace_account(&flying, "f1").await.unwrap(),
        CasOutcome::Written
    );
    let done = completed(&flying, "f4", pass_id);
    assert_eq!(
        store
            .complete_issuance(&done, "f3", &pass(pass_id, at))
            .await
            .unwrap(),
        CasOutcome::Written
    );
    done
}

/// A time after every lease and retry time of the fixtures.
pub const LATER: Timestamp = Timestamp(i64::MAX / 2);

/// A compare-and-set (`cas` with the fence it expects) loses with a wrong fence, answering the
/// current record, and writes with `fence`.
async fn fenced<T, F, Fut>(cas: F, fence: &'static str)
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = Result<CasOutcome<T>, StoreError>>,
    T: PartialEq + std::fmt::Debug,
{
    assert!(matches!(
        cas("wrong").await.unwrap(),
        CasOutcome::Lost(Some(_))
    ));
    assert_eq!(cas(fence).await.unwrap(), CasOutcome::Written);
}

/// A due listing (`list` at a time) holds nothing before `due` and `expected` from `due` on.
async fn due_from<T, F, Fut>(list: F, due: i64, expected: &T)
where
    F: Fn(Timestamp) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
    T: Clone + PartialEq + std::fmt::Debug,
{
    assert!(list(Timestamp(due - 1)).await.unwrap().is_empty());
    assert_eq!(list(Timestamp(due)).await.unwrap(), vec![expected.clone()]);
}

/// Acquires the fixture slot for a new creation with fence `fence`.
async fn acquire<S: CampaignStore + ?Sized>(store: &S, fence: &str) -> Inserted<SlotRecord> {
    store
        .acquire_slot(&slot(fence, SlotState::Creating))
        .await
        .unwrap()
}

// ------------------------------------------------------------------ templates

/// Put, get, list newest first with a limit.
pub async fn templates<S: TemplateStore + ?Sized>(store: &S) {
    store.put_template(&tpl("a", 1_000)).await.unwrap();
    store.put_template(&tpl("b", 2_000)).await.unwrap();
    assert_eq!(
        store
            .get_template(&TemplateId::parse("a").unwrap())
            .await
            .unwrap(),
        Some(tpl("a", 1_000))
    );
    assert_eq!(
        store
            .get_template(&TemplateId::parse("zz").unwrap())
            .await
            .unwrap(),
        None
    );
    let list = store.list_templates(10).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|t| t.template_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "a"]
    );
    assert_eq!(store.list_templates(1).await.unwrap().len(), 1);
}

// ------------------------------------------------------------------ claim accounts and passes

/// An account's lifecycle: create once, compare-and-set on the fence, the sweep's listing of due
/// issuances, completing an issuance (a pass item is never written twice).
pub async fn claim_accounts<S: ClaimStore + PassStore + ?Sized>(store: &S) {
    let t1 = TemplateId::parse("tpl1").unwrap();
    let u1 = UserId::parse(USER).unwrap();
    let a = account("f1");
    assert_eq!(store.create_account(&a).await.unwrap(), Inserted::Inserted);
    match store.create_account(&account("f2")).await.unwrap() {
        Inserted::Exists(old) => assert_eq!(old.fence, "f1"),
        other => panic!("{other:?}"),
    }
    let flying = in_flight(&a, "f3", 10_000);
    fenced(|fence| store.replace_account(&flying, fence), "f1").await;
    assert_eq!(store.get_account(&t1, &u1).await.unwrap().unwrap(), flying);
    // In flight and due: listed for the sweep; not before its due time.
    due_from(|t| store.list_unresolved(t, 10), 10_000, &flying).await;
    let done = completed(&flying, "f4", "p1");
    assert_eq!(
        store
            .complete_issuance(&done, "f3", &pass("p1", 5_000))
            .await
            .unwrap(),
        CasOutcome::Written
    );
    assert!(store.list_unresolved(LATER, 10).await.unwrap().is_empty());
    // A stale holder loses; a pass item is never written twice.
    match store
        .complete_issuance(&completed(&flying, "f5", "p2"), "f3", &pass("p2", 6_000))
        .await
        .unwrap()
    {
        CasOutcome::Lost(Some(cur)) => assert_eq!(cur.passes[0].pass_id.as_str(), "p1"),
        other => panic!("{other:?}"),
    }
    let again = in_flight(&done, "f6", 7_000);
    store.replace_account(&again, "f4").await.unwrap();
    assert!(matches!(
        store
            .complete_issuance(&completed(&again, "f7", "p1"), "f6", &pass("p1", 7_000))
            .await
            .unwrap(),
        CasOutcome::Lost(Some(_))
    ));
    assert_eq!(
        store
            .get_pass(&PassId::parse("p1").unwrap())
            .await
            .unwrap()
            .unwrap()
            .created_at,
        Timestamp(5_000)
    );
    assert_eq!(
        store.replace_account(&account("f8"), "f6").await.unwrap(),
        CasOutcome::Written
    );
}

/// Failed-claims counters: buckets, counted since a time, scopes kept apart.
pub async fn claim_budgets<S: ClaimBudgetStore + ?Sized>(store: &S) {
    let t1 = TemplateId::parse("tpl1").unwrap();
    let u1 = UserId::parse(USER).unwrap();
    let scope = BudgetScope::TemplateUser(t1.clone(), u1);
    for bucket in [0, 300_000, 300_000, 600_000] {
        store
            .add_failure(&scope, Timestamp(bucket), Timestamp(bucket + 3_900_000))
            .await
            .unwrap();
    }
    let other = BudgetScope::Template(t1);
    store
        .add_failure(&other, Timestamp(0), Timestamp(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .failures_since(&scope, Timestamp(300_000))
            .await
            .unwrap(),
        vec![(Timestamp(300_000), 2), (Timestamp(600_000), 1)]
    );
    assert_eq!(
        store.failures_since(&other, Timestamp(0)).await.unwrap(),
        vec![(Timestamp(0), 1)]
    );
}

/// Passes stored by two claims: by user newest first, by id, a status change is a compare-and-set
/// on the status it was decided on, and both views agree.
pub async fn passes<S: ClaimStore + PassStore + ?Sized>(store: &S) {
    for (tpl_id, pass_id, at) in [("tpl1", "p1", 5_000), ("tpl2", "p9", 9_000)] {
        let a = ClaimAccount {
            template_id: TemplateId::parse(tpl_id).unwrap(),
            ..in_flight(&account("g0"), "g1", 0)
        };
        store.create_account(&a).await.unwrap();
        assert_eq!(
            store
                .complete_issuance(&completed(&a, "g2", pass_id), "g1", &pass(pass_id, at))
                .await
                .unwrap(),
            CasOutcome::Written
        );
    }
    let user = UserId::parse(USER).unwrap();
    let passes = store.list_user_passes(&user, 10).await.unwrap();
    assert_eq!(
        passes
            .iter()
            .map(|p| p.pass_id.as_str())
            .collect::<Vec<_>>(),
        vec!["p9", "p1"]
    );
    assert_eq!(store.list_user_passes(&user, 1).await.unwrap().len(), 1);
    let mut used = passes[1].clone();
    used.status = PassStatus::Used;
    assert_eq!(
        store.update_pass(&used, PassStatus::Active).await.unwrap(),
        CasOutcome::Written
    );
    assert_eq!(
        store.get_pass(&used.pass_id).await.unwrap().unwrap().status,
        PassStatus::Used
    );
    assert_eq!(
        store.list_user_passes(&user, 10).await.unwrap()[1].status,
        PassStatus::Used
    );
    // A writer that decided on ACTIVE (a stale read) loses to the USED already stored.
    let mut stale = passes[1].clone();
    stale.status = PassStatus::Closed;
    assert_eq!(
        store.update_pass(&stale, PassStatus::Active).await.unwrap(),
        CasOutcome::Lost(Some(used.clone()))
    );
    assert_eq!(
        store.get_pass(&used.pass_id).await.unwrap().unwrap().status,
        PassStatus::Used
    );
    // From the status it read, it wins.
    assert_eq!(
        store.update_pass(&stale, PassStatus::Used).await.unwrap(),
        CasOutcome::Written
    );
    assert_eq!(
        store.list_user_passes(&user, 10).await.unwrap()[1].status,
        PassStatus::Closed
    );
    assert_eq!(
        store
            .update_pass(&pass("ghost", 1), PassStatus::Active)
            .await
            .unwrap(),
        CasOutcome::Lost(None)
    );
}

/// Ten status changes decided on the same read race: exactly one is stored, on both items.
pub async fn racing_status_writes<S: ClaimStore + PassStore + 'static>(store: Arc<S>) {
    claim_once(&*store, "p-race", 1).await;
    let read = store
        .get_pass(&PassId::parse("p-race").unwrap())
        .await
        .unwrap()
        .unwrap();
    let written =
        winners(&store, 10, |store, i| {
            let mut next = read.clone();
            next.status = if i % 2 == 0 {
                PassStatus::Used
            } else {
                PassStatus::Closed
            };
            async move {
                store.update_pass(&next, PassStatus::Active).await.unwrap() == CasOutcome::Written
            }
        })
        .await;
    assert_eq!(
        written, 1,
        "exactly one change from the same read is stored"
    );
    let by_id = store.get_pass(&read.pass_id).await.unwrap().unwrap();
    let by_user = store
        .list_user_passes(&read.user_id, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.pass_id == read.pass_id)
        .unwrap();
    assert_eq!(by_id.status, by_user.status, "both items agree");
}

/// Twenty racing creates of one account: one wins; twenty racing takeovers of one fence: one wins.
pub async fn racing_account_writes<S: ClaimStore + 'static>(store: Arc<S>) {
    let wins = winners(&store, 20, |store, i| async move {
        store
            .create_account(&account(&format!("f{i}")))
            .await
            .unwrap()
            == Inserted::Inserted
    })
    .await;
    assert_eq!(wins, 1);
    let cur = store
        .get_account(
            &TemplateId::parse("tpl1").unwrap(),
            &UserId::parse(USER).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let wins = winners(&store, 20, |store, i| {
        let next = in_flight(&cur, &format!("t{i}"), 0);
        let expected = cur.fence.clone();
        async move { store.replace_account(&next, &expected).await.unwrap() == CasOutcome::Written }
    })
    .await;
    assert_eq!(wins, 1);
}

// ------------------------------------------------------------------ campaigns and slots

/// Campaigns (put replaces, listed newest first) and schedule slots (acquired once unless FAILED,
/// compare-and-set on the fence).
pub async fn campaigns_and_slots<S: CampaignStore + ?Sized>(store: &S) {
    store.put_campaign(&camp("C1", 1)).await.unwrap();
    store.put_campaign(&camp("C2", 2)).await.unwrap();
    let mut c1 = camp("C1", 1);
    c1.status = CampaignStatus::Ready;
    store.put_campaign(&c1).await.unwrap();
    assert_eq!(
        store.get_campaign(&c1.crowd_no).await.unwrap(),
        Some(c1.clone())
    );
    let list = store.list_campaigns(10).await.unwrap();
    assert_eq!(
        list.iter().map(|c| c.crowd_no.as_str()).collect::<Vec<_>>(),
        vec!["C2", "C1"]
    );
    assert_eq!(store.list_campaigns(1).await.unwrap().len(), 1);

    assert_eq!(acquire(store, "a").await, Inserted::Inserted);
    assert!(matches!(acquire(store, "b").await, Inserted::Exists(s) if s.fence == "a"));
    let failed = slot(
        "c",
        SlotState::Failed {
            failure: GatewayFailure {
                code: "40004".into(),
                ..Default::default()
            },
        },
    );
    fenced(|fence| store.replace_slot(&failed, fence), "a").await;
    // A FAILED slot may be acquired again; a CREATED one not.
    assert_eq!(acquire(store, "d").await, Inserted::Inserted);
    let created = slot(
        "e",
        SlotState::Created {
            crowd_no: CrowdNo::parse("C1").unwrap(),
        },
    );
    assert_eq!(
        store.replace_slot(&created, "d").await.unwrap(),
        CasOutcome::Written
    );
    assert!(matches!(acquire(store, "f").await, Inserted::Exists(_)));
    assert_eq!(
        store
            .get_slot("monday", "2024-06-03")
            .await
            .unwrap()
            .unwrap()
            .state,
        created.state
    );
    assert_eq!(store.get_slot("monday", "nope").await.unwrap(), None);
}

// ------------------------------------------------------------------ payout ledger

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
        ..super::transfer_settings().terms(AmountFen::from_fen(150).unwrap())
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

/// Starts `n` writes on `store` at once (write `i` made by `write(store, i)`, each answering
/// whether it won) and counts the winners once all have ended.
async fn winners<S, F, Fut>(store: &Arc<S>, n: usize, write: F) -> usize
where
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(write(store.clone(), i)))
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    wins
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

// ------------------------------------------------------------------ idempotency keys

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

/// Runs every function of the contract that needs one task, each on a fresh store from `fresh`:
/// the one list both implementations run.
pub async fn single_task_cases<S, F, Fut>(fresh: F)
where
    S: TemplateStore
        + ClaimStore
        + ClaimBudgetStore
        + PassStore
        + CampaignStore
        + PayoutStore
        + IdempotencyStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    templates(&fresh().await).await;
    claim_accounts(&fresh().await).await;
    claim_budgets(&fresh().await).await;
    passes(&fresh().await).await;
    campaigns_and_slots(&fresh().await).await;
    payout_ledger(&fresh().await).await;
    payout_listing(&fresh().await).await;
    payout_rails(&fresh().await).await;
    idempotency(&fresh().await).await;
}

/// Runs every race of the contract, each on a fresh store from `fresh` (on a multi-threaded
/// runtime, or they prove little).
pub async fn races<S, F, Fut>(fresh: F)
where
    S: ClaimStore + PassStore + PayoutStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    racing_status_writes(Arc::new(fresh().await)).await;
    racing_account_writes(Arc::new(fresh().await)).await;
    racing_payout_writes(Arc::new(fresh().await)).await;
}

/// The in-memory store of the core's tests against the contract (the DynamoDB store runs the same
/// functions in `rewards-aws`'s tests).
#[cfg(test)]
mod mem_store {
    use crate::testkit::MemStore;

    #[tokio::test]
    async fn single_task_cases() {
        super::single_task_cases(|| async { MemStore::default() }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn races() {
        super::races(|| async { MemStore::default() }).await;
    }
}
