//! # rewards-app
//!
//! The composition root every function shares: [`App::load`] reads the configuration, builds the
//! DynamoDB store once per execution environment; [`App::alipay`] loads the keys from Secrets Manager
//! (only functions that call Alipay do, and only they are granted the secret) and builds the client;
//! the `*_service` methods assemble the domain services. [`serve_http`] is the tail of
//! every HTTP function's `main`.
//!
//! Deadlines: every outbound call is bounded by what is left of the current invocation
//! ([`lambda_http_kit::deadline`]): AWS calls keep [`AWS_RESERVE`] for the answer, Alipay calls keep
//! [`ALIPAY_RESERVE`] to record their outcome and answer. Keys and secrets are read on first use
//! ([`OnFirstUse`]), inside an invocation, so a hanging Secrets Manager ends in a 503 too.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod app;
mod config;
mod serve;

pub use app::{Alipay, App, ALIPAY_RESERVE, AWS_RESERVE};
pub use config::{StartupError, DEFAULT_TRANSFER_CAP};
pub use serve::{
    ready_on_first_use, serve_http, serve_http_and_events, OnFirstUse, INIT_WARM_BUDGET,
};
