//! Error classification shared by every service error.

use serde::Serialize;

/// What kind of failure an error is; thin handlers map it to an HTTP status and problem+json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is malformed (400).
    BadInput,
    /// The caller's credential was refused (401).
    Unauthorized,
    /// The thing named does not exist (404).
    NotFound,
    /// The request collides with state or with a request still running (409).
    Conflict,
    /// Well-formed but not acceptable in the current state (422).
    Unprocessable,
    /// Over a budget; retry after the time the error says (429).
    TooManyRequests,
    /// A dependency is unavailable or the outcome is not known yet; retrying is safe (503).
    Unavailable,
    /// A dependency answered with something unusable (502).
    BadGateway,
    /// A bug or corrupt data (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status a handler should answer with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadInput => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unprocessable => 422,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::BadGateway => 502,
            ErrorKind::Internal => 500,
        }
    }
}

/// Implemented by every service error: a stable machine-readable code and a kind.
pub trait DomainError: std::error::Error {
    /// A stable `snake_case` code (never changes meaning; part of the API).
    fn code(&self) -> &'static str;
    /// The class of the failure.
    fn kind(&self) -> ErrorKind;
    /// Members a problem+json answer carries beside `code` and `detail` (e.g. every validation
    /// issue with its JSON pointer); none by default.
    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}
