//! `rewardsctl`: the operator CLI of the rewards backend.
//!
//! Talks to the HTTP API (`--endpoint`, `REWARDS_API`, default the local stack of `make dev`, or
//! `--stack NAME` to read the API from the CloudFormation stack), signing every call with SigV4
//! from the standard AWS credential chain. `template validate` works offline with the server's own
//! rules. Tables for people, `--json` for scripts; errors are one line with the server's problem
//! `code` and what to do. Exit codes: 0 done, 1 refused, 2 usage, 3 unavailable (see `error`).

mod api;
mod commands;
mod doctor;
mod error;
mod output;
mod spans;
mod target;
mod validate;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// The operator CLI: pass templates, passes, cash campaigns, envelopes, the payout ledger, and a
/// doctor for the deployment.
#[derive(Debug, Parser)]
#[command(
    name = "rewardsctl",
    version,
    about,
    after_help = "Exit codes: 0 done; 1 refused (invalid input, a 4xx answer, a failed doctor check); \
2 usage; 3 unavailable (the API or AWS could not be reached or answered 5xx; safe to retry)."
)]
pub struct Cli {
    /// The HTTP API base URL.
    #[arg(
        long,
        global = true,
        env = "REWARDS_API",
        value_name = "URL",
        conflicts_with = "stack"
    )]
    pub endpoint: Option<String>,
    /// Read the API URL (and for doctor the table, secret, app id, gateway) from this
    /// CloudFormation stack's outputs and parameters.
    #[arg(long, global = true, value_name = "NAME")]
    pub stack: Option<String>,
    /// AWS region (default: the SDK's, from AWS_REGION or the profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile (default: the standard chain: environment, AWS_PROFILE, SSO, …).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Print the API's JSON instead of tables (errors: {"error": …} on stdout too).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pass templates (pass.json).
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Issued passes.
    #[command(subcommand)]
    Pass(PassCmd),
    /// Cash red envelope campaigns.
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// Cash red envelopes (one per reason and business id).
    #[command(subcommand)]
    Envelope(EnvelopeCmd),
    /// The payout ledger.
    #[command(subcommand)]
    Payouts(PayoutsCmd),
    /// Check the keys, certificates, table, gateway and API of the deployment.
    Doctor(DoctorArgs),
}

/// Template commands.
#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// Check a template file offline with the server's rules (exit 1 when invalid).
    Validate {
        /// A pass.json (or `{"logo","content":…}`), optionally with `paramRules`.
        file: String,
        /// The callback URL templates must carry (default: <endpoint>/alipay/pass-callback, or
        /// the stack's PassCallbackUrl with --stack).
        #[arg(long, value_name = "URL")]
        callback_url: Option<String>,
        /// The deployment's default logo (template parameter DefaultPassLogoUrl), used when the
        /// file brings neither `logo` nor `icon`, as the server does.
        #[arg(long, value_name = "URL", env = "REWARDS_DEFAULT_LOGO")]
        default_logo: Option<String>,
    },
    /// Create a template (alipay.pass.template.add).
    Create {
        /// The template file.
        file: String,
    },
    /// List templates.
    List,
    /// Show one template.
    Show {
        /// Template id.
        id: String,
    },
    /// Update a template (alipay.pass.template.update).
    Update {
        /// Template id.
        id: String,
        /// The template file.
        file: String,
    },
}

/// Pass commands.
#[derive(Debug, Subcommand)]
pub enum PassCmd {
    /// Show one pass.
    Show {
        /// Pass id.
        pass_id: String,
    },
    /// Mark a pass used.
    Use {
        /// Pass id.
        pass_id: String,
    },
    /// Close a pass.
    Close {
        /// Pass id.
        pass_id: String,
    },
}

/// Campaign commands.
#[derive(Debug, Subcommand)]
pub enum CampaignCmd {
    /// Create a campaign from flags or a JSON file (POST /campaigns body); prints the pay URL and a QR code.
    Create(CampaignCreate),
    /// List campaigns.
    List,
    /// Show a campaign (refreshed from Alipay), its pay URL and a QR code to pay it.
    Show {
        /// Crowd number.
        crowd_no: String,
        /// Do not print the QR code.
        #[arg(long)]
        no_qr: bool,
    },
    /// Pause a campaign.
    Pause {
        /// Crowd number.
        crowd_no: String,
    },
    /// Resume a paused campaign.
    Resume {
        /// Crowd number.
        crowd_no: String,
    },
    /// Close a campaign (final).
    Close {
        /// Crowd number.
        crowd_no: String,
    },
}

/// The prize type.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PrizeType {
    /// Every envelope the same amount.
    Fixed,
    /// Random shares of the budget.
    Random,
}

/// `campaign create`.
#[derive(Debug, Args)]
pub struct CampaignCreate {
    /// A JSON file with the whole body (couponName, prizeType, totalMoney, …); flags are then not used.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "total", "count"])]
    pub file: Option<String>,
    /// couponName.
    #[arg(long, required_unless_present = "file")]
    pub name: Option<String>,
    /// Total budget in yuan, e.g. 20.00.
    #[arg(long, value_name = "YUAN", required_unless_present = "file")]
    pub total: Option<String>,
    /// Number of envelopes.
    #[arg(long, required_unless_present = "file")]
    pub count: Option<u32>,
    /// Fixed or random amounts.
    #[arg(long, value_enum, default_value = "fixed")]
    pub prize_type: PrizeType,
    /// prizeMsg shown to the user.
    #[arg(long, default_value = "恭喜发财")]
    pub message: String,
    /// Start (Beijing `yyyy-MM-dd HH:mm:ss`) or NowTime.
    #[arg(long, default_value = "NowTime")]
    pub start: String,
    /// End (Beijing `yyyy-MM-dd HH:mm:ss`); default: now + --days.
    #[arg(long)]
    pub end: Option<String>,
    /// Days from now to the end, when --end is not given.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// merchantLink: where the cashier returns after paying.
    #[arg(long, default_value = "https://www.alipay.com")]
    pub link: String,
    /// sendFrequency, e.g. D1|L5.
    #[arg(long)]
    pub frequency: Option<String>,
    /// Do not print the QR code.
    #[arg(long)]
    pub no_qr: bool,
}

/// The reason for an envelope.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Reason {
    /// points_exchange.
    #[value(name = "points_exchange")]
    PointsExchange,
    /// referral.
    Referral,
}

/// Envelope commands.
#[derive(Debug, Subcommand)]
pub enum EnvelopeCmd {
    /// Send one envelope (at most once per reason and business id).
    Send(EnvelopeSend),
    /// Show one ledger entry.
    Show {
        /// outBizNo.
        out_biz_no: String,
    },
    /// A recipient's ledger entries.
    List {
        /// Alipay user id (2088…) or open id.
        #[arg(long)]
        user: String,
    },
}

/// `envelope send`.
#[derive(Debug, Args)]
pub struct EnvelopeSend {
    /// Why the envelope is sent.
    #[arg(long, value_enum)]
    pub reason: Reason,
    /// The business id (points order, referral, …): one envelope per reason and business id.
    #[arg(long)]
    pub business_id: String,
    /// The recipient's Alipay user id (2088…).
    #[arg(long, required_unless_present = "open_id", conflicts_with = "open_id")]
    pub user_id: Option<String>,
    /// The recipient's open id.
    #[arg(long)]
    pub open_id: Option<String>,
    /// The campaign (default: the reason's, REASON_CAMPAIGNS).
    #[arg(long)]
    pub crowd_no: Option<String>,
    /// Idempotency-Key header: the same key and body give the same final answer.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Send again after a definite failure on the same campaign.
    #[arg(long)]
    pub retry_failed: bool,
    /// `campaign` or `transfer` (default: the reason's, REASON_RAILS, else campaign).
    #[arg(long, value_parser = ["campaign", "transfer"])]
    pub rail: Option<String>,
    /// Transfer rail: the amount in yuan, e.g. 1.00 (default: the reason's, TRANSFER_REASON_AMOUNTS).
    #[arg(long)]
    pub amount: Option<String>,
}

/// A ledger state.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum State {
    /// PENDING.
    #[value(name = "PENDING", alias = "pending")]
    Pending,
    /// SENT.
    #[value(name = "SENT", alias = "sent")]
    Sent,
    /// FAILED.
    #[value(name = "FAILED", alias = "failed")]
    Failed,
    /// UNKNOWN.
    #[value(name = "UNKNOWN", alias = "unknown")]
    Unknown,
    /// NEEDS_ATTENTION.
    #[value(name = "NEEDS_ATTENTION", alias = "needs_attention")]
    NeedsAttention,
}

/// When to show progress.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Progress {
    /// When stderr is a terminal.
    Auto,
    /// Always (on stderr).
    Always,
    /// Never.
    Never,
}

/// Payout commands.
#[derive(Debug, Subcommand)]
pub enum PayoutsCmd {
    /// The ledger, newest first, every page.
    List(PayoutsList),
    /// Probe an unresolved entry now, with its same outBizNo.
    Retry {
        /// outBizNo.
        out_biz_no: String,
    },
}

/// `payouts list`.
#[derive(Debug, Args)]
pub struct PayoutsList {
    /// Only entries in this state.
    #[arg(long, value_enum)]
    pub state: Option<State>,
    /// Only entries of this campaign (crowd number).
    #[arg(long, value_name = "CROWDNO")]
    pub campaign: Option<String>,
    /// Only entries for this reason.
    #[arg(long, value_enum)]
    pub reason: Option<Reason>,
    /// Only entries created on this day (Beijing time, yyyy-MM-dd).
    #[arg(long)]
    pub day: Option<String>,
    /// CSV on stdout (for spreadsheets).
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Entries per request (1–100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub page_size: u32,
    /// Show a progress line on stderr while pages are fetched.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
}

/// `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The Alipay keys secret (default: the stack's, or the local stack's).
    #[arg(long)]
    pub keys_secret: Option<String>,
    /// The DynamoDB table (default: the stack's, or the local stack's).
    #[arg(long)]
    pub table: Option<String>,
    /// The Alipay app id (default: the stack's AlipayAppId, or the local stack's).
    #[arg(long)]
    pub app_id: Option<String>,
    /// The Alipay gateway URL (default: the stack's AlipayGatewayUrl, or the local stack's).
    #[arg(long)]
    pub gateway: Option<String>,
    /// The app public-key certificate (certificate mode).
    #[arg(long, value_name = "FILE")]
    pub app_cert: Option<String>,
    /// Alipay's public-key certificate (certificate mode).
    #[arg(long, value_name = "FILE")]
    pub alipay_cert: Option<String>,
    /// Alipay's root certificate bundle (certificate mode).
    #[arg(long, value_name = "FILE")]
    pub root_cert: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(error::EXIT_UNAVAILABLE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                let doc = serde_json::json!({"error": {
                    "message": e.what, "code": e.code, "status": e.status, "hint": e.hint,
                    "problem": e.body,
                }});
                println!("{}", output::json(&doc));
            }
            eprintln!("{e}");
            ExitCode::from(e.exit)
        }
    }
}
