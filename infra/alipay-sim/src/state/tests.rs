//! The simulator's business rules, without the HTTP edge.

use super::cash::parse_frequency;
use super::*;
use crate::settings::{RepeatedSerial, TriggerReplay};
use alipay_protocol::GatewayTimestamp;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

fn biz(v: Value) -> Biz {
    match v {
        Value::Object(m) => Biz(m),
        _ => panic!(),
    }
}

fn now() -> OffsetDateTime {
    GatewayTimestamp::parse("2024-01-02 03:04:05")
        .unwrap()
        .instant()
}

fn ok(r: Reply) -> Map<String, Value> {
    match r {
        Reply::Ok(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn vars_are_found_in_order_once() {
    let v = json!({"a": "$x$ and $y$", "b": ["$x$", "sn%3D$z_1$"], "c": "$ not $", "d": "¥10"});
    assert_eq!(template_vars(&v), ["x", "y", "z_1"]);
}

#[test]
fn yuan_round_trip() {
    assert_eq!(parse_yuan("2.00"), Some(200));
    assert_eq!(parse_yuan("0.5"), Some(50));
    assert_eq!(parse_yuan("2."), None);
    assert_eq!(yuan(1234), "12.34");
}

#[test]
fn frequency_rules() {
    assert!(parse_frequency(Some("D1|L5")).is_ok());
    assert!(parse_frequency(Some("D6|L5")).is_err());
    assert!(parse_frequency(Some("D1|W1|L5")).is_err());
    assert!(parse_frequency(Some("D1")).is_err());
    assert!(parse_frequency(Some("L101")).is_err());
    assert_eq!(parse_frequency(None).unwrap().lifetime, 1);
}

fn paid_campaign(s: &mut State, total: &str, num: u64) -> String {
    let created = ok(s.cash_create(
        &biz(json!({"coupon_name":"n","prize_type":"fixed","total_money":total,"total_num":num.to_string(),
            "prize_msg":"m","start_time":"NowTime","end_time":"2024-02-01 00:00:00","send_freqency":"L100"})),
        now(),
        "http://x",
    ));
    let crowd = created["crowd_no"].as_str().unwrap().to_string();
    s.pay(&crowd);
    crowd
}

fn trigger_biz(crowd: &str, out: &str) -> Biz {
    biz(json!({"crowd_no": crowd, "user_id": "2088000000000001", "out_biz_no": out}))
}

fn modify(s: &mut State, crowd: &str, status: &str) {
    ok(s.cash_status_modify(&biz(json!({"crowd_no": crowd, "camp_status": status}))));
}

#[test]
fn after_checks_refuses_a_paid_out_biz_no_while_the_campaign_cannot_pay() {
    use TriggerReplay::{AfterChecks, BeforeChecks};
    let mut s = State::new("app");
    let crowd = paid_campaign(&mut s, "2.00", 1);
    let first = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_1"), now(), AfterChecks));
    assert_eq!(first["repeat_trigger_flag"], "false");
    // The budget is spent by that very payout: the default order still replays it...
    let replay = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_1"), now(), BeforeChecks));
    assert_eq!(replay["repeat_trigger_flag"], "true");
    assert_eq!(replay["biz_no"], first["biz_no"]);
    // ...the hostile order answers as if it had never paid.
    let spent = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_1"), now(), AfterChecks));
    assert_eq!(spent["trigger_result"], "false");
    assert_eq!(spent["error_msg"], "红包已领完");

    let crowd = paid_campaign(&mut s, "10.00", 5);
    ok(s.cash_trigger(&trigger_biz(&crowd, "pe_2"), now()));
    modify(&mut s, &crowd, "PAUSE");
    assert_eq!(
        s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), AfterChecks),
        Reply::business("CAMPAIGN_PAUSED", "活动已暂停")
    );
    let replay = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), BeforeChecks));
    assert_eq!(replay["repeat_trigger_flag"], "true");
    modify(&mut s, &crowd, "READY");
    let replay = ok(s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), AfterChecks));
    assert_eq!(replay["repeat_trigger_flag"], "true");
    modify(&mut s, &crowd, "CLOSED");
    assert_eq!(
        s.cash_trigger_with(&trigger_biz(&crowd, "pe_2"), now(), AfterChecks),
        Reply::business("CAMPAIGN_CLOSED", "活动已结束")
    );
    assert_eq!(s.payouts().len(), 2, "nothing paid twice");
}

#[test]
fn a_closed_campaign_settles_and_stays_closed_to_triggers() {
    let mut s = State::new("app");
    let crowd = paid_campaign(&mut s, "10.00", 5);
    assert_eq!(s.settle(&crowd), Some(Err("READY".into())));
    modify(&mut s, &crowd, "CLOSED");
    assert_eq!(s.settle(&crowd), Some(Ok("SETTLED".into())));
    assert_eq!(s.settle("nope"), None);
    let detail = ok(s.cash_detail(&biz(json!({"crowd_no": crowd}))));
    assert_eq!(detail["camp_status"], "SETTLED");
    let listed = ok(s.cash_list(&biz(json!({"camp_status": "SETTLED"}))));
    assert_eq!(listed["total_size"], "1");
    assert_eq!(
        s.cash_trigger(&trigger_biz(&crowd, "pe_3"), now()),
        Reply::business("CAMPAIGN_CLOSED", "活动已结束")
    );
    modify(&mut s, &crowd, "CLOSED");
    assert_eq!(
        s.cash_status_modify(&biz(json!({"crowd_no": crowd, "camp_status": "READY"}))),
        Reply::business("CAMPAIGN_CLOSED", "活动已结束")
    );
    assert_eq!(s.campaigns()[0].camp_status, "SETTLED");
}

#[test]
fn random_campaign_spends_exactly_the_budget() {
    let mut s = State::new("app");
    let created = ok(s.cash_create(
        &biz(json!({"coupon_name":"n","prize_type":"random","total_money":"10.00","total_num":"7",
            "prize_msg":"m","start_time":"NowTime","end_time":"2024-02-01 00:00:00","send_freqency":"L100"})),
        now(),
        "http://x",
    ));
    let crowd = created["crowd_no"].as_str().unwrap().to_string();
    s.pay(&crowd);
    let mut total = 0;
    for i in 0..7 {
        let r = ok(s.cash_trigger(
            &biz(json!({"crowd_no": crowd, "user_id": "2088000000000001", "out_biz_no": format!("b{i}")})),
            now(),
        ));
        assert_eq!(r["trigger_result"], "true", "{r:?}");
        total += parse_yuan(r["prize_amount"].as_str().unwrap()).unwrap();
    }
    assert_eq!(total, 1000);
    let r = ok(s.cash_trigger(
        &biz(json!({"crowd_no": crowd, "user_id": "2088000000000001", "out_biz_no": "b9"})),
        now(),
    ));
    assert_eq!(r["trigger_result"], "false");
}

fn pass_result(r: Reply) -> Value {
    let m = ok(r);
    assert_eq!(m["success"], "true", "{m:?}");
    serde_json::from_str(m["result"].as_str().unwrap()).unwrap()
}

fn pass_error(r: Reply) -> String {
    let m = ok(r);
    assert_eq!(m["success"], "false", "{m:?}");
    let result: Value = serde_json::from_str(m["result"].as_str().unwrap()).unwrap();
    result["errorCode"].as_str().unwrap().to_string()
}

fn issue(tpl: &str, user: &str, token: &str, serial: &str) -> Biz {
    biz(
        json!({"tpl_id": tpl, "tpl_params": {"sn": serial}, "recognition_type": "2",
        "recognition_info": {"user_id": user, "user_token": token}}),
    )
}

/// A fresh state holding two templates (`$sn$` serials), and their ids.
fn two_templates() -> (State, String, String) {
    let mut s = State::new("app");
    let mut ids = Vec::new();
    for title in ["a", "b"] {
        let r = ok(s.template_add(
            &biz(json!({"unique_id": title, "tpl_content": {"logo": "https://l",
                "content": {"evoucherInfo": {"title": title}, "fileInfo": {"serialNumber": "$sn$"}}}})),
            now(),
        ));
        let result: Value = serde_json::from_str(r["result"].as_str().unwrap()).unwrap();
        ids.push(result["tpl_id"].as_str().unwrap().to_string());
    }
    (s, ids[0].clone(), ids[1].clone())
}

#[test]
fn a_claim_token_is_bound_to_its_user_and_template() {
    let (mut s, a, b) = two_templates();
    let user = "2088000000000001";
    let token = s.mint_user_token(&a, user);
    let other_user = issue(&a, "2088000000000002", &token, "s1");
    assert_eq!(
        pass_error(s.instance_add(&other_user, now())),
        "USER_TOKEN_NOT_MATCH"
    );
    let other_template = issue(&b, user, &token, "s1");
    assert_eq!(
        pass_error(s.instance_add(&other_template, now())),
        "USER_TOKEN_NOT_MATCH"
    );
    let forged = issue(&a, user, "tok_forged", "s1");
    assert_eq!(
        pass_error(s.instance_add(&forged, now())),
        "USER_TOKEN_INVALID"
    );
    pass_result(s.instance_add(&issue(&a, user, &token, "s1"), now()));
    let spent = issue(&a, user, &token, "s2");
    assert_eq!(pass_error(s.instance_add(&spent, now())), "USER_TOKEN_USED");
}

#[test]
fn a_repeated_serial_answers_the_same_pass_or_a_refusal_as_set() {
    let (mut s, a, _) = two_templates();
    let user = "2088000000000001";
    let first = s.mint_user_token(&a, user);
    let issued = pass_result(s.instance_add(&issue(&a, user, &first, "s1"), now()));
    let second = s.mint_user_token(&a, user);
    let again = pass_result(s.instance_add_with(
        &issue(&a, user, &second, "s1"),
        now(),
        RepeatedSerial::SamePass,
    ));
    assert_eq!(again["passId"], issued["passId"]);
    let refused = s.instance_add_with(
        &issue(&a, user, &second, "s1"),
        now(),
        RepeatedSerial::Refuse,
    );
    assert_eq!(pass_error(refused), "SERIAL_NUMBER_REPEAT");
    let third = s.mint_user_token(&a, "2088000000000002");
    let foreign = issue(&a, "2088000000000002", &third, "s1");
    assert_eq!(
        pass_error(s.instance_add(&foreign, now())),
        "SERIAL_NUMBER_REPEAT"
    );
    assert_eq!(s.passes().len(), 1);
}
