//! Serde glue: lenient deserializers for fields the platform sends as strings, numbers or
//! booleans, and the `ApiRequest` of the APIs whose `biz_content` is the request itself.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Implements `ApiRequest` for a request whose `biz_content` is the request itself, as JSON with
/// its fields' own names; `finish` reads a `code=10000` answer.
macro_rules! json_biz_api {
    ($request:ty: $method:literal, $response:ty => $output:ty, $finish:expr) => {
        impl $crate::api::ApiRequest for $request {
            const METHOD: &'static str = $method;
            type Response = $response;
            type Output = $output;
            fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
                $crate::api::json(self)
            }
            fn finish(node: $response) -> $crate::outcome::Outcome<$output> {
                let finish: fn($response) -> $crate::outcome::Outcome<$output> = $finish;
                finish(node)
            }
        }
    };
}
pub(crate) use json_biz_api;

fn scalar_text(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// `"x"`, `1`, `true` or null/absent → `Option<String>`.
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(scalar_text))
}

/// Like [`opt_text`] but an empty string is `None`.
pub(crate) fn opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_text(d)?.filter(|s| !s.is_empty()))
}

/// `"true"`/`true` → true; anything else (absent, `"false"`, garbage) → false.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(
        opt_text(d)?.as_deref().map(str::trim),
        Some("true") | Some("TRUE") | Some("True")
    ))
}

/// A JSON value that may arrive embedded as a JSON string (`"{\"a\":1}"`) or as the value itself.
pub(crate) fn embedded_json(v: Value) -> Result<Value, String> {
    match v {
        Value::String(s) => serde_json::from_str(&s).map_err(|e| format!("embedded JSON: {e}")),
        other => Ok(other),
    }
}

/// Parses `"12"`/`12` into an integer.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match opt_text(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("not an unsigned integer")),
    }
}

/// An optional yuan string → `Option<AmountFen>` (empty → None).
pub(crate) fn opt_fen<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::AmountFen>, D::Error> {
    match opt_text(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => crate::AmountFen::parse_yuan(s.trim())
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}
