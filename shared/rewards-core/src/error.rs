//! Error classification shared by every service error.

use crate::ports::{GatewayFailure, GatewayOutcome, StoreError};
use serde::Serialize;

/// What kind of failure an error is; thin handlers map it to an HTTP status and problem+json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is malformed (400).
    BadInput,
    /// The caller's credential was refused (401).
    Unauthorized,
    /// The caller is known but may not do this (403).
    Forbidden,
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
            ErrorKind::Forbidden => 403,
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
    /// How long a caller should wait before trying again (the `Retry-After` of a 429); none by
    /// default.
    fn retry_after(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Implements [`DomainError`] for a service error from one table, a row per variant with its code
/// and kind. `gateway: Variant;` hands both to the wrapped [`GatewayError`] and gives `?` a
/// `From<GatewayError>`; `store: Variant;` hands both to the wrapped [`StoreError`]. Further trait
/// methods (`extensions`, `retry_after`) follow in braces.
macro_rules! domain_error {
    (
        $ty:ident {
            $($pat:pat => $code:expr, $kind:expr;)*
        }
        $(gateway: $gateway:ident;)?
        $(store: $store:ident;)?
        $({ $($more:tt)* })?
    ) => {
        $(
            impl From<$crate::error::GatewayError> for $ty {
                fn from(e: $crate::error::GatewayError) -> Self {
                    $ty::$gateway(e)
                }
            }
        )?
        impl $crate::error::DomainError for $ty {
            // A row's bindings may serve its code and not its kind.
            #[allow(unused_variables)]
            fn code(&self) -> &'static str {
                match self {
                    $($pat => $code,)*
                    $($ty::$gateway(e) => e.code(),)?
                    $($ty::$store(e) => e.code(),)?
                }
            }
            #[allow(unused_variables)]
            fn kind(&self) -> $crate::error::ErrorKind {
                match self {
                    $($pat => $kind,)*
                    $($ty::$gateway(e) => e.kind(),)?
                    $($ty::$store(e) => e.kind(),)?
                }
            }
            $($($more)*)?
        }
    };
}
pub(crate) use domain_error;

/// Why a gateway call gave no result, the same for every service: Alipay refused it, or its
/// outcome is not known (retrying with the same idempotency key is safe). Services carry it as one
/// variant and reach it with `?` through [`GatewayOutcome::into_result`]; the money path matches
/// the outcome explicitly instead, since what it records differs per arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// Processed and definitely refused.
    Rejected(GatewayFailure),
    /// Not known; the string is a diagnostic (no secrets).
    Unknown(String),
    /// Alipay's rate limit answered: not executed now; the same request later is safe.
    Throttled(String),
}

impl GatewayError {
    /// The service's text for it: `refused` and Alipay's reason, or the unknown outcome.
    pub fn describe(&self, refused: &str) -> String {
        match self {
            GatewayError::Rejected(f) => format!("{refused}: {}", f.reason()),
            GatewayError::Unknown(m) => format!("the Alipay outcome is unknown: {m}"),
            GatewayError::Throttled(m) => format!("Alipay is busy: {m}"),
        }
    }

    /// `alipay_rejected`, `alipay_unavailable` or `alipay_busy`.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::Rejected(_) => "alipay_rejected",
            GatewayError::Unknown(_) => "alipay_unavailable",
            GatewayError::Throttled(_) => "alipay_busy",
        }
    }

    /// A refusal is final for this request (422); an unknown outcome or Alipay's rate limit is
    /// worth retrying (503).
    pub fn kind(&self) -> ErrorKind {
        match self {
            GatewayError::Rejected(_) => ErrorKind::Unprocessable,
            GatewayError::Unknown(_) | GatewayError::Throttled(_) => ErrorKind::Unavailable,
        }
    }
}

impl<T> GatewayOutcome<T> {
    /// The result, or why there is none.
    ///
    /// # Errors
    /// [`GatewayError`] for a refusal or an unknown outcome.
    pub fn into_result(self) -> Result<T, GatewayError> {
        match self {
            GatewayOutcome::Success(t) => Ok(t),
            GatewayOutcome::Failed(f) => Err(GatewayError::Rejected(f)),
            GatewayOutcome::Unknown(m) => Err(GatewayError::Unknown(m)),
            GatewayOutcome::Throttled(m) => Err(GatewayError::Throttled(m)),
        }
    }
}

impl StoreError {
    /// `store_unavailable` or `store_corrupt`.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }

    /// Unavailable is worth retrying (503); corrupt data is a bug to look at (500).
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Corrupt(_) => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_outcome_becomes_a_result_with_one_classification() {
        assert_eq!(GatewayOutcome::Success(7).into_result(), Ok(7));
        let refused = GatewayFailure {
            code: "40004".into(),
            sub_msg: Some("no".into()),
            ..Default::default()
        };
        // Each failed outcome: its code, kind and description.
        let cases = [
            (
                GatewayOutcome::<()>::Failed(refused),
                "Alipay refused the update",
            ),
            (GatewayOutcome::<()>::Unknown("timeout".into()), "-"),
            (GatewayOutcome::<()>::Throttled("40005".into()), "-"),
        ];
        let seen: Vec<_> = cases
            .into_iter()
            .map(|(outcome, context)| {
                let error = outcome.into_result().unwrap_err();
                (error.code(), error.kind(), error.describe(context))
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "alipay_rejected",
                    ErrorKind::Unprocessable,
                    "Alipay refused the update: no".to_owned()
                ),
                (
                    "alipay_unavailable",
                    ErrorKind::Unavailable,
                    "the Alipay outcome is unknown: timeout".to_owned()
                ),
                (
                    "alipay_busy",
                    ErrorKind::Unavailable,
                    "Alipay is busy: 40005".to_owned()
                ),
            ]
        );
        let store = [
            StoreError::Unavailable("x".into()),
            StoreError::Corrupt("x".into()),
        ];
        let seen: Vec<_> = store
            .iter()
            .map(|e| (e.code(), e.kind().http_status()))
            .collect();
        assert_eq!(seen, [("store_unavailable", 503), ("store_corrupt", 500)]);
    }
}
