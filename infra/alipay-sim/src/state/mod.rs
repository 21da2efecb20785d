//! The simulator's state and business rules, one file per API family. Pure: no I/O, the clock is
//! passed in.

use std::collections::{BTreeMap, HashMap};

mod cash;
mod helpers;
mod oauth;
mod passes;
mod reply;
#[cfg(test)]
mod tests;
mod transfer;
mod trigger;

pub use cash::{Campaign, Payout};
pub use helpers::{parse_yuan, yuan};
pub use passes::{template_vars, Pass, Template, UserToken};
pub use reply::{Biz, Reply};
pub use transfer::{
    Notice, Payer, TransferOrder, PAYEE_FROZEN_USER_ID, PAYEE_NOT_EXIST_OPEN_ID,
    PAYEE_NOT_EXIST_USER_ID,
};

use cash::TriggerRecord;
use helpers::hex_digest;

/// Everything the simulator remembers for its lifetime.
#[derive(Debug, Default)]
pub struct State {
    app_id: String,
    seq: u64,
    templates: BTreeMap<String, Template>,
    templates_by_unique: HashMap<String, String>,
    passes: Vec<Pass>,
    serials: HashMap<(String, String), usize>,
    tokens: HashMap<String, UserToken>,
    campaigns: BTreeMap<String, Campaign>,
    campaign_order: Vec<String>,
    triggers: HashMap<(String, String), TriggerRecord>,
    payouts: Vec<Payout>,
    auth_codes: HashMap<String, String>,
    refresh_tokens: HashMap<String, String>,
    open_ids: HashMap<String, String>,
    transfers: HashMap<String, TransferOrder>,
    transfer_order: Vec<String>,
}

/// The platform's `out_biz_no` when the trigger gives none.
pub const DEFAULT_OUT_BIZ_NO: &str = "default_out_biz_no";
/// The simulator's merchant pid, reported as `partner_id`.
pub const PARTNER_ID: &str = "2088000000000000";

impl State {
    /// Empty state for `app_id`.
    pub fn new(app_id: &str) -> Self {
        Self {
            app_id: app_id.to_string(),
            ..Default::default()
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn token_text(&mut self, prefix: &str, salt: &str) -> String {
        let n = self.next();
        let digest = hex_digest(&[prefix, salt, &n.to_string(), &self.app_id]);
        format!("{prefix}{}", &digest[..24])
    }

    /// The open id this app sees for `user_id` (deterministic), remembered for `cash.trigger`.
    pub fn open_id_for(&mut self, user_id: &str) -> String {
        let open_id = format!(
            "0{}",
            &hex_digest(&["open_id", &self.app_id, user_id])[..45]
        );
        self.open_ids.insert(open_id.clone(), user_id.to_string());
        open_id
    }

    fn user_for_login(login_id: &str) -> String {
        let digest = hex_digest(&["login_id", login_id]);
        let digits: String = digest
            .bytes()
            .filter(u8::is_ascii_digit)
            .chain(std::iter::repeat(b'0'))
            .take(12)
            .map(char::from)
            .collect();
        format!("2088{digits}")
    }
}
