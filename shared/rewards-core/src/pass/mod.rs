//! Passes: the stored record, status changes through `instance.update`, a user's passes
//! ([`reader`]).
//!
//! A pass is issued ACTIVE by a claim ([`crate::claim`]); its status then only moves forward:
//! ACTIVE→USED, ACTIVE→CLOSED, USED→CLOSED, each through `instance.update` first and the store
//! second (conditional on the status read).

mod errors;
pub mod reader;
pub(crate) mod record;
mod service;

pub use errors::PassError;
pub use reader::CHANNEL_KEY_PREFIX;
pub use record::{PassRecord, PassStatus};
pub use service::PassService;

#[cfg(test)]
mod tests;
