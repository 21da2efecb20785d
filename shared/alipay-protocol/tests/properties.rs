//! Property tests: round trips, agreement with an independent RSA implementation, and no panic on
//! any input for every parser of outside input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use alipay_protocol::aes::AesKey;
use alipay_protocol::notify::{NotifyParams, NotifyPolicy};
use alipay_protocol::response::{extract_signed_span, ResponseVerifier};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use base64::Engine as _;
use proptest::prelude::*;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys/");

fn text(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}{name}")).unwrap()
}

fn app_key() -> &'static AppPrivateKey {
    static KEY: OnceLock<AppPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| AppPrivateKey::from_text(&text("app_private_pkcs8.pem")).unwrap())
}

fn platform_key() -> &'static AppPrivateKey {
    static KEY: OnceLock<AppPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| AppPrivateKey::from_text(&text("alipay_private_pkcs1.pem")).unwrap())
}

fn rsa_crate_key() -> &'static rsa::pkcs1v15::SigningKey<sha2::Sha256> {
    use rsa::pkcs8::DecodePrivateKey;
    static KEY: OnceLock<rsa::pkcs1v15::SigningKey<sha2::Sha256>> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&text("app_private_pkcs8.pem")).unwrap();
        rsa::pkcs1v15::SigningKey::new(key)
    })
}

fn verifier() -> &'static ResponseVerifier {
    static V: OnceLock<ResponseVerifier> = OnceLock::new();
    V.get_or_init(|| {
        ResponseVerifier::new(AlipayPublicKey::from_text(&text("alipay_public_spki.pem")).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// aws-lc-rs and the RustCrypto `rsa` crate produce the same PKCS#1 v1.5 signature.
    #[test]
    fn signatures_agree_with_the_rsa_crate(message in proptest::collection::vec(any::<u8>(), 0..512)) {
        use rsa::signature::{SignatureEncoding, Signer};
        let ours = app_key().sign(&message);
        let theirs = base64::engine::general_purpose::STANDARD.encode(rsa_crate_key().sign(&message).to_bytes());
        prop_assert_eq!(ours, theirs);
    }

    /// A response the platform key signed verifies, and its parsed content is what was sent.
    #[test]
    fn signed_responses_round_trip(value in "[^\"\\\\]{0,40}", code in "[0-9]{5}") {
        let content = serde_json::json!({"code": code, "msg": value, "nested": {"x": [1, {"y": value}]}}).to_string();
        let body = format!(r#"{{"a_b_response":{content},"sign":"{}"}}"#, platform_key().sign(content.as_bytes()));
        let verified = verifier().verify(&body, "a.b").unwrap();
        prop_assert_eq!(verified.content, content);
    }

    /// Any string value (escapes, braces, quotes, non-ASCII) is cut out exactly by the scanner.
    #[test]
    fn the_span_scanner_finds_any_serialized_object(v in any::<String>(), k in "[a-z]{1,8}") {
        let content = serde_json::json!({ k: v, "z": {"w": v} }).to_string();
        let body = format!(r#"{{"a_b_response":{content},"sign":"x"}}"#);
        prop_assert_eq!(extract_signed_span(&body, "a.b").unwrap().content, content.as_str());
    }

    #[test]
    fn response_verification_never_panics(body in any::<String>()) {
        let _ = verifier().verify(&body, "alipay.trade.query");
    }

    #[test]
    fn notification_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(params) = NotifyParams::parse_form(&body) {
            let key = AlipayPublicKey::from_text(&text("alipay_public_spki.pem")).unwrap();
            let _ = params.verify(&key, NotifyPolicy::default());
        }
    }

    /// Form-encoding then decoding any value gives it back (decoded exactly once).
    #[test]
    fn form_decoding_inverts_encoding(k in "[a-z_]{1,10}", v in any::<String>()) {
        let body: String = form_urlencoded::Serializer::new(String::new()).append_pair(&k, &v).finish();
        let params = NotifyParams::parse_form(body.as_bytes()).unwrap();
        prop_assert_eq!(params.get(&k), Some(v.as_str()));
    }

    #[test]
    fn key_loading_never_panics(text in any::<String>()) {
        let _ = AppPrivateKey::from_text(&text);
        let _ = AlipayPublicKey::from_text(&text);
    }

    #[test]
    fn aes_round_trips(plain in any::<String>()) {
        let key = AesKey::from_base64("aa4BtZ4tspm2wnXLb1ThQA==").unwrap();
        prop_assert_eq!(key.decrypt(&key.encrypt(&plain)).unwrap(), plain);
    }
}
