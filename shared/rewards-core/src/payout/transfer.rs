//! The transfer rail's send path: `uni.transfer` on an entry's first call; on every later call for
//! the same number (unknown outcome, lease taken over, reconciler, operator retry) `common.query`
//! first, and a re-send of the **same stored order** only when Alipay says it holds no order with
//! that number.
//!
//! Why a failed order may free the business id even on a later call: Alipay holds at most one
//! order per out_biz_no, and a re-send of that number replays the order it holds instead of paying
//! again. An order that Alipay itself reports as `FAIL`, `CLOSED` or `REFUND` (by query, or in a
//! `code=10000` answer) is therefore final for its number: no earlier or later call with that
//! number can pay. This differs from a *refusal of the call* (a gateway error code), which says
//! nothing about an order an earlier call may have created, and so frees the business id only on
//! the entry's first call.

use crate::payout::entry::{PayoutEntry, PayoutState};
use crate::payout::ledger::Outcome;
use crate::payout::rail::{TransferTerms, ORDER_CLOSED, ORDER_FAILED, ORDER_REFUNDED};
use crate::payout::refusal::Refusal;
use crate::payout::send::SendService;
use crate::ports::transfer_gateway::{
    RefusalClass, TransferLookup, TransferOrder, TransferOutcome, TransferReceipt, TransferRefusal,
    TransferStatus,
};
use crate::time::Timestamp;

/// The order a transfer entry sends, always rebuilt from what the entry stores.
pub(super) fn order_of(held: &PayoutEntry, terms: &TransferTerms) -> TransferOrder {
    TransferOrder {
        out_biz_no: held.out_biz_no.clone(),
        amount: terms.amount_fen,
        product: terms.product,
        payee: held.recipient.clone(),
        order_title: terms.order_title.clone(),
        scene_name: terms.scene_name.clone(),
        scene_report_infos: terms.scene_report_infos.clone(),
        notify_url: terms.notify_url.clone(),
    }
}

/// The refusal recorded for a refused call (Alipay's code, sub_code and text, verbatim).
fn refusal_of(r: &TransferRefusal) -> Refusal {
    Refusal {
        failure_reason: r.failure.reason(),
        code: Some(r.failure.code.clone()),
        sub_code: r.failure.sub_code.clone(),
    }
}

/// What Alipay says about the order it holds for an entry, as the entry's next state: SENT, FAILED
/// (the order failed), or None (not final yet).
pub(super) fn receipt_state(
    terms: &TransferTerms,
    receipt: &TransferReceipt,
    closed_is_final: bool,
) -> Option<PayoutState> {
    let order_failed = |code: &str, default: &str| {
        Some(PayoutState::Failed {
            refusal: Refusal {
                failure_reason: receipt
                    .fail_reason
                    .clone()
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| default.to_owned()),
                code: Some(code.to_owned()),
                sub_code: receipt.error_code.clone().filter(|c| !c.is_empty()),
            },
        })
    };
    match receipt.status.as_ref()? {
        TransferStatus::Success => Some(paid_state(terms, receipt)),
        TransferStatus::Fail => order_failed(ORDER_FAILED, "the transfer order failed"),
        TransferStatus::Closed if closed_is_final => {
            order_failed(ORDER_CLOSED, "the transfer order was closed")
        }
        TransferStatus::Refund if closed_is_final => {
            order_failed(ORDER_REFUNDED, "the transfer was refunded to the payer")
        }
        _ => None,
    }
}

/// SENT from a receipt with status SUCCESS. The amount is Alipay's when it gives one (logged as an
/// error when it differs from the order), else the ordered amount.
pub(super) fn paid_state(terms: &TransferTerms, receipt: &TransferReceipt) -> PayoutState {
    if let Some(paid) = receipt.amount.filter(|a| *a != terms.amount_fen) {
        tracing::error!(
            orderedFen = terms.amount_fen.fen(),
            paidFen = paid.fen(),
            "Alipay reports a paid amount that differs from the order; recording Alipay's"
        );
    }
    tracing::info!(
        orderId = receipt.order_id.as_deref().unwrap_or(""),
        payFundOrderId = receipt.pay_fund_order_id.as_deref().unwrap_or(""),
        "transfer paid"
    );
    PayoutState::Sent {
        amount_fen: Some(receipt.amount.unwrap_or(terms.amount_fen)),
        biz_no: None,
        repeat_trigger_flag: false,
        order_id: receipt.order_id.clone().filter(|s| !s.is_empty()),
        pay_fund_order_id: receipt.pay_fund_order_id.clone().filter(|s| !s.is_empty()),
    }
}

/// An answer naming another out_biz_no proves nothing about ours.
fn names_another_order(held: &PayoutEntry, receipt: &TransferReceipt) -> bool {
    receipt
        .out_biz_no
        .as_deref()
        .is_some_and(|o| !o.is_empty() && o != held.out_biz_no.as_str())
}

impl SendService {
    /// Calls the transfer rail for a PENDING transfer entry we hold; returns its next state, as of
    /// the clock read after the last answer (a query, then maybe a re-send: two calls' worth of
    /// time may pass, and the backoff starts after both).
    pub(super) async fn transfer_outcome(
        &self,
        held: &mut PayoutEntry,
        terms: &TransferTerms,
    ) -> Outcome {
        let outcome = |state, at| Outcome { state, at };
        let Some(rail) = &self.transfer else {
            // The entry stays bound to its number; it is probed again once the rail is back.
            tracing::error!("a transfer entry is due but the transfer rail is not configured");
            let now = self.clock.now();
            let last_error = "the transfer rail is not configured".into();
            return outcome(self.unresolved(held, now, last_error, None), now);
        };
        if held.earlier_call_may_have_been_accepted() {
            tracing::info!(attempts = held.attempts, "querying the transfer order");
            let lookup = rail.gateway.query(&held.out_biz_no, terms.product).await;
            let now = self.clock.now();
            match lookup {
                TransferLookup::Found(r) => {
                    return outcome(self.found(held, terms, &r, now, true), now)
                }
                TransferLookup::NotFound => tracing::warn!(
                    "Alipay holds no order with this number: sending it again with the same number and terms"
                ),
                TransferLookup::Refused(r) => {
                    tracing::warn!(class = ?r.class, code = %r.failure.code, subCode = r.failure.sub_code.as_deref().unwrap_or(""), "common.query refused");
                    let last_error = format!("common.query refused: {}", r.failure.reason());
                    return outcome(self.unresolved(held, now, last_error, None), now);
                }
                TransferLookup::Unknown(m) => {
                    tracing::warn!(error = %m, "common.query outcome unknown");
                    let last_error = format!("common.query outcome unknown: {m}");
                    return outcome(self.unresolved(held, now, last_error, None), now);
                }
                TransferLookup::Throttled(m) => {
                    tracing::warn!(error = %m, "common.query throttled");
                    held.throttled_calls = held.throttled_calls.saturating_add(1);
                    let last_error = format!("common.query throttled: {m}");
                    return outcome(self.unresolved(held, now, last_error, None), now);
                }
            }
        } else {
            tracing::info!(
                amountFen = terms.amount_fen.fen(),
                product = terms.product.as_str(),
                "calling uni.transfer"
            );
        }
        let answer = rail.gateway.transfer(&order_of(held, terms)).await;
        let now = self.clock.now();
        let state = match answer {
            TransferOutcome::Accepted(r) => self.found(held, terms, &r, now, false),
            TransferOutcome::Refused(r) => self.refused(held, &r, now),
            TransferOutcome::Unknown(m) => {
                tracing::warn!(error = %m, "uni.transfer outcome unknown");
                let last_error = format!("uni.transfer outcome unknown: {m}");
                self.unresolved(held, now, last_error, None)
            }
            TransferOutcome::Throttled(m) => {
                tracing::warn!(error = %m, "uni.transfer throttled");
                held.throttled_calls = held.throttled_calls.saturating_add(1);
                let last_error = format!("uni.transfer throttled: {m}");
                self.unresolved(held, now, last_error, None)
            }
        };
        outcome(state, now)
    }

    /// The state after Alipay described the order it holds.
    fn found(
        &self,
        held: &PayoutEntry,
        terms: &TransferTerms,
        receipt: &TransferReceipt,
        now: Timestamp,
        closed_is_final: bool,
    ) -> PayoutState {
        if names_another_order(held, receipt) {
            tracing::error!(
                answeredFor = receipt.out_biz_no.as_deref().unwrap_or(""),
                "Alipay answered for another out_biz_no"
            );
            return self.unresolved(
                held,
                now,
                "the answer named another out_biz_no".into(),
                None,
            );
        }
        match receipt_state(terms, receipt, closed_is_final) {
            Some(state) => {
                if let PayoutState::Failed { refusal } = &state {
                    tracing::info!(
                        code = refusal.code.as_deref().unwrap_or(""),
                        errorCode = refusal.sub_code.as_deref().unwrap_or(""),
                        "the transfer order failed"
                    );
                }
                state
            }
            None => {
                let status = receipt
                    .status
                    .as_ref()
                    .map_or("no status", TransferStatus::as_str);
                tracing::info!(status, "the transfer order is not final yet");
                self.unresolved(held, now, format!("transfer order status: {status}"), None)
            }
        }
    }

    /// The state after Alipay refused the call.
    fn refused(&self, held: &PayoutEntry, r: &TransferRefusal, now: Timestamp) -> PayoutState {
        let refusal = refusal_of(r);
        let sub_code = refusal.sub_code.clone().unwrap_or_default();
        match r.class {
            RefusalClass::RetryLater => {
                tracing::warn!(subCode = %sub_code, "uni.transfer: not done now; the same order is retried later");
                let last_error = format!("not done now, retried later: {}", refusal.failure_reason);
                self.unresolved(held, now, last_error, Some(refusal))
            }
            RefusalClass::Definite | RefusalClass::Configuration
                if held.earlier_call_may_have_been_accepted() =>
            {
                tracing::warn!(subCode = %sub_code, "uni.transfer refused after an unknown outcome: the business id stays bound");
                let last_error = format!(
                    "refused after an unknown outcome: {}",
                    refusal.failure_reason
                );
                self.unresolved(held, now, last_error, Some(refusal))
            }
            RefusalClass::Definite | RefusalClass::Configuration => {
                if r.class == RefusalClass::Configuration {
                    tracing::error!(subCode = %sub_code, "uni.transfer refused: the merchant's configuration must be fixed");
                } else {
                    tracing::info!(subCode = %sub_code, "uni.transfer refused");
                }
                PayoutState::Failed { refusal }
            }
        }
    }
}
