//! The zip around the CSV files: reading it with bounds, and writing it with GBK member names.
//!
//! next-wave.md §3.2: "A zip whose member names are GBK bytes without the UTF-8 flag … Members:
//! `<PID>[0156]_<yyyymmdd>_账务明细.csv` + `…_账务明细(汇总).csv` for `signcustomer`".

use crate::error::{BillError, WriteError};
use crate::row::BillRow;
use crate::text::{encode_gbk, parse_csv, write_csv, BillFile, CsvHead};
use alipay_units::{Timestamp, BEIJING};
use encoding_rs::GBK;
use std::io::{Cursor, Read, Write};

/// Bounds on what a downloaded bill may make us hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the zip itself.
    pub max_archive_bytes: usize,
    /// Members in its central directory (a `signcustomer` bill has two).
    pub max_members: usize,
    /// Bytes the detail member may inflate to (the bound against a zip bomb; checked on the bytes
    /// actually inflated, not only on the size the header declares).
    pub max_member_bytes: u64,
}

impl Default for Limits {
    /// 64 MiB of zip, 16 members, 256 MiB of CSV: a day of ~10^6 rows at ~250 bytes each.
    fn default() -> Self {
        Limits {
            max_archive_bytes: 64 << 20,
            max_members: 16,
            max_member_bytes: 256 << 20,
        }
    }
}

/// The name ending of the detail member; the summary member ends `账务明细(汇总).csv`.
const DETAIL_SUFFIX: &str = "账务明细.csv";
const SUMMARY_SUFFIX: &str = "账务明细(汇总).csv";

/// Reads a downloaded `signcustomer` bill (the zip) with the default [`Limits`].
///
/// # Errors
/// [`BillError`] saying what is malformed.
pub fn parse_zip(bytes: &[u8]) -> Result<BillFile, BillError> {
    parse_zip_with(bytes, &Limits::default())
}

/// Reads a downloaded `signcustomer` bill (the zip) within `limits`.
///
/// # Errors
/// [`BillError`] saying what is malformed or too large.
pub fn parse_zip_with(bytes: &[u8], limits: &Limits) -> Result<BillFile, BillError> {
    if bytes.len() > limits.max_archive_bytes {
        return Err(BillError::ArchiveTooLarge {
            size: bytes.len(),
            limit: limits.max_archive_bytes,
        });
    }
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| BillError::NotAZip(e.to_string()))?;
    if archive.len() > limits.max_members {
        return Err(BillError::TooManyMembers {
            count: archive.len(),
            limit: limits.max_members,
        });
    }
    let mut detail = None;
    for i in 0..archive.len() {
        let member = archive
            .by_index_raw(i)
            .map_err(|e| BillError::NotAZip(e.to_string()))?;
        if is_detail_member(member.name_raw()) {
            if detail.is_some() {
                return Err(BillError::SeveralDetailMembers);
            }
            detail = Some(i);
        }
    }
    let index = detail.ok_or(BillError::NoDetailMember)?;
    let member = archive
        .by_index(index)
        .map_err(|e| BillError::UnreadableMember(e.to_string()))?;
    if member.size() > limits.max_member_bytes {
        return Err(BillError::MemberTooLarge {
            limit: limits.max_member_bytes,
        });
    }
    let mut csv = Vec::new();
    member
        .take(limits.max_member_bytes.saturating_add(1))
        .read_to_end(&mut csv)
        .map_err(|e| BillError::UnreadableMember(e.to_string()))?;
    if csv.len() as u64 > limits.max_member_bytes {
        return Err(BillError::MemberTooLarge {
            limit: limits.max_member_bytes,
        });
    }
    parse_csv(&csv)
}

/// Whether a member name (raw bytes: GBK without the UTF-8 flag, as Alipay writes them, or UTF-8
/// should a zip carry the flag) is the detail CSV. Only the last path component counts.
fn is_detail_member(raw: &[u8]) -> bool {
    let gbk = GBK.decode_without_bom_handling_and_without_replacement(raw);
    let utf8 = std::str::from_utf8(raw).ok();
    let is_detail = |name: &str| {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        base.ends_with(DETAIL_SUFFIX)
    };
    gbk.as_deref().is_some_and(is_detail) || utf8.is_some_and(is_detail)
}

/// Writes `signcustomer` bills as Alipay serves them, for the simulator and for tests.
#[derive(Debug, Clone)]
pub struct BillWriter {
    account: String,
    day: time::Date,
    exported_at: Timestamp,
}

impl BillWriter {
    /// A writer for the bill of `account` (as in `#账号：[…]` and the member names: the PID
    /// followed by `0156`, per the reference's `<PID>[0156]`) for the Beijing day `day`, exported
    /// at `exported_at`.
    ///
    /// # Errors
    /// [`WriteError::Unwritable`] when the account is not ASCII letters and digits (it is written
    /// into marker-free comment lines and file names).
    pub fn new(
        account: &str,
        day: time::Date,
        exported_at: Timestamp,
    ) -> Result<BillWriter, WriteError> {
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(WriteError::Unwritable("account"));
        }
        Ok(BillWriter {
            account: account.to_owned(),
            day,
            exported_at,
        })
    }

    /// `<account>_<yyyymmdd>_账务明细.csv`.
    pub fn detail_member_name(&self) -> String {
        format!("{}_{}_{DETAIL_SUFFIX}", self.account, self.yyyymmdd())
    }

    /// `<account>_<yyyymmdd>_账务明细(汇总).csv`.
    pub fn summary_member_name(&self) -> String {
        format!("{}_{}_{SUMMARY_SUFFIX}", self.account, self.yyyymmdd())
    }

    fn yyyymmdd(&self) -> String {
        format!(
            "{:04}{:02}{:02}",
            self.day.year(),
            u8::from(self.day.month()),
            self.day.day()
        )
    }

    fn head(&self) -> CsvHead<'_> {
        let start = self.day.midnight().assume_offset(BEIJING);
        let millis = |t: time::OffsetDateTime| {
            Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        };
        CsvHead {
            account: &self.account,
            day_start: millis(start),
            day_end: millis(start + time::Duration::DAY),
            exported_at: self.exported_at,
        }
    }

    /// The detail CSV alone (GBK bytes).
    ///
    /// # Errors
    /// [`WriteError`] for a row the reader could not read back unchanged.
    pub fn csv(&self, rows: &[BillRow]) -> Result<Vec<u8>, WriteError> {
        write_csv(&self.head(), rows)
    }

    /// The whole download: a zip holding the detail CSV and a summary CSV, both deflated, with GBK
    /// member names and the UTF-8 flag unset.
    ///
    /// # Errors
    /// [`WriteError`] for a row the reader could not read back unchanged.
    pub fn zip(&self, rows: &[BillRow]) -> Result<Vec<u8>, WriteError> {
        let detail = self.csv(rows)?;
        let summary = self.summary_csv(rows)?;
        let name = |n: String| encode_gbk(&n).ok_or(WriteError::Unwritable("member name"));
        write_zip(
            &[
                (name(self.detail_member_name())?, detail),
                (name(self.summary_member_name())?, summary),
            ],
            dos_time(self.exported_at),
        )
    }

    /// The summary member. Its content is not described by any source read (next-wave.md §3.2
    /// names the member only): this one totals income and expense per 业务类型 and is not read back.
    fn summary_csv(&self, rows: &[BillRow]) -> Result<Vec<u8>, WriteError> {
        let mut per_type: Vec<(&str, i128, i128)> = Vec::new();
        for row in rows {
            let at = match per_type.iter().position(|(t, _, _)| *t == row.biz_type) {
                Some(at) => at,
                None => {
                    per_type.push((&row.biz_type, 0, 0));
                    per_type.len() - 1
                }
            };
            per_type[at].1 += i128::from(row.income.fen());
            per_type[at].2 += i128::from(row.expense.fen());
        }
        let yuan = |fen: i128| format!("{}.{:02}", fen / 100, fen % 100);
        let mut text = format!(
            "#支付宝账务明细汇总\r\n#账号：[{}]\r\n业务类型,收入金额（+元）,支出金额（-元）\r\n",
            self.account
        );
        for (biz_type, income, expense) in per_type {
            let biz_type = biz_type.replace([',', '"', '\r', '\n'], " ");
            text.push_str(&format!(
                "{biz_type}\t,{}\t,{}\t\r\n",
                yuan(income),
                yuan(expense)
            ));
        }
        text.push_str(&format!(
            "#导出时间：[{}]\r\n",
            self.exported_at.to_beijing()
        ));
        encode_gbk(&text).ok_or(WriteError::Unwritable("summary"))
    }
}

/// MS-DOS time and date of a timestamp, in Beijing time (what a zip tool in China would stamp).
fn dos_time(at: Timestamp) -> (u16, u16) {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(BEIJING);
    if !(1980..=2107).contains(&t.year()) {
        return (0, (1 << 5) | 1); // 1980-01-01 00:00:00, the earliest DOS date
    }
    let time =
        (u16::from(t.hour()) << 11) | (u16::from(t.minute()) << 5) | u16::from(t.second() / 2);
    let year = u16::try_from(t.year() - 1980).unwrap_or(0);
    let date = (year << 9) | (u16::from(u8::from(t.month())) << 5) | u16::from(t.day());
    (time, date)
}

/// A minimal zip writer (PKWARE APPNOTE 4.3: local headers, deflated data, central directory, end
/// record; no zip64, no data descriptors, no extra fields). It exists because the zip crate writes
/// member names only from UTF-8 strings and sets the UTF-8 flag for them, while Alipay's names are
/// GBK bytes with the flag unset. Reading goes through the zip crate, so the two check each other.
fn write_zip(
    members: &[(Vec<u8>, Vec<u8>)],
    (time, date): (u16, u16),
) -> Result<Vec<u8>, WriteError> {
    const VERSION: u16 = 20; // 2.0: deflate
    const FLAGS: u16 = 0; // bit 11 (UTF-8 names) unset: the names are GBK
    const DEFLATE: u16 = 8;
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| WriteError::TooLarge);
    let u16_of = |n: usize| u16::try_from(n).map_err(|_| WriteError::TooLarge);
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let compressed = encoder
            .write_all(data)
            .and_then(|()| encoder.finish())
            .map_err(|_| WriteError::Unwritable("deflate"))?;
        let crc = crc32fast::hash(data);
        let offset = u32_of(out.len())?;
        let common = |buf: &mut Vec<u8>| -> Result<(), WriteError> {
            for v in [VERSION, FLAGS, DEFLATE, time, date] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&u32_of(compressed.len())?.to_le_bytes());
            buf.extend_from_slice(&u32_of(data.len())?.to_le_bytes());
            buf.extend_from_slice(&u16_of(name.len())?.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra field length
            Ok(())
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out)?;
        out.extend_from_slice(name);
        out.extend_from_slice(&compressed);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&VERSION.to_le_bytes()); // made by: MS-DOS, 2.0
        common(&mut central)?;
        for v in [0u16, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes()); // comment length, disk, internal attributes
        }
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = u32_of(out.len())?;
    let central_size = u32_of(central.len())?;
    let count = u16_of(members.len())?;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, count, count] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    Ok(out)
}

#[cfg(test)]
pub(crate) fn zip_members_for_tests(members: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    write_zip(members, (0, (1 << 5) | 1)).unwrap()
}
