//! The platform's string-to-sign rule, shared by requests and notifications.

use std::fmt;
use std::str::FromStr;

/// The signature algorithm named by `sign_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignType {
    /// `RSA2`: SHA256withRSA (PKCS#1 v1.5). The only one new apps get.
    Rsa2,
    /// `RSA`: SHA1withRSA. Legacy; verification only, and only where configuration allows it.
    Rsa,
}

impl SignType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Rsa2 => "RSA2",
            SignType::Rsa => "RSA",
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `sign_type` value that is neither `RSA2` nor `RSA` (for example `SM2`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sign_type (only RSA2, and RSA where allowed)")]
pub struct UnsupportedSignType;

impl FromStr for SignType {
    type Err = UnsupportedSignType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RSA2" => Ok(SignType::Rsa2),
            "RSA" => Ok(SignType::Rsa),
            _ => Err(UnsupportedSignType),
        }
    }
}

/// Builds the string to sign from parameters as they are transmitted (decoded, never URL-encoded):
/// every pair whose key is in neither `excluded` nor empty and whose value is not empty, sorted by key
/// (byte order), joined as `k=v` with `&`.
///
/// Requests exclude `sign`; V1 notifications exclude `sign` and `sign_type`; V2 only `sign`.
/// Keys are expected to be unique (the callers' parameter types guarantee it).
pub fn string_to_sign<'a, I>(params: I, excluded: &[&str]) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut kept: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !excluded.contains(k))
        .collect();
    kept.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let len = kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (k, v)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_drops_empty_and_excluded() {
        let params = [
            ("b", "2"),
            ("a", "1"),
            ("sign", "x"),
            ("", "v"),
            ("e", ""),
            ("c", "中 文"),
        ];
        assert_eq!(string_to_sign(params, &["sign"]), "a=1&b=2&c=中 文");
    }

    #[test]
    fn sign_type_round_trips() {
        for t in [SignType::Rsa2, SignType::Rsa] {
            assert_eq!(t.as_str().parse::<SignType>(), Ok(t));
        }
        assert!("SM2".parse::<SignType>().is_err());
    }
}
