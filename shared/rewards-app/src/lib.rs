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

use std::sync::Arc;
use std::time::Duration;

use alipay_client::{AlipayClient, ClientConfig, Keys, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
use lambda_http::{Body, Request, Response};
use lambda_http_kit::session::SessionKey;
use lambda_http_kit::{deadline, Problem};
use rewards_alipay::AlipayGateway;
use rewards_aws::{Config, DynamoStore, KeyProvider, RandomIds, SystemClock};
use rewards_core::campaign::CampaignService;
use rewards_core::claim::{ClaimConfig, ClaimService, ClaimSweeper};
use rewards_core::idempotency::IdempotencyService;
use rewards_core::pass::PassService;
use rewards_core::payout::{
    RailName, Reason, Reconciler, SendConfig, SendService, TransferNotifications, TransferRail,
    TransferSettings,
};
use rewards_core::ports::{SceneReportInfo, TransferGateway, TransferProduct};
use rewards_core::session::SessionService;
use rewards_core::template::{TemplatePolicy, TemplateService};
use rewards_core::{AmountFen, CrowdNo};
use std::collections::BTreeMap;
use std::future::Future;

/// What an AWS call (DynamoDB, Secrets Manager) leaves of the invocation's time: mapping its error and
/// answering.
pub const AWS_RESERVE: Duration = Duration::from_millis(250);

/// What an Alipay call leaves of the invocation's time: recording its outcome (a DynamoDB write or
/// two, each bounded by the deadline itself) and answering.
pub const ALIPAY_RESERVE: Duration = Duration::from_millis(1500);

/// How long the init phase may spend reading secrets before the function starts anyway (and reads
/// them on first use, within an invocation's deadline). Lambda's init phase is 10 s.
pub const INIT_WARM_BUDGET: Duration = Duration::from_secs(4);

/// Why a function could not start. Never carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Configuration (environment) is missing or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The keys could not be loaded.
    #[error("keys: {0}")]
    Keys(String),
    /// The Alipay client could not be built.
    #[error("alipay client: {0}")]
    Client(String),
}

/// The composition root: configuration, the store, clock and ids, from which each function
/// assembles its services.
#[derive(Clone)]
pub struct App {
    /// Configuration read from the environment.
    pub config: Config,
    /// The AWS SDK configuration (endpoint, region, credentials), loaded once.
    pub sdk: aws_config::SdkConfig,
    /// The DynamoDB store (every store port).
    pub store: Arc<DynamoStore>,
    pub clock: Arc<SystemClock>,
    /// Fence-token source.
    pub ids: Arc<RandomIds>,
    /// Campaign used for a send that names none, per reason (`REASON_CAMPAIGNS`,
    /// e.g. `points_exchange=CROWD1,referral=CROWD2`).
    pub reason_campaigns: BTreeMap<Reason, CrowdNo>,
    /// Timing of the money path: [`SendConfig::default`], with `PAYOUT_LEASE_MS`,
    /// `PAYOUT_BACKOFF_MS` and `PAYOUT_BACKOFF_CAP_MS` overriding the lease, the first backoff and
    /// the backoff cap (test stacks use short ones; production leaves them unset).
    pub send_config: SendConfig,
    /// The claim path's timing and budgets: [`ClaimConfig::default`], with
    /// `CLAIM_TEMPLATE_FAILURE_LIMIT` (failed claims per template per 10 minutes) and
    /// `CLAIM_RECHECK_MS` (first sweep lookup after an unknown outcome) overriding.
    pub claim_config: ClaimConfig,
    /// Rail used for a send that names none, per reason (`REASON_RAILS`, e.g.
    /// `points_exchange=transfer`; unnamed reasons use the campaign rail).
    pub reason_rails: BTreeMap<Reason, RailName>,
    /// The transfer rail's settings (`TRANSFER_*`, `ALIPAY_NOTIFY_URL`); None when
    /// `TRANSFER_PRODUCT_CODE` is unset (the rail is off).
    pub transfer_settings: Option<TransferSettings>,
}

/// The Alipay side, for functions that call the gateway.
#[derive(Clone)]
pub struct Alipay {
    /// The typed client (used directly for `alipay.system.oauth.token`).
    pub client: AlipayClient,
    /// The domain's gateway ports.
    pub gateway: Arc<AlipayGateway>,
    /// The transfer rail's port.
    pub transfer: Option<Arc<dyn TransferGateway>>,
}

/// The transfer rail's port over the gateway adapter.
fn transfer_gateway(gateway: &Arc<AlipayGateway>) -> Option<Arc<dyn TransferGateway>> {
    Some(gateway.clone())
}

/// `reason=value` pairs of an environment variable, each value parsed by `parse`.
fn reason_map<T>(
    name: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<BTreeMap<Reason, T>, StartupError> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (reason, value) = pair.split_once('=').ok_or_else(|| {
            StartupError::Config(format!("{name} entry `{pair}` is not reason=value"))
        })?;
        let reason = Reason::parse(reason.trim())
            .ok_or_else(|| StartupError::Config(format!("{name}: unknown reason `{reason}`")))?;
        let value = parse(value.trim()).ok_or_else(|| {
            StartupError::Config(format!("{name}: `{}` is not valid", value.trim()))
        })?;
        out.insert(reason, value);
    }
    Ok(out)
}

fn env_text(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The transfer rail's settings from the environment, checked (None: `TRANSFER_PRODUCT_CODE` unset).
fn transfer_settings(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<TransferSettings>, StartupError> {
    let Some(product) = env("TRANSFER_PRODUCT_CODE") else {
        return Ok(None);
    };
    let product = TransferProduct::parse(&product).ok_or_else(|| {
        StartupError::Config(
            "TRANSFER_PRODUCT_CODE must be STD_RED_PACKET or TRANS_ACCOUNT_NO_PWD".into(),
        )
    })?;
    let required = |name: &str| {
        env(name).ok_or_else(|| {
            StartupError::Config(format!(
                "{name} is required when TRANSFER_PRODUCT_CODE is set"
            ))
        })
    };
    let yuan = |text: &str| AmountFen::parse_yuan(text).ok().filter(|a| a.fen() > 0);
    let settings = TransferSettings {
        product,
        order_title: required("TRANSFER_ORDER_TITLE")?,
        scene_name: env("TRANSFER_SCENE_NAME").unwrap_or_else(|| "现金营销".to_owned()),
        scene_report_infos: SceneReportInfo::cash_marketing(
            required("TRANSFER_ACTIVITY_NAME")?,
            required("TRANSFER_REWARD_DESCRIPTION")?,
        ),
        notify_url: env("ALIPAY_NOTIFY_URL"),
        max_per_payout: match env("TRANSFER_MAX_AMOUNT") {
            Some(t) => yuan(&t).ok_or_else(|| {
                StartupError::Config("TRANSFER_MAX_AMOUNT must be a positive yuan amount".into())
            })?,
            None => DEFAULT_TRANSFER_CAP,
        },
        default_amounts: reason_map(
            "TRANSFER_REASON_AMOUNTS",
            &env("TRANSFER_REASON_AMOUNTS").unwrap_or_default(),
            yuan,
        )?,
    };
    settings
        .check()
        .map_err(|e| StartupError::Config(e.to_string()))?;
    Ok(Some(settings))
}

/// The per-payout cap when `TRANSFER_MAX_AMOUNT` is unset: 200 yuan.
pub const DEFAULT_TRANSFER_CAP: AmountFen = AmountFen::from_fen_const(20_000);

/// The rail per reason; a reason mapped to `transfer` needs the transfer rail configured.
fn reason_rails(
    text: &str,
    transfer: Option<&TransferSettings>,
) -> Result<BTreeMap<Reason, RailName>, StartupError> {
    let rails = reason_map("REASON_RAILS", text, RailName::parse)?;
    if transfer.is_none() && rails.values().any(|r| *r == RailName::Transfer) {
        return Err(StartupError::Config(
            "REASON_RAILS maps a reason to transfer but TRANSFER_PRODUCT_CODE is not set".into(),
        ));
    }
    Ok(rails)
}

fn reason_campaigns(text: &str) -> Result<BTreeMap<Reason, CrowdNo>, StartupError> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (reason, crowd) = pair.split_once('=').ok_or_else(|| {
            StartupError::Config(format!(
                "REASON_CAMPAIGNS entry `{pair}` is not reason=crowdNo"
            ))
        })?;
        let reason = Reason::parse(reason.trim()).ok_or_else(|| {
            StartupError::Config(format!("REASON_CAMPAIGNS: unknown reason `{reason}`"))
        })?;
        let crowd = CrowdNo::parse(crowd.trim())
            .map_err(|e| StartupError::Config(format!("REASON_CAMPAIGNS: {e}")))?;
        out.insert(reason, crowd);
    }
    Ok(out)
}

/// An optional duration in milliseconds from the environment (unset or empty = `None`).
fn env_duration_ms(name: &str) -> Result<Option<Duration>, StartupError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| {
                StartupError::Config(format!("{name} must be a positive number of milliseconds"))
            }),
        _ => Ok(None),
    }
}

/// [`ClaimConfig::default`] with the `CLAIM_*` overrides.
fn claim_config() -> Result<ClaimConfig, StartupError> {
    let mut c = ClaimConfig::default();
    if let Ok(v) = std::env::var("CLAIM_TEMPLATE_FAILURE_LIMIT") {
        if !v.trim().is_empty() {
            c.template_budget.limit =
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        StartupError::Config(
                            "CLAIM_TEMPLATE_FAILURE_LIMIT must be a positive number".into(),
                        )
                    })?;
        }
    }
    if let Some(d) = env_duration_ms("CLAIM_RECHECK_MS")? {
        c.recheck = d;
    }
    Ok(c)
}

/// [`SendConfig::default`] with the `PAYOUT_*_MS` overrides. With the transfer rail on, one hold
/// of the lease may make two Alipay calls in a row (common.query, then uni.transfer with the same
/// number), so the lease must cover both.
fn send_config(transfer_rail: bool) -> Result<SendConfig, StartupError> {
    let d = SendConfig::default();
    let calls = if transfer_rail { 2 } else { 1 };
    checked_send_config(
        SendConfig {
            lease: env_duration_ms("PAYOUT_LEASE_MS")?.unwrap_or(d.lease),
            backoff_base: env_duration_ms("PAYOUT_BACKOFF_MS")?.unwrap_or(d.backoff_base),
            backoff_cap: env_duration_ms("PAYOUT_BACKOFF_CAP_MS")?.unwrap_or(d.backoff_cap),
            max_attempts: d.max_attempts,
        },
        alipay_timeout()?.saturating_mul(calls),
    )
    .map_err(|e| match e {
        StartupError::Config(m) if transfer_rail => StartupError::Config(format!(
            "{m} (with the transfer rail on, twice the timeout: a probe may query, then send)"
        )),
        other => other,
    })
}

fn alipay_timeout() -> Result<Duration, StartupError> {
    Ok(env_duration_ms("ALIPAY_TIMEOUT_MS")?.unwrap_or(DEFAULT_TIMEOUT))
}

/// A configuration that would let our own calls for one out_biz_no overlap never serves.
fn checked_send_config(
    config: SendConfig,
    alipay_timeout: Duration,
) -> Result<SendConfig, StartupError> {
    config.check(alipay_timeout).map_err(|e| {
        tracing::error!(error = %e, "refusing to start: payout configuration");
        StartupError::Config(e.to_string())
    })?;
    Ok(config)
}

impl App {
    /// Reads the environment and builds the store (no network call).
    ///
    /// # Errors
    /// [`StartupError::Config`].
    pub async fn load() -> Result<Self, StartupError> {
        let config = Config::from_env().map_err(|e| StartupError::Config(e.to_string()))?;
        let reason_campaigns =
            reason_campaigns(&std::env::var("REASON_CAMPAIGNS").unwrap_or_default())?;
        let transfer_settings = transfer_settings(env_text)?;
        let send_config = send_config(transfer_settings.is_some())?;
        let claim_config = claim_config()?;
        let reason_rails = reason_rails(
            &std::env::var("REASON_RAILS").unwrap_or_default(),
            transfer_settings.as_ref(),
        )?;
        let sdk = rewards_aws::sdk_config_within(Arc::new(|| {
            lambda_http_kit::deadline::remaining_for_call(AWS_RESERVE)
        }))
        .await;
        let store = Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.table_name.clone(),
        ));
        Ok(Self {
            config,
            sdk,
            store,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds::default()),
            reason_campaigns,
            send_config,
            claim_config,
            reason_rails,
            transfer_settings,
        })
    }

    /// Loads the RSA keys from Secrets Manager (once; the caller keeps the result for the execution
    /// environment's life) and builds the Alipay client in the mode the secret's shape selects:
    /// public-key mode, or certificate mode (the certificates checked and their SNs computed once,
    /// by `rewards_aws::keys`).
    ///
    /// # Errors
    /// [`StartupError::Keys`] or [`StartupError::Client`].
    pub async fn alipay(&self) -> Result<Alipay, StartupError> {
        let provider = KeyProvider::new(
            aws_sdk_secretsmanager::Client::new(&self.sdk),
            self.config.keys_secret_id.clone(),
        );
        let keys = provider
            .keys()
            .await
            .map_err(|e| StartupError::Keys(e.to_string()))?;
        // Debug level: this runs at init, outside any invocation, and every info line of a function
        // carries its request id (`rewardsctl doctor` shows the mode and SNs to an operator).
        match &keys.cert_mode {
            // SNs identify certificates; they are not secrets.
            Some(set) => tracing::debug!(
                mode = "certificate",
                app_cert_sn = %set.app_cert_sn,
                alipay_cert_sn = %set.alipay_cert.sn,
                alipay_root_cert_sn = %set.alipay_root_cert_sn,
                "alipay keys loaded"
            ),
            None => tracing::debug!(mode = "public_key", "alipay keys loaded"),
        }
        let client = AlipayClient::new(ClientConfig {
            app_id: self.config.app_id.as_str().to_string(),
            gateway_url: self.config.gateway_url.clone(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: alipay_timeout()?,
            keys: Keys {
                app_private_key: keys.app_private_key.clone(),
                alipay_public_key: keys.alipay_public_key.clone(),
            },
            cert_mode: keys.cert_mode.clone(),
            aes: None,
        })
        .map_err(|e| StartupError::Client(e.to_string()))?
        .with_call_budget(Arc::new(|| {
            lambda_http_kit::deadline::remaining_for_call(ALIPAY_RESERVE)
        }));
        let gateway = Arc::new(AlipayGateway::new(client.clone()));
        Ok(Alipay {
            transfer: transfer_gateway(&gateway),
            gateway,
            client,
        })
    }

    /// The session-token key from the secret named by `SESSION_KEY_SECRET_ID` (base64 text).
    ///
    /// # Errors
    /// [`StartupError::Config`] or [`StartupError::Keys`]; never the secret itself.
    pub async fn session_key(&self) -> Result<SessionKey, StartupError> {
        let id = std::env::var("SESSION_KEY_SECRET_ID").map_err(|_| {
            StartupError::Config("environment variable SESSION_KEY_SECRET_ID is not set".into())
        })?;
        let out = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .get_secret_value()
            .secret_id(&id)
            .send()
            .await
            .map_err(|e| {
                StartupError::Keys(format!(
                    "reading secret {id}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            })?;
        let text = out
            .secret_string()
            .ok_or_else(|| StartupError::Keys(format!("secret {id} has no string value")))?;
        SessionKey::from_base64(text).map_err(|e| StartupError::Keys(format!("secret {id}: {e}")))
    }

    /// Template creation, update and listing.
    pub fn template_service(&self, alipay: &Alipay) -> TemplateService {
        TemplateService {
            store: self.store.clone(),
            gateway: alipay.gateway.clone(),
            clock: self.clock.clone(),
            policy: TemplatePolicy {
                callback_url: self.config.callback_url.clone(),
                default_logo: std::env::var("DEFAULT_PASS_LOGO_URL")
                    .ok()
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty()),
            },
        }
    }

    /// The claim path (callback).
    pub fn claim_service(&self, alipay: &Alipay) -> ClaimService {
        ClaimService {
            templates: self.store.clone(),
            claims: self.store.clone(),
            passes: self.store.clone(),
            budget: self.store.clone(),
            gateway: alipay.gateway.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            app_id: self.config.app_id.clone(),
            config: self.claim_config,
        }
    }

    /// The sweep of pass issuances whose outcome was lost (run by the reconciler).
    pub fn claim_sweeper(&self, alipay: &Alipay) -> ClaimSweeper {
        ClaimSweeper {
            service: Arc::new(self.claim_service(alipay)),
            batch: 50,
        }
    }

    /// Pass lookup and status changes.
    pub fn pass_service(&self, alipay: &Alipay) -> PassService {
        PassService {
            store: self.store.clone(),
            gateway: alipay.gateway.clone(),
            clock: self.clock.clone(),
            app_id: self.config.app_id.clone(),
        }
    }

    /// Campaign creation, schedule slots, detail, list and status.
    pub fn campaign_service(&self, alipay: &Alipay) -> CampaignService {
        CampaignService {
            store: self.store.clone(),
            gateway: alipay.gateway.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }

    /// The money path.
    pub fn send_service(&self, alipay: &Alipay) -> SendService {
        SendService {
            payouts: self.store.clone(),
            campaigns: self.store.clone(),
            gateway: alipay.gateway.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            config: self.send_config,
            reason_campaigns: self.reason_campaigns.clone(),
            reason_rails: self.reason_rails.clone(),
            transfer: match (&alipay.transfer, &self.transfer_settings) {
                (Some(gateway), Some(settings)) => Some(TransferRail {
                    gateway: gateway.clone(),
                    settings: settings.clone(),
                }),
                _ => None,
            },
        }
    }

    /// Alipay's transfer notifications (`alipay.fund.trans.order.changed`), applied to the ledger.
    pub fn transfer_notifications(&self) -> TransferNotifications {
        TransferNotifications {
            payouts: self.store.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }

    /// The reconciler over a send service.
    pub fn reconciler(&self, alipay: &Alipay) -> Reconciler {
        Reconciler {
            service: Arc::new(self.send_service(alipay)),
            batch: 50,
        }
    }

    /// Mini-program sign-in with the session-token key.
    pub fn session_service(&self, alipay: &Alipay, key: SessionKey) -> SessionService {
        SessionService {
            gateway: alipay.gateway.clone(),
            tokens: Arc::new(key),
            clock: self.clock.clone(),
        }
    }

    /// `Idempotency-Key` handling.
    pub fn idempotency(&self) -> IdempotencyService {
        IdempotencyService::new(self.store.clone(), self.clock.clone(), self.ids.clone())
    }
}

type Build<T> = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StartupError>> + Send>>
        + Send
        + Sync,
>;

/// What a function builds from secrets (keys, the Alipay client, the services over them), read on
/// first use and kept for the execution environment's life. A failed read is not kept: the next
/// request tries again. [`OnFirstUse::warm`] tries once at init (bounded), so a warm function never
/// reads on the request path; [`OnFirstUse::get`] inside a request is bounded by its deadline.
pub struct OnFirstUse<T> {
    cell: tokio::sync::OnceCell<T>,
    build: Build<T>,
}

impl<T: Send + Sync + 'static> OnFirstUse<T> {
    /// `build` makes the value (it is called again after a failure).
    pub fn new<F, Fut>(build: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, StartupError>> + Send + 'static,
    {
        Self {
            cell: tokio::sync::OnceCell::new(),
            build: Box::new(move || Box::pin(build())),
        }
    }

    /// Tries to build at init within [`INIT_WARM_BUDGET`]; a failure is logged (the first request
    /// tries again), never fatal.
    pub async fn warm(&self) {
        match tokio::time::timeout(INIT_WARM_BUDGET, self.cell.get_or_try_init(&self.build)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "init: not ready; the first request retries"),
            Err(_) => tracing::warn!("init: secrets not read in time; the first request retries"),
        }
    }

    /// The value, built now if needed.
    ///
    /// # Errors
    /// `503 dependency_unavailable` (with `Retry-After`) when it cannot be built; the cause is
    /// logged, never answered.
    pub async fn get(&self) -> Result<&T, Problem> {
        self.cell.get_or_try_init(&self.build).await.map_err(|e| {
            tracing::error!(error = %e, "not ready: secrets or configuration");
            Problem::new(
                503,
                "dependency_unavailable",
                "a dependency is unavailable; it is safe to retry with the same request",
            )
        })
    }
}

/// Runs an HTTP function: loads the [`App`], builds its context with `build` on first use (warmed at
/// init, so a hanging Secrets Manager is a 503 too, not a dead function) and serves every request
/// with `handler` within its invocation's deadline ([`deadline::serve`]), a [`Problem`] answered as
/// problem+json.
///
/// # Errors
/// A bad configuration at start, or the runtime's own errors.
pub async fn serve_http<T, B, BFut, H, HFut>(build: B, handler: H) -> Result<(), lambda_http::Error>
where
    T: Send + Sync + 'static,
    B: Fn(App) -> BFut + Send + Sync + 'static,
    BFut: Future<Output = Result<T, StartupError>> + Send + 'static,
    H: Fn(&'static T, Request) -> HFut + Sync,
    HFut: Future<Output = Result<Response<Body>, Problem>> + Send,
{
    let ready = ready_on_first_use(build).await?;
    deadline::serve(deadline::timeout_problem(), |req| async {
        match ready.get().await {
            Ok(ctx) => handler(ctx, req).await,
            Err(p) => Err(p),
        }
        .unwrap_or_else(Problem::into_response)
    })
    .await
}

/// [`serve_http`] for a function that also takes plain events (e.g. EventBridge schedules): an HTTP
/// API event goes to `http` and is answered as problem+json on failure; any other event goes to
/// `event`, whose error fails the invocation (so the source retries, then dead-letters). Both run
/// within the invocation's deadline.
///
/// # Errors
/// A bad configuration at start, or the runtime's own errors.
pub async fn serve_http_and_events<T, B, BFut, H, HFut, E, EFut>(
    build: B,
    http: H,
    event: E,
) -> Result<(), lambda_http::Error>
where
    T: Send + Sync + 'static,
    B: Fn(App) -> BFut + Send + Sync + 'static,
    BFut: Future<Output = Result<T, StartupError>> + Send + 'static,
    H: Fn(&'static T, Request) -> HFut + Sync,
    HFut: Future<Output = Result<Response<Body>, Problem>> + Send,
    E: Fn(&'static T, serde_json::Value) -> EFut + Sync,
    EFut: Future<Output = Result<serde_json::Value, lambda_http::Error>> + Send,
{
    let ready = ready_on_first_use(build).await?;
    let (http, event) = (&http, &event);
    let service = lambda_runtime::service_fn(
        |invocation: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let context = invocation.context;
            match lambda_http_kit::http_or_event(invocation.payload) {
                Ok(req) => {
                    let work = async { http(ready.get().await?, req).await };
                    let answer = deadline::within_context(&context, work)
                        .await
                        .unwrap_or_else(|_| Err(deadline::timeout_problem()));
                    let answer = answer.unwrap_or_else(Problem::into_response);
                    Ok(lambda_http_kit::response_event(answer))
                }
                Err(other) => {
                    let work = async {
                        let ctx = ready
                            .get()
                            .await
                            .map_err(|p| format!("{}: {}", p.code, p.detail))?;
                        event(ctx, other).await
                    };
                    deadline::within_context(&context, work).await?
                }
            }
        },
    );
    lambda_runtime::run(service).await
}

/// Starts logging, loads the [`App`] and warms what `build` makes from it, kept for the execution
/// environment's life (the function's whole process, hence `'static`).
///
/// # Errors
/// A bad configuration.
pub async fn ready_on_first_use<T, B, BFut>(
    build: B,
) -> Result<&'static OnFirstUse<T>, StartupError>
where
    T: Send + Sync + 'static,
    B: Fn(App) -> BFut + Send + Sync + 'static,
    BFut: Future<Output = Result<T, StartupError>> + Send + 'static,
{
    lambda_http_kit::init_logging();
    let app = App::load().await?;
    let ready: &'static OnFirstUse<T> =
        Box::leak(Box::new(OnFirstUse::new(move || build(app.clone()))));
    ready.warm().await;
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_shorter_than_a_call_refuses_to_start() {
        let short = SendConfig {
            lease: Duration::from_secs(2),
            ..SendConfig::default()
        };
        let err = checked_send_config(short, Duration::from_secs(6)).unwrap_err();
        assert!(err.to_string().contains("PAYOUT_LEASE_MS"), "{err}");
        assert!(checked_send_config(SendConfig::default(), DEFAULT_TIMEOUT).is_ok());
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const TRANSFER_ENV: [(&str, &str); 5] = [
        ("TRANSFER_PRODUCT_CODE", "STD_RED_PACKET"),
        ("TRANSFER_ORDER_TITLE", "积分兑换红包"),
        ("TRANSFER_ACTIVITY_NAME", "积分兑换"),
        ("TRANSFER_REWARD_DESCRIPTION", "积分兑换现金红包"),
        ("TRANSFER_REASON_AMOUNTS", "referral=0.50"),
    ];

    #[test]
    fn the_transfer_rail_is_configured_and_checked_at_init() {
        assert_eq!(transfer_settings(env(&[])).unwrap(), None);
        let s = transfer_settings(env(&TRANSFER_ENV)).unwrap().unwrap();
        assert_eq!(s.scene_name, "现金营销");
        assert_eq!(s.max_per_payout, DEFAULT_TRANSFER_CAP);
        assert_eq!(
            s.default_amounts.get(&Reason::Referral).map(|a| a.fen()),
            Some(50)
        );
        let mut missing = TRANSFER_ENV.to_vec();
        missing.retain(|(k, _)| *k != "TRANSFER_ACTIVITY_NAME");
        let err = transfer_settings(env(&missing)).unwrap_err().to_string();
        assert!(err.contains("TRANSFER_ACTIVITY_NAME"), "{err}");
        let mut over_cap = TRANSFER_ENV.to_vec();
        over_cap.push(("TRANSFER_MAX_AMOUNT", "0.20"));
        over_cap[4] = ("TRANSFER_REASON_AMOUNTS", "referral=0.50");
        assert!(transfer_settings(env(&over_cap)).is_err());
        let mut bad_product = TRANSFER_ENV.to_vec();
        bad_product[0] = ("TRANSFER_PRODUCT_CODE", "FAST_MONEY");
        assert!(transfer_settings(env(&bad_product)).is_err());
        assert!(reason_rails("points_exchange=transfer", None).is_err());
        assert!(reason_rails("points_exchange=wire", Some(&s)).is_err());
        assert_eq!(
            reason_rails("points_exchange=transfer", Some(&s))
                .unwrap()
                .get(&Reason::PointsExchange),
            Some(&RailName::Transfer)
        );
    }
}
