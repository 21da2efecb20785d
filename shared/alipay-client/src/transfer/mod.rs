//! The transfer rail (现金红包 / 单笔转账): `alipay.fund.trans.uni.transfer`,
//! `alipay.fund.trans.common.query`, the `alipay.fund.trans.order.changed` notification's content
//! ([`OrderChanged`]) and the one table that classifies every documented error code of the two APIs
//! ([`CODE_TABLE`], [`classify`]).
//!
//! Field names follow the public SDK models (see docs/protocol.md, "Transfer rail", for which field
//! is verified against which source). Amounts are [`AmountFen`](crate::AmountFen) here and yuan strings on the wire.
//!
//! One file per concern: the two APIs (`order.rs`), the notification's content
//! (`order_changed.rs`), the classification table (`codes.rs`). Every item is re-exported here, so
//! `alipay_client::transfer::…` paths are those of the single file this module used to be.

mod codes;
mod order;
mod order_changed;

pub use codes::*;
pub use order::*;
pub use order_changed::*;
