#![no_main]
//! Key loading on arbitrary text: no panic, and an error never echoes the input.
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(e) = AppPrivateKey::from_text(text) {
        let shown = e.to_string();
        assert!(text.len() < 16 || !shown.contains(text));
    }
    let _ = AlipayPublicKey::from_text(text);
});
