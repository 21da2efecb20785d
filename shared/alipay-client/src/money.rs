//! Integer fen; yuan strings only at the wire.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in fen (1 yuan = 100 fen). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(pub i64);

/// A yuan string that is not `digits[.d[d]]` or does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a yuan amount (expected digits with at most two decimals, e.g. \"2.00\")")]
pub struct FenError;

impl Fen {
    /// Parses a non-negative yuan string: `"2"`, `"2.0"`, `"2.00"`, `"0.20"`.
    ///
    /// # Errors
    /// [`FenError`] for anything else (signs, exponents, more than two decimals, overflow).
    pub fn parse_yuan(text: &str) -> Result<Self, FenError> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        if int.is_empty()
            || int.len() > 15
            || frac.len() > 2
            || (text.contains('.') && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(FenError);
        }
        let whole: i64 = int.parse().map_err(|_| FenError)?;
        let cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| FenError)? * 10,
            _ => frac.parse().map_err(|_| FenError)?,
        };
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Fen)
            .ok_or(FenError)
    }

    /// The yuan string with exactly two decimals: `Fen(200)` → `"2.00"`.
    pub fn to_yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan())
    }
}

impl Serialize for Fen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_yuan())
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Fen::parse_yuan(text.trim()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan_strings() {
        assert_eq!(Fen::parse_yuan("2.00"), Ok(Fen(200)));
        assert_eq!(Fen::parse_yuan("0.2"), Ok(Fen(20)));
        assert_eq!(Fen::parse_yuan("10000000"), Ok(Fen(1_000_000_000)));
        assert_eq!(Fen::parse_yuan("0.01"), Ok(Fen(1)));
        for bad in [
            "",
            ".5",
            "2.",
            "2.001",
            "-1",
            "+1",
            "1e3",
            "1,00",
            " 1",
            "999999999999999999",
        ] {
            assert_eq!(Fen::parse_yuan(bad), Err(FenError), "{bad}");
        }
    }

    #[test]
    fn renders_two_decimals() {
        assert_eq!(Fen(200).to_yuan(), "2.00");
        assert_eq!(Fen(5).to_yuan(), "0.05");
        assert_eq!(Fen(-150).to_yuan(), "-1.50");
        assert_eq!(serde_json::to_string(&Fen(123)).unwrap(), "\"1.23\"");
    }
}
