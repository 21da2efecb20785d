#![no_main]
//! The bill reader (alipay-bill) on arbitrary bytes, as the downloaded zip and as the bare detail
//! CSV: no panic; and whatever parses, once written back by BillWriter (when the writer can hold
//! it), parses to the same rows.
use alipay_bill::{parse_csv, parse_zip, BillWriter};
use alipay_units::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for file in [parse_zip(data), parse_csv(data)].into_iter().flatten() {
        let _ = file.verify_totals();
        let day = time::macros::date!(2026 - 12 - 07);
        let writer = BillWriter::new("20881234567890120156", day, Timestamp(0)).expect("account");
        if let Ok(zip) = writer.zip(&file.rows) {
            let again = parse_zip(&zip).expect("the writer's output parses");
            assert_eq!(again.rows, file.rows);
        }
    }
});
