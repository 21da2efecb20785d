//! The transfer rail's port: `alipay.fund.trans.uni.transfer` and `alipay.fund.trans.common.query`
//! through the client, classified by the one table in `alipay_client::transfer`.

use alipay_client::transfer::{
    classify, classify_unsigned, Payee, ProductCode, SceneReportInfo, TransferApi, TransferClass,
    TransferQuery, TransferState, UniTransfer,
};
use alipay_client::{Failure, FailureKind, Outcome, UnknownReason};
use async_trait::async_trait;
use rewards_core::ids::OutBizNo;
use rewards_core::payout::Recipient;
use rewards_core::ports::{
    RefusalClass, TransferGateway, TransferLookup, TransferOrder, TransferOutcome, TransferProduct,
    TransferReceipt, TransferRefusal, TransferStatus,
};
use rewards_core::GatewayFailure;

use crate::{failure, unknown_diagnostic, AlipayGateway};

/// The client's product code for the domain's product.
pub fn product_code(p: TransferProduct) -> ProductCode {
    match p {
        TransferProduct::StdRedPacket => ProductCode::StdRedPacket,
        TransferProduct::TransAccountNoPwd => ProductCode::TransAccountNoPwd,
    }
}

/// What Alipay holds, in the domain's words. Used for uni.transfer and common.query answers and,
/// through [`alipay_client::transfer::OrderChanged::to_state`], for notifications.
pub fn receipt(s: TransferState) -> TransferReceipt {
    TransferReceipt {
        out_biz_no: s.out_biz_no,
        order_id: s.order_id,
        pay_fund_order_id: s.pay_fund_order_id,
        status: s.status.as_deref().map(TransferStatus::parse),
        amount: s.amount,
        paid_at: s.paid_at,
        error_code: s.error_code,
        fail_reason: s.fail_reason,
    }
}

/// The uni.transfer request for an order.
pub fn uni_transfer(order: &TransferOrder) -> UniTransfer {
    UniTransfer {
        out_biz_no: order.out_biz_no.as_str().to_string(),
        trans_amount: order.amount,
        product: product_code(order.product),
        payee: match &order.payee {
            Recipient::UserId(u) => Payee::UserId(u.as_str().to_string()),
            Recipient::OpenId(o) => Payee::OpenId(o.as_str().to_string()),
        },
        order_title: order.order_title.clone(),
        scene_name: Some(order.scene_name.clone()).filter(|s| !s.is_empty()),
        scene_report_infos: order
            .scene_report_infos
            .iter()
            .map(|i| SceneReportInfo {
                info_type: i.info_type.clone(),
                info_content: i.info_content.clone(),
            })
            .collect(),
        notify_url: order.notify_url.clone(),
    }
}

/// What an answer of either transfer API says, before it is put in the words of that API's port
/// result.
enum Reading {
    /// Alipay holds the order.
    Held(TransferReceipt),
    /// A refusal, by the table (or an unsigned gateway refusal).
    Refused(TransferRefusal),
    /// A signed `ORDER_NOT_EXIST` (only common.query has it), with its text.
    NoSuchOrder(String),
    /// Nothing learnt, and why.
    Unknown(String),
    /// Alipay's rate limit answered: not executed now.
    Throttled(String),
}

/// Reads an outcome of `api` by the table.
fn read(api: TransferApi, outcome: Outcome<TransferState>) -> Reading {
    match outcome {
        Outcome::Success(s) => Reading::Held(receipt(s)),
        // Never left: nothing happened, but no refusal either; the same number is simply sent again.
        Outcome::Failed(f) if f.kind == FailureKind::NotSent => {
            Reading::Unknown(format!("not sent: {}", f.msg))
        }
        Outcome::Failed(f) => signed_refusal(api, f),
        Outcome::Unknown(UnknownReason::Unsigned { code, sub_code }) => {
            let why = format!("unsigned answer (code {})", code.as_deref().unwrap_or("-"));
            match unsigned(code, sub_code) {
                Some(r) => Reading::Refused(r),
                None => Reading::Unknown(why),
            }
        }
        Outcome::Unknown(reason) => match unknown_diagnostic(&reason) {
            Ok(throttled) => Reading::Throttled(throttled),
            Err(why) => Reading::Unknown(why),
        },
    }
}

/// A signed refusal or unclear answer, by the table.
fn signed_refusal(api: TransferApi, f: Failure) -> Reading {
    let class = match classify(api, &f.code, f.sub_code.as_deref()) {
        TransferClass::Definite => RefusalClass::Definite,
        TransferClass::RetryLater => RefusalClass::RetryLater,
        TransferClass::Configuration => RefusalClass::Configuration,
        TransferClass::NoSuchOrder => return Reading::NoSuchOrder(f.to_string()),
        TransferClass::Success | TransferClass::Unknown => return Reading::Unknown(f.to_string()),
    };
    Reading::Refused(TransferRefusal {
        failure: failure(f),
        class,
    })
}

/// An unsigned answer: a gateway refusal (the request was never accepted) or unknown.
fn unsigned(code: Option<String>, sub_code: Option<String>) -> Option<TransferRefusal> {
    match classify_unsigned(code.as_deref()) {
        TransferClass::Definite => Some(TransferRefusal {
            failure: GatewayFailure {
                code: code.unwrap_or_default(),
                sub_code,
                sub_msg: None,
                error_msg: None,
            },
            class: RefusalClass::Definite,
        }),
        _ => None,
    }
}

/// Maps a uni.transfer outcome.
pub fn transfer_outcome(outcome: Outcome<TransferState>) -> TransferOutcome {
    match read(TransferApi::Transfer, outcome) {
        Reading::Held(r) => TransferOutcome::Accepted(r),
        Reading::Refused(r) => TransferOutcome::Refused(r),
        // The table has no ORDER_NOT_EXIST row for uni.transfer; were one read, it says nothing.
        Reading::NoSuchOrder(why) | Reading::Unknown(why) => TransferOutcome::Unknown(why),
        Reading::Throttled(why) => TransferOutcome::Throttled(why),
    }
}

/// Maps a common.query outcome. `ORDER_NOT_EXIST` counts only when signed (an unsigned answer is
/// never a `Failed`).
pub fn lookup_outcome(outcome: Outcome<TransferState>) -> TransferLookup {
    match read(TransferApi::Query, outcome) {
        Reading::Held(r) => TransferLookup::Found(r),
        Reading::Refused(r) => TransferLookup::Refused(r),
        Reading::NoSuchOrder(_) => TransferLookup::NotFound,
        Reading::Unknown(why) => TransferLookup::Unknown(why),
        Reading::Throttled(why) => TransferLookup::Throttled(why),
    }
}

#[async_trait]
impl TransferGateway for AlipayGateway {
    async fn transfer(&self, order: &TransferOrder) -> TransferOutcome {
        transfer_outcome(self.client.execute(&uni_transfer(order)).await)
    }

    async fn query(&self, out_biz_no: &OutBizNo, product: TransferProduct) -> TransferLookup {
        let call = TransferQuery::by_out_biz_no(out_biz_no.as_str(), product_code(product));
        lookup_outcome(self.client.execute(&call).await)
    }
}
