//! What the gateway stubs share: a fault to inject, the state behind one lock.

use crate::ports::*;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GwFault {
    /// Not processed; answer unknown (timeout before Alipay saw it).
    UnknownBefore,
    /// Processed; answer lost.
    UnknownAfter,
    /// Definite refusal (for an out_biz_no Alipay has not seen; a known one is replayed).
    Refuse,
    /// Definite refusal even for an out_biz_no Alipay already paid: the platform checked the
    /// campaign before replaying (a paused campaign, say).
    RefuseBeforeReplay,
    /// Alipay's rate limit (`40005`): not executed, answered `Throttled`.
    Throttle,
}

/// A stub of one family of Alipay APIs: its state behind one lock, taken once by every call and by
/// every test's look at it.
#[derive(Default)]
pub struct Stub<S>(pub(super) Mutex<S>);

impl<S> Stub<S> {
    pub(super) fn state(&self) -> MutexGuard<'_, S> {
        self.0.lock().unwrap()
    }
}

/// The refusal every injected `Refuse` fault answers.
pub(super) fn refusal() -> GatewayFailure {
    GatewayFailure {
        code: "40004".into(),
        sub_code: Some("INJECTED_REFUSAL".into()),
        sub_msg: Some("refused".into()),
        error_msg: None,
    }
}
