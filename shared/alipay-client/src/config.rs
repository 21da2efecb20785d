//! Client configuration.

use std::sync::Arc;
use std::time::Duration;

use alipay_protocol::aes::AesKey;
pub use alipay_protocol::cert::CertModeSet as CertMode;
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};

/// Default TCP/TLS connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default total timeout of one call (connect, send, wait, read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The two keys of an app: ours signs requests, Alipay's verifies responses. Shared via `Arc`, so
/// cloning is cheap and the keys are parsed once per process.
#[derive(Clone)]
pub struct Keys {
    /// The app (merchant) private key.
    pub app_private_key: Arc<AppPrivateKey>,
    /// Alipay's public key (or, in cert mode, the key from Alipay's public-key certificate).
    pub alipay_public_key: Arc<AlipayPublicKey>,
}

impl Keys {
    /// Wraps both keys.
    pub fn new(app_private_key: AppPrivateKey, alipay_public_key: AlipayPublicKey) -> Self {
        Self {
            app_private_key: Arc::new(app_private_key),
            alipay_public_key: Arc::new(alipay_public_key),
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key types print only a public fingerprint.
        f.debug_struct("Keys")
            .field("app_private_key", &self.app_private_key)
            .field("alipay_public_key", &self.alipay_public_key)
            .finish()
    }
}

/// Everything an [`crate::AlipayClient`] needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// `app_id`.
    pub app_id: String,
    /// Full gateway URL: production `https://openapi.alipay.com/gateway.do`, the sandbox, or the simulator.
    pub gateway_url: String,
    /// Connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Total timeout of one call (default 10 s). When it fires after the request was sent the outcome is unknown.
    pub timeout: Duration,
    /// The app's keys.
    pub keys: Keys,
    /// Certificate mode (公钥证书模式), when the app uses it: the SNs every request carries, Alipay's
    /// certificate (whose SN responses must name) and the root bundle that certificates Alipay
    /// rotates to must chain to. Checked once (`CertMode::load`).
    pub cert_mode: Option<Arc<CertMode>>,
    /// AES content encryption: when set, every `biz_content` is encrypted (`encrypt_type=AES`) and
    /// encrypted responses are decrypted.
    pub aes: Option<AesKey>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("app_id", &self.app_id)
            .field("gateway_url", &self.gateway_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("keys", &self.keys)
            .field("cert_mode", &self.cert_mode)
            .field("aes", &self.aes.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ClientConfig {
    /// Public-key mode, no AES, default timeouts.
    pub fn new(app_id: impl Into<String>, gateway_url: impl Into<String>, keys: Keys) -> Self {
        Self {
            app_id: app_id.into(),
            gateway_url: gateway_url.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            keys,
            cert_mode: None,
            aes: None,
        }
    }

    /// Certificate mode, no AES, default timeouts: Alipay's key is the key of the configured
    /// Alipay certificate.
    pub fn new_cert_mode(
        app_id: impl Into<String>,
        gateway_url: impl Into<String>,
        app_private_key: Arc<AppPrivateKey>,
        cert_mode: Arc<CertMode>,
    ) -> Self {
        let keys = Keys {
            app_private_key,
            alipay_public_key: Arc::new(cert_mode.alipay_cert.key.clone()),
        };
        let mut config = Self::new(app_id, gateway_url, keys);
        config.cert_mode = Some(cert_mode);
        config
    }

    /// Sets both timeouts.
    pub fn with_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.timeout = total;
        self
    }
}
