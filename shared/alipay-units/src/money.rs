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

    /// Zero.
    pub const ZERO: AmountFen = AmountFen(0);

    /// An amount known when the program is compiled: use it in a `const` so that an out-of-range
    /// literal fails the build instead of a request.
    pub const fn from_fen_const(fen: i64) -> Self {
        assert!(fen >= 0 && fen <= Self::MAX, "amount out of range");
        Self(fen)
    }

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

/// Serde for a wire field that carries yuan text (`"2.00"`): `#[serde(with = "alipay_units::yuan")]`,
/// or `yuan::option` for an optional one (absent, null or empty text is `None`).
pub mod yuan {
    use super::AmountFen;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the yuan text.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(amount: &AmountFen, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&amount.to_yuan_string())
    }

    /// Reads yuan text (surrounding blanks are tolerated, as Alipay's answers sometimes carry them).
    ///
    /// # Errors
    /// When the text is not a yuan amount.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AmountFen, D::Error> {
        let text = String::deserialize(d)?;
        AmountFen::parse_yuan(text.trim()).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<AmountFen>`.
    pub mod option {
        use super::AmountFen;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the yuan text, or nothing.
        ///
        /// # Errors
        /// The serializer's.
        pub fn serialize<S: Serializer>(
            amount: &Option<AmountFen>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match amount {
                Some(a) => s.serialize_str(&a.to_yuan_string()),
                None => s.serialize_none(),
            }
        }

        /// Reads yuan text; absent, null or blank is `None`.
        ///
        /// # Errors
        /// When present text is not a yuan amount.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AmountFen>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(t) if !t.trim().is_empty() => AmountFen::parse_yuan(t.trim())
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                _ => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn yuan_fields_round_trip_as_text() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Wire {
            #[serde(with = "yuan")]
            total: AmountFen,
            #[serde(default, with = "yuan::option")]
            sent: Option<AmountFen>,
        }
        let w = Wire {
            total: AmountFen::from_fen(123).unwrap(),
            sent: None,
        };
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(text, r#"{"total":"1.23","sent":null}"#);
        assert_eq!(serde_json::from_str::<Wire>(&text).unwrap(), w);
        let blank: Wire = serde_json::from_str(r#"{"total":" 2.00 ","sent":""}"#).unwrap();
        assert_eq!(blank.total.fen(), 200);
        assert_eq!(blank.sent, None);
        assert!(serde_json::from_str::<Wire>(r#"{"total":"-1"}"#).is_err());
    }

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
