#![no_main]
//! The notification form parser and verifier on arbitrary bytes: no panic; parsed keys are unique.
use alipay_protocol::notify::{NotifyParams, NotifyPolicy};
use alipay_protocol::AlipayPublicKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(params) = NotifyParams::parse_form(body) {
        let keys: Vec<&str> = params.iter().map(|(k, _)| k).collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(keys.len(), unique.len());
        let pem = include_str!("../../tests/vectors/keys/alipay_public_spki.pem");
        let key = AlipayPublicKey::from_text(pem).expect("test key");
        let _ = params.verify(&key, NotifyPolicy::default());
    }
});
