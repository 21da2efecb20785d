//! The deterministic serial of a user's n-th pass from a template.

use crate::hash::sha256_parts;
use crate::ids::{SerialNumber, TemplateId, UserId};

/// The serial of a user's `n`-th pass from a template (n from 1): deterministic, so a re-tap after
/// an unknown outcome (with a new token) reuses it and cannot create a second pass.
/// `S` + 31 hex chars of SHA-256 over the length-prefixed parts.
pub fn derive_serial(template: &TemplateId, user: &UserId, n: u32) -> SerialNumber {
    let h = sha256_parts(&[
        "serial/v2",
        template.as_str(),
        user.as_str(),
        &n.to_string(),
    ]);
    SerialNumber::from_valid(format!("S{}", &h[..31]))
}
