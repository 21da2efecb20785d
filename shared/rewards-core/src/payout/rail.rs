//! How a payout pays: the campaign rail (`alipay.marketing.campaign.cash.trigger`, an envelope of a
//! prepaid campaign) or the transfer rail (`alipay.fund.trans.uni.transfer` from the merchant's
//! balance). One ledger, one pointer and one out_biz_no rule for both: a business id paid on one
//! rail is never paid on the other.

use crate::amount::AmountFen;
use crate::ids::CrowdNo;
use crate::payout::reason::Reason;
use crate::payout::refusal::Refusal;
use crate::ports::transfer_gateway::{SceneReportInfo, TransferProduct};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rail a caller asks for (`"rail"` of `POST /envelopes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RailName {
    /// `campaign`: an envelope of a cash campaign.
    Campaign,
    /// `transfer`: a transfer from the merchant's balance.
    Transfer,
}

impl RailName {
    /// `campaign` | `transfer`.
    pub fn as_str(self) -> &'static str {
        match self {
            RailName::Campaign => "campaign",
            RailName::Transfer => "transfer",
        }
    }

    /// Parses `campaign` | `transfer`.
    pub fn parse(s: &str) -> Option<RailName> {
        match s {
            "campaign" => Some(RailName::Campaign),
            "transfer" => Some(RailName::Transfer),
            _ => None,
        }
    }
}

/// Everything a transfer order carries besides its number and payee. Stored in the entry because
/// a re-send of an out_biz_no must repeat exactly the parameters of the first call (Alipay answers
/// `PAYMENT_INFO_INCONSISTENCY` otherwise), even after the configuration changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferTerms {
    /// `trans_amount`, in fen.
    pub amount_fen: AmountFen,
    /// `product_code`.
    pub product: TransferProduct,
    /// `order_title`.
    pub order_title: String,
    /// `transfer_scene_name`.
    pub scene_name: String,
    /// `transfer_scene_report_infos`.
    pub scene_report_infos: Vec<SceneReportInfo>,
    /// `notify_url` (None: not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// The rail of one ledger entry, bound for the life of the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RailRecord", into = "RailRecord")]
pub enum PayoutRail {
    /// An envelope of this campaign.
    Campaign {
        /// The campaign.
        crowd_no: CrowdNo,
    },
    /// A transfer with these terms.
    Transfer(TransferTerms),
}

impl PayoutRail {
    /// The rail's name.
    pub fn name(&self) -> RailName {
        match self {
            PayoutRail::Campaign { .. } => RailName::Campaign,
            PayoutRail::Transfer(_) => RailName::Transfer,
        }
    }

    /// The campaign of a campaign-rail entry.
    pub fn crowd_no(&self) -> Option<&CrowdNo> {
        match self {
            PayoutRail::Campaign { crowd_no } => Some(crowd_no),
            PayoutRail::Transfer(_) => None,
        }
    }

    /// The terms of a transfer-rail entry.
    pub fn transfer(&self) -> Option<&TransferTerms> {
        match self {
            PayoutRail::Transfer(t) => Some(t),
            PayoutRail::Campaign { .. } => None,
        }
    }

    /// The stable code callers see for a refusal recorded on this rail. Each rail reads its own
    /// codes: a transfer's `fail_reason` text must never be matched against campaign phrases.
    pub fn refusal_code(&self, refusal: &Refusal) -> &'static str {
        match self {
            PayoutRail::Campaign { .. } => refusal.stable_code(),
            PayoutRail::Transfer(_) => refusal.transfer_stable_code(),
        }
    }
}

/// The stored shape of a rail, flattened into the entry: `{"rail":"campaign","crowdNo":…}` or
/// `{"rail":"transfer","transfer":{…}}`. Entries written before the transfer rail existed carry
/// only `crowdNo` and read as campaign.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RailRecord {
    #[serde(default)]
    rail: Option<RailName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crowd_no: Option<CrowdNo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transfer: Option<TransferTerms>,
}

impl TryFrom<RailRecord> for PayoutRail {
    type Error = String;
    fn try_from(r: RailRecord) -> Result<Self, String> {
        match (r.rail.unwrap_or(RailName::Campaign), r.crowd_no, r.transfer) {
            (RailName::Campaign, Some(crowd_no), None) => Ok(PayoutRail::Campaign { crowd_no }),
            (RailName::Transfer, None, Some(t)) => Ok(PayoutRail::Transfer(t)),
            (rail, _, _) => Err(format!(
                "a {} payout needs exactly its own rail fields",
                rail.as_str()
            )),
        }
    }
}

impl From<PayoutRail> for RailRecord {
    fn from(r: PayoutRail) -> Self {
        match r {
            PayoutRail::Campaign { crowd_no } => RailRecord {
                rail: Some(RailName::Campaign),
                crowd_no: Some(crowd_no),
                transfer: None,
            },
            PayoutRail::Transfer(t) => RailRecord {
                rail: Some(RailName::Transfer),
                crowd_no: None,
                transfer: Some(t),
            },
        }
    }
}

/// What the transfer rail sends besides the amount (from configuration, validated at init).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSettings {
    /// `product_code`.
    pub product: TransferProduct,
    /// `order_title` (shown on the payee's bill).
    pub order_title: String,
    /// `transfer_scene_name`, e.g. `现金营销`.
    pub scene_name: String,
    /// `transfer_scene_report_infos`, e.g. `活动名称` and `奖励说明` for `现金营销`.
    pub scene_report_infos: Vec<SceneReportInfo>,
    /// `notify_url` for `alipay.fund.trans.order.changed` (None: not sent; the reconciler polls).
    pub notify_url: Option<String>,
    /// The largest amount one payout may carry (our cap, below the product's own limit).
    pub max_per_payout: AmountFen,
    /// The amount used when a request names none, per reason.
    pub default_amounts: BTreeMap<Reason, AmountFen>,
}

/// A [`TransferSettings`] that Alipay would refuse, or that would let one payout exceed its
/// product's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transfer settings: {0}")]
pub struct BadTransferSettings(pub String);

impl TransferSettings {
    /// Checks the settings once at init (so no request fails on them later).
    ///
    /// # Errors
    /// [`BadTransferSettings`] saying what is wrong.
    pub fn check(&self) -> Result<(), BadTransferSettings> {
        let bad = |m: String| Err(BadTransferSettings(m));
        if self.order_title.trim().is_empty() || self.order_title.chars().count() > 128 {
            return bad("the order title must be 1 to 128 characters".into());
        }
        if self.scene_name.trim().is_empty() {
            return bad(
                "the transfer scene name is required (declare it on 商家平台 › 转账场景)".into(),
            );
        }
        if self.scene_report_infos.is_empty() {
            return bad(
                "the transfer scene needs its report infos (e.g. 活动名称, 奖励说明)".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for info in &self.scene_report_infos {
            if info.info_type.trim().is_empty() || info.info_content.trim().is_empty() {
                return bad("every scene report info needs a type and a content".into());
            }
            if !seen.insert(info.info_type.as_str()) {
                return bad(format!(
                    "the scene report info type {} is repeated",
                    info.info_type
                ));
            }
        }
        if let Some(url) = &self.notify_url {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return bad("the notify URL must be an http(s) URL".into());
            }
        }
        if self.max_per_payout < self.product.min_amount() {
            return bad(format!(
                "the per-payout cap is below {}'s minimum",
                self.product.as_str()
            ));
        }
        for (reason, amount) in &self.default_amounts {
            if self.check_amount(*amount).is_err() {
                return bad(format!(
                    "the default amount for {} is outside the product's limits or the cap",
                    reason.as_str()
                ));
            }
        }
        Ok(())
    }

    /// Checks one payout's amount against the product's limits and the cap.
    ///
    /// # Errors
    /// The [`AmountProblem`].
    pub fn check_amount(&self, amount: AmountFen) -> Result<(), AmountProblem> {
        if amount < self.product.min_amount() {
            Err(AmountProblem::BelowProductMinimum)
        } else if amount > self.product.max_amount() {
            Err(AmountProblem::AboveProductMaximum)
        } else if amount > self.max_per_payout {
            Err(AmountProblem::AboveCap)
        } else {
            Ok(())
        }
    }

    /// The terms of a new transfer of `amount`.
    pub fn terms(&self, amount: AmountFen) -> TransferTerms {
        TransferTerms {
            amount_fen: amount,
            product: self.product,
            order_title: self.order_title.clone(),
            scene_name: self.scene_name.clone(),
            scene_report_infos: self.scene_report_infos.clone(),
            notify_url: self.notify_url.clone(),
        }
    }
}

/// Why an amount cannot be paid on the transfer rail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountProblem {
    /// Below the product's minimum (0.01 yuan for STD_RED_PACKET, 0.10 for TRANS_ACCOUNT_NO_PWD).
    BelowProductMinimum,
    /// Above the product's maximum.
    AboveProductMaximum,
    /// Above the configured per-payout cap.
    AboveCap,
}

impl Refusal {
    /// The stable code callers see for a refusal on the transfer rail: Alipay's `sub_code` (or the
    /// order's status for a failed order), never its text. A failed order's `error_code` is read first, then its status.
    pub fn transfer_stable_code(&self) -> &'static str {
        match (self.code.as_deref(), self.sub_code.as_deref()) {
            (
                _,
                Some(
                    "PAYEE_NOT_EXIST"
                    | "PAYEE_ACCOUNT_NOT_EXSIT"
                    | "PAYEE_USER_INFO_ERROR"
                    | "PAYEE_ACCOUNT_STATUS_ERROR"
                    | "PAYEE_USERINFO_STATUS_ERROR"
                    | "PAYEE_ACC_OCUPIED"
                    | "PAYEE_USER_TYPE_ERROR"
                    | "PAYER_PAYEE_CANNOT_SAME",
                ),
            ) => "payee_invalid",
            (
                _,
                Some(
                    "PAYEE_NOT_RELNAME_CERTIFY"
                    | "PERM_AML_NOT_REALNAME_REV"
                    | "EXCEED_LIMIT_UNRN_DM_AMOUNT"
                    | "PERMIT_NON_BANK_LIMIT_PAYEE"
                    | "RELEASE_USER_FORBBIDEN_RECIEVE"
                    | "PERMIT_CHECK_RECEIVE_LIMIT",
                ),
            ) => "payee_cannot_receive",
            (_, Some("BALANCE_IS_NOT_ENOUGH" | "PAYER_BALANCE_NOT_ENOUGH")) => {
                "payer_balance_insufficient"
            }
            (
                _,
                Some(
                    "EXCEED_LIMIT_DM_AMOUNT"
                    | "EXCEED_LIMIT_DM_MAX_AMOUNT"
                    | "EXCEED_LIMIT_MM_AMOUNT"
                    | "EXCEED_LIMIT_DC_RECEIVED"
                    | "RESOURCE_LIMIT_EXCEED",
                ),
            ) => "transfer_limit_reached",
            (
                _,
                Some(
                    "EXCEED_LIMIT_SM_MIN_AMOUNT"
                    | "EXCEED_LIMIT_SM_AMOUNT"
                    | "EXCEED_LIMIT_PERSONAL_SM_AMOUNT",
                ),
            ) => "transfer_amount_refused",
            (_, Some(s))
                if s == "PRODUCT_NOT_SIGN"
                    || s == "NO_ACCOUNT_PAYMENT_PERMISSION"
                    || s.starts_with("isv.") =>
            {
                "transfer_not_configured"
            }
            (Some(ORDER_FAILED), _) => "transfer_failed",
            (Some(ORDER_CLOSED), _) => "transfer_closed",
            (Some(ORDER_REFUNDED), _) => "transfer_refunded",
            _ => "transfer_refused",
        }
    }
}

/// `code` of a [`Refusal`] recorded for an order Alipay reports as `FAIL` (the `error_code` is its
/// `sub_code`).
pub const ORDER_FAILED: &str = "ORDER_FAIL";
/// `code` of a [`Refusal`] for an order Alipay reports as `CLOSED`.
pub const ORDER_CLOSED: &str = "ORDER_CLOSED";
/// `code` of a [`Refusal`] for an order Alipay reports as `REFUND` (paid, then returned).
pub const ORDER_REFUNDED: &str = "ORDER_REFUND";
