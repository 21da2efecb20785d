//! The answer of a successful claim and the issuance component's JSON shape.

use super::errors::ClaimError;
use crate::error::DomainError;
use crate::ids::{PassId, SerialNumber};
use serde_json::{json, Value};

/// A successful claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    pub pass_id: PassId,
    /// Its serial.
    pub serial_number: SerialNumber,
    /// True when an earlier call issued it.
    pub replayed: bool,
}

/// **The** answer shape for the issuance component (the only place it is defined):
/// `{"success": true, "passId": "...", "serialNumber": "..."}` or
/// `{"success": false, "code": "<stable code>", "message": "..."}`.
pub fn component_answer(result: &Result<ClaimAnswer, ClaimError>) -> Value {
    match result {
        Ok(a) => json!({"success": true, "passId": a.pass_id, "serialNumber": a.serial_number}),
        Err(e) => json!({"success": false, "code": e.code(), "message": e.to_string()}),
    }
}
