//! One row of the 账务明细 list, and the columns it is read from.

use alipay_units::{AmountFen, Timestamp};

/// The column whose value is matched against our `out_biz_no`.
///
/// **UNVERIFIED on the live platform** (next-wave.md §3.3: "expect `商户订单号` = our `out_biz_no`
/// … No sample row for a transfer was found"; §5 probe 1). This constant is the one place that
/// names the key: change it here if the probe shows another column carries `out_biz_no`.
pub const OUT_BIZ_NO_COLUMN: &str = "商户订单号";

/// A column of the detail list. Headers are matched by name, never by position (next-wave.md §3.2:
/// "Map by header name, not position"); a header cell is compared up to its first `（` or `(`, so
/// `收入金额（+元）` and a plain `收入金额` are the same column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Column {
    AccountLogId,
    BizNo,
    MerchantOrderNo,
    GoodsName,
    OccurredAt,
    Counterparty,
    Income,
    Expense,
    Balance,
    Channel,
    BizType,
    Memo,
    BizDesc,
    BizBillSource,
    BizOrigNo,
    BizOrderNo,
}

impl Column {
    /// Every column in the order of current files (next-wave.md §3.2, 16 columns).
    pub(crate) const ALL: [Column; 16] = [
        Column::AccountLogId,
        Column::BizNo,
        Column::MerchantOrderNo,
        Column::GoodsName,
        Column::OccurredAt,
        Column::Counterparty,
        Column::Income,
        Column::Expense,
        Column::Balance,
        Column::Channel,
        Column::BizType,
        Column::Memo,
        Column::BizDesc,
        Column::BizBillSource,
        Column::BizOrigNo,
        Column::BizOrderNo,
    ];

    /// The header text as current files write it (the writer emits exactly this).
    pub(crate) fn header(self) -> &'static str {
        match self {
            Column::AccountLogId => "账务流水号",
            Column::BizNo => "业务流水号",
            Column::MerchantOrderNo => OUT_BIZ_NO_COLUMN,
            Column::GoodsName => "商品名称",
            Column::OccurredAt => "发生时间",
            Column::Counterparty => "对方账号",
            Column::Income => "收入金额（+元）",
            Column::Expense => "支出金额（-元）",
            Column::Balance => "账户余额（元）",
            Column::Channel => "交易渠道",
            Column::BizType => "业务类型",
            Column::Memo => "备注",
            Column::BizDesc => "业务描述",
            Column::BizBillSource => "业务账单来源",
            Column::BizOrigNo => "业务基础订单号",
            Column::BizOrderNo => "业务订单号",
        }
    }

    /// The name a header cell is matched on: the header without its unit in parentheses.
    pub(crate) fn name(self) -> &'static str {
        base_name(self.header())
    }

    /// Required columns: the ones the reconciliation reads. 交易渠道 and the four columns that
    /// only current files have (业务描述 … 业务订单号) may be absent; they are then blank.
    pub(crate) fn required(self) -> bool {
        !matches!(
            self,
            Column::Channel
                | Column::BizDesc
                | Column::BizBillSource
                | Column::BizOrigNo
                | Column::BizOrderNo
        )
    }

    /// The column a header cell names, if it is one we know.
    pub(crate) fn from_header(cell: &str) -> Option<Column> {
        let name = base_name(cell);
        Column::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// `收入金额（+元）` → `收入金额`.
fn base_name(cell: &str) -> &str {
    let cut = cell.find(['（', '(']).unwrap_or(cell.len());
    cell[..cut].trim()
}

/// One balance movement of the merchant's account, as the 账务明细 list states it. Text fields are
/// as in the file, without the padding (trailing tabs, blanks) around them; an optional column the
/// file lacks reads as blank text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// 账务流水号: Alipay's id of this balance movement; never blank, the row's identity.
    pub account_log_id: String,
    /// 业务流水号: Alipay's id of the business order (for a transfer, expected to be its
    /// `order_id` or `pay_fund_order_id`: **unverified**, next-wave.md §3.3).
    pub biz_no: String,
    /// 商户订单号 ([`OUT_BIZ_NO_COLUMN`]): the merchant's order number; for our transfers,
    /// expected to be our `out_biz_no` (**unverified**). Blank for movements we did not start.
    pub merchant_order_no: String,
    /// 商品名称.
    pub goods_name: String,
    /// 发生时间, read as Beijing time (whole seconds: the file carries no milliseconds).
    pub occurred_at: Timestamp,
    /// 对方账号: the other party's account.
    pub counterparty: String,
    /// 收入金额（+元）: money in; zero when the cell is blank.
    pub income: AmountFen,
    /// 支出金额（-元）: money out; zero when the cell is blank. A transfer is a 支出 row.
    pub expense: AmountFen,
    /// 账户余额（元）: balance after the movement (informative only; accountlog.query's docs say
    /// "仅供参考…不保证连续").
    pub balance: AmountFen,
    /// 交易渠道 (optional column).
    pub channel: String,
    /// 业务类型.
    pub biz_type: String,
    /// 备注: never a matching key ("不可依赖此字段进行对账", next-wave.md §3.3).
    pub memo: String,
    /// 业务描述 (optional column, current files only).
    pub biz_desc: String,
    /// 业务账单来源 (optional column, current files only).
    pub biz_bill_source: String,
    /// 业务基础订单号 (optional column, current files only).
    pub biz_orig_no: String,
    /// 业务订单号 (optional column, current files only).
    pub biz_order_no: String,
}

impl BillRow {
    /// The text of a text column (`None` for the amount and time columns).
    pub(crate) fn text(&self, column: Column) -> Option<&str> {
        Some(match column {
            Column::AccountLogId => &self.account_log_id,
            Column::BizNo => &self.biz_no,
            Column::MerchantOrderNo => &self.merchant_order_no,
            Column::GoodsName => &self.goods_name,
            Column::Counterparty => &self.counterparty,
            Column::Channel => &self.channel,
            Column::BizType => &self.biz_type,
            Column::Memo => &self.memo,
            Column::BizDesc => &self.biz_desc,
            Column::BizBillSource => &self.biz_bill_source,
            Column::BizOrigNo => &self.biz_orig_no,
            Column::BizOrderNo => &self.biz_order_no,
            Column::OccurredAt | Column::Income | Column::Expense | Column::Balance => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_by_name_up_to_the_unit() {
        assert_eq!(Column::from_header("收入金额（+元）"), Some(Column::Income));
        assert_eq!(Column::from_header("收入金额(+元)"), Some(Column::Income));
        assert_eq!(Column::from_header("收入金额"), Some(Column::Income));
        assert_eq!(Column::from_header("账户余额（元）"), Some(Column::Balance));
        assert_eq!(
            Column::from_header(OUT_BIZ_NO_COLUMN),
            Some(Column::MerchantOrderNo)
        );
        assert_eq!(Column::from_header("业务订单号"), Some(Column::BizOrderNo));
        assert_eq!(
            Column::from_header("业务基础订单号"),
            Some(Column::BizOrigNo)
        );
        assert_eq!(Column::from_header("某个新列"), None);
        assert_eq!(Column::from_header(""), None);
    }

    #[test]
    fn every_column_has_a_distinct_name() {
        let mut names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Column::ALL.len());
        let required = Column::ALL.iter().filter(|c| c.required()).count();
        assert_eq!(required, 11);
    }
}
