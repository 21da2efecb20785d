//! In-test stubs of every port (in-memory store with fault injection, gateway stubs that behave
//! like Alipay: instance.add replays by serial, cash.trigger replays by out_biz_no), and the store
//! [`contract`] every store implementation must pass. Built for the core's own tests and, with the
//! cargo feature `testkit`, for other crates' tests.
#![allow(missing_docs, dead_code, clippy::unwrap_used, clippy::expect_used)]

mod cash_gateway;
mod clock;
pub mod contract;
mod mem_store;
mod pass_gateway;
mod stub;
mod transfer_gateway;
mod world;

pub use cash_gateway::*;
pub use clock::*;
pub use mem_store::*;
pub use pass_gateway::*;
pub use stub::*;
pub use transfer_gateway::*;
pub use world::*;
