//! # alipay-units
//!
//! The two units every crate of this workspace shares, defined once:
//! - [`AmountFen`]: money in integer fen, never negative, never a float; Alipay's yuan strings
//!   (`"2.00"`) are parsed and written only at the wire ([`yuan`] for serde fields that carry them).
//! - [`Timestamp`]: a point in time in epoch milliseconds; Alipay's `yyyy-MM-dd HH:mm:ss` Beijing-time
//!   text (UTC+8 whatever the host's zone) is parsed and written only at the edges, with
//!   [`BEIJING`] and [`BEIJING_FORMAT`] the one definition of that text.
//!
//! The gateway simulator keeps its own money and time code on purpose: it is an independent oracle.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod money;
mod timestamp;

pub use money::{yuan, AmountError, AmountFen};
pub use timestamp::{BadDate, Timestamp, BEIJING, BEIJING_FORMAT};
