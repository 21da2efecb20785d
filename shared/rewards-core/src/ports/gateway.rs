//! The three-way outcome of a gateway call, and Alipay's definite refusal.

use serde::{Deserialize, Serialize};

/// A definite business failure reported by Alipay (the call was processed and refused).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GatewayFailure {
    /// Gateway `code` (e.g. `40004`).
    pub code: String,
    /// Gateway `sub_code` (e.g. `ACQ.xxx`), when given.
    pub sub_code: Option<String>,
    /// Gateway `sub_msg`, verbatim.
    pub sub_msg: Option<String>,
    /// A business-level error text (e.g. trigger's `error_msg`, pass `result.errorMsg`), verbatim.
    pub error_msg: Option<String>,
}

impl GatewayFailure {
    /// The most specific human text: `error_msg`, else `sub_msg`, else the code.
    pub fn reason(&self) -> String {
        self.error_msg
            .clone()
            .or_else(|| self.sub_msg.clone())
            .unwrap_or_else(|| self.code.clone())
    }
}

/// The outcome of a gateway call. `Unknown` means the request may or may not have been
/// processed (timeout, connection reset after send, 5xx, `isp.unknow-error`, `*SYSTEM_ERROR`,
/// unverifiable or unparsable answer): the caller must retry with the same idempotency key, never
/// treat it as a failure. `Throttled` is Alipay's rate limit answering "not now": for money it is
/// handled exactly as `Unknown` (nothing freed, the same key later); it differs only in what the
/// caller is told (`alipay_busy`) and in never counting against a failure or retry budget.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayOutcome<T> {
    /// Processed and succeeded.
    Success(T),
    /// Processed and definitely refused.
    Failed(GatewayFailure),
    /// Not known; the string is a diagnostic (no secrets).
    Unknown(String),
    /// Alipay's rate limit answered (code `40005` or a throttle sub_code): not executed now, to be
    /// made again later with the same idempotency key. The string is a diagnostic (codes only).
    Throttled(String),
}
