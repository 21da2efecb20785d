//! Alipay's rate limit is "not now", never "no": code `40005` (Call Limited / 调用频次超限, in the
//! API's node or in `error_response`, signed or not) and every throttle `sub_code` the reference
//! lists (`RESOURCE_LIMIT_EXCEED`) end in `Unknown(Throttled)` on every API family, never `Failed`.
//! Bodies are signed here with the test platform key, exactly as the gateway signs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alipay_client::cash::{
    CashCreate, CashDetailQuery, CashListQuery, CashStatusModify, CashTrigger,
};
use alipay_client::oauth::OauthToken;
use alipay_client::pass::{InstanceAdd, InstanceUpdate, TemplateAdd, TemplateUpdate};
use alipay_client::transfer::{TransferQuery, UniTransfer};
use alipay_client::{
    classify, ApiRequest, Outcome, OutcomeClass, UnknownReason, THROTTLE_CODES, THROTTLE_SUB_CODES,
};
use alipay_protocol::response::{root_name, ResponseVerifier};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn verifier() -> ResponseVerifier {
    ResponseVerifier::new(
        AlipayPublicKey::from_text(&common::read_key("alipay_public_spki.pem")).unwrap(),
    )
}

fn platform_key() -> AppPrivateKey {
    AppPrivateKey::from_text(&common::read_key("alipay_private_pkcs1.pem")).unwrap()
}

/// Where the refusal sits.
#[derive(Debug, Clone, Copy)]
enum Root {
    /// `<method>_response`.
    Node,
    /// `error_response`.
    Error,
}

/// A gateway answer with `node` under `root`, signed over the exact node bytes (or unsigned).
fn body(method: &str, root: Root, node: &Map<String, Value>, signed: bool) -> String {
    let root = match root {
        Root::Node => root_name(method),
        Root::Error => "error_response".to_string(),
    };
    let inner = Value::Object(node.clone()).to_string();
    if signed {
        let sign = platform_key().sign(inner.as_bytes());
        format!("{{\"{root}\":{inner},\"sign\":\"{sign}\"}}")
    } else {
        format!("{{\"{root}\":{inner}}}")
    }
}

fn node(code: &str, sub_code: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("code".into(), code.into());
    m.insert("msg".into(), "Call Limited".into());
    if let Some(s) = sub_code {
        m.insert("sub_code".into(), s.into());
        m.insert("sub_msg".into(), "调用频次超限".into());
    }
    m
}

/// Classifies `body` as API `R` and asserts a throttle: the reason names the code and sub_code.
fn assert_throttled<R: ApiRequest>(body: &str, code: &str, sub_code: Option<&str>)
where
    R::Output: std::fmt::Debug,
{
    match classify::<R>(body, &verifier()) {
        Outcome::Unknown(UnknownReason::Throttled {
            code: c,
            sub_code: s,
        }) => {
            assert_eq!(c, code, "{} {body}", R::METHOD);
            assert_eq!(s.as_deref(), sub_code, "{} {body}", R::METHOD);
        }
        other => panic!(
            "{}: expected Throttled, got {other:?} for {body}",
            R::METHOD
        ),
    }
}

/// The throttle answers one API can get: 40005 with and without a sub_code, in its node and in
/// `error_response`, signed and unsigned; and each throttle sub_code under 40004 and 20000.
fn every_throttle_answer<R: ApiRequest>()
where
    R::Output: std::fmt::Debug,
{
    for root in [Root::Node, Root::Error] {
        for &code in THROTTLE_CODES {
            for sub in [None, Some("aop.any-sub-code")] {
                for signed in [true, false] {
                    let b = body(R::METHOD, root, &node(code, sub), signed);
                    assert_throttled::<R>(&b, code, sub);
                }
            }
        }
        for &sub in THROTTLE_SUB_CODES {
            for code in ["40004", "20000"] {
                let b = body(R::METHOD, root, &node(code, Some(sub)), true);
                assert_throttled::<R>(&b, code, Some(sub));
            }
        }
    }
}

#[test]
fn the_throttle_codes_are_the_references() {
    // alipay-protocol.md §2.3: `40005 | Call Limited / 调用频次超限`.
    assert_eq!(THROTTLE_CODES, ["40005"]);
    // alipay-api-currency.md §3.4 "not done, retry later": `RESOURCE_LIMIT_EXCEED` (lower
    // concurrency); §7 "Still open": "per-API QPS limits (RESOURCE_LIMIT_EXCEED exists)".
    assert_eq!(THROTTLE_SUB_CODES, ["RESOURCE_LIMIT_EXCEED"]);
}

#[test]
fn pass_template_add_and_update() {
    every_throttle_answer::<TemplateAdd>();
    every_throttle_answer::<TemplateUpdate>();
}

#[test]
fn pass_instance_add_and_update() {
    every_throttle_answer::<InstanceAdd>();
    every_throttle_answer::<InstanceUpdate>();
}

#[test]
fn cash_create_trigger_detail_list_status() {
    every_throttle_answer::<CashCreate>();
    every_throttle_answer::<CashTrigger>();
    every_throttle_answer::<CashDetailQuery>();
    every_throttle_answer::<CashListQuery>();
    every_throttle_answer::<CashStatusModify>();
}

#[test]
fn transfer_uni_transfer_and_common_query() {
    every_throttle_answer::<UniTransfer>();
    every_throttle_answer::<TransferQuery>();
}

#[test]
fn oauth_token() {
    every_throttle_answer::<OauthToken>();
}

/// The pass APIs' own level: `code=10000`, `success="false"` with a throttle `errorCode`.
#[test]
fn a_pass_api_level_throttle_is_throttled_too() {
    for &sub in THROTTLE_SUB_CODES {
        let mut n = Map::new();
        n.insert("code".into(), "10000".into());
        n.insert("msg".into(), "Success".into());
        n.insert("success".into(), "false".into());
        n.insert(
            "result".into(),
            json!({"errorCode": sub, "errorMsg": "x"})
                .to_string()
                .into(),
        );
        for method in ["alipay.pass.instance.add", "alipay.pass.template.add"] {
            let b = body(method, Root::Node, &n, true);
            if method == InstanceAdd::METHOD {
                assert_throttled::<InstanceAdd>(&b, "10000", Some(sub));
            } else {
                assert_throttled::<TemplateAdd>(&b, "10000", Some(sub));
            }
        }
    }
}

/// Limits that are not throttles stay what they were: a payee's amount limit is definite, a
/// campaign's per-user limit is the API's own refusal.
#[test]
fn limit_like_codes_that_are_no_throttle_are_not_caught() {
    for sub in [
        "EXCEED_LIMIT_SM_AMOUNT",
        "PERMIT_CHECK_RECEIVE_LIMIT",
        "EXCEED_LIMIT_DC_RECEIVED",
    ] {
        let b = body(
            UniTransfer::METHOD,
            Root::Node,
            &node("40004", Some(sub)),
            true,
        );
        assert!(
            matches!(classify::<UniTransfer>(&b, &verifier()), Outcome::Failed(_)),
            "{sub}"
        );
    }
    let b = body(
        CashTrigger::METHOD,
        Root::Node,
        &node("40004", Some("CAMPAIGN_PAUSED")),
        true,
    );
    assert!(matches!(
        classify::<CashTrigger>(&b, &verifier()),
        Outcome::Failed(_)
    ));
}

#[test]
fn the_reason_says_throttled_and_carries_no_alipay_text() {
    let b = body(
        CashTrigger::METHOD,
        Root::Node,
        &node("40005", Some("aop.any-sub-code")),
        true,
    );
    let Outcome::Unknown(reason) = classify::<CashTrigger>(&b, &verifier()) else {
        panic!("not unknown");
    };
    let text = reason.to_string();
    assert!(text.contains("throttled"), "{text}");
    assert!(text.contains("40005"), "{text}");
    assert!(!text.contains("调用频次超限"), "{text}");
    assert!(!text.contains("Call Limited"), "{text}");
}

/// Which API a generated answer is classified as.
fn classify_as(api: usize, body_for: impl Fn(&str) -> String) -> OutcomeClass {
    let v = verifier();
    macro_rules! as_api {
        ($($t:ty),*) => {{
            let mut i = 0usize;
            $(
                if api == i {
                    return classify::<$t>(&body_for(<$t>::METHOD), &v).class();
                }
                i += 1;
            )*
            let _ = i;
            unreachable!("api index {api}")
        }};
    }
    as_api!(
        TemplateAdd,
        TemplateUpdate,
        InstanceAdd,
        InstanceUpdate,
        CashCreate,
        CashTrigger,
        CashDetailQuery,
        CashListQuery,
        CashStatusModify,
        UniTransfer,
        TransferQuery,
        OauthToken
    )
}

const APIS: usize = 12;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No throttle answer, whatever else it says (msg, sub_msg, extra fields, the other code or
    /// sub_code, where it sits, signed or not), ever produces `Failed` on any API.
    #[test]
    fn no_throttle_answer_is_ever_failed(
        api in 0..APIS,
        by_code in any::<bool>(),
        code_pick in prop::sample::select(vec!["40004", "20000", "40002", "40006", "10000"]),
        sub in prop::option::of("[A-Za-z._-]{1,24}"),
        case_of_sub in any::<bool>(),
        msg in ".{0,20}",
        sub_msg in ".{0,20}",
        in_error in any::<bool>(),
        signed in any::<bool>(),
        extra in prop::option::of(("[a-z_]{1,10}", "[A-Za-z0-9]{0,10}")),
    ) {
        let (code, sub_code) = if by_code {
            (THROTTLE_CODES[0].to_string(), sub)
        } else {
            let s = THROTTLE_SUB_CODES[0];
            let s = if case_of_sub { s.to_ascii_lowercase().replace('_', "-") } else { s.to_string() };
            (code_pick.to_string(), Some(s))
        };
        let mut n = Map::new();
        n.insert("code".into(), code.into());
        n.insert("msg".into(), msg.into());
        if let Some(s) = sub_code {
            n.insert("sub_code".into(), s.into());
        }
        n.insert("sub_msg".into(), sub_msg.into());
        if let Some((k, v)) = extra {
            if !["code", "sub_code"].contains(&k.as_str()) {
                n.insert(k, v.into());
            }
        }
        let root = if in_error { Root::Error } else { Root::Node };
        let class = classify_as(api, |method| body(method, root, &n, signed));
        prop_assert_eq!(class, OutcomeClass::Unknown);
    }
}
