//! Claim accounts, failure budgets and passes, and the races on them.

use super::fixtures::*;
use crate::claim::ClaimAccount;
use crate::ids::*;
use crate::pass::PassStatus;
use crate::ports::*;
use crate::time::Timestamp;
use std::sync::Arc;

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
