#![no_main]
//! The sync-response span extractor and verifier on arbitrary bodies: no panic, and a span, when
//! found, is a slice of the body.
use std::sync::OnceLock;

use alipay_protocol::response::{extract_signed_span, ResponseVerifier};
use alipay_protocol::AlipayPublicKey;
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static ResponseVerifier {
    static V: OnceLock<ResponseVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let pem = include_str!("../../tests/vectors/keys/alipay_public_spki.pem");
        ResponseVerifier::new(AlipayPublicKey::from_text(pem).expect("test key"))
    })
}

fuzz_target!(|body: &str| {
    if let Ok(span) = extract_signed_span(body, "alipay.trade.query") {
        assert!(body.contains(span.content));
    }
    let _ = verifier().verify(body, "alipay.trade.query");
    let _ = alipay_protocol::response::alipay_cert_sn(body);
});
