//! The content of the `alipay.fund.trans.order.changed` notification ([`OrderChanged`]), read with
//! the same order reader as the two APIs' answers.

use super::order::{TransferOrderNode, TransferState};
use crate::AmountFen;

/// The `biz_content` of an `alipay.fund.trans.order.changed` notification. The caller has verified
/// the form's signature first; this only reads the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChanged {
    /// `out_biz_no` (required: without it the message names no order of ours).
    pub out_biz_no: String,
    /// `order_id`.
    pub order_id: Option<String>,
    /// `pay_fund_order_id`.
    pub pay_fund_order_id: Option<String>,
    /// `status` verbatim (`SUCCESS`, `DEALING`, `FAIL`, `REFUND`, …); None when absent.
    pub status: Option<String>,
    /// `product_code` verbatim.
    pub product_code: Option<String>,
    /// `biz_scene` verbatim.
    pub biz_scene: Option<String>,
    /// `trans_amount`.
    pub trans_amount: Option<AmountFen>,
    /// `pay_date` (`yyyy-MM-dd HH:mm:ss`, Beijing), verbatim.
    pub pay_date: Option<String>,
    /// `action_type` verbatim.
    pub action_type: Option<String>,
    /// `error_code` verbatim.
    pub error_code: Option<String>,
    /// `fail_reason` verbatim (never shown to public callers).
    pub fail_reason: Option<String>,
    /// `origin_interface` (`alipay.fund.trans.uni.transfer` for our orders).
    pub origin_interface: Option<String>,
}

/// Why a notification's `biz_content` was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrderChangedError {
    /// Not a JSON object.
    #[error("biz_content is not a JSON object")]
    NotJson,
    /// No (or an empty) `out_biz_no`.
    #[error("biz_content has no out_biz_no")]
    MissingOutBizNo,
    /// `trans_amount` is present but not a yuan amount.
    #[error("trans_amount is not a yuan amount")]
    BadAmount,
}

impl OrderChanged {
    /// Reads the JSON text of `biz_content`. Unknown fields are ignored; absent fields are None.
    ///
    /// # Errors
    /// [`OrderChangedError`] when the text is not a JSON object, names no `out_biz_no`, or carries
    /// a `trans_amount` that is not a yuan amount. Never panics.
    pub fn from_biz_content(text: &str) -> Result<Self, OrderChangedError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| OrderChangedError::NotJson)?;
        if !value.is_object() {
            return Err(OrderChangedError::NotJson);
        }
        let wire: TransferOrderNode =
            serde_json::from_value(value).map_err(|_| OrderChangedError::NotJson)?;
        let out_biz_no = wire
            .out_biz_no
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or(OrderChangedError::MissingOutBizNo)?;
        let trans_amount = match wire.trans_amount.as_deref() {
            None => None,
            Some(t) => {
                Some(AmountFen::parse_yuan(t.trim()).map_err(|_| OrderChangedError::BadAmount)?)
            }
        };
        Ok(Self {
            out_biz_no,
            order_id: wire.order_id,
            pay_fund_order_id: wire.pay_fund_order_id,
            status: wire.status,
            product_code: wire.product_code,
            biz_scene: wire.biz_scene,
            trans_amount,
            pay_date: wire.pay_date,
            action_type: wire.action_type,
            error_code: wire.error_code,
            fail_reason: wire.fail_reason,
            origin_interface: wire.origin_interface,
        })
    }

    /// The same content as a [`TransferState`] (the shape uni.transfer and common.query give).
    pub fn to_state(&self) -> TransferState {
        TransferState {
            out_biz_no: Some(self.out_biz_no.clone()),
            order_id: self.order_id.clone(),
            pay_fund_order_id: self.pay_fund_order_id.clone(),
            status: self.status.clone(),
            amount: self.trans_amount,
            paid_at: self.pay_date.clone(),
            error_code: self.error_code.clone(),
            fail_reason: self.fail_reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::ORIGIN_INTERFACE;
    use proptest::prelude::*;

    #[test]
    fn order_changed_reads_the_contract_fields() {
        let n = OrderChanged::from_biz_content(
            r#"{"out_biz_no":"pe_1","order_id":"2019","pay_fund_order_id":"2019F","status":"SUCCESS","product_code":"STD_RED_PACKET","biz_scene":"DIRECT_TRANSFER","trans_amount":"1.00","pay_date":"2026-01-01 10:00:00","action_type":"FINISH","origin_interface":"alipay.fund.trans.uni.transfer","extra":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(n.out_biz_no, "pe_1");
        assert_eq!(n.status.as_deref(), Some("SUCCESS"));
        assert_eq!(n.trans_amount, Some(AmountFen::from_fen(100).unwrap()));
        assert_eq!(n.origin_interface.as_deref(), Some(ORIGIN_INTERFACE));
        assert_eq!(n.to_state().out_biz_no.as_deref(), Some("pe_1"));
        let sparse = OrderChanged::from_biz_content(r#"{"out_biz_no":"pe_2"}"#).unwrap();
        assert_eq!(sparse.status, None);
        assert_eq!(sparse.trans_amount, None);
        assert_eq!(
            OrderChanged::from_biz_content(r#"{"status":"SUCCESS"}"#),
            Err(OrderChangedError::MissingOutBizNo)
        );
        assert_eq!(
            OrderChanged::from_biz_content(r#"{"out_biz_no":" "}"#),
            Err(OrderChangedError::MissingOutBizNo)
        );
        assert_eq!(
            OrderChanged::from_biz_content(r#"{"out_biz_no":"x","trans_amount":"abc"}"#),
            Err(OrderChangedError::BadAmount)
        );
        assert_eq!(
            OrderChanged::from_biz_content("[1]"),
            Err(OrderChangedError::NotJson)
        );
        assert_eq!(
            OrderChanged::from_biz_content("not json"),
            Err(OrderChangedError::NotJson)
        );
    }

    proptest! {
        #[test]
        fn order_changed_never_panics(s in ".{0,300}") {
            let _ = OrderChanged::from_biz_content(&s);
        }

        #[test]
        fn order_changed_round_trips_what_it_reads(
            out in "[A-Za-z0-9_]{1,64}",
            fen in 1i64..10_000_000_000,
            status in prop::sample::select(vec!["SUCCESS", "DEALING", "FAIL", "REFUND", "WAIT_PAY", "CLOSED", "ODD"]),
        ) {
            let amount = AmountFen::from_fen(fen).unwrap();
            let text = serde_json::json!({
                "out_biz_no": out,
                "status": status,
                "trans_amount": amount.to_yuan_string(),
            }).to_string();
            let n = OrderChanged::from_biz_content(&text).unwrap();
            prop_assert_eq!(n.out_biz_no, out);
            prop_assert_eq!(n.status.as_deref(), Some(status));
            prop_assert_eq!(n.trans_amount, Some(amount));
        }
    }
}
