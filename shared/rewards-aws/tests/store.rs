//! Every store operation against a real moto server, including conditional-write races.

use async_trait::async_trait;
use rewards_aws::testing::MotoServer;
use rewards_aws::{DynamoStore, KeyProvider, RandomIds, SystemClock};
use rewards_core::campaign::{Campaign, CampaignStatus, SlotRecord, SlotState};
use rewards_core::claim::{ClaimAccount, ClaimQuery, ClaimService, Issuance};
use rewards_core::idempotency::{IdemBegin, IdemKey, IdemRecord, IdemState, StoredResponse};
use rewards_core::ids::*;
use rewards_core::pass::{PassRecord, PassStatus};
use rewards_core::payout::{
    derive_out_biz_no, BizPointer, PayoutCursor, PayoutEntry, PayoutFilter, PayoutState,
    PayoutStateName, Reason, Recipient,
};
use rewards_core::ports::*;
use rewards_core::template::{default_rule, TemplateRecord};
use rewards_core::{AmountFen, GatewayOutcome, Timestamp};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

const USER: &str = "2088000000000001";

async fn setup() -> (MotoServer, Arc<DynamoStore>) {
    let moto = MotoServer::start().expect("moto starts");
    let store = moto.fresh_store().await.expect("table");
    (moto, Arc::new(store))
}

fn tpl(id: &str, at: i64) -> TemplateRecord {
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

fn account(fence: &str) -> ClaimAccount {
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

fn in_flight(a: &ClaimAccount, fence: &str, due: i64) -> ClaimAccount {
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

fn completed(a: &ClaimAccount, fence: &str, pass_id: &str) -> ClaimAccount {
    let mut passes = a.passes.clone();
    passes.push(rewards_core::claim::IssuedPass {
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

fn pass(id: &str, at: i64) -> PassRecord {
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

#[tokio::test]
async fn templates_and_passes() {
    let (_moto, store) = setup().await;
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

    // Claim account lifecycle.
    let t1 = TemplateId::parse("tpl1").unwrap();
    let u1 = UserId::parse(USER).unwrap();
    let a = account("f1");
    assert_eq!(store.create_account(&a).await.unwrap(), Inserted::Inserted);
    match store.create_account(&account("f2")).await.unwrap() {
        Inserted::Exists(old) => assert_eq!(old.fence, "f1"),
        other => panic!("{other:?}"),
    }
    let flying = in_flight(&a, "f3", 10_000);
    assert!(matches!(
        store.replace_account(&flying, "wrong").await.unwrap(),
        CasOutcome::Lost(Some(_))
    ));
    assert_eq!(
        store.replace_account(&flying, "f1").await.unwrap(),
        CasOutcome::Written
    );
    assert_eq!(store.get_account(&t1, &u1).await.unwrap().unwrap(), flying);
    // In flight and due: listed for the sweep; not before its due time.
    assert!(store
        .list_unresolved(Timestamp(9_999), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.list_unresolved(Timestamp(10_000), 10).await.unwrap(),
        vec![flying.clone()]
    );
    let done = completed(&flying, "f4", "p1");
    assert_eq!(
        store
            .complete_issuance(&done, "f3", &pass("p1", 5_000))
            .await
            .unwrap(),
        CasOutcome::Written
    );
    assert!(store
        .list_unresolved(Timestamp(i64::MAX / 2), 10)
        .await
        .unwrap()
        .is_empty());
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
    let raw = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("CLAIM#tpl1#2088000000000001".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        raw.contains_key("gsi1pk"),
        "in flight: indexed for the sweep"
    );
    assert!(!raw.contains_key("expiresAt"), "holds a pass: no TTL");
    store.replace_account(&account("f8"), "f6").await.unwrap();
    let raw = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("CLAIM#tpl1#2088000000000001".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw["expiresAt"].as_n().unwrap(),
        "86401",
        "TTL in epoch seconds"
    );
    assert!(!raw.contains_key("gsi1pk"));

    // Failed-claims counters: buckets, counted since a time, with a TTL.
    let scope = BudgetScope::TemplateUser(t1.clone(), u1.clone());
    for bucket in [0, 300_000, 300_000, 600_000] {
        store
            .add_failure(&scope, Timestamp(bucket), Timestamp(bucket + 3_900_000))
            .await
            .unwrap();
    }
    let other = BudgetScope::Template(t1.clone());
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

    // Passes by user newest first, by id, status update on both items.
    let a2 = in_flight(&completed(&flying, "g0", "p1"), "g1", 0);
    let a2 = ClaimAccount {
        template_id: TemplateId::parse("tpl2").unwrap(),
        ..a2
    };
    store.create_account(&a2).await.unwrap();
    store
        .complete_issuance(&completed(&a2, "g2", "p9"), "g1", &pass("p9", 9_000))
        .await
        .unwrap();
    let user = UserId::parse(USER).unwrap();
    let passes = store.list_user_passes(&user, 10).await.unwrap();
    assert_eq!(
        passes
            .iter()
            .map(|p| p.pass_id.as_str())
            .collect::<Vec<_>>(),
        vec!["p9", "p1"]
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_status_writes_from_the_same_read_one_wins() {
    let (_moto, store) = setup().await;
    let a = account("f1");
    assert_eq!(store.create_account(&a).await.unwrap(), Inserted::Inserted);
    let flying = in_flight(&a, "f2", 10_000);
    assert_eq!(
        store.replace_account(&flying, "f1").await.unwrap(),
        CasOutcome::Written
    );
    assert_eq!(
        store
            .complete_issuance(
                &completed(&flying, "f3", "p-race"),
                "f2",
                &pass("p-race", 1)
            )
            .await
            .unwrap(),
        CasOutcome::Written
    );
    let read = store
        .get_pass(&PassId::parse("p-race").unwrap())
        .await
        .unwrap()
        .unwrap();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        let mut next = read.clone();
        next.status = if i % 2 == 0 {
            PassStatus::Used
        } else {
            PassStatus::Closed
        };
        tasks.push(tokio::spawn(async move {
            store.update_pass(&next, PassStatus::Active).await.unwrap()
        }));
    }
    let mut written = 0;
    for t in tasks {
        if t.await.unwrap() == CasOutcome::Written {
            written += 1;
        }
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_claim_puts_one_wins() {
    let (_moto, store) = setup().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.create_account(&account(&format!("f{i}"))).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == Inserted::Inserted {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    // And 20 racing takeovers of the same fence: one wins.
    let cur = store
        .get_account(
            &TemplateId::parse("tpl1").unwrap(),
            &UserId::parse(USER).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let next = in_flight(&cur, &format!("t{i}"), 0);
        let expected = cur.fence.clone();
        tasks.push(tokio::spawn(async move {
            store.replace_account(&next, &expected).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == CasOutcome::Written {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

fn camp(crowd: &str, at: i64) -> Campaign {
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

fn slot(fence: &str, state: SlotState) -> SlotRecord {
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

#[tokio::test]
async fn campaigns_and_slots() {
    let (_moto, store) = setup().await;
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

    assert_eq!(
        store
            .acquire_slot(&slot("a", SlotState::Creating))
            .await
            .unwrap(),
        Inserted::Inserted
    );
    assert!(
        matches!(store.acquire_slot(&slot("b", SlotState::Creating)).await.unwrap(), Inserted::Exists(s) if s.fence == "a")
    );
    let failed = slot(
        "c",
        SlotState::Failed {
            failure: GatewayFailure {
                code: "40004".into(),
                ..Default::default()
            },
        },
    );
    assert!(matches!(
        store.replace_slot(&failed, "zzz").await.unwrap(),
        CasOutcome::Lost(Some(_))
    ));
    assert_eq!(
        store.replace_slot(&failed, "a").await.unwrap(),
        CasOutcome::Written
    );
    // A FAILED slot may be acquired again; a CREATED one not.
    assert_eq!(
        store
            .acquire_slot(&slot("d", SlotState::Creating))
            .await
            .unwrap(),
        Inserted::Inserted
    );
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
    assert!(matches!(
        store
            .acquire_slot(&slot("f", SlotState::Creating))
            .await
            .unwrap(),
        Inserted::Exists(_)
    ));
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

fn entry(bid: &str, attempt: u32, fence: &str, lease: i64) -> (BizPointer, PayoutEntry) {
    let b = BusinessId::parse(bid).unwrap();
    let out = derive_out_biz_no(Reason::Referral, &b, attempt);
    (
        BizPointer {
            reason: Reason::Referral,
            business_id: b.clone(),
            attempt_no: attempt,
            out_biz_no: out.clone(),
            updated_at: Timestamp(0),
        },
        PayoutEntry {
            out_biz_no: out,
            reason: Reason::Referral,
            business_id: b,
            attempt_no: attempt,
            crowd_no: CrowdNo::parse("C1").unwrap(),
            recipient: Recipient::UserId(UserId::parse(USER).unwrap()),
            state: PayoutState::Pending,
            fence: fence.into(),
            lease_until: Timestamp(lease),
            attempts: 1,
            created_at: Timestamp(lease),
            updated_at: Timestamp(lease),
        },
    )
}

#[tokio::test]
async fn payout_ledger_operations() {
    let (_moto, store) = setup().await;
    let (ptr, e) = entry("r1", 1, "f1", 1_000);
    assert!(store.start_attempt(&ptr, None, &e).await.unwrap());
    assert!(!store.start_attempt(&ptr, None, &e).await.unwrap());
    assert_eq!(
        store
            .get_pointer(Reason::Referral, &ptr.business_id)
            .await
            .unwrap(),
        Some(ptr.clone())
    );
    assert_eq!(
        store.get_payout(&e.out_biz_no).await.unwrap(),
        Some(e.clone())
    );
    // Due once the lease has passed.
    assert!(store.list_due(Timestamp(999), 10).await.unwrap().is_empty());
    assert_eq!(
        store.list_due(Timestamp(1_000), 10).await.unwrap(),
        vec![e.clone()]
    );
    // CAS: wrong fence loses, right fence writes; a final state clears the due marker.
    let mut sent = e.clone();
    sent.state = PayoutState::Sent {
        amount_fen: Some(AmountFen::from_fen(200).unwrap()),
        biz_no: Some("B1".into()),
        repeat_trigger_flag: false,
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
    assert!(store
        .list_due(Timestamp(i64::MAX / 2), 10)
        .await
        .unwrap()
        .is_empty());
    // UNKNOWN gets a marker at next_retry_at.
    let (ptr2, e2) = entry("r2", 1, "g1", 2_000);
    assert!(store.start_attempt(&ptr2, None, &e2).await.unwrap());
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
    assert!(store
        .list_due(Timestamp(49_999), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.list_due(Timestamp(50_000), 10).await.unwrap(),
        vec![unk.clone()]
    );
    // Next attempt after a failure: pointer moves from 1 to 2 only with the right expectation.
    let (ptr3, e3) = entry("r1", 2, "h1", 3_000);
    assert!(!store.start_attempt(&ptr3, None, &e3).await.unwrap());
    assert!(!store.start_attempt(&ptr3, Some(7), &e3).await.unwrap());
    assert!(store.start_attempt(&ptr3, Some(1), &e3).await.unwrap());
    assert_eq!(
        store
            .get_pointer(Reason::Referral, &ptr.business_id)
            .await
            .unwrap()
            .unwrap()
            .attempt_no,
        2
    );
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

/// The operator's listing and the alarm's counts, against DynamoDB (the in-memory store of the
/// core's tests implements the same contract).
#[tokio::test]
async fn payout_listing_and_unresolved_counts() {
    let (_moto, store) = setup().await;
    // 30 entries a second apart on 2026-11-28 (Beijing), alternating campaigns; every 7th one is
    // NEEDS_ATTENTION, every 5th SENT, the rest PENDING.
    let day = rewards_core::payout::beijing_day("2026-11-28").unwrap().0;
    let mut written = Vec::new();
    for i in 0..30i64 {
        let (ptr, mut e) = entry(&format!("l{i:02}"), 1, "f", 0);
        e.created_at = Timestamp(day.millis() + 1_000 * i);
        e.lease_until = e.created_at;
        e.crowd_no = CrowdNo::parse(if i % 2 == 0 { "C1" } else { "C2" }).unwrap();
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
            };
        }
        assert!(store.start_attempt(&ptr, None, &e).await.unwrap());
        written.push(e);
    }
    // One more on the next day.
    let (ptr, mut late) = entry("next_day", 1, "f", 0);
    late.created_at = Timestamp(day.millis() + 86_400_000);
    assert!(store.start_attempt(&ptr, None, &late).await.unwrap());

    let all_pages = |filter: PayoutFilter, page: usize| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            let mut cursor: Option<PayoutCursor> = None;
            loop {
                let p = store
                    .list_payouts(&filter, cursor.as_ref(), page)
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
    };
    let everything = all_pages(PayoutFilter::default(), 7).await;
    assert_eq!(everything.len(), 31);
    assert_eq!(everything[0], "next_day");
    assert_eq!(everything[1], "l29");
    assert_eq!(everything[30], "l00");
    let the_day = PayoutFilter {
        created: Some(rewards_core::payout::beijing_day("2026-11-28").unwrap()),
        ..Default::default()
    };
    assert_eq!(all_pages(the_day.clone(), 4).await.len(), 30);
    let attention_c1 = PayoutFilter {
        state: Some(PayoutStateName::NeedsAttention),
        crowd_no: Some(CrowdNo::parse("C1").unwrap()),
        ..the_day
    };
    // 0, 14, 28 are even (C1) multiples of 7.
    assert_eq!(all_pages(attention_c1, 2).await, ["l28", "l14", "l00"]);
    let referral_sent = PayoutFilter {
        state: Some(PayoutStateName::Sent),
        reason: Some(Reason::Referral),
        ..Default::default()
    };
    assert_eq!(all_pages(referral_sent, 100).await.len(), 5);
    let points = PayoutFilter {
        reason: Some(Reason::PointsExchange),
        ..Default::default()
    };
    assert!(all_pages(points, 10).await.is_empty());
    // Unresolved = PENDING + NEEDS_ATTENTION (+ the next day's PENDING).
    let counts = store.unresolved_counts().await.unwrap();
    assert_eq!(counts.needs_attention, 5);
    assert_eq!(counts.unresolved, 31 - 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_payout_writes_one_wins() {
    let (_moto, store) = setup().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (ptr, e) = entry("race", 1, &format!("f{i}"), 0);
            store.start_attempt(&ptr, None, &e).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            wins += 1;
        }
    }
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
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let mut next = cur.clone();
        next.fence = format!("n{i}");
        let expected = cur.fence.clone();
        tasks.push(tokio::spawn(async move {
            store.cas_payout(&next, &expected).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == CasOutcome::Written {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn idempotency_records() {
    let (_moto, store) = setup().await;
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
    store
        .complete(&key, "wrong", &resp, Timestamp(100_000))
        .await
        .unwrap();
    assert!(
        matches!(store.begin(&other, Timestamp(500)).await.unwrap(), IdemBegin::Existing(r) if r.state == IdemState::InProgress)
    );
    store
        .complete(&key, "f1", &resp, Timestamp(100_000))
        .await
        .unwrap();
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

#[tokio::test]
async fn key_provider_reads_once_and_caches() {
    let moto = MotoServer::start().unwrap();
    let sm = moto.secrets_client().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys/");
    let app = std::fs::read_to_string(format!("{dir}app_private_pkcs8.pem")).unwrap();
    let ali = std::fs::read_to_string(format!("{dir}alipay_public_spki.pem")).unwrap();
    let secret = serde_json::json!({"app_private_key": app, "alipay_public_key": ali}).to_string();
    sm.create_secret()
        .name("alipay-keys")
        .secret_string(secret)
        .send()
        .await
        .unwrap();
    let provider = KeyProvider::new(sm.clone(), "alipay-keys");
    let k1 = provider.keys().await.unwrap();
    // Cached: works after the secret is gone.
    sm.delete_secret()
        .secret_id("alipay-keys")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let k2 = provider.keys().await.unwrap();
    assert!(Arc::ptr_eq(&k1, &k2));
    let missing = KeyProvider::new(sm, "absent");
    let e = missing.keys().await.unwrap_err();
    assert!(e.to_string().contains("absent"));
}

/// A pass gateway that issues one pass per serial (Alipay's uniqueness), slowly.
#[derive(Default)]
struct SlowPassGateway {
    calls: AtomicU32,
    issued: Mutex<BTreeMap<String, String>>,
}

#[async_trait]
impl PassGateway for SlowPassGateway {
    async fn add_template(&self, _: &AddTemplateRequest) -> GatewayOutcome<TemplateResult> {
        GatewayOutcome::Unknown("unused".into())
    }
    async fn update_template(&self, _: &UpdateTemplateRequest) -> GatewayOutcome<TemplateResult> {
        GatewayOutcome::Unknown("unused".into())
    }
    async fn issue_pass(&self, req: &IssuePassRequest) -> GatewayOutcome<PassIssued> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let serial = req
            .tpl_params
            .get("serialNumber")
            .cloned()
            .unwrap_or_default();
        let mut m = self.issued.lock().unwrap();
        let n = m.len();
        let id = m
            .entry(serial)
            .or_insert_with(|| format!("pass{n}"))
            .clone();
        GatewayOutcome::Success(PassIssued {
            pass_id: PassId::parse(&id).unwrap(),
            serial_number: None,
        })
    }
    async fn update_pass(&self, _: &UpdatePassRequest) -> GatewayOutcome<()> {
        GatewayOutcome::Success(())
    }
    async fn find_pass(&self, _: &FindPassRequest) -> GatewayOutcome<PassLookup> {
        GatewayOutcome::Unknown("unused".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_service_over_dynamodb_twenty_concurrent_one_pass() {
    let (_moto, store) = setup().await;
    store.put_template(&tpl("tpl1", 1)).await.unwrap();
    let gw = Arc::new(SlowPassGateway::default());
    let svc = Arc::new(ClaimService {
        templates: store.clone(),
        claims: store.clone(),
        passes: store.clone(),
        budget: store.clone(),
        gateway: gw.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds::default()),
        app_id: AppId::parse("2021000000000001").unwrap(),
        config: Default::default(),
    });
    let now = SystemClock.now().millis();
    let q = ClaimQuery {
        template_id: Some("tpl1".into()),
        user_id: Some(USER.into()),
        token: Some("tok".into()),
        timestamp: Some(now.to_string()),
    };
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let svc = svc.clone();
        let q = q.clone();
        tasks.push(tokio::spawn(async move { svc.claim(&q).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().pass_id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(gw.calls.load(Ordering::SeqCst), 1);
    let passes = store
        .list_user_passes(&UserId::parse(USER).unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].params["channelID"], "2021000000000001");
}
