//! The Alipay keys from Secrets Manager, read once per execution environment and cached.
//!
//! The secret is JSON `{"app_private_key": "...", "alipay_public_key": "..."}` (PEM or bare
//! base64). Nothing here ever logs or formats the secret: errors name the field, not the value.

use alipay_protocol::{AlipayPublicKey, AppPrivateKey, KeyError};
use std::fmt;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The parsed key pair.
pub struct AlipayKeys {
    /// The app's private key (signs requests).
    pub app_private_key: Arc<AppPrivateKey>,
    /// Alipay's public key (verifies responses).
    pub alipay_public_key: Arc<AlipayPublicKey>,
}

impl fmt::Debug for AlipayKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlipayKeys { <redacted> }")
    }
}

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyProviderError {
    /// Secrets Manager could not be reached or refused (the secret id is not secret).
    #[error("reading secret {secret_id} failed: {detail}")]
    Fetch {
        /// Secret id.
        secret_id: String,
        /// AWS error (no secret material).
        detail: String,
    },
    /// The secret has no string value or is not a JSON object.
    #[error("the secret is not a JSON object with app_private_key and alipay_public_key")]
    NotJson,
    /// A field is missing or not a string.
    #[error("the secret has no string field {0}")]
    MissingField(&'static str),
    /// A field holds no acceptable key.
    #[error("the secret's {field} is not usable: {source}")]
    BadKey {
        /// Field.
        field: &'static str,
        /// Why (names the key kind, never its bytes).
        #[source]
        source: KeyError,
    },
}

/// Parses the secret text into keys, checking that Alipay's key is not the app's own public key.
///
/// # Errors
/// [`KeyProviderError`].
pub fn parse_secret(text: &str) -> Result<AlipayKeys, KeyProviderError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| KeyProviderError::NotJson)?;
    let obj = v.as_object().ok_or(KeyProviderError::NotJson)?;
    let field = |name: &'static str| {
        obj.get(name)
            .and_then(|x| x.as_str())
            .ok_or(KeyProviderError::MissingField(name))
    };
    let app_private_key =
        AppPrivateKey::from_text(field("app_private_key")?).map_err(|source| {
            KeyProviderError::BadKey {
                field: "app_private_key",
                source,
            }
        })?;
    let alipay_public_key =
        AlipayPublicKey::from_text(field("alipay_public_key")?).map_err(|source| {
            KeyProviderError::BadKey {
                field: "alipay_public_key",
                source,
            }
        })?;
    alipay_public_key
        .ensure_not_app_key(&app_private_key)
        .map_err(|source| KeyProviderError::BadKey {
            field: "alipay_public_key",
            source,
        })?;
    Ok(AlipayKeys {
        app_private_key: Arc::new(app_private_key),
        alipay_public_key: Arc::new(alipay_public_key),
    })
}

/// Reads the secret once and caches the parsed keys for the life of the process. A failed read
/// is not cached (the next call tries again).
pub struct KeyProvider {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cell: OnceCell<Arc<AlipayKeys>>,
}

impl fmt::Debug for KeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyProvider")
            .field("secret_id", &self.secret_id)
            .field("loaded", &self.cell.initialized())
            .finish()
    }
}

impl KeyProvider {
    /// A provider for `secret_id` (nothing is read until [`KeyProvider::keys`]).
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        KeyProvider {
            client,
            secret_id: secret_id.into(),
            cell: OnceCell::new(),
        }
    }

    /// The keys (reads and parses the secret on first use).
    ///
    /// # Errors
    /// [`KeyProviderError`].
    pub async fn keys(&self) -> Result<Arc<AlipayKeys>, KeyProviderError> {
        self.cell
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.secret_id)
                    .send()
                    .await
                    .map_err(|e| KeyProviderError::Fetch {
                        secret_id: self.secret_id.clone(),
                        detail: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                    })?;
                let text = out.secret_string().ok_or(KeyProviderError::NotJson)?;
                parse_secret(text).map(Arc::new)
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../tests/vectors/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn parses_and_rejects_without_echoing() {
        let app = vectors("app_private_pkcs1.pem");
        let ali = vectors("alipay_public_spki.pem");
        let ok = serde_json::json!({"app_private_key": app, "alipay_public_key": ali}).to_string();
        let keys = parse_secret(&ok).unwrap();
        assert_eq!(format!("{keys:?}"), "AlipayKeys { <redacted> }");
        assert!(matches!(
            parse_secret("nope"),
            Err(KeyProviderError::NotJson)
        ));
        let missing = serde_json::json!({"app_private_key": app}).to_string();
        assert!(matches!(
            parse_secret(&missing),
            Err(KeyProviderError::MissingField("alipay_public_key"))
        ));
        // Keys swapped: the error names the field and never contains key text.
        let swapped =
            serde_json::json!({"app_private_key": ali, "alipay_public_key": app}).to_string();
        let e = parse_secret(&swapped).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("app_private_key"));
        assert!(!msg.contains("MII"));
    }
}
