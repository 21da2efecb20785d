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
/// cloning is cheap and the keys are parsed once per process. `Debug` shows only what the key
/// types show: a public fingerprint.
#[derive(Clone, Debug)]
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

/// Everything an [`crate::AlipayClient`] needs. `Debug` never shows key material: the keys print a
/// public fingerprint, the AES key `AesKey(..)`.
#[derive(Clone, Debug)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_material() {
        let dir = alipay_sim::default_keys_dir();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let private = read("app_private_pkcs1.b64.txt");
        let keys = Keys::new(
            AppPrivateKey::from_text(&private).unwrap(),
            AlipayPublicKey::from_text(&read("alipay_public_spki.pem")).unwrap(),
        );
        let aes = "aa4BtZ4tspm2wnXLb1ThQA==";
        let mut config = ClientConfig::new("2021000000000001", "http://127.0.0.1/gateway.do", keys);
        config.aes = Some(AesKey::from_base64(aes).unwrap());
        let text = format!("{config:?}");
        assert!(text.contains("2021000000000001"), "{text}");
        assert!(text.contains("AesKey(..)"), "{text}");
        assert!(!text.contains(aes), "{text}");
        assert!(!text.contains(&private.trim()[..40]), "{text}");
    }
}
