//! Why a bill file was refused (reading) or could not be written.

use alipay_units::AmountError;

/// A downloaded bill that is not a well-formed `signcustomer` bill. Every variant names what was
/// wrong and where (1-based line numbers of the detail CSV), never the file's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    /// The download is larger than [`crate::Limits::max_archive_bytes`].
    #[error("bill archive is {size} bytes, more than the limit of {limit}")]
    ArchiveTooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a readable zip archive (no end of central directory, bad headers, unsupported method).
    #[error("bill is not a readable zip archive: {0}")]
    NotAZip(String),
    /// More members than [`crate::Limits::max_members`].
    #[error("bill archive has {count} members, more than the limit of {limit}")]
    TooManyMembers {
        /// Members in the central directory.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// No member named `…_账务明细.csv`.
    #[error("bill archive has no 账务明细 (detail) member")]
    NoDetailMember,
    /// More than one member named `…_账务明细.csv`.
    #[error("bill archive has more than one 账务明细 (detail) member")]
    SeveralDetailMembers,
    /// The detail member inflates to more than [`crate::Limits::max_member_bytes`] (a zip bomb,
    /// or a bill far larger than any day's).
    #[error("bill detail member inflates to more than {limit} bytes")]
    MemberTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The detail member could not be inflated (corrupt data, CRC mismatch).
    #[error("bill detail member is unreadable: {0}")]
    UnreadableMember(String),
    /// The CSV is not valid GBK.
    #[error("bill detail is not valid GBK text")]
    NotGbk,
    /// No `#…账务明细列表…` line opens the detail rows.
    #[error("bill detail has no `#…账务明细列表…` start marker")]
    MissingStartMarker,
    /// No `#…账务明细列表结束…` line closes them (a truncated file).
    #[error("bill detail has no `#…账务明细列表结束…` end marker")]
    MissingEndMarker,
    /// Nothing between the start marker and the end marker, not even a header row.
    #[error("bill detail has no header row after the start marker")]
    MissingHeader,
    /// The header names a known column twice.
    #[error("bill header names column {0} twice")]
    DuplicateColumn(&'static str),
    /// The header lacks a column the reconciliation needs.
    #[error("bill header lacks the required column {0}")]
    MissingColumn(&'static str),
    /// A data row that cannot be read.
    #[error("bill detail line {line}: {reason}")]
    BadRow {
        /// 1-based line number in the detail CSV.
        line: usize,
        /// What is wrong with it.
        reason: RowError,
    },
    /// A `#支出合计…`/`#收入合计…` line that is not `#…合计：N笔，共X元`.
    #[error("bill detail line {line}: footer total is not `N笔，共X元`")]
    BadFooter {
        /// 1-based line number in the detail CSV.
        line: usize,
    },
    /// The footer totals disagree with the rows ([`crate::BillFile::verify_totals`]).
    #[error("bill footer says {side} {footer_count} rows / {footer_fen} fen, rows add up to {rows_count} / {rows_fen}")]
    TotalsMismatch {
        /// `支出` or `收入`.
        side: &'static str,
        /// Count in the footer.
        footer_count: u64,
        /// Amount in the footer, fen.
        footer_fen: i64,
        /// Count of rows with a non-zero amount on that side.
        rows_count: u64,
        /// Sum of that side over the rows, fen.
        rows_fen: i64,
    },
}

/// What is wrong with one data row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Fewer fields than the header has columns, or non-blank fields past its end.
    #[error("{found} fields where the header has {expected}")]
    FieldCount {
        /// Columns in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A `"` that does not open or close a quoted field.
    #[error("stray or unterminated double quote")]
    BadQuoting,
    /// A `#` line between the markers that is not the end marker.
    #[error("a `#` line inside the detail list")]
    UnexpectedComment,
    /// 账务流水号 is blank: the row has no identity.
    #[error("账务流水号 is blank")]
    BlankKey,
    /// An amount column that is not yuan with at most two decimals (with the column's sign, if any).
    #[error("{column}: {source}")]
    BadAmount {
        /// The column's name.
        column: &'static str,
        /// Why.
        source: AmountError,
    },
    /// 发生时间 is not `yyyy-MM-dd HH:mm:ss`.
    #[error("发生时间 is not `yyyy-MM-dd HH:mm:ss`")]
    BadTime,
}

/// Rows that cannot be written as a bill the reader reads back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A text field with a line break (the file is line-oriented).
    #[error("row {row}, {column}: text contains a line break")]
    LineBreak {
        /// 0-based index of the row.
        row: usize,
        /// The column's name.
        column: &'static str,
    },
    /// A text field with a character GBK cannot encode.
    #[error("row {row}, {column}: text has a character GBK cannot encode")]
    NotGbk {
        /// 0-based index of the row.
        row: usize,
        /// The column's name.
        column: &'static str,
    },
    /// A blank 账务流水号.
    #[error("row {row}: 账务流水号 is blank")]
    BlankKey {
        /// 0-based index of the row.
        row: usize,
    },
    /// The account or a footer total cannot be written (a line break, non-GBK, or a sum above
    /// [`alipay_units::AmountFen::MAX`]).
    #[error("bill {0} cannot be written")]
    Unwritable(&'static str),
    /// A member larger than the zip format without zip64 holds (4 GiB).
    #[error("bill member too large for a zip without zip64")]
    TooLarge,
}
