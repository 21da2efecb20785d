//! A randomized schedule of faulty sends against a hostile Alipay (seeded; `CASH_SEED=<n>` replays
//! the draws): probability faults of every kind on `cash.trigger` (including `commit_late`, which
//! pays a request after our client gave up), the replay order switched between `before_checks` and
//! `after_checks` and the campaign paused and resumed at random moments, repeats of the same
//! business ids (some concurrent), the reconciler running alongside. Then the outage ends: every
//! late commit lands, every business id is sent once more with `retryFailed`, the reconciler runs
//! until every current attempt is SENT, and our ledger and the simulator's payouts must agree entry
//! by entry with exactly one payout per (reason, business id).
use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::cash::schedule::{
    answer_label, install_faults, paid_per_business_id, run_outage, sent_answers_agree,
    shuffled_sends, start, Hostile, GATEWAY_FAULTS,
};
use integration_tests::cash::{agreement, cash_test, envelope, TRIGGER};
use integration_tests::new_user_id;
use serde_json::Value;

/// Distinct business ids, and the sends over them (each id 2–5 times, shuffled).
const IDS: usize = 300;

#[tokio::test]
async fn randomized_hostile_schedule_pays_each_reason_and_business_id_exactly_once() {
    let (app, _serial) = cash_test().await;
    let (schedule, mut rng) = start("schedule");

    // Room for a second attempt of every id, so the budget never runs out (with `after_checks`, a
    // spent budget refuses even the replay of a paid out_biz_no, forever), and two envelopes per
    // user, so a second payout for one business id would not be hidden by the per-user limit.
    let crowd = app
        .ready_campaign("随机故障", &format!("{}.00", 2 * IDS), 2 * IDS as u64, "L2")
        .await;
    let ids: Vec<(String, String)> = (0..IDS)
        .map(|i| (format!("rs{:x}_{i}", schedule.seed), new_user_id()))
        .collect();
    let ops = shuffled_sends(&mut rng, IDS);

    // Every fault kind on the trigger. A late commit lands 1–12 s after its call arrived: before
    // or after the repeats and reconciler probes of the same out_biz_no, during a pause or not.
    install_faults(&app, &mut rng, TRIGGER, &GATEWAY_FAULTS, (1000, 11_000)).await;

    // The sends alongside the reconciler and the hostile side (the replay order drawn, pauses).
    let sent_body = {
        let (ids, crowd) = (ids.clone(), crowd.clone());
        move |i: usize| envelope(&ids[i].0, &ids[i].1, &crowd)
    };
    let hostile = Hostile::ReplayOrderAndPauses {
        crowd: crowd.clone(),
    };
    let outage = run_outage(&app, &mut rng, &schedule, &ops, hostile, sent_body).await;

    // Every answer is a ledger state, a busy hint, a store fault or a pause; SENT answers of one id
    // agree.
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent_biz_no: BTreeMap<usize, Value> = BTreeMap::new();
    for (i, status, body) in &outage.answers {
        *by_status.entry(answer_label(*status, body)).or_default() += 1;
        match status {
            200 | 201 => {
                assert_eq!(body["state"], "SENT", "{body}");
                let biz = body["outcome"]["bizNo"].clone();
                let first = sent_biz_no.entry(*i).or_insert_with(|| biz.clone());
                assert_eq!(
                    *first, biz,
                    "two SENT answers with different biz_no: {body}"
                );
            }
            202 => assert!(
                matches!(
                    body["state"].as_str(),
                    Some("PENDING" | "UNKNOWN" | "NEEDS_ATTENTION")
                ),
                "{body}"
            ),
            409 => assert_eq!(body["code"], "payout_busy", "{body}"),
            // A pause: refused before the ledger write, or a definite refusal of a first call.
            422 => assert_eq!(body["code"], "campaign_paused", "{body}"),
            // The emulated DynamoDB (moto) sometimes answers 500 under this load, or too slowly for
            // the request's deadline: a store fault the send must survive (nothing is lost; the
            // reconciler finishes the entry).
            503 => assert!(
                matches!(
                    body["code"].as_str(),
                    Some("store_unavailable" | "dependency_timeout")
                ),
                "{body}"
            ),
            _ => panic!("unexpected answer {status} {body}"),
        }
    }
    let drawn = &outage.drawn;
    eprintln!(
        "[schedule] {IDS} business ids: {}; answers {by_status:?}; replay order drawn after_checks {} / \
         before_checks {}; pauses {}",
        outage.summary(),
        drawn.after_checks,
        drawn.before_checks,
        drawn.pauses,
    );

    // Every business id once more, as a caller that retries its failures would, then the
    // reconciler until every current attempt is settled.
    let mut last = app
        .send_each_once_more(
            ids.iter()
                .map(|(bid, user)| (bid.clone(), envelope(bid, user, &crowd))),
            Duration::from_secs(120),
        )
        .await;

    // The invariant, entry by entry: every attempt in our ledger against the simulator's payouts.
    let payouts = app.payouts_on(&crowd).await;
    let (paid_per_id, strays) = paid_per_business_id(&payouts);
    for p in strays {
        last.disagreements
            .push(format!("a payout no send asked for: {p}"));
    }
    for (bid, _) in ids.iter() {
        let paid = paid_per_id.get(bid.as_str()).cloned().unwrap_or_default();
        if paid.len() != 1 {
            last.disagreements
                .push(format!("{bid}: {} payouts {paid:?}", paid.len()));
        }
    }
    let (states, second_attempts) = app
        .check_every_attempt(
            ids.iter().map(|(bid, _)| bid.as_str()),
            |e| payout_agreement(e, &payouts),
            &mut last.disagreements,
        )
        .await;
    let mut replayed = 0;
    for (((_, user), entry), no) in ids.iter().zip(&last.entries).zip(&last.current) {
        if entry["state"] != "SENT"
            || entry["outBizNo"] != no.as_str()
            || entry["recipient"]["userId"] != user.as_str()
        {
            last.disagreements.push(format!(
                "current attempt {entry} is not {no} SENT to {user}"
            ));
        }
        if entry["outcome"]["repeatTriggerFlag"] == true {
            replayed += 1;
        }
    }
    sent_answers_agree(
        &sent_biz_no,
        &last.entries,
        "bizNo",
        &mut last.disagreements,
    );
    let figures = format!(
        "ledger attempts {states:?} ({second_attempts} second attempts, {replayed} recorded from \
         Alipay's replay)"
    );
    schedule.verdict(&last, &figures, &payouts, "payouts", IDS);
    // The by-user listing agrees for a sample.
    for ((_, user), no) in ids.iter().zip(&last.current).step_by(15) {
        let listed = app.user_envelopes(user).await;
        assert!(
            listed
                .iter()
                .any(|e| e["outBizNo"] == no.as_str() && e["state"] == "SENT"),
            "{listed:?}"
        );
    }
}

/// A SENT attempt has exactly one payout with its amount, biz_no and user; a FAILED one has none.
fn payout_agreement(e: &Value, payouts: &[Value]) -> Result<(), String> {
    agreement(e, payouts, |p| {
        p["amount_fen"] == e["outcome"]["amountFen"]
            && p["biz_no"] == e["outcome"]["bizNo"]
            && p["user_id"] == e["recipient"]["userId"]
    })
}
