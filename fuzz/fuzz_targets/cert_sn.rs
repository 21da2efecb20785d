#![no_main]
//! Certificate parsing for SNs on arbitrary bytes: no panic.
use alipay_protocol::cert::{cert_sn, public_key_from_cert, root_cert_sn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cert_sn(data);
    let _ = root_cert_sn(data);
    let _ = public_key_from_cert(data);
});
