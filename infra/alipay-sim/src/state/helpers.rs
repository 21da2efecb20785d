//! Helpers every API family shares: yuan amounts, digests for ids and tokens, Beijing time.

use alipay_protocol::GatewayTimestamp;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Parses a non-negative yuan string with at most two decimals into fen.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > 2
        || (text.contains('.') && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    Some(int.parse::<i64>().ok()? * 100 + cents)
}

/// Fen as a yuan string with two decimals.
pub fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

pub(super) fn is_user_id(s: &str) -> bool {
    s.len() == 16 && s.starts_with("2088") && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn hex_digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn beijing(t: OffsetDateTime) -> String {
    GatewayTimestamp::from_utc(t).to_string()
}

pub(super) fn ymd(t: OffsetDateTime) -> String {
    beijing(t)[..10].replace('-', "")
}
