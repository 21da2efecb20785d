use super::*;
use crate::error::DomainError;
use crate::error::ErrorKind;
use crate::hash::canonical_json;
use crate::ids::{AppId, TemplateId, UserId};
use crate::time::Timestamp;
use proptest::prelude::*;
use serde_json::json;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const CB: &str = "https://example.com/alipass/callback";

pub(crate) fn vector() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/sign_cases.json"
    ))
    .unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pass_template_add_object")
        .unwrap();
    case["biz_content"]["tpl_content"].clone()
}

fn policy() -> TemplatePolicy {
    TemplatePolicy {
        callback_url: CB.into(),
        default_logo: None,
    }
}

fn rules_for_vector() -> BTreeMap<String, ParamRule> {
    let mut rules = BTreeMap::new();
    rules.insert(
        "title".into(),
        ParamRule::Fixed {
            value: "券".into()
        },
    );
    rules.insert("code".into(), ParamRule::Serial);
    rules
}

#[test]
fn a_serial_rule_other_than_the_claim_serial_is_refused() {
    for bad in [
        ParamRule::UserId,
        ParamRule::Fixed { value: "S1".into() },
        ParamRule::Now,
        ParamRule::AppId,
    ] {
        let mut rules = rules_for_vector();
        rules.insert("serialNumber".into(), bad.clone());
        let err = validate_template(&vector(), &rules, &policy()).unwrap_err();
        assert!(
            err.iter()
                .any(|i| i.pointer == "/rules/serialNumber" && i.code == "serial_rule"),
            "{bad:?}: {err:?}"
        );
    }
    let mut rules = rules_for_vector();
    rules.insert("serialNumber".into(), ParamRule::Serial);
    assert!(validate_template(&vector(), &rules, &policy()).is_ok());
    // Whatever the serial's variable is called, it gets the claim serial and nothing else.
    let mut t = vector();
    t["content"]["fileInfo"]["serialNumber"] = json!("$sn$");
    let v = validate_template(&t, &rules_for_vector(), &policy()).unwrap();
    assert_eq!(v.rules["sn"], ParamRule::Serial);
    let mut rules = rules_for_vector();
    rules.insert("sn".into(), ParamRule::UserId);
    let err = validate_template(&t, &rules, &policy()).unwrap_err();
    assert!(err
        .iter()
        .any(|i| i.pointer == "/rules/sn" && i.code == "serial_rule"));
}

#[test]
fn a_missing_logo_is_filled_from_the_icon_or_the_deployment_default() {
    let rules = rules_for_vector();
    let mut no_logo = vector();
    no_logo.as_object_mut().unwrap().remove("logo");
    let v = validate_template(&no_logo, &rules, &policy()).unwrap();
    assert_eq!(v.tpl_content["logo"], vector()["icon"]);
    no_logo.as_object_mut().unwrap().remove("icon");
    let err = validate_template(&no_logo, &rules, &policy()).unwrap_err();
    let logo = err.iter().find(|i| i.pointer == "/logo").unwrap();
    assert_eq!(logo.code, "required");
    assert!(
        logo.message.contains("DefaultPassLogoUrl"),
        "{}",
        logo.message
    );
    assert!(
        logo.message.contains("DEFAULT_PASS_LOGO_URL"),
        "{}",
        logo.message
    );
    let with_default = TemplatePolicy {
        default_logo: Some("https://cdn.example.com/logo.png".into()),
        ..policy()
    };
    let v = validate_template(&no_logo, &rules, &with_default).unwrap();
    assert_eq!(v.tpl_content["logo"], "https://cdn.example.com/logo.png");
    // The merchant's own logo always wins.
    let v = validate_template(&vector(), &rules, &with_default).unwrap();
    assert_eq!(v.tpl_content["logo"], vector()["logo"]);
}

#[test]
fn per_user_limit_is_bounded() {
    assert_eq!(check_per_user_limit(1).unwrap(), 1);
    assert_eq!(
        check_per_user_limit(MAX_PER_USER_LIMIT).unwrap(),
        MAX_PER_USER_LIMIT
    );
    for bad in [0, MAX_PER_USER_LIMIT + 1] {
        let e = check_per_user_limit(bad).unwrap_err();
        assert_eq!(
            (e.pointer.as_str(), e.code.as_str()),
            ("/perUserLimit", "out_of_range")
        );
    }
    let old: TemplateRecord = serde_json::from_value(json!({
        "templateId": "t", "uniqueId": "u", "tplContent": {}, "rules": {}, "tplParams": [],
        "createdAt": 1, "updatedAt": 1
    }))
    .unwrap();
    assert_eq!(old.per_user_limit, DEFAULT_PER_USER_LIMIT);
}

#[test]
fn vector_needs_rules_for_custom_vars() {
    let err = validate_template(&vector(), &BTreeMap::new(), &policy()).unwrap_err();
    let codes: Vec<_> = err
        .iter()
        .map(|i| (i.pointer.as_str(), i.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("/rules/code", "missing_rule"),
            ("/rules/title", "missing_rule")
        ]
    );
}

#[test]
fn vector_validates_with_rules() {
    let mut rules = BTreeMap::new();
    rules.insert(
        "title".into(),
        ParamRule::Fixed {
            value: "十元券".into(),
        },
    );
    rules.insert("code".into(), ParamRule::Serial);
    let v = validate_template(&vector(), &rules, &policy()).unwrap();
    assert_eq!(
        v.variables,
        vec![
            "activeTime",
            "channelID",
            "code",
            "expireTime",
            "serialNumber",
            "title"
        ]
    );
    assert_eq!(v.rules["expireTime"], ParamRule::NowPlus { hours: 48 });
    assert_eq!(v.rules["channelID"], ParamRule::AppId);
    assert_eq!(v.unique_id.len(), 41);
    // Same content, other key order → same unique_id.
    let reordered: Value = serde_json::from_str(&canonical_json(&vector())).unwrap();
    assert_eq!(unique_id_for(&reordered), v.unique_id);
}

#[test]
fn errors_point_at_fields() {
    let mut t = vector();
    t["content"]["fileInfo"]["serialNumber"] = json!("12345");
    t["content"]["merchant"]["mcallbackUrl"] = json!("https://evil.example/cb");
    t["content"]["evoucherInfo"]["startDate"] = json!("2024/01/01");
    t["content"]["evoucherInfo"]["title"] = json!(3);
    t.as_object_mut().unwrap().remove("logo");
    t.as_object_mut().unwrap().remove("icon");
    let err = validate_template(&t, &BTreeMap::new(), &policy()).unwrap_err();
    let has = |p: &str, c: &str| err.iter().any(|i| i.pointer == p && i.code == c);
    assert!(has("/content/fileInfo/serialNumber", "not_a_variable"));
    assert!(has("/content/merchant/mcallbackUrl", "callback_mismatch"));
    assert!(has("/content/evoucherInfo/startDate", "bad_date"));
    assert!(has("/content/evoucherInfo/title", "wrong_type"));
    assert!(has("/logo", "required"));
    assert!(validate_template(&json!([1]), &BTreeMap::new(), &policy()).is_err());
    let mut rules = BTreeMap::new();
    rules.insert("nope".into(), ParamRule::Now);
    let err = validate_template(&vector(), &rules, &policy()).unwrap_err();
    assert!(err
        .iter()
        .any(|i| i.pointer == "/rules/nope" && i.code == "unknown_variable"));
}

#[test]
fn variables_scanner() {
    let mut s = BTreeSet::new();
    variables_in("a $x$ b $5 off $ sn%3D$serialNumber$ $$ $a b$", &mut s);
    assert_eq!(s.into_iter().collect::<Vec<_>>(), vec!["serialNumber", "x"]);
    assert_eq!(
        whole_variable("$serialNumber$").as_deref(),
        Some("serialNumber")
    );
    assert_eq!(whole_variable("$a$$b$"), None);
    assert_eq!(whole_variable("x$a$"), None);
}

#[test]
fn fill_and_serial() {
    let tpl = TemplateId::parse("tpl1").unwrap();
    let user = UserId::parse("2088000000000001").unwrap();
    let s1 = derive_serial(&tpl, &user, 1);
    assert_eq!(s1, derive_serial(&tpl, &user, 1));
    assert_ne!(s1, derive_serial(&tpl, &user, 2));
    let other = UserId::parse("2088000000000002").unwrap();
    assert_ne!(s1, derive_serial(&tpl, &other, 1));
    let app = AppId::parse("2021000000000001").unwrap();
    let mut rules = BTreeMap::new();
    for v in ["activeTime", "expireTime", "serialNumber", "channelID"] {
        rules.insert(v.to_owned(), default_rule(v).unwrap());
    }
    rules.insert("uid".into(), ParamRule::UserId);
    let now = Timestamp::parse_beijing("2024-01-02 03:04:05").unwrap();
    let p = fill_params(
        &rules,
        &FillContext {
            now,
            user: &user,
            app_id: &app,
            serial: &s1,
        },
    );
    assert_eq!(p["activeTime"], "2024-01-02 03:04:05");
    assert_eq!(p["expireTime"], "2024-01-04 03:04:05");
    assert_eq!(p["serialNumber"], s1.as_str());
    assert_eq!(p["channelID"], "2021000000000001");
    assert_eq!(p["uid"], "2088000000000001");
}

#[test]
fn rule_serde() {
    let r: ParamRule = serde_json::from_value(json!({"kind":"nowPlus","hours":24})).unwrap();
    assert_eq!(r, ParamRule::NowPlus { hours: 24 });
    let r: ParamRule = serde_json::from_value(json!({"kind":"fixed","value":"x"})).unwrap();
    assert_eq!(r, ParamRule::Fixed { value: "x".into() });
}

#[tokio::test]
async fn service_create_update_get() {
    let w = crate::testkit::World::new();
    let svc = TemplateService {
        store: w.store.clone(),
        gateway: w.pass_gw.clone(),
        clock: w.clock.clone(),
        policy: policy(),
    };
    let rules = rules_for_vector();
    let t = svc.create(&vector(), &rules, None).await.unwrap();
    assert_eq!(t.tpl_params.len(), 6);
    assert_eq!(t.per_user_limit, DEFAULT_PER_USER_LIMIT);
    assert_eq!(svc.get(&t.template_id).await.unwrap(), t);
    let e = svc
        .create(&json!({"logo": 1}), &rules, None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("invalid_template", ErrorKind::BadInput)
    );
    w.clock.advance(std::time::Duration::from_secs(1));
    let mut v2 = vector();
    v2["logo"] = json!("https://example.com/other.png");
    let u = svc
        .update(&t.template_id, &v2, &rules, Some(3))
        .await
        .unwrap();
    assert_eq!(u.per_user_limit, 3);
    let u = svc.update(&t.template_id, &v2, &rules, None).await.unwrap();
    assert_eq!(u.per_user_limit, 3, "kept when not given");
    let e = svc
        .update(&t.template_id, &v2, &rules, Some(0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_template");
    assert_eq!(u.created_at, t.created_at);
    assert!(u.updated_at > t.updated_at);
    assert_eq!(svc.list(10).await.unwrap().len(), 1);
    let missing = TemplateId::parse("missing").unwrap();
    assert_eq!(
        svc.update(&missing, &v2, &rules, None)
            .await
            .unwrap_err()
            .code(),
        "template_not_found"
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[$a-zA-Z ]{0,12}".prop_map(Value::String),
        Just(json!("$serialNumber$")),
        Just(json!(CB)),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("logo".to_owned()),
                    Just("content".to_owned()),
                    Just("evoucherInfo".to_owned()),
                    Just("merchant".to_owned()),
                    Just("fileInfo".to_owned()),
                    Just("serialNumber".to_owned()),
                    Just("operation".to_owned()),
                    Just("mcallbackUrl".to_owned()),
                    "[a-z/~]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn validator_never_panics(v in arb_json()) {
        let _ = validate_template(&v, &BTreeMap::new(), &policy());
    }

    #[test]
    fn mutated_vector_never_panics(path in 0usize..8, replacement in arb_json()) {
        let mut t = vector();
        let ptrs = ["/logo", "/content", "/content/evoucherInfo", "/content/merchant", "/content/fileInfo",
            "/content/evoucherInfo/operation", "/content/fileInfo/serialNumber", "/content/evoucherInfo/startDate"];
        if let Some(slot) = t.pointer_mut(ptrs[path]) { *slot = replacement; }
        let _ = validate_template(&t, &BTreeMap::new(), &policy());
    }

    #[test]
    fn scanner_never_panics(s in ".{0,80}") {
        let mut set = BTreeSet::new();
        variables_in(&s, &mut set);
        let _ = whole_variable(&s);
    }
}
