//! The records every contract function starts from, and the checks they share.

use crate::campaign::{Campaign, CampaignStatus, SlotRecord, SlotState};
use crate::claim::{ClaimAccount, Issuance, IssuedPass};
use crate::ids::*;
use crate::pass::{PassRecord, PassStatus};
use crate::payout::{derive_out_biz_no, PayoutEntry, PayoutRail, PayoutState, Reason, Recipient};
use crate::ports::*;
use crate::template::{default_rule, TemplateRecord};
use crate::time::Timestamp;
use crate::AmountFen;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// The user of every fixture.
pub const USER: &str = "2088000000000001";

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
pub(super) async fn fenced<T, F, Fut>(cas: F, fence: &'static str)
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
pub(super) async fn due_from<T, F, Fut>(list: F, due: i64, expected: &T)
where
    F: Fn(Timestamp) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
    T: Clone + PartialEq + std::fmt::Debug,
{
    assert!(list(Timestamp(due - 1)).await.unwrap().is_empty());
    assert_eq!(list(Timestamp(due)).await.unwrap(), vec![expected.clone()]);
}

/// Acquires the fixture slot for a new creation with fence `fence`.
pub(super) async fn acquire<S: CampaignStore + ?Sized>(
    store: &S,
    fence: &str,
) -> Inserted<SlotRecord> {
    store
        .acquire_slot(&slot(fence, SlotState::Creating))
        .await
        .unwrap()
}

/// Starts `n` writes on `store` at once (write `i` made by `write(store, i)`, each answering
/// whether it won) and counts the winners once all have ended.
pub(super) async fn winners<S, F, Fut>(store: &Arc<S>, n: usize, write: F) -> usize
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
