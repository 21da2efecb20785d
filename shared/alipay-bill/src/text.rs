//! The detail CSV (`…_账务明细.csv`) as GBK text: reading it into rows, and writing rows back.
//!
//! Layout, from next-wave.md §3.2 ("CSV content is GBK … Layout: `#` comment lines …, then
//! `#-----…账务明细列表…-----`, a header row, data rows whose fields carry a trailing `\t` …, then
//! `#-----…账务明细列表结束…-----`, `#支出合计：N笔，共X元`, `#收入合计：…`, `#导出时间：[…]`";
//! "Parsers locate the markers; they do not rely on fixed line numbers"):
//!
//! ```text
//! #支付宝账务明细查询
//! #账号：[20881234567890120156]
//! #起始日期：[2026-12-07 00:00:00]   终止日期：[2026-12-08 00:00:00]
//! #-----------------------------------------账务明细列表----------------------------------------
//! 账务流水号,业务流水号,商户订单号,…
//! 20261207…\t,20261207…\t,P-0001\t,…
//! #-----------------------------------------账务明细列表结束------------------------------------
//! #支出合计：1笔，共2.00元
//! #收入合计：0笔，共0.00元
//! #导出时间：[2026-12-08 09:00:00]
//! ```
//!
//! Reading: every field is trimmed of blanks and tabs; a field may be double-quoted (RFC 4180
//! style, `""` for a quote inside), which the writer uses for text that has a comma, a quote, a
//! leading `#` or padding of its own. Whether Alipay ever quotes is not known; reading quotes costs
//! nothing when it does not.

use crate::error::{BillError, RowError, WriteError};
use crate::row::{BillRow, Column};
use alipay_units::{AmountFen, Timestamp};
use encoding_rs::GBK;

/// The text of the start marker line (after `#` and dashes).
const LIST_MARKER: &str = "账务明细列表";
/// The text of the end marker line.
const LIST_END_MARKER: &str = "账务明细列表结束";
const EXPENSE_FOOTER: &str = "#支出合计";
const INCOME_FOOTER: &str = "#收入合计";
const ACCOUNT_LINE: &str = "#账号";
const EXPORTED_LINE: &str = "#导出时间";

/// A footer total: `N笔，共X元`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    /// N: rows on that side.
    pub count: u64,
    /// X: their sum.
    pub amount: AmountFen,
}

/// A parsed 账务明细 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillFile {
    /// The account in `#账号：[…]`, if the file names one.
    pub account: Option<String>,
    /// The rows between the markers, in file order.
    pub rows: Vec<BillRow>,
    /// `#支出合计：N笔，共X元`, if present.
    pub expense_total: Option<Total>,
    /// `#收入合计：N笔，共X元`, if present.
    pub income_total: Option<Total>,
    /// `#导出时间：[…]`, if present and in `yyyy-MM-dd HH:mm:ss` form.
    pub exported_at: Option<Timestamp>,
}

impl BillFile {
    /// Checks the footer totals against the rows: N = rows with a non-zero amount on that side,
    /// X = their sum. A separate step, not part of parsing, because what exactly Alipay counts in
    /// N is **unverified**; a truncated or edited file fails it.
    ///
    /// # Errors
    /// [`BillError::TotalsMismatch`] naming the side that disagrees.
    pub fn verify_totals(&self) -> Result<(), BillError> {
        let sides: [(&'static str, Option<Total>, Side); 2] = [
            ("支出", self.expense_total, |r| r.expense),
            ("收入", self.income_total, |r| r.income),
        ];
        for (side, total, amount) in sides {
            let Some(total) = total else { continue };
            let (rows_count, rows_fen) = side_total(&self.rows, amount);
            if u128::from(total.count) != rows_count || i128::from(total.amount.fen()) != rows_fen {
                return Err(BillError::TotalsMismatch {
                    side,
                    footer_count: total.count,
                    footer_fen: total.amount.fen(),
                    rows_count: u64::try_from(rows_count).unwrap_or(u64::MAX),
                    rows_fen: i64::try_from(rows_fen).unwrap_or(i64::MAX),
                });
            }
        }
        Ok(())
    }
}

/// One side of the movements: a row's income or its expense.
type Side = fn(&BillRow) -> AmountFen;

/// Rows with a non-zero amount on one side, and the sum of that side.
fn side_total(rows: &[BillRow], amount: Side) -> (u128, i128) {
    rows.iter()
        .map(amount)
        .filter(|a| a.fen() > 0)
        .fold((0, 0), |(n, sum), a| (n + 1, sum + i128::from(a.fen())))
}

/// Reads the detail CSV (GBK bytes).
///
/// # Errors
/// [`BillError`] saying what is malformed and on which line.
pub fn parse_csv(bytes: &[u8]) -> Result<BillFile, BillError> {
    let text = GBK
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or(BillError::NotGbk)?;
    // (1-based line number, line without its CR/LF)
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));

    let mut account = None;
    loop {
        let (_, line) = lines.next().ok_or(BillError::MissingStartMarker)?;
        if is_start_marker(line) {
            break;
        }
        if let Some(value) = bracketed(line, ACCOUNT_LINE) {
            account = Some(value.to_owned());
        }
    }

    let (header_line, header) = loop {
        let (n, line) = lines.next().ok_or(BillError::MissingHeader)?;
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('#') {
            return Err(BillError::MissingHeader);
        }
        break (n, line);
    };
    let header = split_fields(header).map_err(|reason| BillError::BadRow {
        line: header_line,
        reason,
    })?;
    let layout = Layout::from_header(&header)?;

    let mut rows = Vec::new();
    loop {
        let (n, line) = lines.next().ok_or(BillError::MissingEndMarker)?;
        if line.starts_with('#') {
            if is_end_marker(line) {
                break;
            }
            return Err(BillError::BadRow {
                line: n,
                reason: RowError::UnexpectedComment,
            });
        }
        if line.trim().is_empty() {
            continue;
        }
        let row = split_fields(line)
            .and_then(|fields| layout.row(&fields))
            .map_err(|reason| BillError::BadRow { line: n, reason })?;
        rows.push(row);
    }

    let mut file = BillFile {
        account,
        rows,
        expense_total: None,
        income_total: None,
        exported_at: None,
    };
    for (n, line) in lines {
        if line.starts_with(EXPENSE_FOOTER) {
            file.expense_total = Some(footer_total(line).ok_or(BillError::BadFooter { line: n })?);
        } else if line.starts_with(INCOME_FOOTER) {
            file.income_total = Some(footer_total(line).ok_or(BillError::BadFooter { line: n })?);
        } else if let Some(value) = bracketed(line, EXPORTED_LINE) {
            // The export time is informative; a form we do not know is left out, not refused.
            file.exported_at = Timestamp::parse_beijing(value).ok();
        }
    }
    Ok(file)
}

fn is_start_marker(line: &str) -> bool {
    line.starts_with('#') && line.contains(LIST_MARKER) && !line.contains(LIST_END_MARKER)
}

fn is_end_marker(line: &str) -> bool {
    line.starts_with('#') && line.contains(LIST_END_MARKER)
}

/// `#账号：[X]` → `X` (full-width or ASCII colon).
fn bracketed<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?;
    let rest = rest
        .strip_prefix('：')
        .or_else(|| rest.strip_prefix(':'))?
        .trim_start();
    let inner = rest.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

/// `#支出合计：N笔，共X元` → N and X.
fn footer_total(line: &str) -> Option<Total> {
    let (_, rest) = line.split_once(['：', ':'])?;
    let (count, rest) = rest.trim().split_once('笔')?;
    let rest = rest.trim_start_matches(['，', ',', ' ']);
    let amount = rest.strip_prefix('共')?.trim().strip_suffix('元')?;
    let count = count.trim();
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Total {
        count: count.parse().ok()?,
        amount: AmountFen::parse_yuan(amount.trim()).ok()?,
    })
}

/// Splits a CSV line on commas outside double quotes, then trims and unquotes each field.
fn split_fields(line: &str) -> Result<Vec<String>, RowError> {
    let mut raw = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, ch) in line.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                raw.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(RowError::BadQuoting);
    }
    raw.push(&line[start..]);
    raw.into_iter().map(field_value).collect()
}

/// The blanks and tabs Alipay pads fields with.
const PADDING: [char; 2] = [' ', '\t'];

fn field_value(raw: &str) -> Result<String, RowError> {
    let field = raw.trim_matches(PADDING);
    let Some(inner) = field.strip_prefix('"') else {
        return if field.contains('"') {
            Err(RowError::BadQuoting)
        } else {
            Ok(field.to_owned())
        };
    };
    let inner = inner.strip_suffix('"').ok_or(RowError::BadQuoting)?;
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        if ch == '"' && chars.next() != Some('"') {
            return Err(RowError::BadQuoting);
        }
        value.push(ch);
    }
    Ok(value)
}

/// Which field index holds which column, from the header row.
struct Layout {
    index: Vec<(Column, usize)>,
    header_len: usize,
    needed: usize,
}

impl Layout {
    fn from_header(header: &[String]) -> Result<Layout, BillError> {
        let mut index: Vec<(Column, usize)> = Vec::new();
        for (i, cell) in header.iter().enumerate() {
            let Some(column) = Column::from_header(cell) else {
                continue; // a column we do not read (or a blank cell after a trailing comma)
            };
            if index.iter().any(|(c, _)| *c == column) {
                return Err(BillError::DuplicateColumn(column.name()));
            }
            index.push((column, i));
        }
        if let Some(missing) = Column::ALL
            .into_iter()
            .find(|c| c.required() && !index.iter().any(|(k, _)| k == c))
        {
            return Err(BillError::MissingColumn(missing.name()));
        }
        let needed = header
            .iter()
            .rposition(|cell| !cell.is_empty())
            .map_or(0, |i| i + 1);
        Ok(Layout {
            index,
            header_len: header.len(),
            needed,
        })
    }

    fn row(&self, fields: &[String]) -> Result<BillRow, RowError> {
        let count_error = RowError::FieldCount {
            expected: self.needed,
            found: fields.len(),
        };
        if fields.len() < self.needed || fields.iter().skip(self.header_len).any(|f| !f.is_empty())
        {
            return Err(count_error);
        }
        let get = |column: Column| -> &str {
            self.index
                .iter()
                .find(|(c, _)| *c == column)
                .and_then(|(_, i)| fields.get(*i))
                .map_or("", String::as_str)
        };
        let account_log_id = get(Column::AccountLogId).to_owned();
        if account_log_id.is_empty() {
            return Err(RowError::BlankKey);
        }
        Ok(BillRow {
            account_log_id,
            biz_no: get(Column::BizNo).to_owned(),
            merchant_order_no: get(Column::MerchantOrderNo).to_owned(),
            goods_name: get(Column::GoodsName).to_owned(),
            occurred_at: Timestamp::parse_beijing(get(Column::OccurredAt))
                .map_err(|_| RowError::BadTime)?,
            counterparty: get(Column::Counterparty).to_owned(),
            income: amount(get(Column::Income), Column::Income, Some('+'))?,
            expense: amount(get(Column::Expense), Column::Expense, Some('-'))?,
            balance: amount(get(Column::Balance), Column::Balance, None)?,
            channel: get(Column::Channel).to_owned(),
            biz_type: get(Column::BizType).to_owned(),
            memo: get(Column::Memo).to_owned(),
            biz_desc: get(Column::BizDesc).to_owned(),
            biz_bill_source: get(Column::BizBillSource).to_owned(),
            biz_orig_no: get(Column::BizOrigNo).to_owned(),
            biz_order_no: get(Column::BizOrderNo).to_owned(),
        })
    }
}

/// An amount cell: yuan, at most two decimals, optionally with the sign its header shows
/// (`收入金额（+元）` may read `+2.00`, `支出金额（-元）` may read `-2.00`: **unverified** which
/// form the live file uses, so both are read). A blank income or expense cell is zero; the balance
/// must be present.
fn amount(text: &str, column: Column, sign: Option<char>) -> Result<AmountFen, RowError> {
    let bad = |source| RowError::BadAmount {
        column: column.name(),
        source,
    };
    if text.is_empty() && sign.is_some() {
        return Ok(AmountFen::ZERO);
    }
    let unsigned = match sign {
        Some(s) => text.strip_prefix(s).unwrap_or(text),
        None => text,
    };
    AmountFen::parse_yuan(unsigned).map_err(bad)
}

/// Encodes text as GBK, refusing what GBK cannot hold (encoding_rs would otherwise write an HTML
/// character reference in its place).
pub(crate) fn encode_gbk(text: &str) -> Option<Vec<u8>> {
    let (bytes, _, had_errors) = GBK.encode(text);
    (!had_errors).then(|| bytes.into_owned())
}

/// The text form of a field: quoted when reading it back unquoted would change it.
fn write_field(out: &mut String, value: &str) {
    let needs_quotes = value.contains([',', '"'])
        || value.starts_with('#')
        || value.starts_with(PADDING)
        || value.ends_with(PADDING);
    if needs_quotes {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
    // The trailing tab Alipay puts after every field (next-wave.md §3.2).
    out.push('\t');
}

/// Line endings of the written file (the bill is made for Windows' Excel; the reader takes either).
const CRLF: &str = "\r\n";

/// What a detail CSV says besides its rows.
pub(crate) struct CsvHead<'a> {
    pub account: &'a str,
    pub day_start: Timestamp,
    pub day_end: Timestamp,
    pub exported_at: Timestamp,
}

/// Writes the detail CSV as GBK bytes.
pub(crate) fn write_csv(head: &CsvHead<'_>, rows: &[BillRow]) -> Result<Vec<u8>, WriteError> {
    let mut out = String::new();
    push_line(&mut out, "#支付宝账务明细查询");
    push_line(&mut out, &format!("#账号：[{}]", head.account));
    push_line(
        &mut out,
        &format!(
            "#起始日期：[{}]   终止日期：[{}]",
            head.day_start.to_beijing(),
            head.day_end.to_beijing()
        ),
    );
    push_line(&mut out, &marker(LIST_MARKER));
    let header: Vec<&str> = Column::ALL.iter().map(|c| c.header()).collect();
    push_line(&mut out, &header.join(","));
    for (i, row) in rows.iter().enumerate() {
        if row.account_log_id.is_empty() {
            return Err(WriteError::BlankKey { row: i });
        }
        let mut line = String::new();
        for (k, column) in Column::ALL.into_iter().enumerate() {
            if k > 0 {
                line.push(',');
            }
            let value = match column {
                Column::OccurredAt => row.occurred_at.to_beijing(),
                Column::Income => row.income.to_yuan_string(),
                Column::Expense => row.expense.to_yuan_string(),
                Column::Balance => row.balance.to_yuan_string(),
                text_column => {
                    let text = row.text(text_column).unwrap_or_default();
                    check_text(text, i, column)?;
                    text.to_owned()
                }
            };
            write_field(&mut line, &value);
        }
        push_line(&mut out, &line);
    }
    push_line(&mut out, &marker(LIST_END_MARKER));
    for (prefix, amount) in [
        (EXPENSE_FOOTER, (|r| r.expense) as Side),
        (INCOME_FOOTER, |r| r.income),
    ] {
        let (count, fen) = side_total(rows, amount);
        let fen = i64::try_from(fen)
            .ok()
            .and_then(|f| AmountFen::from_fen(f).ok())
            .ok_or(WriteError::Unwritable("footer total"))?;
        push_line(
            &mut out,
            &format!("{prefix}：{count}笔，共{}元", fen.to_yuan_string()),
        );
    }
    push_line(
        &mut out,
        &format!("{EXPORTED_LINE}：[{}]", head.exported_at.to_beijing()),
    );
    encode_gbk(&out).ok_or(WriteError::Unwritable("text"))
}

fn check_text(text: &str, row: usize, column: Column) -> Result<(), WriteError> {
    if text.contains(['\r', '\n']) {
        return Err(WriteError::LineBreak {
            row,
            column: column.name(),
        });
    }
    if encode_gbk(text).is_none() {
        return Err(WriteError::NotGbk {
            row,
            column: column.name(),
        });
    }
    Ok(())
}

fn marker(text: &str) -> String {
    format!("#{dashes}{text}{dashes}", dashes = "-".repeat(40))
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push_str(CRLF);
}
