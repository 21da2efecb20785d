//! Fixtures shaped like the reference's sample, refusals, and the property tests.

use crate::archive::zip_members_for_tests;
use crate::*;
use alipay_units::{AmountFen, Timestamp};
use encoding_rs::GBK;
use proptest::prelude::*;

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, had_errors) = GBK.encode(text);
    assert!(!had_errors);
    bytes.into_owned()
}

fn fen(n: i64) -> AmountFen {
    AmountFen::from_fen(n).unwrap()
}

/// A detail CSV as next-wave.md §3.2 describes the real one: comment lines, dashed markers, the 16
/// current columns, fields padded with a trailing tab (and a blank or two), the three footer lines.
const SAMPLE: &str = "#支付宝账务明细查询\r\n\
#账号：[20881234567890120156]\r\n\
#起始日期：[2026年12月07日 00:00:00]   终止日期：[2026年12月08日 00:00:00]\r\n\
#-----------------------------------------账务明细列表----------------------------------------\r\n\
账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注,业务描述,业务账单来源,业务基础订单号,业务订单号\r\n\
20261207110070001506700012345678\t,20261207110070001506700098765432\t,P-20261207-0001\t,现金红包\t,2026-12-07 10:15:30\t,user***@example.com\t,\t,2.00\t,9998.00\t,支付宝\t,转账\t,恭喜发财\t,单笔转账\t,商户\t,20261207010000000001\t,20261207020000000001\t\r\n\
20261207110070001506700012345679\t, 20261207110070001506700098765433 \t,\t,账户充值\t,2026-12-07 11:00:00\t,\t,+100.00\t,\t,10098.00\t,\t,充值\t,\t,\t,\t,\t,\t\r\n\
#-----------------------------------------账务明细列表结束------------------------------------\r\n\
#支出合计：1笔，共2.00元\r\n\
#收入合计：1笔，共100.00元\r\n\
#导出时间：[2026-12-08 09:00:12]\r\n";

const DETAIL_NAME: &str = "20881234567890120156_20261207_账务明细.csv";
const SUMMARY_NAME: &str = "20881234567890120156_20261207_账务明细(汇总).csv";

fn sample_zip(csv: &str) -> Vec<u8> {
    zip_members_for_tests(&[
        (gbk(DETAIL_NAME), gbk(csv)),
        (gbk(SUMMARY_NAME), gbk("#支付宝账务明细汇总\r\n")),
    ])
}

#[test]
fn reads_a_file_shaped_like_the_reference_sample() {
    let file = parse_zip(&sample_zip(SAMPLE)).unwrap();
    assert_eq!(file.account.as_deref(), Some("20881234567890120156"));
    assert_eq!(file.rows.len(), 2);
    let transfer = &file.rows[0];
    assert_eq!(transfer.account_log_id, "20261207110070001506700012345678");
    assert_eq!(transfer.biz_no, "20261207110070001506700098765432");
    assert_eq!(transfer.merchant_order_no, "P-20261207-0001");
    assert_eq!(transfer.goods_name, "现金红包");
    assert_eq!(transfer.occurred_at.to_beijing(), "2026-12-07 10:15:30");
    assert_eq!(transfer.counterparty, "user***@example.com");
    assert_eq!(transfer.income, AmountFen::ZERO);
    assert_eq!(transfer.expense, fen(200));
    assert_eq!(transfer.balance, fen(999_800));
    assert_eq!(transfer.channel, "支付宝");
    assert_eq!(transfer.biz_type, "转账");
    assert_eq!(transfer.memo, "恭喜发财");
    assert_eq!(transfer.biz_desc, "单笔转账");
    assert_eq!(transfer.biz_bill_source, "商户");
    assert_eq!(transfer.biz_orig_no, "20261207010000000001");
    assert_eq!(transfer.biz_order_no, "20261207020000000001");
    let top_up = &file.rows[1];
    assert_eq!(
        top_up.biz_no, "20261207110070001506700098765433",
        "blanks trimmed too"
    );
    assert_eq!(top_up.merchant_order_no, "");
    assert_eq!(top_up.income, fen(10_000), "`+100.00` in the income column");
    assert_eq!(top_up.expense, AmountFen::ZERO, "a blank cell is zero");
    assert_eq!(
        file.expense_total,
        Some(Total {
            count: 1,
            amount: fen(200)
        })
    );
    assert_eq!(
        file.income_total,
        Some(Total {
            count: 1,
            amount: fen(10_000)
        })
    );
    assert_eq!(
        file.exported_at,
        Some(Timestamp::parse_beijing("2026-12-08 09:00:12").unwrap())
    );
    file.verify_totals().unwrap();
}

#[test]
fn the_member_names_are_gbk_without_the_utf8_flag() {
    let writer = BillWriter::new(
        "20881234567890120156",
        time::macros::date!(2026 - 12 - 07),
        Timestamp::parse_beijing("2026-12-08 09:00:00").unwrap(),
    )
    .unwrap();
    assert_eq!(writer.detail_member_name(), DETAIL_NAME);
    assert_eq!(writer.summary_member_name(), SUMMARY_NAME);
    let bytes = writer.zip(&[]).unwrap();
    // The first local header: flags at offset 6, name length at 26, the name from 30.
    let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
    assert_eq!(flags & (1 << 11), 0, "UTF-8 flag must be unset");
    let len = usize::from(u16::from_le_bytes([bytes[26], bytes[27]]));
    assert_eq!(&bytes[30..30 + len], gbk(DETAIL_NAME).as_slice());
    // The zip crate, reading independently, sees the same raw names.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    assert_eq!(archive.len(), 2);
    assert_eq!(archive.by_index(0).unwrap().name_raw(), gbk(DETAIL_NAME));
    assert_eq!(archive.by_index(1).unwrap().name_raw(), gbk(SUMMARY_NAME));
    // Read as CP437 (the zip default without the flag), the names are the mojibake next-wave.md
    // §3.2 quotes from another parser's output: `╒╦╬±├≈╧╕` and `╒╦╬±├≈╧╕(╗π╫▄)`.
    assert_eq!(
        archive.by_index(0).unwrap().name(),
        "20881234567890120156_20261207_╒╦╬±├≈╧╕.csv"
    );
    assert_eq!(
        archive.by_index(1).unwrap().name(),
        "20881234567890120156_20261207_╒╦╬±├≈╧╕(╗π╫▄).csv"
    );
    assert_eq!(
        archive.by_index(0).unwrap().compression(),
        zip::CompressionMethod::Deflated
    );
    let file = parse_zip(&bytes).unwrap();
    assert!(file.rows.is_empty());
    assert_eq!(file.expense_total.map(|t| t.count), Some(0));
}

#[test]
fn columns_are_mapped_by_name_in_any_order_with_unknown_ones_ignored() {
    // The older 12 columns, shuffled, plus a column nobody has heard of and a trailing comma.
    let csv = "#-----账务明细列表-----\n\
备注,支出金额（-元）,账务流水号,新列,商户订单号,业务流水号,商品名称,发生时间,对方账号,收入金额（+元）,账户余额（元）,交易渠道,业务类型,\n\
m\t,-3.50\t,A1\t,whatever\t,OUT-1\t,B1\t,goods\t,2026-12-07 00:00:00\t,cp\t,0.00\t,1.00\t,ch\t,转账\t,\n\
#-----账务明细列表结束-----\n";
    let file = parse_csv(&gbk(csv)).unwrap();
    let row = &file.rows[0];
    assert_eq!(row.account_log_id, "A1");
    assert_eq!(row.merchant_order_no, "OUT-1");
    assert_eq!(row.expense, fen(350), "`-3.50` in the expense column");
    assert_eq!(row.memo, "m");
    assert_eq!(row.biz_desc, "", "a column the file lacks reads blank");
    assert_eq!(file.expense_total, None);
    assert_eq!(file.account, None);
}

#[test]
fn malformed_files_are_refused_with_a_typed_error() {
    let zip_of = |csv: &str| sample_zip(csv);
    assert!(matches!(
        parse_zip(b"not a zip"),
        Err(BillError::NotAZip(_))
    ));
    assert!(matches!(parse_zip(&[]), Err(BillError::NotAZip(_))));
    let no_detail = zip_members_for_tests(&[(gbk(SUMMARY_NAME), gbk(SAMPLE))]);
    assert_eq!(parse_zip(&no_detail), Err(BillError::NoDetailMember));
    let twice = zip_members_for_tests(&[
        (gbk(DETAIL_NAME), gbk(SAMPLE)),
        (gbk(&format!("x/{DETAIL_NAME}")), gbk(SAMPLE)),
    ]);
    assert_eq!(parse_zip(&twice), Err(BillError::SeveralDetailMembers));

    let cases: Vec<(String, BillError)> = vec![
        (
            SAMPLE.replace("账务明细列表---", "列表---"),
            BillError::MissingStartMarker,
        ),
        (
            // A file cut off after its rows.
            SAMPLE[..SAMPLE
                .find("#-----------------------------------------账务明细列表结束")
                .unwrap()]
                .to_owned(),
            BillError::MissingEndMarker,
        ),
        (
            SAMPLE.replace("账务明细列表结束", "列表结束"),
            BillError::BadRow {
                line: 8,
                reason: RowError::UnexpectedComment,
            },
        ),
        (
            "#--账务明细列表--\r\n#--账务明细列表结束--\r\n".to_owned(),
            BillError::MissingHeader,
        ),
        (
            SAMPLE.replace("商户订单号,", "商户编号,"),
            BillError::MissingColumn("商户订单号"),
        ),
        (
            SAMPLE.replace("商品名称,", "备注,"),
            BillError::DuplicateColumn("备注"),
        ),
        (
            SAMPLE.replace("9998.00", "99x8.00"),
            BillError::BadRow {
                line: 6,
                reason: RowError::BadAmount {
                    column: "账户余额",
                    source: alipay_units::AmountError::Malformed,
                },
            },
        ),
        (
            SAMPLE.replace("\t,2.00\t", "\t,2.001\t"),
            BillError::BadRow {
                line: 6,
                reason: RowError::BadAmount {
                    column: "支出金额",
                    source: alipay_units::AmountError::TooPrecise,
                },
            },
        ),
        (
            SAMPLE.replace("+100.00", "-100.00"),
            BillError::BadRow {
                line: 7,
                reason: RowError::BadAmount {
                    column: "收入金额",
                    source: alipay_units::AmountError::Negative,
                },
            },
        ),
        (
            SAMPLE.replace("2026-12-07 10:15:30", "2026/12/07 10:15"),
            BillError::BadRow {
                line: 6,
                reason: RowError::BadTime,
            },
        ),
        (
            SAMPLE.replace("现金红包\t", "现金\"红包\t"),
            BillError::BadRow {
                line: 6,
                reason: RowError::BadQuoting,
            },
        ),
        (
            SAMPLE.replace("20261207110070001506700012345679\t", "\t"),
            BillError::BadRow {
                line: 7,
                reason: RowError::BlankKey,
            },
        ),
        (
            SAMPLE.replace(",20261207020000000001\t", ""),
            BillError::BadRow {
                line: 6,
                reason: RowError::FieldCount {
                    expected: 16,
                    found: 15,
                },
            },
        ),
        (
            SAMPLE.replace("20261207110070001506700012345679\t", "#x\t"),
            BillError::BadRow {
                line: 7,
                reason: RowError::UnexpectedComment,
            },
        ),
        (
            SAMPLE.replace("1笔，共2.00元", "一笔"),
            BillError::BadFooter { line: 9 },
        ),
    ];
    for (csv, expected) in cases {
        assert_eq!(parse_zip(&zip_of(&csv)), Err(expected.clone()), "{csv}");
        assert_eq!(parse_csv(&gbk(&csv)), Err(expected));
    }

    // Bytes that are not GBK (a lone lead byte before the newline).
    let mut bad = gbk(SAMPLE);
    bad.splice(0..0, [0x81, b'\n']);
    assert_eq!(parse_csv(&bad), Err(BillError::NotGbk));
    // Corrupt deflate data inside a well-formed zip.
    let mut corrupt = sample_zip(SAMPLE);
    let name_len = gbk(DETAIL_NAME).len();
    for b in &mut corrupt[30 + name_len..30 + name_len + 40] {
        *b ^= 0x5a;
    }
    assert!(matches!(
        parse_zip(&corrupt),
        Err(BillError::UnreadableMember(_) | BillError::NotGbk | BillError::NotAZip(_))
    ));
}

#[test]
fn footer_totals_that_disagree_with_the_rows_fail_verification() {
    let edited = SAMPLE.replace("共2.00元", "共2.50元");
    let file = parse_csv(&gbk(&edited)).unwrap();
    assert_eq!(
        file.verify_totals(),
        Err(BillError::TotalsMismatch {
            side: "支出",
            footer_count: 1,
            footer_fen: 250,
            rows_count: 1,
            rows_fen: 200,
        })
    );
}

#[test]
fn a_zip_bomb_and_too_many_members_are_refused() {
    // 4 MiB of one repeated line deflates to a few KiB; a 1 MiB bound refuses it after inflating
    // at most one byte past the bound.
    let mut big = String::from(SAMPLE);
    big.push_str(&"#导出时间：[2026-12-08 09:00:12]\r\n".repeat(4 << 20 >> 5));
    let bomb = sample_zip(&big);
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let limits = Limits {
        max_member_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(
        parse_zip_with(&bomb, &limits),
        Err(BillError::MemberTooLarge { limit: 1 << 20 })
    );
    assert!(parse_zip(&bomb).is_ok(), "within the default bound");

    let many: Vec<(Vec<u8>, Vec<u8>)> = (0..17)
        .map(|i| (format!("{i}.txt").into_bytes(), Vec::new()))
        .collect();
    assert_eq!(
        parse_zip(&zip_members_for_tests(&many)),
        Err(BillError::TooManyMembers {
            count: 17,
            limit: 16
        })
    );
    let tiny = Limits {
        max_archive_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        parse_zip_with(&bomb, &tiny),
        Err(BillError::ArchiveTooLarge { limit: 100, .. })
    ));
}

#[test]
fn the_writer_refuses_rows_it_could_not_read_back() {
    let writer = BillWriter::new(
        "20881234567890120156",
        time::macros::date!(2026 - 12 - 07),
        Timestamp(0),
    )
    .unwrap();
    let mut row = parse_csv(&gbk(SAMPLE)).unwrap().rows.remove(0);
    row.memo = "line\nbreak".into();
    assert_eq!(
        writer.csv(std::slice::from_ref(&row)),
        Err(WriteError::LineBreak {
            row: 0,
            column: "备注"
        })
    );
    row.memo = "emoji 🧧".into();
    assert_eq!(
        writer.csv(std::slice::from_ref(&row)),
        Err(WriteError::NotGbk {
            row: 0,
            column: "备注"
        })
    );
    row.memo.clear();
    row.account_log_id.clear();
    assert_eq!(writer.csv(&[row]), Err(WriteError::BlankKey { row: 0 }));
    assert!(BillWriter::new("2088/..", time::macros::date!(2026 - 12 - 07), Timestamp(0)).is_err());
    assert!(BillWriter::new("", time::macros::date!(2026 - 12 - 07), Timestamp(0)).is_err());
}

// ---- properties -------------------------------------------------------------------------------

/// Text as it appears in bills: Chinese, ASCII, and the characters that need quoting.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,\"#\\t*@._\\-账务明细列表结束合计现金红包转账充值恭喜发财支付宝商户（）()+]{0,16}"
}

fn amount() -> impl Strategy<Value = AmountFen> {
    prop_oneof![Just(0i64), 0i64..100_000, 0i64..100_000_000_000]
        .prop_map(|f| AmountFen::from_fen(f).unwrap())
}

prop_compose! {
    fn row()(
        account_log_id in "[0-9A-Za-z#\" ,账]{1,32}",
        biz_no in text(), merchant_order_no in text(), goods_name in text(),
        // 2000-01-01 to 2099-12-31, whole seconds (the file has no milliseconds).
        secs in 946_684_800i64..4_102_444_800,
        counterparty in text(), income in amount(), expense in amount(), balance in amount(),
        channel in text(), biz_type in text(), memo in text(), biz_desc in text(),
        biz_bill_source in text(), biz_orig_no in text(), biz_order_no in text(),
    ) -> BillRow {
        BillRow {
            account_log_id, biz_no, merchant_order_no, goods_name,
            occurred_at: Timestamp(secs * 1000), counterparty, income, expense, balance,
            channel, biz_type, memo, biz_desc, biz_bill_source, biz_orig_no, biz_order_no,
        }
    }
}

fn writer() -> BillWriter {
    BillWriter::new(
        "20881234567890120156",
        time::macros::date!(2026 - 12 - 07),
        Timestamp::parse_beijing("2026-12-08 09:00:12").unwrap(),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_of_write_is_the_rows(rows in prop::collection::vec(row(), 0..8)) {
        let w = writer();
        let file = parse_zip(&w.zip(&rows).unwrap()).unwrap();
        prop_assert_eq!(&file.rows, &rows);
        prop_assert_eq!(file.account.as_deref(), Some("20881234567890120156"));
        prop_assert_eq!(file.exported_at, Some(Timestamp::parse_beijing("2026-12-08 09:00:12").unwrap()));
        prop_assert!(file.verify_totals().is_ok());
        prop_assert_eq!(parse_csv(&w.csv(&rows).unwrap()).unwrap(), file);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_zip(&bytes);
        let _ = parse_csv(&bytes);
        // A zip signature in front makes the zip reader look further.
        let mut with_signature = b"PK\x03\x04".to_vec();
        with_signature.extend_from_slice(&bytes);
        let _ = parse_zip(&with_signature);
    }

    #[test]
    fn mutated_zips_never_panic(
        rows in prop::collection::vec(row(), 0..3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = writer().zip(&rows).unwrap();
        mutate(&mut bytes, &edits);
        let _ = parse_zip(&bytes);
    }

    /// Mutations of the CSV inside a valid zip reach the text parser (a mutated zip mostly fails
    /// its CRC first).
    #[test]
    fn mutated_csvs_never_panic(
        rows in prop::collection::vec(row(), 0..3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut csv = writer().csv(&rows).unwrap();
        mutate(&mut csv, &edits);
        let _ = parse_csv(&csv);
        let _ = parse_zip(&zip_members_for_tests(&[(gbk(DETAIL_NAME), csv)]));
    }
}

/// Overwrites, inserts or deletes a byte at each edit's position.
fn mutate(bytes: &mut Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) {
    for (at, value, kind) in edits {
        if bytes.is_empty() {
            bytes.push(*value);
            continue;
        }
        let i = at.index(bytes.len());
        match kind {
            0 => bytes[i] = *value,
            1 => bytes.insert(i, *value),
            _ => {
                bytes.remove(i);
            }
        }
    }
}

/// The sample as a file, committed for other tools (scripts/fuzz.sh seeds the `bill_file` corpus
/// with it). `ALIPAY_BILL_BLESS=1 cargo test -p alipay-bill` writes it anew; compared by content,
/// not bytes, so a new deflate backend does not break it.
#[test]
fn the_committed_fixture_is_the_sample() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/signcustomer-sample.zip"
    );
    if std::env::var_os("ALIPAY_BILL_BLESS").is_some() {
        std::fs::write(path, sample_zip(SAMPLE)).unwrap();
    }
    let committed = std::fs::read(path).unwrap();
    assert_eq!(
        parse_zip(&committed).unwrap(),
        parse_zip(&sample_zip(SAMPLE)).unwrap()
    );
}
