//! RSA keys: the app's private key (signs requests) and Alipay's public key (verifies responses and
//! notifications).
//!
//! Both load from PEM or bare base64 (the form the Alipay key tool prints), PKCS#1 or PKCS#8 for the
//! private key, SPKI or PKCS#1 for the public key, with whitespace, line breaks and literal `\n`
//! sequences (keys pasted into JSON or environment variables) tolerated. Key material never appears in
//! `Debug`, `Display` or an error: errors name kinds of keys, not their bytes.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, KeyPair, ParsedPublicKey, RsaKeyPair, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    RSA_PKCS1_2048_8192_SHA256,
};
use base64::Engine as _;

use crate::sign::SignType;
use crate::B64;

/// What a key text turned out to hold. Used in errors to say what was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// An RSA private key in PKCS#8 (`BEGIN PRIVATE KEY`, base64 starting `MIIE…AgEAMA0G`).
    Pkcs8PrivateKey,
    /// An RSA private key in PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    Pkcs1PrivateKey,
    /// An encrypted PKCS#8 private key (`BEGIN ENCRYPTED PRIVATE KEY`); not supported.
    EncryptedPrivateKey,
    /// A public key in X.509 SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    SpkiPublicKey,
    /// A public key in PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    Pkcs1PublicKey,
    /// An X.509 certificate (`BEGIN CERTIFICATE`): certificate mode, not a bare key.
    Certificate,
    /// A key of another algorithm (EC, SM2, …) or bytes that are no key at all.
    Unrecognised,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Pkcs8PrivateKey => "an RSA private key (PKCS#8)",
            KeyKind::Pkcs1PrivateKey => "an RSA private key (PKCS#1)",
            KeyKind::EncryptedPrivateKey => "an encrypted private key",
            KeyKind::SpkiPublicKey => "a public key (SPKI)",
            KeyKind::Pkcs1PublicKey => "an RSA public key (PKCS#1)",
            KeyKind::Certificate => "an X.509 certificate",
            KeyKind::Unrecognised => "no RSA key that could be recognised",
        })
    }
}

/// Why a key could not be loaded. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text was empty or only whitespace.
    #[error("the {role} is empty")]
    Empty {
        /// Which key was being loaded.
        role: KeyRole,
    },
    /// The text is neither PEM nor valid base64.
    #[error("the {role} is neither PEM nor valid base64")]
    NotBase64 {
        /// Which key was being loaded.
        role: KeyRole,
    },
    /// The text holds a key of the wrong kind.
    #[error("the {role} must be {expected}, but the text holds {given}")]
    WrongKind {
        /// Which key was being loaded.
        role: KeyRole,
        /// What the text holds.
        given: KeyKind,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The key parsed but was rejected (too small, inconsistent).
    #[error("the {role} was rejected: {reason}")]
    Rejected {
        /// Which key was being loaded.
        role: KeyRole,
        /// The library's reason, a fixed string.
        reason: &'static str,
    },
    /// The key configured as Alipay's public key is the app's own public key. The commonest support
    /// mistake: the console shows both, and every response would fail to verify.
    #[error(
        "the key configured as the Alipay public key is the app's own public key (the pair of the app \
         private key); copy the 支付宝公钥 (Alipay public key) from the console instead"
    )]
    AppPublicKeyConfiguredAsAlipayKey,
}

/// Which key a [`KeyError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// The app (merchant) private key.
    AppPrivateKey,
    /// Alipay's (the platform's) public key.
    AlipayPublicKey,
    /// The app's own public key (used by the gateway simulator).
    AppPublicKey,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::AppPrivateKey => "app private key",
            KeyRole::AlipayPublicKey => "Alipay public key",
            KeyRole::AppPublicKey => "app public key",
        })
    }
}

/// Key text after PEM armour and whitespace are removed.
struct Decoded {
    label: Option<String>,
    der: Vec<u8>,
}

fn decode_text(text: &str, role: KeyRole) -> Result<Decoded, KeyError> {
    // Literal "\n" / "\r" sequences come from keys pasted into JSON strings or env files.
    let text = text.replace("\\n", "\n").replace("\\r", "\n");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KeyError::Empty { role });
    }
    let (label, body) = match trimmed.find("-----BEGIN ") {
        Some(begin) => {
            let after = &trimmed[begin + "-----BEGIN ".len()..];
            let label_end = after.find("-----").ok_or(KeyError::NotBase64 { role })?;
            let label = after[..label_end].trim().to_string();
            let rest = &after[label_end + 5..];
            let end = rest.find("-----END").unwrap_or(rest.len());
            (Some(label), &rest[..end])
        }
        None => (None, trimmed),
    };
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(KeyError::Empty { role });
    }
    let der = B64
        .decode(compact.as_bytes())
        .map_err(|_| KeyError::NotBase64 { role })?;
    Ok(Decoded { label, der })
}

fn kind_from_label(label: &str) -> KeyKind {
    match label {
        "PRIVATE KEY" => KeyKind::Pkcs8PrivateKey,
        "RSA PRIVATE KEY" => KeyKind::Pkcs1PrivateKey,
        "ENCRYPTED PRIVATE KEY" => KeyKind::EncryptedPrivateKey,
        "PUBLIC KEY" => KeyKind::SpkiPublicKey,
        "RSA PUBLIC KEY" => KeyKind::Pkcs1PublicKey,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => KeyKind::Certificate,
        _ => KeyKind::Unrecognised,
    }
}

/// Classifies DER bytes by trying each parser; the label, when there is one, wins.
fn sniff(der: &[u8]) -> KeyKind {
    if RsaKeyPair::from_pkcs8(der).is_ok() {
        return KeyKind::Pkcs8PrivateKey;
    }
    if RsaKeyPair::from_der(der).is_ok() {
        return KeyKind::Pkcs1PrivateKey;
    }
    if aws_lc_rs::rsa::PublicKey::from_der(der).is_ok() {
        // PKCS#1 RSAPublicKey is SEQUENCE { INTEGER, INTEGER }; SPKI starts with a SEQUENCE.
        return if inner_first_tag(der) == Some(0x02) {
            KeyKind::Pkcs1PublicKey
        } else {
            KeyKind::SpkiPublicKey
        };
    }
    if der::Decode::from_der(der)
        .map(|_: x509_cert::Certificate| ())
        .is_ok()
    {
        return KeyKind::Certificate;
    }
    KeyKind::Unrecognised
}

/// The tag of the first element inside the outer DER SEQUENCE.
fn inner_first_tag(der: &[u8]) -> Option<u8> {
    if der.first() != Some(&0x30) {
        return None;
    }
    let len_byte = *der.get(1)?;
    let header = if len_byte & 0x80 == 0 {
        2
    } else {
        2 + usize::from(len_byte & 0x7f)
    };
    der.get(header).copied()
}

fn classify(decoded: &Decoded) -> KeyKind {
    match &decoded.label {
        Some(label) => kind_from_label(label),
        None => sniff(&decoded.der),
    }
}

/// Short, non-secret fingerprint of a public key: the first 8 bytes of SHA-256 of its PKCS#1 DER.
fn fingerprint(public_pkcs1: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_pkcs1);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The app (merchant) private key, parsed once and kept for the life of the process.
pub struct AppPrivateKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl AppPrivateKey {
    /// Loads the key from PEM or bare base64, PKCS#8 or PKCS#1.
    ///
    /// # Errors
    /// [`KeyError`] naming what the text holds when it is not an RSA private key.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let role = KeyRole::AppPrivateKey;
        let decoded = decode_text(text, role)?;
        let kind = classify(&decoded);
        let parsed = match kind {
            KeyKind::Pkcs8PrivateKey => RsaKeyPair::from_pkcs8(&decoded.der),
            KeyKind::Pkcs1PrivateKey => RsaKeyPair::from_der(&decoded.der),
            given => {
                return Err(KeyError::WrongKind {
                    role,
                    given,
                    expected: "an RSA private key (PKCS#8 or PKCS#1, PEM or base64)",
                })
            }
        };
        let pair = parsed.map_err(|e| KeyError::Rejected {
            role,
            reason: e.description_(),
        })?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// Signs `message` (the UTF-8 string to sign) and returns standard base64 with padding.
    ///
    /// Only RSA2 (SHA256withRSA) is offered for signing: new apps cannot use RSA (SHA-1).
    pub fn sign(&self, message: &[u8]) -> String {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        // Signing with a validated key into a buffer of the modulus length cannot fail.
        if self
            .pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .is_err()
        {
            unreachable!("RSA signing with a validated key and a modulus-sized buffer");
        }
        B64.encode(sig)
    }

    /// The app's public key in PKCS#1 DER (what the simulator verifies requests with).
    pub fn public_key_der(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The matching public key, ready to verify what this key signed.
    pub fn public_key(&self) -> AlipayPublicKey {
        AlipayPublicKey::from_der(self.public_key_der(), KeyRole::AppPublicKey)
            .unwrap_or_else(|_| unreachable!("a key pair's own public key parses"))
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }
}

impl fmt::Debug for AppPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppPrivateKey")
            .field("bits", &self.bits())
            .field("public_fingerprint", &fingerprint(self.public_key_der()))
            .finish_non_exhaustive()
    }
}

/// A public key that verifies signatures: Alipay's public key (responses, notifications) or, in the
/// simulator, the app's public key (requests). Parsed once for both RSA2 and legacy RSA.
#[derive(Clone)]
pub struct AlipayPublicKey {
    sha256: ParsedPublicKey,
    sha1: ParsedPublicKey,
    pkcs1: Vec<u8>,
}

impl AlipayPublicKey {
    /// Loads Alipay's public key from PEM or bare base64, SPKI or PKCS#1.
    ///
    /// # Errors
    /// [`KeyError::WrongKind`] when the text holds a private key or a certificate.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        Self::from_text_as(text, KeyRole::AlipayPublicKey)
    }

    /// Loads any RSA public key (for example the app's, in the simulator).
    ///
    /// # Errors
    /// As [`AlipayPublicKey::from_text`].
    pub fn from_text_as(text: &str, role: KeyRole) -> Result<Self, KeyError> {
        let decoded = decode_text(text, role)?;
        match classify(&decoded) {
            KeyKind::SpkiPublicKey | KeyKind::Pkcs1PublicKey => Self::from_der(&decoded.der, role),
            given => Err(KeyError::WrongKind {
                role,
                given,
                expected: "an RSA public key (SPKI or PKCS#1, PEM or base64)",
            }),
        }
    }

    /// Loads a public key from SPKI or PKCS#1 DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the bytes are not an acceptable RSA public key.
    pub fn from_der(der: &[u8], role: KeyRole) -> Result<Self, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Rejected {
            role,
            reason: e.description_(),
        };
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(rejected)?;
        let pkcs1 = key.as_ref().to_vec();
        Ok(Self {
            sha256: ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &pkcs1).map_err(rejected)?,
            sha1: ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, &pkcs1)
                .map_err(rejected)?,
            pkcs1,
        })
    }

    /// Verifies a base64 signature over `message`. Whitespace inside the base64 is not accepted.
    pub fn verify(&self, sign_type: SignType, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.as_bytes()) else {
            return false;
        };
        let key = match sign_type {
            SignType::Rsa2 => &self.sha256,
            SignType::Rsa => &self.sha1,
        };
        key.verify_sig(message, &sig).is_ok()
    }

    /// Fails when this key is the public half of `app_key`: the app's own public key was configured
    /// where Alipay's belongs.
    ///
    /// # Errors
    /// [`KeyError::AppPublicKeyConfiguredAsAlipayKey`].
    pub fn ensure_not_app_key(&self, app_key: &AppPrivateKey) -> Result<(), KeyError> {
        if self.pkcs1 == app_key.public_key_der() {
            Err(KeyError::AppPublicKeyConfiguredAsAlipayKey)
        } else {
            Ok(())
        }
    }

    /// The key in PKCS#1 DER.
    pub fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1
    }
}

impl fmt::Debug for AlipayPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayPublicKey")
            .field("fingerprint", &fingerprint(&self.pkcs1))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys/");

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{KEYS}{name}")).expect("test key file")
    }

    /// Every file of `forms` loads (by `load`, to the key's DER) and all give the same key.
    fn all_load_to_one_key<E: std::fmt::Display>(
        forms: &[&str],
        load: impl Fn(&str) -> Result<Vec<u8>, E>,
    ) {
        let ders: Vec<Vec<u8>> = forms
            .iter()
            .map(|f| load(&read(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect();
        assert!(ders.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn every_private_key_form_loads_to_the_same_key() {
        all_load_to_one_key(
            &[
                "app_private_pkcs8.pem",
                "app_private_pkcs1.pem",
                "app_private_pkcs8.b64.txt",
                "app_private_pkcs1.b64.txt",
            ],
            |text| AppPrivateKey::from_text(text).map(|k| k.public_key_der().to_vec()),
        );
    }

    #[test]
    fn every_public_key_form_loads_to_the_same_key() {
        all_load_to_one_key(
            &[
                "alipay_public_spki.pem",
                "alipay_public_pkcs1.pem",
                "alipay_public_spki.b64.txt",
            ],
            |text| AlipayPublicKey::from_text(text).map(|k| k.pkcs1),
        );
    }

    #[test]
    fn bare_pkcs1_public_base64_is_recognised() {
        let pem = read("alipay_public_pkcs1.pem");
        let bare: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(AlipayPublicKey::from_text(&bare).is_ok());
    }

    #[test]
    fn line_breaks_spaces_and_literal_backslash_n_are_tolerated() {
        let pem = read("app_private_pkcs8.pem");
        let escaped = pem.replace('\n', "\\n");
        assert!(AppPrivateKey::from_text(&escaped).is_ok());
        let spaced = read("app_private_pkcs1.b64.txt")
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                if i % 64 == 0 {
                    vec!['\r', '\n', ' ', c]
                } else {
                    vec![c]
                }
            })
            .collect::<String>();
        assert!(AppPrivateKey::from_text(&spaced).is_ok());
    }

    #[test]
    fn a_public_key_given_as_the_private_key_is_named() {
        let err = AppPrivateKey::from_text(&read("app_public_spki.pem")).unwrap_err();
        assert_eq!(
            err,
            KeyError::WrongKind {
                role: KeyRole::AppPrivateKey,
                given: KeyKind::SpkiPublicKey,
                expected: "an RSA private key (PKCS#8 or PKCS#1, PEM or base64)"
            }
        );
        let err = AppPrivateKey::from_text(&read("app_public_spki.b64.txt")).unwrap_err();
        assert!(matches!(
            err,
            KeyError::WrongKind {
                given: KeyKind::SpkiPublicKey,
                ..
            }
        ));
    }

    #[test]
    fn a_private_key_given_as_the_alipay_public_key_is_named_without_leaking_it() {
        let text = read("alipay_private_pkcs1.b64.txt");
        let err = AlipayPublicKey::from_text(&text).unwrap_err();
        assert!(matches!(
            err,
            KeyError::WrongKind {
                given: KeyKind::Pkcs1PrivateKey,
                ..
            }
        ));
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&text[10..40]));
    }

    #[test]
    fn the_apps_own_public_key_configured_as_alipays_is_detected() {
        let app = AppPrivateKey::from_text(&read("app_private_pkcs8.pem")).unwrap();
        let wrong = AlipayPublicKey::from_text(&read("app_public_spki.pem")).unwrap();
        assert_eq!(
            wrong.ensure_not_app_key(&app),
            Err(KeyError::AppPublicKeyConfiguredAsAlipayKey)
        );
        let right = AlipayPublicKey::from_text(&read("alipay_public_spki.pem")).unwrap();
        assert_eq!(right.ensure_not_app_key(&app), Ok(()));
    }

    #[test]
    fn garbage_empty_and_certificates_get_typed_errors() {
        assert!(matches!(
            AppPrivateKey::from_text("  \n "),
            Err(KeyError::Empty { .. })
        ));
        assert!(matches!(
            AppPrivateKey::from_text("not base64 at all!"),
            Err(KeyError::NotBase64 { .. })
        ));
        assert!(matches!(
            AlipayPublicKey::from_text(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
            ),
            Err(KeyError::WrongKind {
                given: KeyKind::Certificate,
                ..
            })
        ));
        assert!(matches!(
            AppPrivateKey::from_text("AAAA"),
            Err(KeyError::WrongKind {
                given: KeyKind::Unrecognised,
                ..
            })
        ));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let text = read("app_private_pkcs8.b64.txt");
        let key = AppPrivateKey::from_text(&text).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.starts_with("AppPrivateKey { bits: 2048"));
        assert!(!shown.contains(&text[20..40]));
    }
}
