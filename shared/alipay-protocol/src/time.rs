//! The gateway `timestamp`: `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8) whatever the host's zone.

use std::fmt;

use alipay_units::{BEIJING, BEIJING_FORMAT as FORMAT};
use time::{OffsetDateTime, PrimitiveDateTime};

/// A gateway timestamp, always rendered in UTC+8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GatewayTimestamp(OffsetDateTime);

/// A `timestamp` text that is not `yyyy-MM-dd HH:mm:ss`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp must be `yyyy-MM-dd HH:mm:ss` (Beijing time)")]
pub struct BadTimestamp;

impl GatewayTimestamp {
    /// Now, read from the system clock, in UTC+8.
    pub fn now() -> Self {
        Self::from_utc(OffsetDateTime::now_utc())
    }

    /// Any instant, shown in UTC+8.
    pub fn from_utc(at: OffsetDateTime) -> Self {
        Self(at.to_offset(BEIJING))
    }

    /// Parses a wire timestamp, read as Beijing time.
    ///
    /// # Errors
    /// [`BadTimestamp`] when the text is not exactly `yyyy-MM-dd HH:mm:ss`.
    pub fn parse(text: &str) -> Result<Self, BadTimestamp> {
        if text.len() != 19 {
            return Err(BadTimestamp);
        }
        PrimitiveDateTime::parse(text, FORMAT)
            .map(|p| Self(p.assume_offset(BEIJING)))
            .map_err(|_| BadTimestamp)
    }

    /// The instant.
    pub fn instant(self) -> OffsetDateTime {
        self.0
    }
}

impl fmt::Display for GatewayTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Formatting a valid date with a fixed description cannot fail.
        let text = self.0.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn utc_is_shown_eight_hours_later() {
        let ts = GatewayTimestamp::from_utc(datetime!(2024-01-01 19:04:05 UTC));
        assert_eq!(ts.to_string(), "2024-01-02 03:04:05");
    }

    #[test]
    fn parse_round_trips_and_rejects_other_shapes() {
        let ts = GatewayTimestamp::parse("2024-01-02 03:04:05").unwrap();
        assert_eq!(ts.to_string(), "2024-01-02 03:04:05");
        for bad in [
            "2024-01-02T03:04:05",
            "2024-1-2 3:4:5",
            "",
            "2024-01-02 03:04:05 ",
            "2024-13-02 03:04:05",
        ] {
            assert_eq!(GatewayTimestamp::parse(bad), Err(BadTimestamp), "{bad}");
        }
    }
}
