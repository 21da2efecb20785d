#![no_main]
//! Key loading on arbitrary text: no panic, and an error never carries key-like material (its texts
//! are fixed: roles and kinds only, so no run of 16 base64 characters can appear in one).
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use libfuzzer_sys::fuzz_target;

fn longest_base64_run(s: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

fuzz_target!(|text: &str| {
    if let Err(e) = AppPrivateKey::from_text(text) {
        assert!(longest_base64_run(&e.to_string()) < 16);
        assert!(longest_base64_run(&format!("{e:?}")) < 16);
    }
    if let Err(e) = AlipayPublicKey::from_text(text) {
        assert!(longest_base64_run(&e.to_string()) < 16);
    }
});
