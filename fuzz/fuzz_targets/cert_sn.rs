#![no_main]
//! Certificate parsing for SNs and the chain check on arbitrary bytes: no panic.
use alipay_protocol::cert::{cert_sn, public_key_from_cert, root_cert_sn, RootBundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cert_sn(data);
    let _ = root_cert_sn(data);
    let _ = public_key_from_cert(data);
    // The input as a bundle anchoring itself, checked at a fixed time.
    if let Ok(roots) = RootBundle::from_pem(data) {
        let _ = roots.verify_chain(data, 1_796_083_200);
    }
});
