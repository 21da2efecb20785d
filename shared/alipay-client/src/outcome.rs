//! The three ways a gateway call can end.

use std::fmt;

/// How a call ended. `#[must_use]`, and deliberately without `is_ok()`/`into_result()`-style helpers:
/// an [`Outcome::Unknown`] must never be mistaken for a failure (the operation may have happened) nor
/// for a success. Callers `match`.
#[must_use = "an Outcome may be Unknown: match all three variants"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The platform answered, the answer verified, and the operation succeeded.
    Success(T),
    /// Definitely not done: the platform said so in a verified answer, or the request never left.
    Failed(Failure),
    /// It may or may not have happened. Retry with the same idempotency key (for example the same
    /// `out_biz_no`) until the outcome is known.
    Unknown(UnknownReason),
}

/// The class of an [`Outcome`], for logs and metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeClass {
    /// [`Outcome::Success`].
    Success,
    /// [`Outcome::Failed`].
    Failed,
    /// [`Outcome::Unknown`].
    Unknown,
}

impl OutcomeClass {
    /// `success`, `failed` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Success => "success",
            OutcomeClass::Failed => "failed",
            OutcomeClass::Unknown => "unknown",
        }
    }
}

impl<T> Outcome<T> {
    /// Maps the success value, keeping failures and unknowns as they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Success(t) => Outcome::Success(f(t)),
            Outcome::Failed(e) => Outcome::Failed(e),
            Outcome::Unknown(u) => Outcome::Unknown(u),
        }
    }

    /// Chains a step that can itself end in any of the three outcomes.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Outcome<U>) -> Outcome<U> {
        match self {
            Outcome::Success(t) => f(t),
            Outcome::Failed(e) => Outcome::Failed(e),
            Outcome::Unknown(u) => Outcome::Unknown(u),
        }
    }

    /// The class, for logs and metrics.
    pub fn class(&self) -> OutcomeClass {
        match self {
            Outcome::Success(_) => OutcomeClass::Success,
            Outcome::Failed(_) => OutcomeClass::Failed,
            Outcome::Unknown(_) => OutcomeClass::Unknown,
        }
    }
}

/// Where a definite failure was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// A signed `error_response` from the gateway (bad signature, app id, arguments, auth code…).
    Gateway,
    /// The API's node with a `code` other than `10000` (e.g. `40004 Business Failed`).
    Business,
    /// `code=10000` but the API's own result says no: pass `success="false"`, cash
    /// `trigger_result="false"`. `error_code`/`error_msg` carry the API's reason.
    Api,
    /// The request never reached the gateway (it could not be built, or the connection could not be
    /// opened). `code` is `NOT_SENT`.
    NotSent,
}

/// A definite failure, with every reason field the platform gave, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// Where it was decided.
    pub kind: FailureKind,
    /// `code` (`40004`, …; `10000` for [`FailureKind::Api`]; `NOT_SENT` for [`FailureKind::NotSent`]).
    pub code: String,
    /// `msg`.
    pub msg: String,
    /// `sub_code`.
    pub sub_code: Option<String>,
    /// `sub_msg`.
    pub sub_msg: Option<String>,
    /// The API's own error code (pass `result.errorCode`).
    pub error_code: Option<String>,
    /// The API's own error text (cash `error_msg`, pass `result.errorMsg`).
    pub error_msg: Option<String>,
}

impl Failure {
    pub(crate) fn not_sent(msg: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::NotSent,
            code: "NOT_SENT".into(),
            msg: msg.into(),
            sub_code: None,
            sub_msg: None,
            error_code: None,
            error_msg: None,
        }
    }

    pub(crate) fn api(error_code: Option<String>, error_msg: Option<String>) -> Self {
        Self {
            kind: FailureKind::Api,
            code: "10000".into(),
            msg: "Success".into(),
            sub_code: None,
            sub_msg: None,
            error_code,
            error_msg,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.msg)?;
        if let Some(s) = &self.sub_code {
            write!(f, " / {s}")?;
        }
        if let Some(s) = &self.sub_msg {
            write!(f, " ({s})")?;
        }
        if let Some(s) = &self.error_code {
            write!(f, " errorCode={s}")?;
        }
        if let Some(s) = &self.error_msg {
            write!(f, " error_msg={s}")?;
        }
        Ok(())
    }
}

/// Why the outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownReason {
    /// The total timeout fired after the request may have been sent.
    Timeout,
    /// The connection failed after the request may have been sent (reset, closed without answer, body cut).
    Connection,
    /// A non-2xx HTTP status (5xx typically).
    HttpStatus(u16),
    /// The platform said it does not know (`20000`, `isp.*` such as `isp.unknow-error`,
    /// `aop.unknow-error`, `*SYSTEM_ERROR`, `10003` in progress, or an API-level system error).
    Platform {
        /// `code`.
        code: String,
        /// `sub_code`.
        sub_code: Option<String>,
        /// `sub_msg` (or the API's error text).
        sub_msg: Option<String>,
    },
    /// The body (or the verified content) could not be understood.
    Unparsable(String),
    /// The response's signature does not verify.
    BadSignature,
    /// The response carries no signature (its fields are not trusted).
    Unsigned {
        /// `code` as found, unverified.
        code: Option<String>,
        /// `sub_code` as found, unverified.
        sub_code: Option<String>,
    },
    /// The response failed another verification step (duplicated root, certificate SN, decryption).
    Unverified(String),
    /// Alipay's rate limit answered ([`THROTTLE_CODES`] or a [`THROTTLE_SUB_CODES`] entry): the call
    /// was not executed **now**. Never a refusal: the same request (same idempotency key) later.
    /// Only the codes are kept (no `msg`/`sub_msg`: Alipay's text is for our logs, not for callers).
    Throttled {
        /// `code` (`40005`, or the code a throttle `sub_code` came with).
        code: String,
        /// `sub_code` (or, for the pass APIs' own level, `result.errorCode`).
        sub_code: Option<String>,
    },
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownReason::Timeout => f.write_str("timeout after the request was sent"),
            UnknownReason::Connection => {
                f.write_str("connection failed after the request was sent")
            }
            UnknownReason::HttpStatus(s) => write!(f, "HTTP status {s}"),
            UnknownReason::Platform {
                code,
                sub_code,
                sub_msg,
            } => write!(
                f,
                "platform unknown state: {code} {} {}",
                sub_code.as_deref().unwrap_or(""),
                sub_msg.as_deref().unwrap_or("")
            ),
            UnknownReason::Unparsable(what) => write!(f, "unparsable response: {what}"),
            UnknownReason::BadSignature => f.write_str("response signature does not verify"),
            UnknownReason::Unsigned { code, sub_code } => write!(
                f,
                "unsigned response (code {}, sub_code {})",
                code.as_deref().unwrap_or("-"),
                sub_code.as_deref().unwrap_or("-")
            ),
            UnknownReason::Unverified(what) => write!(f, "response not verified: {what}"),
            UnknownReason::Throttled { code, sub_code } => write!(
                f,
                "throttled by Alipay's rate limit (code {code}, sub_code {}): not executed, call again later",
                sub_code.as_deref().unwrap_or("-")
            ),
        }
    }
}

/// The gateway `code`s that mean "rate limit: not now": `40005` Call Limited / 调用频次超限
/// (reference: alipay-protocol.md §2.3, the generic code table).
pub const THROTTLE_CODES: &[&str] = &["40005"];

/// The `sub_code`s that mean "rate limit: not now", under any `code`: `RESOURCE_LIMIT_EXCEED`
/// (reference: alipay-api-currency.md §3.4, "not done, retry later … lower concurrency", and its
/// §7 "Still open": "per-API QPS limits (`RESOURCE_LIMIT_EXCEED` exists)"). Matched without regard to
/// case, `-` for `_`, and a dotted prefix (`aop.RESOURCE_LIMIT_EXCEED`). Deliberately no wildcard
/// such as `*LIMIT*`: `EXCEED_LIMIT_SM_AMOUNT` or `PERMIT_CHECK_RECEIVE_LIMIT` are a payee's
/// definite limits, not a rate.
pub const THROTTLE_SUB_CODES: &[&str] = &["RESOURCE_LIMIT_EXCEED"];

/// True when `code`/`sub_code` are Alipay's rate limit ([`THROTTLE_CODES`], [`THROTTLE_SUB_CODES`]).
pub fn is_throttle(code: &str, sub_code: Option<&str>) -> bool {
    THROTTLE_CODES.contains(&code) || sub_code.is_some_and(is_throttle_sub_code)
}

/// True when `sub_code` is one of [`THROTTLE_SUB_CODES`] (normalised as documented there).
pub fn is_throttle_sub_code(sub_code: &str) -> bool {
    let norm = sub_code.trim().to_ascii_uppercase().replace('-', "_");
    let last = norm.rsplit('.').next().unwrap_or(&norm);
    THROTTLE_SUB_CODES.contains(&last)
}

/// True when `code`/`sub_code` mean "the platform does not know": 20000, 10003, `isp.*`,
/// `aop.unknow-error`, or any sub_code ending in `SYSTEM_ERROR` (`aop.ACQ.SYSTEM_ERROR`, `X.SYSTEM-ERROR`).
pub(crate) fn is_platform_unknown(code: &str, sub_code: Option<&str>) -> bool {
    if code == "20000" || code == "10003" {
        return true;
    }
    let Some(sub) = sub_code else { return false };
    let norm = sub.to_ascii_uppercase().replace('-', "_");
    sub.starts_with("isp.")
        || sub == "aop.unknow-error"
        || norm.ends_with("SYSTEM_ERROR")
        || norm.ends_with("UNKNOW_ERROR")
        || norm.ends_with("UNKNOWN_ERROR")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes() {
        assert!(is_platform_unknown("20000", None));
        assert!(is_platform_unknown("40004", Some("isp.unknow-error")));
        assert!(is_platform_unknown("40004", Some("aop.unknow-error")));
        assert!(is_platform_unknown("40004", Some("aop.ACQ.SYSTEM_ERROR")));
        assert!(is_platform_unknown("40004", Some("CAMP.SYSTEM_ERROR")));
        assert!(!is_platform_unknown("40004", Some("isv.invalid-signature")));
        assert!(!is_platform_unknown("40002", None));
    }

    #[test]
    fn map_keeps_the_class() {
        let u: Outcome<u8> = Outcome::Unknown(UnknownReason::Timeout);
        assert_eq!(u.map(|x| x + 1).class(), OutcomeClass::Unknown);
        let f: Outcome<u8> = Outcome::Failed(Failure::not_sent("x"));
        assert_eq!(
            f.and_then(|x| Outcome::Success(x + 1)).class(),
            OutcomeClass::Failed
        );
        assert_eq!(Outcome::Success(1u8).map(|x| x + 1), Outcome::Success(2));
    }
}
