//! # rewards-aws
//!
//! AWS adapters for `rewards-core`:
//! - [`store::DynamoStore`]: every store port on one DynamoDB table (`pk`/`sk` + GSIs `gsi1`, `gsi2`), with
//!   conditional writes and `TransactWriteItems` ([`table::create_table`] creates the table).
//! - [`keys::KeyProvider`]: the Alipay keys from a Secrets Manager secret, read once and cached.
//! - [`config::Config`]: settings from the environment; [`config::sdk_config`] for the AWS clients.
//! - [`runtime::SystemClock`], [`runtime::RandomIds`]: the clock and id ports for production.
//! - `testing` (cargo feature `testing`): a real moto server as a child process for tests.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod budget;
pub mod config;
pub mod keys;
pub mod runtime;
pub mod store;
pub mod table;

#[cfg(feature = "testing")]
pub mod testing;

pub use budget::{BudgetedHttpClient, CallBudget};
pub use config::{sdk_config, sdk_config_within, Config, ConfigError};
pub use keys::{AlipayKeys, KeyProvider, KeyProviderError};
pub use runtime::{RandomIds, SystemClock};
pub use store::DynamoStore;
pub use table::{create_table, create_table_shaped, IndexShape, TableShape};
