//! Time as epoch milliseconds, Beijing-time formatting and parsing (`yyyy-MM-dd HH:mm:ss`, UTC+8).

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{format_description::FormatItem, macros::format_description, OffsetDateTime, UtcOffset};

/// Alipay's text form of a time: `yyyy-MM-dd HH:mm:ss`, read in [`BEIJING`].
pub const BEIJING_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Beijing time, UTC+8 (China has no daylight saving time).
pub const BEIJING: UtcOffset = time::macros::offset!(+8);

/// A point in time, milliseconds since the Unix epoch (UTC). Sortable, serialized as a number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Now, from the system clock (the one place that reads it; services take a clock port).
    pub fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// `self + d` (saturating).
    pub fn plus(self, d: std::time::Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// `self + hours`.
    pub fn plus_hours(self, hours: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(hours.saturating_mul(3_600_000)))
    }

    /// Formats as Beijing time `yyyy-MM-dd HH:mm:ss`.
    pub fn to_beijing(self) -> String {
        let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        utc.to_offset(beijing())
            .format(BEIJING_FORMAT)
            .unwrap_or_default()
    }

    /// Parses Beijing time `yyyy-MM-dd HH:mm:ss`.
    ///
    /// # Errors
    /// [`BadDate`] when the text is not exactly that form or not a real date.
    pub fn parse_beijing(text: &str) -> Result<Timestamp, BadDate> {
        let dt = time::PrimitiveDateTime::parse(text, BEIJING_FORMAT).map_err(|_| BadDate)?;
        let t = dt.assume_offset(beijing());
        Ok(Timestamp(
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| BadDate)?,
        ))
    }

    /// The Beijing calendar date `yyyy-MM-dd`.
    pub fn beijing_date(self) -> String {
        self.to_beijing().chars().take(10).collect()
    }
}

fn beijing() -> UtcOffset {
    BEIJING
}

/// A date string that is not `yyyy-MM-dd HH:mm:ss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected a date `yyyy-MM-dd HH:mm:ss` (Beijing time)")]
pub struct BadDate;

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({} = {} CST)", self.0, self.to_beijing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_round_trip() {
        let t = Timestamp::parse_beijing("2024-01-02 03:04:05").unwrap();
        assert_eq!(t.0, 1_704_135_845_000);
        assert_eq!(t.to_beijing(), "2024-01-02 03:04:05");
        assert_eq!(t.beijing_date(), "2024-01-02");
        assert!(Timestamp::parse_beijing("2024-02-30 00:00:00").is_err());
        assert!(Timestamp::parse_beijing("2024-01-02T03:04:05").is_err());
        assert_eq!(t.plus_hours(48).to_beijing(), "2024-01-04 03:04:05");
    }
}
