//! The contract of one gateway API ([`ApiRequest`]), which every API family implements and the
//! generic `execute` of [`crate::AlipayClient`] runs.

use serde::de::DeserializeOwned;

use crate::outcome::Outcome;

/// One gateway API: its name, its parameters and how its verified answer becomes an [`Outcome`].
///
/// `execute` has already checked the signature and `code == "10000"` (anything else is a failure or
/// unknown) before [`ApiRequest::finish`] sees the parsed response node.
pub trait ApiRequest {
    /// The API name, e.g. `alipay.pass.instance.add`.
    const METHOD: &'static str;
    /// The response node (`<method>_response`), as far as this API reads it.
    type Response: DeserializeOwned;
    /// What a success yields.
    type Output;
    /// `biz_content` JSON text, or `None` for APIs without one. Keys are written exactly as the API
    /// names them; nothing renames them.
    ///
    /// # Errors
    /// A serialization error (the request is then not sent).
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error>;
    /// Other top-level parameters (`grant_type`, `code`, `notify_url`, …).
    fn params(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Reads the API-level result of a `code=10000` answer.
    fn finish(response: Self::Response) -> Outcome<Self::Output>;
}

/// `biz_content` helper: compact JSON of a serializable value.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<Option<String>, serde_json::Error> {
    serde_json::to_string(value).map(Some)
}
