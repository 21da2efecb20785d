//! The Alipay keys from Secrets Manager, read once per execution environment and cached.
//!
//! The secret is JSON with `app_private_key` and, beside it, one of two shapes:
//! - public-key mode: `alipay_public_key`;
//! - certificate mode (公钥证书模式): `app_cert`, `alipay_cert` and `alipay_root_cert` (PEM text).
//!
//! The shape decides the mode; a secret that mixes the two, or holds only part of the certificates,
//! is refused with a message that names the fields. In certificate mode the certificates are checked
//! here, once ([`alipay_protocol::cert::CertModeSet`]): the app certificate carries the app key's
//! public key, Alipay's certificate chains to the root bundle, and the SNs are computed. Keys and PEM
//! text may be bare base64, and literal `\n` stands for a line break. Nothing here ever logs or
//! formats the secret: errors name the field, not the value.

use alipay_protocol::cert::{CertError, CertField, CertModeSet};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, KeyError};
use std::fmt;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The parsed keys (and, in certificate mode, the checked certificates).
pub struct AlipayKeys {
    /// The app's private key (signs requests).
    pub app_private_key: Arc<AppPrivateKey>,
    /// Alipay's public key (verifies responses): in certificate mode, the key of `alipay_cert`.
    pub alipay_public_key: Arc<AlipayPublicKey>,
    /// Certificate mode: the SNs, Alipay's certificate and the root bundle. `None`: public-key mode.
    pub cert_mode: Option<Arc<CertModeSet>>,
}

/// The secret's fields of public-key mode.
pub const PUBLIC_KEY_FIELDS: [&str; 1] = ["alipay_public_key"];
/// The secret's fields of certificate mode.
pub const CERT_FIELDS: [&str; 3] = ["app_cert", "alipay_cert", "alipay_root_cert"];

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
    #[error("the secret is not a JSON object with app_private_key and alipay_public_key (or app_cert, alipay_cert and alipay_root_cert)")]
    NotJson,
    /// Neither `alipay_public_key` nor the certificates.
    #[error("the secret has neither alipay_public_key (public-key mode) nor app_cert, alipay_cert and alipay_root_cert (certificate mode)")]
    NoAlipayKey,
    /// Both modes at once.
    #[error("the secret mixes public-key mode (alipay_public_key) and certificate mode ({}): keep the fields of one mode only", .cert_fields.join(", "))]
    MixedModes {
        /// The certificate fields present beside `alipay_public_key`.
        cert_fields: Vec<&'static str>,
    },
    /// Certificate mode with a certificate missing.
    #[error("certificate mode needs app_cert, alipay_cert and alipay_root_cert; the secret lacks {}", .missing.join(", "))]
    IncompleteCertSet {
        /// The certificate fields that are absent.
        missing: Vec<&'static str>,
    },
    /// A certificate field is not usable.
    #[error("the secret's {field} is not usable: {source}")]
    BadCert {
        /// Field.
        field: &'static str,
        /// Why (names certificates by subject, never any key).
        #[source]
        source: CertError,
    },
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

/// Parses the secret text into keys (see the module documentation), checking certificates against
/// the current time.
///
/// # Errors
/// [`KeyProviderError`].
pub fn parse_secret(text: &str) -> Result<AlipayKeys, KeyProviderError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    parse_secret_at(text, now)
}

/// Which mode a secret's fields ask for, or why they ask for none: the one rule, shared by the
/// functions and `rewardsctl doctor`.
///
/// # Errors
/// [`KeyProviderError::MixedModes`], [`KeyProviderError::IncompleteCertSet`] or
/// [`KeyProviderError::NoAlipayKey`].
pub fn secret_mode(has_field: impl Fn(&str) -> bool) -> Result<SecretMode, KeyProviderError> {
    let certs: Vec<&'static str> = CERT_FIELDS.into_iter().filter(|f| has_field(f)).collect();
    match (has_field(PUBLIC_KEY_FIELDS[0]), certs.len()) {
        (true, 0) => Ok(SecretMode::PublicKey),
        (true, _) => Err(KeyProviderError::MixedModes { cert_fields: certs }),
        (false, 0) => Err(KeyProviderError::NoAlipayKey),
        (false, n) if n == CERT_FIELDS.len() => Ok(SecretMode::Certificate),
        (false, _) => Err(KeyProviderError::IncompleteCertSet {
            missing: CERT_FIELDS
                .into_iter()
                .filter(|f| !certs.contains(f))
                .collect(),
        }),
    }
}

/// The mode a secret's shape selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMode {
    /// `alipay_public_key`.
    PublicKey,
    /// `app_cert`, `alipay_cert`, `alipay_root_cert`.
    Certificate,
}

/// A key field that holds no acceptable key.
fn bad_key(field: &'static str) -> impl FnOnce(KeyError) -> KeyProviderError {
    move |source| KeyProviderError::BadKey { field, source }
}

/// [`parse_secret`] at `now` (epoch seconds).
///
/// # Errors
/// [`KeyProviderError`].
pub fn parse_secret_at(text: &str, now: i64) -> Result<AlipayKeys, KeyProviderError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| KeyProviderError::NotJson)?;
    let obj = v.as_object().ok_or(KeyProviderError::NotJson)?;
    // An empty value counts as absent (a template that leaves the other mode's fields blank).
    let present = |name: &str| {
        obj.get(name)
            .is_some_and(|x| !x.as_str().is_some_and(|s| s.trim().is_empty()))
    };
    let field = |name: &'static str| {
        obj.get(name)
            .and_then(|x| x.as_str())
            .ok_or(KeyProviderError::MissingField(name))
    };
    let app_private_key =
        AppPrivateKey::from_text(field("app_private_key")?).map_err(bad_key("app_private_key"))?;
    if secret_mode(present)? == SecretMode::Certificate {
        let pem = |name: &'static str| field(name).map(|t| t.replace("\\n", "\n").into_bytes());
        let set = CertModeSet::load(
            &pem("app_cert")?,
            &pem("alipay_cert")?,
            &pem("alipay_root_cert")?,
            &app_private_key,
            now,
        )
        .map_err(|e| KeyProviderError::BadCert {
            field: match e.field {
                CertField::AppCert => "app_cert",
                CertField::AlipayCert => "alipay_cert",
                CertField::RootCert => "alipay_root_cert",
            },
            source: e.source,
        })?;
        return Ok(AlipayKeys {
            app_private_key: Arc::new(app_private_key),
            alipay_public_key: Arc::new(set.alipay_cert.key.clone()),
            cert_mode: Some(Arc::new(set)),
        });
    }
    let alipay_public_key = AlipayPublicKey::from_text(field("alipay_public_key")?)
        .map_err(bad_key("alipay_public_key"))?;
    alipay_public_key
        .ensure_not_app_key(&app_private_key)
        .map_err(bad_key("alipay_public_key"))?;
    Ok(AlipayKeys {
        app_private_key: Arc::new(app_private_key),
        alipay_public_key: Arc::new(alipay_public_key),
        cert_mode: None,
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

    /// A file of this workspace, `path` from its root.
    fn workspace_file(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        std::fs::read_to_string(root.join(path)).unwrap()
    }

    /// A key of the protocol vectors.
    fn vectors(name: &str) -> String {
        workspace_file(&format!("tests/vectors/keys/{name}"))
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
            Err(KeyProviderError::NoAlipayKey)
        ));
        // Keys swapped: the error names the field and never contains key text.
        let swapped =
            serde_json::json!({"app_private_key": ali, "alipay_public_key": app}).to_string();
        let e = parse_secret(&swapped).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("app_private_key"));
        assert!(!msg.contains("MII"));
    }

    /// A certificate fixture of the protocol crate's tests.
    fn cert(name: &str) -> String {
        String::from_utf8(alipay_protocol::fixtures::cert(name).unwrap()).unwrap()
    }

    fn expected(field: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(&cert("expected.json")).unwrap();
        v[field].as_str().unwrap().to_string()
    }

    /// 2026-12-01: inside the fixtures' validity.
    const NOW: i64 = 1_796_083_200;

    fn cert_secret() -> serde_json::Map<String, serde_json::Value> {
        let v = serde_json::json!({
            "app_private_key": vectors("app_private_pkcs8.pem"),
            "app_cert": cert("app_cert.pem"),
            "alipay_cert": cert("alipay_cert.pem") + &cert("class2.pem"),
            "alipay_root_cert": cert("root_bundle.pem"),
        });
        v.as_object().unwrap().clone()
    }

    fn parse(
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<AlipayKeys, KeyProviderError> {
        parse_secret_at(&serde_json::Value::Object(map.clone()).to_string(), NOW)
    }

    /// The error text never carries key or certificate material.
    fn clean(e: &KeyProviderError) -> String {
        let msg = e.to_string();
        assert!(!msg.contains("MII") && !msg.contains("BEGIN"), "{msg}");
        msg
    }

    #[test]
    fn the_certificate_shape_selects_certificate_mode_and_computes_the_sns() {
        let keys = parse(&cert_secret()).unwrap();
        let set = keys.cert_mode.as_ref().expect("certificate mode");
        assert_eq!(set.app_cert_sn, expected("app_cert_sn"));
        assert_eq!(set.alipay_cert.sn, expected("alipay_cert_sn"));
        assert_eq!(set.alipay_root_cert_sn, expected("alipay_root_cert_sn"));
        let direct = AlipayPublicKey::from_text(&vectors("alipay_public_spki.pem")).unwrap();
        assert_eq!(keys.alipay_public_key.pkcs1_der(), direct.pkcs1_der());
        // Public-key mode stays public-key mode.
        let ok = serde_json::json!({
            "app_private_key": vectors("app_private_pkcs1.pem"),
            "alipay_public_key": vectors("alipay_public_spki.pem"),
        });
        assert!(parse_secret_at(&ok.to_string(), NOW)
            .unwrap()
            .cert_mode
            .is_none());
    }

    #[test]
    fn certificates_with_literal_line_breaks_and_a_blank_public_key_are_certificate_mode() {
        let mut map = cert_secret();
        for f in CERT_FIELDS {
            let text = map[f].as_str().unwrap().replace('\n', "\\n");
            map.insert(f.into(), text.into());
        }
        map.insert("alipay_public_key".into(), "".into());
        assert!(parse(&map).unwrap().cert_mode.is_some());
    }

    #[test]
    fn a_secret_that_mixes_the_modes_is_refused_naming_the_fields() {
        let mut map = cert_secret();
        map.insert(
            "alipay_public_key".into(),
            vectors("alipay_public_spki.pem").into(),
        );
        let e = parse(&map).unwrap_err();
        assert!(matches!(e, KeyProviderError::MixedModes { .. }));
        let msg = clean(&e);
        assert!(
            msg.contains("alipay_public_key")
                && msg.contains("app_cert, alipay_cert, alipay_root_cert"),
            "{msg}"
        );
        // One certificate beside the public key is a mix too.
        let one = serde_json::json!({
            "app_private_key": vectors("app_private_pkcs8.pem"),
            "alipay_public_key": vectors("alipay_public_spki.pem"),
            "alipay_root_cert": cert("root_bundle.pem"),
        });
        let e = parse_secret_at(&one.to_string(), NOW).unwrap_err();
        assert!(clean(&e).contains("(alipay_root_cert)"), "{e}");
    }

    #[test]
    fn a_partial_certificate_set_names_what_is_missing() {
        let mut map = cert_secret();
        map.remove("alipay_root_cert");
        map.remove("app_cert");
        let e = parse(&map).unwrap_err();
        assert!(
            matches!(&e, KeyProviderError::IncompleteCertSet { missing } if missing == &["app_cert", "alipay_root_cert"])
        );
        assert!(clean(&e).contains("lacks app_cert, alipay_root_cert"));
        let neither = serde_json::json!({"app_private_key": vectors("app_private_pkcs8.pem")});
        let e = parse_secret_at(&neither.to_string(), NOW).unwrap_err();
        assert!(matches!(e, KeyProviderError::NoAlipayKey));
        assert!(clean(&e).contains("alipay_public_key"));
    }

    #[test]
    fn certificates_that_do_not_fit_are_refused_by_field() {
        let field_of = |e: KeyProviderError| match e {
            KeyProviderError::BadCert { field, ref source } => {
                clean(&e);
                (field, source.clone())
            }
            other => panic!("{other}"),
        };
        // The app certificate of another key (Alipay's certificate given as the app's).
        let mut map = cert_secret();
        map.insert("app_cert".into(), cert("alipay_cert.pem").into());
        assert_eq!(
            field_of(parse(&map).unwrap_err()),
            ("app_cert", CertError::KeyMismatch)
        );
        // Alipay's certificate without its intermediate does not chain to the root bundle.
        let mut map = cert_secret();
        map.insert("alipay_cert".into(), cert("alipay_cert.pem").into());
        let (field, source) = field_of(parse(&map).unwrap_err());
        assert_eq!(field, "alipay_cert");
        assert!(matches!(source, CertError::Untrusted { .. }));
        // Expired (checked at 2040).
        let e = parse_secret_at(
            &serde_json::Value::Object(cert_secret()).to_string(),
            2_208_988_800,
        )
        .unwrap_err();
        let (field, source) = field_of(e);
        assert_eq!(field, "alipay_cert");
        assert!(matches!(source, CertError::Validity { .. }));
        // A root bundle that is not one.
        let mut map = cert_secret();
        map.insert("alipay_root_cert".into(), "not a certificate".into());
        assert_eq!(
            field_of(parse(&map).unwrap_err()),
            ("alipay_root_cert", CertError::NotACertificate)
        );
        // A private key where the app certificate belongs.
        let mut map = cert_secret();
        map.insert("app_cert".into(), vectors("app_private_pkcs8.pem").into());
        assert_eq!(
            field_of(parse(&map).unwrap_err()),
            ("app_cert", CertError::NotACertificate)
        );
    }
}
