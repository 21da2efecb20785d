//! Property tests: round trips, agreement with an independent RSA implementation, and no panic on
//! any input for every parser of outside input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use alipay_protocol::aes::AesKey;
use alipay_protocol::cert::RootBundle;
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
        let _ = alipay_protocol::response::alipay_cert_sn(&body);
    }

    /// The SN an answer names is read from the envelope wherever it sits, and never from inside
    /// the signed node.
    #[test]
    fn the_answer_s_certificate_sn_is_the_top_level_one(sn in "[0-9a-f]{32}", inner in "[0-9a-f]{32}") {
        let body = format!(r#"{{"a_b_response":{{"alipay_cert_sn":"{inner}"}},"alipay_cert_sn":"{sn}","sign":"x"}}"#);
        prop_assert_eq!(alipay_protocol::response::alipay_cert_sn(&body), Some(sn));
        let none = format!(r#"{{"a_b_response":{{"alipay_cert_sn":"{inner}"}},"sign":"x"}}"#);
        prop_assert_eq!(alipay_protocol::response::alipay_cert_sn(&none), None);
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

    /// The chain check on any bytes, as a bundle or as a certificate file: an error, never a panic.
    #[test]
    fn the_chain_check_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = RootBundle::from_pem(&data);
        let _ = bundle().verify_chain(&data, 1_796_083_200);
    }

    /// A certificate with any one byte changed never panics the check, and a change inside the signed
    /// part never verifies.
    #[test]
    fn a_changed_byte_in_a_certificate_is_never_trusted(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let der = class2_der();
        let at = pos.index(der.len());
        let mut changed = der.to_vec();
        changed[at] ^= flip;
        let result = bundle().verify_chain(&changed, 1_796_083_200);
        // The to-be-signed part starts after the outer SEQUENCE header (4 bytes) and ends where the
        // signature algorithm begins.
        if at >= 4 && at < 4 + tbs_len() {
            prop_assert!(result.is_err(), "byte {} changed and still trusted", at);
        }
    }
}

fn certs_dir() -> String {
    format!("{}/tests/certs/", env!("CARGO_MANIFEST_DIR"))
}

fn bundle() -> &'static RootBundle {
    static B: OnceLock<RootBundle> = OnceLock::new();
    B.get_or_init(|| {
        RootBundle::from_pem(&std::fs::read(certs_dir() + "root_bundle.pem").unwrap()).unwrap()
    })
}

fn class2_der() -> &'static [u8] {
    static D: OnceLock<Vec<u8>> = OnceLock::new();
    D.get_or_init(|| {
        use der::{DecodePem, Encode};
        let pem = std::fs::read(certs_dir() + "class2.pem").unwrap();
        x509_cert::Certificate::from_pem(pem)
            .unwrap()
            .to_der()
            .unwrap()
    })
}

fn tbs_len() -> usize {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(class2_der()).unwrap();
    cert.tbs_certificate.to_der().unwrap().len()
}
