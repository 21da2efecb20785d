//! Ports: the traits the core calls. Store ports are one per aggregate and narrow; gateway ports
//! mirror the Alipay APIs with core-owned request and response types close to the Alipay fields.
//!
//! All traits use `async-trait` so that services can hold them as `Arc<dyn Port>`. Each file here
//! imports only record files (never a service), so the core's files import each other in no circle;
//! code inside the crate imports a port from its own file (`crate::ports::store::StoreError`), and
//! this module re-exports every name for the other crates.

pub mod cash_gateway;
pub mod clock;
pub mod gateway;
pub mod pass_gateway;
pub mod store;
pub mod stores;
pub mod transfer_gateway;

/// The payout ledger's store port under its old path; it sits beside its records in `payout/`.
pub mod payout_store {
    pub use crate::payout::store::PayoutStore;
}

pub use crate::campaign::status::PrizeType;
pub use crate::idempotency::store::IdempotencyStore;
pub use crate::payout::store::PayoutStore;
pub use cash_gateway::{
    CampaignCreated, CampaignDetail, CampaignPage, CampaignSummary, CashGateway,
    ListCampaignsRequest, TriggerRequest, TriggerResult,
};
pub use clock::{Clock, IdGenerator};
pub use gateway::{GatewayFailure, GatewayOutcome};
pub use pass_gateway::{
    AddTemplateRequest, FindPassRequest, IssuePassRequest, PassGateway, PassIssued, PassLookup,
    TemplateResult, UpdatePassRequest, UpdateTemplateRequest,
};
pub use store::{CasOutcome, Inserted, StoreError};
pub use stores::{
    BudgetScope, CampaignStore, ClaimBudgetStore, ClaimStore, PassStore, TemplateStore,
};
pub use transfer_gateway::{
    RefusalClass, SceneReportInfo, TransferGateway, TransferLookup, TransferOrder, TransferOutcome,
    TransferProduct, TransferReceipt, TransferRefusal, TransferStatus,
};
