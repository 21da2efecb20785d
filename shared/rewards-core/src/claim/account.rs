//! A claim account's records: the passes a user holds from one template and the issuance in flight.

use crate::error::GatewayError;
use crate::hash::sha256_parts;
use crate::ids::{PassId, SerialNumber, TemplateId, UserId, UserToken};
use crate::ports::gateway::GatewayFailure;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// 32 hex chars of SHA-256 of a claim token (the token itself is never stored).
pub fn token_hash(token: &UserToken) -> String {
    sha256_parts(&["claim-token/v1", token.as_str()])[..32].to_owned()
}

/// Why an attempt ended without a pass (so callers waiting with the same token answer it instead
/// of calling Alipay again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ClaimFailure {
    /// Alipay refused.
    Rejected {
        /// The failure, verbatim (stored and logged, never answered to the caller).
        failure: GatewayFailure,
    },
    /// Outcome unknown.
    Unknown {
        /// Diagnostic.
        detail: String,
    },
    /// Alipay's rate limit answered: not executed now (never a counted failure).
    Throttled {
        /// Diagnostic (codes only).
        detail: String,
    },
}

impl ClaimFailure {
    /// The note an unanswered gateway call leaves: throttled or unknown.
    pub(super) fn unanswered(e: &GatewayError) -> Self {
        match e {
            GatewayError::Throttled(detail) => ClaimFailure::Throttled {
                detail: detail.clone(),
            },
            GatewayError::Unknown(detail) => ClaimFailure::Unknown {
                detail: detail.clone(),
            },
            GatewayError::Rejected(failure) => ClaimFailure::Rejected {
                failure: failure.clone(),
            },
        }
    }
}

/// The last attempt that ended without a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureNote {
    /// Hash of the token of that attempt.
    pub token_hash: String,
    /// How it ended.
    pub failure: ClaimFailure,
    /// When.
    pub at: Timestamp,
}

/// A pass issued to this user from this template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedPass {
    /// The user's n-th pass from the template (from 1).
    pub n: u32,
    pub pass_id: PassId,
    /// Its serial.
    pub serial_number: SerialNumber,
    /// Hash of the token that issued it (a repeat of that callback answers this pass).
    pub token_hash: Option<String>,
}

/// The issuance in flight: Alipay may hold its serial until it is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issuance {
    /// Which pass of the user this is (from 1).
    pub n: u32,
    /// `derive_serial(template, user, n)`.
    pub serial_number: SerialNumber,
    /// The `tpl_params` filled at the first attempt (the same dates on every retry).
    pub params: BTreeMap<String, String>,
    /// Hash of the token of the latest attempt.
    pub token_hash: String,
    /// Until when the holder may work undisturbed.
    pub lease_until: Timestamp,
    /// `instance.add` calls started.
    pub attempts: u32,
    /// Lookups made by the sweep without an answer.
    pub checks: u32,
    /// Not before this may the sweep look it up.
    pub next_check_at: Timestamp,
    /// First attempt.
    pub started_at: Timestamp,
}

/// A user's claims on one template (`CLAIM#{tpl}#{user}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimAccount {
    pub template_id: TemplateId,
    pub user_id: UserId,
    /// Passes issued and stored (the next one is `issued + 1`).
    pub issued: u32,
    /// Those passes.
    pub passes: Vec<IssuedPass>,
    /// The issuance in flight, if any.
    pub pending: Option<Issuance>,
    /// The last attempt that ended without a pass.
    pub last_failure: Option<FailureNote>,
    /// The fence token of the latest writer.
    pub fence: String,
    /// When the item may be deleted (DynamoDB TTL): set only while the account holds no pass and
    /// nothing is in flight.
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl ClaimAccount {
    /// When the sweep may take the issuance in flight (None when nothing is in flight).
    pub fn due_at(&self) -> Option<Timestamp> {
        self.pending
            .as_ref()
            .map(|p| p.lease_until.max(p.next_check_at))
    }
}

/// How a lookup of the issuance in flight ended.
pub(super) enum Resolution {
    /// Alipay holds it; now stored.
    Stored(IssuedPass),
    /// Alipay does not hold it; the issuance is dropped. The account after the write.
    Dropped(Box<ClaimAccount>),
    /// Another writer moved the account first.
    Lost,
    /// No definite answer (unknown, or Alipay's rate limit); released for later.
    Unresolved(GatewayError),
}
