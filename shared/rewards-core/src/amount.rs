//! Money in integer fen (1 yuan = 100 fen); yuan strings only at the Alipay boundary.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An amount of money in fen. Never negative.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AmountFen(i64);

/// Why an amount did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty input.
    #[error("amount is empty")]
    Empty,
    /// A minus sign or a negative number.
    #[error("amount must not be negative")]
    Negative,
    /// More than two decimal places.
    #[error("amount has more than 2 decimal places")]
    TooPrecise,
    /// Not a plain decimal number (`12`, `12.3`, `12.30`).
    #[error("amount is not a decimal number of yuan")]
    Malformed,
    /// Too large to represent.
    #[error("amount is too large")]
    Overflow,
}

impl AmountFen {
    /// The largest amount accepted (10^13 fen = 100 billion yuan), far above any Alipay limit.
    pub const MAX: i64 = 10_000_000_000_000;

    /// An amount from fen.
    ///
    /// # Errors
    /// [`AmountError::Negative`] or [`AmountError::Overflow`].
    pub fn from_fen(fen: i64) -> Result<Self, AmountError> {
        if fen < 0 {
            Err(AmountError::Negative)
        } else if fen > Self::MAX {
            Err(AmountError::Overflow)
        } else {
            Ok(Self(fen))
        }
    }

    pub const ZERO: AmountFen = AmountFen(0);

    /// The amount in fen.
    pub fn fen(self) -> i64 {
        self.0
    }

    /// The amount as Alipay's yuan string with exactly two decimals: `200` fen → `"2.00"`.
    pub fn to_yuan_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// Parses a yuan string exactly (no floats): `"20"`, `"20.0"`, `"20.00"` → 2000 fen.
    /// Rejects signs, exponents, whitespace, more than two decimals.
    ///
    /// # Errors
    /// [`AmountError`] saying why.
    pub fn parse_yuan(text: &str) -> Result<Self, AmountError> {
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        if text.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        let mut fen: i64 = 0;
        for b in int_part.bytes() {
            fen = fen
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(b - b'0')))
                .ok_or(AmountError::Overflow)?;
            if fen > Self::MAX {
                return Err(AmountError::Overflow);
            }
        }
        fen = fen.checked_mul(100).ok_or(AmountError::Overflow)?;
        if let Some(frac) = frac_part {
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AmountError::Malformed);
            }
            if frac.len() > 2 {
                return Err(AmountError::TooPrecise);
            }
            let mut cents: i64 = 0;
            for (i, b) in frac.bytes().enumerate() {
                let weight = if i == 0 { 10 } else { 1 };
                cents += i64::from(b - b'0') * weight;
            }
            fen = fen.checked_add(cents).ok_or(AmountError::Overflow)?;
        }
        Self::from_fen(fen)
    }
}

impl fmt::Debug for AmountFen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmountFen({})", self.0)
    }
}

impl fmt::Display for AmountFen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan_string())
    }
}

/// Serialized as an integer number of fen.
impl Serialize for AmountFen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for AmountFen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fen = i64::deserialize(deserializer)?;
        Self::from_fen(fen).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(AmountFen::parse_yuan("20.00").unwrap().fen(), 2000);
        assert_eq!(AmountFen::parse_yuan("2").unwrap().fen(), 200);
        assert_eq!(AmountFen::parse_yuan("0.2").unwrap().fen(), 20);
        assert_eq!(AmountFen::parse_yuan("0.05").unwrap().fen(), 5);
        assert_eq!(AmountFen::from_fen(200).unwrap().to_yuan_string(), "2.00");
        assert_eq!(AmountFen::from_fen(5).unwrap().to_yuan_string(), "0.05");
        assert_eq!(AmountFen::parse_yuan("1.234"), Err(AmountError::TooPrecise));
        assert_eq!(AmountFen::parse_yuan("-1.00"), Err(AmountError::Negative));
        for bad in ["", ".5", "1.", "1e2", " 1", "1,00", "+1", "1.0.0", "０"] {
            assert!(AmountFen::parse_yuan(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AmountFen::parse_yuan("99999999999999999999"),
            Err(AmountError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn round_trip(fen in 0i64..=AmountFen::MAX) {
            let a = AmountFen::from_fen(fen).unwrap();
            prop_assert_eq!(AmountFen::parse_yuan(&a.to_yuan_string()).unwrap(), a);
        }

        #[test]
        fn never_panics(s in ".{0,30}") {
            let _ = AmountFen::parse_yuan(&s);
        }

        #[test]
        fn decimal_strings_parse_exactly(i in 0i64..1_000_000, f in 0i64..100) {
            let s = format!("{i}.{f:02}");
            prop_assert_eq!(AmountFen::parse_yuan(&s).unwrap().fen(), i * 100 + f);
        }
    }
}
