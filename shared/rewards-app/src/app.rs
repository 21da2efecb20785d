//! Composition: the [`App`] every function shares, and the services assembled from it.

use crate::config::{
    alipay_timeout, claim_config, env_text, reason_campaigns, reason_rails, send_config,
    transfer_settings, StartupError,
};
use std::sync::Arc;
use std::time::Duration;

use alipay_client::{AlipayClient, ClientConfig, Keys, DEFAULT_CONNECT_TIMEOUT};
use lambda_http_kit::session::SessionKey;
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
use rewards_core::ports::TransferGateway;
use rewards_core::session::SessionService;
use rewards_core::template::{TemplatePolicy, TemplateService};
use rewards_core::CrowdNo;
use std::collections::BTreeMap;

/// What an AWS call (DynamoDB, Secrets Manager) leaves of the invocation's time: mapping its error and
/// answering.
pub const AWS_RESERVE: Duration = Duration::from_millis(250);

/// What an Alipay call leaves of the invocation's time: recording its outcome (a DynamoDB write or
/// two, each bounded by the deadline itself) and answering.
pub const ALIPAY_RESERVE: Duration = Duration::from_millis(1500);

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
    ///
    /// # Errors
    /// `SESSION_TTL_SECONDS` is set but not a whole number of seconds within
    /// [`rewards_core::session::SESSION_TTL_RANGE`].
    pub fn session_service(
        &self,
        alipay: &Alipay,
        key: SessionKey,
    ) -> Result<SessionService, StartupError> {
        Ok(SessionService::new(
            alipay.gateway.clone(),
            Arc::new(key),
            self.clock.clone(),
            crate::config::session_lifetime(crate::config::env_text)?,
        ))
    }

    /// `Idempotency-Key` handling.
    pub fn idempotency(&self) -> IdempotencyService {
        IdempotencyService::new(self.store.clone(), self.clock.clone(), self.ids.clone())
    }
}
