//! Identifier newtypes, parsed at the edge and valid by construction.
//!
//! Every id is a `String` inside; construction goes through `parse` (also `TryFrom<&str>`,
//! `FromStr` and serde's `Deserialize`), so a value of the type is always well-formed. None of them
//! may contain `#`, which the DynamoDB adapter uses as a key separator.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why an id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} is invalid: {reason}")]
pub struct IdError {
    /// Which id type (e.g. `userId`).
    pub kind: &'static str,
    /// What is wrong (never echoes the value, which may be long or sensitive).
    pub reason: &'static str,
}

fn charset_ok(s: &str, extra: &[u8]) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

fn check_len(kind: &'static str, s: &str, min: usize, max: usize) -> Result<(), IdError> {
    if s.len() < min {
        return Err(IdError {
            kind,
            reason: "too short",
        });
    }
    if s.len() > max {
        return Err(IdError {
            kind,
            reason: "too long",
        });
    }
    Ok(())
}

macro_rules! id_type {
    // The common rule, as a table: 1 to `max` characters, ASCII letters and digits plus `extra`.
    ($($(#[$doc:meta])* $name:ident, $kind:literal, max $max:literal, alphanumeric and $extra:literal;)+) => {
        $(id_type!(
            $(#[$doc])*
            #[doc = concat!("\n\n1 to ", stringify!($max), " characters of `[A-Za-z0-9", $extra, "]`.")]
            $name, $kind, |s| {
            check_len($kind, s, 1, $max)?;
            if charset_ok(s, $extra.as_bytes()) {
                Ok(())
            } else {
                Err(IdError { kind: $kind, reason: concat!("must be [A-Za-z0-9", $extra, "]") })
            }
        });)+
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, |$s:ident| $validate:block) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the id.
            ///
            /// # Errors
            /// [`IdError`] naming what is wrong.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                let $s = value;
                let check: Result<(), IdError> = $validate;
                check.map(|()| Self(value.to_owned()))
            }

            /// For values the crate built from a known-valid alphabet (hashes); checked in debug.
            #[allow(dead_code)]
            pub(crate) fn from_valid(value: String) -> Self {
                debug_assert!(Self::parse(&value).is_ok());
                Self(value)
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's name in errors and JSON (camelCase).
            pub const KIND: &'static str = $kind;
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An Alipay user id: `2088` followed by 12 digits (16 digits in all).
    UserId, "userId", |s| {
        if s.len() != 16 {
            Err(IdError { kind: "userId", reason: "must be 16 digits" })
        } else if !s.bytes().all(|b| b.is_ascii_digit()) {
            Err(IdError { kind: "userId", reason: "must be digits only" })
        } else if !s.starts_with("2088") {
            Err(IdError { kind: "userId", reason: "must start with 2088" })
        } else {
            Ok(())
        }
    }
);

// The ids that are 1 to `max` characters of `[A-Za-z0-9]` plus the listed symbols.
id_type! {
    /// An Alipay open id (per-app user id).
    OpenId, "openId", max 64, alphanumeric and "_-";
    /// An Alipay pass template id (`tpl_id`).
    TemplateId, "templateId", max 128, alphanumeric and "_-";
    /// An Alipay pass instance id (`passId`).
    PassId, "passId", max 128, alphanumeric and "_-";
    /// A pass serial number (`fileInfo.serialNumber` value).
    SerialNumber, "serialNumber", max 64, alphanumeric and "_-";
    /// A cash campaign number (`crowd_no`).
    CrowdNo, "crowdNo", max 128, alphanumeric and "_-";
    /// The merchant's idempotency number for `cash.trigger` and `uni.transfer` (Alipay allows 96 on
    /// cash; we stay well inside).
    OutBizNo, "outBizNo", max 64, alphanumeric and "_";
    /// A business id (exchange record id, referral id).
    BusinessId, "businessId", max 128, alphanumeric and "_.:-";
    /// The user token of a claim callback (opaque). Never stored: only its hash is part of the
    /// claim key.
    UserToken, "token", max 256, alphanumeric and "_.+/=-";
}

id_type!(
    /// An Alipay app id (also the pass `channelID`): 1–32 digits.
    AppId, "appId", |s| {
        check_len("appId", s, 1, 32)?;
        if s.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err(IdError { kind: "appId", reason: "must be digits" }) }
    }
);

/// Who receives a payout or holds a pass: an Alipay user id or an open id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recipient {
    /// An Alipay user id (`user_id`).
    UserId(UserId),
    OpenId(OpenId),
}

impl Recipient {
    /// `USER#{id}` or `OPENID#{id}` (index key).
    pub fn index_key(&self) -> String {
        match self {
            Recipient::UserId(u) => format!("USER#{u}"),
            Recipient::OpenId(o) => format!("OPENID#{o}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every `good` value parses and no `bad` one does.
    fn check<T>(parse: fn(&str) -> Result<T, IdError>, good: &[&str], bad: &[&str]) {
        for value in good {
            assert!(parse(value).is_ok(), "{value:?} should parse");
        }
        for value in bad {
            assert!(parse(value).is_err(), "{value:?} should not parse");
        }
    }

    #[test]
    fn user_id_rules() {
        let bad = [
            "2088",
            "1088000000000001",
            "2088a00000000001",
            "20880000000000011",
            "２088000000000001",
        ];
        check(UserId::parse, &["2088000000000001"], &bad);
    }

    #[test]
    fn open_and_out_biz_rules() {
        check(
            OpenId::parse,
            &["abc-DEF_123"],
            &["", &"a".repeat(65), "a#b"],
        );
        check(OutBizNo::parse, &["pe_123"], &["pe-123"]);
        check(BusinessId::parse, &["ex:2024.1-a"], &["a b"]);
    }

    #[test]
    fn serde_as_strings() {
        let u = UserId::parse("2088000000000001").unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"2088000000000001\"");
        let back: UserId = serde_json::from_str("\"2088000000000001\"").unwrap();
        assert_eq!(back, u);
        assert!(serde_json::from_str::<UserId>("\"x\"").is_err());
    }

    proptest! {
        #[test]
        fn user_id_parse_never_panics(s in ".{0,40}") {
            let _ = UserId::parse(&s);
            let _ = OpenId::parse(&s);
            let _ = OutBizNo::parse(&s);
            let _ = BusinessId::parse(&s);
            let _ = UserToken::parse(&s);
        }

        #[test]
        fn valid_user_ids_round_trip(tail in "[0-9]{12}") {
            let s = format!("2088{tail}");
            let u = UserId::parse(&s).unwrap();
            prop_assert_eq!(u.as_str(), s.as_str());
        }

        #[test]
        fn parsed_ids_never_contain_separator(s in "[ -~]{1,70}") {
            for ok in [OpenId::parse(&s).is_ok(), TemplateId::parse(&s).is_ok(), BusinessId::parse(&s).is_ok(), UserToken::parse(&s).is_ok()] {
                if ok { prop_assert!(!s.contains('#')); }
            }
        }
    }
}
