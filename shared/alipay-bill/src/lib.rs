//! # alipay-bill
//!
//! Alipay's `signcustomer` bill (账务明细: "基于商户支付宝余额收入及支出等资金变动的账务账单"), the file
//! `alipay.data.dataservice.bill.downloadurl.query` links to: read into typed rows for the daily
//! reconciliation, and written for the simulator to serve. One job, no I/O: bytes in, rows out,
//! and back.
//!
//! - [`parse_zip`] reads the download (a zip), [`parse_csv`] the detail CSV alone.
//! - [`BillWriter`] writes rows as the download: the same layout, markers and footer totals.
//! - [`OUT_BIZ_NO_COLUMN`] is the one place that names the column matched against `out_biz_no`.
//!
//! ## The format, and where each fact comes from
//!
//! All from `shared/reference/next-wave.md` §3 (research of public clients and docs), not from a
//! file downloaded from the live platform:
//!
//! | fact | source | here |
//! | --- | --- | --- |
//! | a zip; member names are GBK bytes without the UTF-8 flag (bit 11) | §3.2 first bullet (VERIFIED there by decoding names a parser printed as CP437) | names decoded as GBK, or UTF-8 if they are; the writer writes GBK with the flag unset |
//! | members `<PID>[0156]_<yyyymmdd>_账务明细.csv` and `…_账务明细(汇总).csv` | §3.2 first bullet | the detail member is the one whose name ends `账务明细.csv`; the summary is not read |
//! | CSV content is GBK | §3.2 second bullet | strict GBK decoding (encoding_rs); invalid bytes are refused, not replaced |
//! | `#` comment lines, then `#-----…账务明细列表…-----`, header, rows, `#-----…账务明细列表结束…-----`, `#支出合计：N笔，共X元`, `#收入合计：…`, `#导出时间：[…]` | §3.2 second bullet | markers located by text, not line numbers ("Parsers locate the markers") |
//! | fields carry a trailing `\t` | §3.2 second bullet | every field trimmed of tabs and blanks |
//! | 16 columns in current files, the first 12 in older ones | §3.2 third bullet | 11 required (see [`BillRow`]); 交易渠道 and the 4 newer ones optional; unknown columns ignored |
//! | map by header name, not position | §3.2 third bullet | matched up to the unit in parentheses (`收入金额（+元）` = `收入金额`) |
//! | amounts are yuan with two decimals, into integer fen | §3.2 last bullet | [`alipay_units::AmountFen`], exact decimal parsing |
//! | times are Beijing time | §3.1 ("Times are Beijing time") | `yyyy-MM-dd HH:mm:ss` read with [`alipay_units::Timestamp::parse_beijing`] |
//! | 商户订单号 = our `out_biz_no` | §3.3, **UNVERIFIED** | [`OUT_BIZ_NO_COLUMN`] |
//!
//! ## Not verified against the live platform
//!
//! No real `signcustomer` file was read for this crate. Unverified, each kept in one place:
//! - that 商户订单号 carries our `out_biz_no` for a transfer ([`OUT_BIZ_NO_COLUMN`]; next-wave.md §5 probe 1);
//! - the sign convention of the amount cells (`+2.00`/`-2.00` or plain `2.00`): both are read, the
//!   writer writes plain `2.00`;
//! - the `发生时间` form (taken to be `yyyy-MM-dd HH:mm:ss` like every other Alipay time);
//! - whether fields are ever double-quoted (read if they are; the writer quotes only text that
//!   would not survive unquoted);
//! - what N in `#支出合计：N笔` counts ([`BillFile::verify_totals`] takes it as the rows with a
//!   non-zero amount on that side, and is a separate step so a real file is not refused for it);
//! - the exact text inside `#起始日期：[…]` and `#导出时间：[…]` (the writer writes `yyyy-MM-dd HH:mm:ss`;
//!   the reader keeps an export time only in that form and otherwise ignores the lines);
//! - the summary member's content (written minimally, never read);
//! - that the account in the names and in `#账号：[…]` is the PID followed by `0156`.
//!
//! Bounds ([`Limits`]): the zip's size, its member count, and the bytes actually inflated from the
//! detail member, so a zip bomb is refused before it fills memory.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod archive;
mod error;
mod row;
mod text;

pub use archive::{parse_zip, parse_zip_with, BillWriter, Limits};
pub use error::{BillError, RowError, WriteError};
pub use row::{BillRow, OUT_BIZ_NO_COLUMN};
pub use text::{parse_csv, BillFile, Total};

#[cfg(test)]
mod tests;
