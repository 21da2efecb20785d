//! # alipay-client
//!
//! The one way this project talks to the Alipay gateway (`gateway.do`, OpenAPI 2.0).
//!
//! - [`AlipayClient`]: built once from a [`ClientConfig`] and cloned cheaply (one reqwest client, one
//!   connection pool, keys shared through `Arc`). Its single generic [`AlipayClient::execute`] signs a
//!   request with `alipay-protocol`, POSTs the form to `gateway?query`, verifies the response signature
//!   and decodes the API's answer.
//! - [`ApiRequest`]: one small typed request per API, grouped by family in [`pass`], [`cash`],
//!   [`transfer`], [`oauth`] and [`alipaycert`] (certificate mode). Adding an API is a struct, a
//!   response type and a few lines of trait impl.
//! - [`Outcome`]: every call ends in **success**, **definite failure** or **unknown**. There is
//!   deliberately no helper that folds unknown into failure: code that moves money must `match`.
//! - [`AmountFen`] (from `alipay-units`): amounts are integer fen; yuan strings (`"2.00"`) exist only
//!   on the wire.
//!
//! ```no_run
//! use std::sync::Arc;
//! use alipay_client::{AlipayClient, ClientConfig, Keys, Outcome, cash::CashTrigger, cash::TriggerUser};
//! use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
//! # async fn demo(app_pem: &str, alipay_pem: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = Keys::new(AppPrivateKey::from_text(app_pem)?, AlipayPublicKey::from_text(alipay_pem)?);
//! let client = AlipayClient::new(ClientConfig::new("2021000000000001", "https://openapi.alipay.com/gateway.do", keys))?;
//! let trigger = CashTrigger {
//!     crowd_no: "CROWD1".into(),
//!     user: TriggerUser::UserId("2088000000000001".into()),
//!     out_biz_no: Some("points_exchange_42".into()),
//!     order_price: None,
//! };
//! match client.execute(&trigger).await {
//!     Outcome::Success(sent) => println!("paid {}", sent.prize_amount),
//!     Outcome::Failed(failure) => println!("not paid: {failure}"),
//!     Outcome::Unknown(reason) => println!("retry later with the same out_biz_no: {reason}"),
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod alipaycert;
mod api;
pub mod cash;
pub mod cert;
mod client;
mod config;
mod de;
mod notification;
pub mod oauth;
mod outcome;
pub mod pass;
pub mod transfer;

pub use alipay_units::{AmountError, AmountFen};
pub use api::ApiRequest;
pub use cert::AlipayKeyError;
pub use client::{classify, AlipayClient, CallBudget, ClientBuildError};
pub use config::{CertMode, ClientConfig, Keys, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use notification::NotificationError;
pub use outcome::{
    is_throttle, is_throttle_sub_code, Failure, FailureKind, Outcome, OutcomeClass, UnknownReason,
    THROTTLE_CODES, THROTTLE_SUB_CODES,
};
