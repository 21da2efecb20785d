//! The money path's timing and retry budget, and the check that our own calls never overlap.

use std::time::Duration;

/// How much longer than the Alipay client's total timeout a PENDING lease must be: room for the
/// process to start the call late and for clock skew between execution environments.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// A [`SendConfig`] that would let two of our own calls for one out_biz_no overlap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the payout lease ({lease_ms} ms, PAYOUT_LEASE_MS) must exceed the Alipay client timeout \
     ({timeout_ms} ms, ALIPAY_TIMEOUT_MS) plus {margin_ms} ms, or a lease could be taken over while \
     its call is still in flight and the same out_biz_no would be sent twice at once"
)]
pub struct LeaseTooShort {
    /// The configured lease.
    pub lease_ms: u128,
    /// The Alipay client's total timeout.
    pub timeout_ms: u128,
    /// [`LEASE_MARGIN`].
    pub margin_ms: u128,
}

/// Timing and budget of the money path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendConfig {
    /// PENDING lease (default 30 s; must exceed a trigger call with its timeouts, see [`Self::check`]).
    pub lease: Duration,
    /// First backoff after an unknown outcome (default 30 s).
    pub backoff_base: Duration,
    /// Backoff cap (default 1 h); entries past their budget are probed at this interval.
    pub backoff_cap: Duration,
    /// Trigger calls per out_biz_no before NEEDS_ATTENTION (default 10).
    pub max_attempts: u32,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            max_attempts: 10,
        }
    }
}

impl SendConfig {
    /// Backoff after `attempts` calls: `base * 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let d = self.backoff_base.saturating_mul(1u32 << exp);
        d.min(self.backoff_cap)
    }

    /// Refuses a lease that does not exceed `alipay_timeout` + [`LEASE_MARGIN`].
    ///
    /// # Errors
    /// [`LeaseTooShort`], whose text names both settings.
    pub fn check(&self, alipay_timeout: Duration) -> Result<(), LeaseTooShort> {
        if self.lease > alipay_timeout.saturating_add(LEASE_MARGIN) {
            Ok(())
        } else {
            Err(LeaseTooShort {
                lease_ms: self.lease.as_millis(),
                timeout_ms: alipay_timeout.as_millis(),
                margin_ms: LEASE_MARGIN.as_millis(),
            })
        }
    }
}
