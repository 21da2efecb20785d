//! The untrusted body of `POST /envelopes` and the validated send it parses into.

use crate::amount::AmountFen;
use crate::ids::{BusinessId, CrowdNo, IdError, OpenId, Recipient, UserId};
use crate::payout::error::SendError;
use crate::payout::rail::RailName;
use crate::payout::reason::Reason;
use serde::{Deserialize, Serialize};

/// The JSON body of `POST /envelopes` (untrusted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendInput {
    /// `points_exchange` | `referral`.
    pub reason: Option<String>,
    pub business_id: Option<String>,
    /// Alipay user id (wins over `openId`).
    pub user_id: Option<String>,
    pub open_id: Option<String>,
    /// Campaign; default from the reason mapping.
    pub crowd_no: Option<String>,
    /// Send again after a definite failure on the same campaign.
    pub retry_failed: Option<bool>,
    /// `campaign` | `transfer`; default from the reason mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rail: Option<String>,
    /// Transfer rail: the amount in yuan (`"1.00"`); default from the reason mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// A validated send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub reason: Reason,
    pub business_id: BusinessId,
    pub recipient: Recipient,
    /// Campaign (None → reason mapping).
    pub crowd_no: Option<CrowdNo>,
    /// After a FAILED attempt, send again even on the same campaign.
    pub retry_failed: bool,
    /// The rail (None → reason mapping, else campaign).
    pub rail: Option<RailName>,
    /// Transfer rail: the amount (None → reason mapping).
    pub amount: Option<AmountFen>,
}

fn bad(field: &'static str, source: Option<IdError>) -> SendError {
    SendError::BadInput { field, source }
}

impl SendInput {
    /// Parses every field into domain types.
    ///
    /// # Errors
    /// [`SendError::BadInput`] naming the field.
    pub fn validate(&self) -> Result<SendRequest, SendError> {
        let reason = self
            .reason
            .as_deref()
            .and_then(Reason::parse)
            .ok_or(bad("reason", None))?;
        let business_id =
            BusinessId::parse(self.business_id.as_deref().ok_or(bad("businessId", None))?)
                .map_err(|e| bad("businessId", Some(e)))?;
        let recipient = match (&self.user_id, &self.open_id) {
            (Some(u), _) => {
                Recipient::UserId(UserId::parse(u).map_err(|e| bad("userId", Some(e)))?)
            }
            (None, Some(o)) => {
                Recipient::OpenId(OpenId::parse(o).map_err(|e| bad("openId", Some(e)))?)
            }
            (None, None) => return Err(bad("userId", None)),
        };
        let crowd_no = match &self.crowd_no {
            Some(c) => Some(CrowdNo::parse(c).map_err(|e| bad("crowdNo", Some(e)))?),
            None => None,
        };
        let rail = match &self.rail {
            Some(r) => Some(RailName::parse(r).ok_or(bad("rail", None))?),
            None => None,
        };
        let amount = match &self.amount {
            Some(a) => Some(parse_amount(a)?),
            None => None,
        };
        Ok(SendRequest {
            reason,
            business_id,
            recipient,
            crowd_no,
            retry_failed: self.retry_failed.unwrap_or(false),
            rail,
            amount,
        })
    }
}

/// A positive yuan amount with at most two decimals (`"1.00"`, `"0.5"`, `"3"`).
fn parse_amount(text: &str) -> Result<AmountFen, SendError> {
    match AmountFen::parse_yuan(text) {
        Ok(a) if a.fen() > 0 && text == text.trim() => Ok(a),
        _ => Err(bad("amount", None)),
    }
}
