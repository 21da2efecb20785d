//! Response classification on the project's response vectors, and a property test: no body, however
//! malformed, makes the client panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alipay_client::pass::TemplateAdd;
use alipay_client::{classify, ApiRequest, FailureKind, Outcome, UnknownReason};
use alipay_protocol::response::ResponseVerifier;
use alipay_protocol::AlipayPublicKey;
use proptest::prelude::*;
use serde_json::Value;

/// `alipay.trade.query`, only to classify the vectors (the product does not call it).
struct TradeQuery;

impl ApiRequest for TradeQuery {
    const METHOD: &'static str = "alipay.trade.query";
    type Response = Value;
    type Output = Value;
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        Ok(None)
    }
    fn finish(v: Value) -> Outcome<Value> {
        Outcome::Success(v)
    }
}

fn verifier() -> ResponseVerifier {
    ResponseVerifier::new(
        AlipayPublicKey::from_text(&common::read_key("alipay_public_spki.pem")).unwrap(),
    )
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/response_cases.json"
    ))
    .unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all["cases"].as_array().unwrap().clone()
}

fn case(id: &str) -> String {
    cases().into_iter().find(|c| c["id"] == id).unwrap()["raw"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn vectors_classify_into_the_three_outcomes() {
    let v = verifier();
    assert!(matches!(
        classify::<TradeQuery>(&case("ok_compact"), &v),
        Outcome::Success(_)
    ));
    assert!(matches!(
        classify::<TradeQuery>(&case("ok_pretty_whitespace"), &v),
        Outcome::Success(_)
    ));
    match classify::<TradeQuery>(&case("biz_error_signed"), &v) {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Business);
            assert_eq!(f.sub_code.as_deref(), Some("ACQ.TRADE_NOT_EXIST"));
        }
        other => panic!("{other:?}"),
    }
    match classify::<TradeQuery>(&case("error_response_signed"), &v) {
        Outcome::Failed(f) => assert_eq!(f.kind, FailureKind::Gateway),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify::<TradeQuery>(&case("error_response_unsigned"), &v),
        Outcome::Unknown(UnknownReason::Unsigned { .. })
    ));
    for id in [
        "tampered_value",
        "sign_from_other_body",
        "wrong_key",
        "truncated_sign",
    ] {
        assert_eq!(
            classify::<TradeQuery>(&case(id), &v),
            Outcome::Unknown(UnknownReason::BadSignature),
            "{id}"
        );
    }
    assert!(matches!(
        classify::<TradeQuery>(&case("duplicate_root_injection"), &v),
        Outcome::Unknown(UnknownReason::Unverified(_))
    ));
    // The pass vector: code=10000, success="true", result a JSON string.
    match classify::<TemplateAdd>(&case("ok_pass_result_escaped_quotes"), &v) {
        Outcome::Success(t) => {
            assert_eq!(t.tpl_id, "2024010200000000000000001");
            assert_eq!(t.tpl_params.len(), 6);
        }
        other => panic!("{other:?}"),
    }
    for garbage in [
        "",
        "null",
        "<html>502</html>",
        "{\"alipay_trade_query_response\":",
    ] {
        assert!(matches!(
            classify::<TradeQuery>(garbage, &v),
            Outcome::Unknown(UnknownReason::Unparsable(_))
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bodies_never_panic(body in ".*") {
        let v = verifier();
        let _ = classify::<TradeQuery>(&body, &v);
        let _ = classify::<TemplateAdd>(&body, &v);
    }

    #[test]
    fn arbitrary_nodes_never_panic(node in "[{}\\[\\]\":,a-z0-9_\\\\ ]{0,64}", sign in "[A-Za-z0-9+/=]{0,16}") {
        let v = verifier();
        let body = format!("{{\"alipay_pass_template_add_response\":{node},\"sign\":\"{sign}\"}}");
        let _ = classify::<TemplateAdd>(&body, &v);
        let body = format!("{{\"error_response\":{node}}}");
        let _ = classify::<TradeQuery>(&body, &v);
    }
}
