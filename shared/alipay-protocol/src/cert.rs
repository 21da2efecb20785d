//! Public-key-certificate mode: `app_cert_sn`, `alipay_root_cert_sn`, and Alipay's public key taken
//! from its certificate.
//!
//! `SN = lowercase hex MD5(issuer DN as RFC 2253 text (Java's `getName()`) + decimal serial number)`;
//! the root SN joins, in file order, the SNs of the roots signed with an RSA-family algorithm
//! (OID prefix `1.2.840.113549.1.1`) with `_`.
//!
//! Trust: [`RootBundle::verify_chain`] follows a certificate file (leaf first, then any
//! intermediates, as Alipay ships `alipayCertPublicKey_RSA2.crt`) up to a root of the bundle, checking
//! each certificate's validity window and its issuer's RSA signature (SHA-256, or SHA-1 as Alipay's
//! older root uses) — the rule of the Java SDK's `AntCertificationUtil.isTrusted`. [`CertModeSet`]
//! is the whole certificate-mode configuration checked once: the one place its rules live.

use der::{Decode, DecodePem, Encode, Tag, Tagged};
use md5::{Digest, Md5};
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::keys::{AlipayPublicKey, AppPrivateKey, KeyError, KeyRole};

/// Why a certificate could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The text holds no certificate that parses (PEM or DER).
    #[error("not an X.509 certificate (PEM or DER)")]
    NotACertificate,
    /// A root bundle with no RSA-signed root.
    #[error("the root bundle has no RSA-signed certificate")]
    NoRsaRoot,
    /// The certificate's key is not an acceptable RSA key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A certificate of the chain is outside its validity window at the time of the check.
    #[error("certificate {subject} is {state}")]
    Validity {
        /// The certificate's subject (RFC 2253; names, never keys).
        subject: String,
        /// `expired since <date>` or `not valid before <date>`.
        state: String,
    },
    /// The certificate does not chain to a root of the bundle.
    #[error("certificate {subject} does not chain to the root bundle: {reason}")]
    Untrusted {
        /// The certificate where the walk stopped.
        subject: String,
        /// Why (no issuer found, a signature that does not verify, an unsupported algorithm).
        reason: String,
    },
    /// The certificate's public key is not the public half of the given private key.
    #[error("the certificate's public key is not the public key of the app private key")]
    KeyMismatch,
}

const RSA_FAMILY: &str = "1.2.840.113549.1.1";

/// The first certificate of a file (PEM, possibly followed by its chain, as Alipay ships
/// `alipayCertPublicKey_RSA2.crt`; or DER), as the Java SDK's `CertificateFactory.generateCertificate`
/// reads it.
fn parse_one(data: &[u8]) -> Result<Certificate, CertError> {
    match Certificate::from_pem(data).or_else(|_| Certificate::from_der(data)) {
        Ok(cert) => Ok(cert),
        Err(_) => parse_chain(data)?
            .into_iter()
            .next()
            .ok_or(CertError::NotACertificate),
    }
}

/// Every certificate of a PEM text (or one DER certificate), in file order.
///
/// # Errors
/// [`CertError::NotACertificate`] when a block does not parse or there is none.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<Certificate>, CertError> {
    parse_chain(data)
}

fn parse_chain(data: &[u8]) -> Result<Vec<Certificate>, CertError> {
    // x509-cert's `load_pem_chain` panics on some inputs (empty text): split the blocks ourselves.
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Ok(text) = std::str::from_utf8(data) else {
        return Certificate::from_der(data)
            .map(|c| vec![c])
            .map_err(|_| CertError::NotACertificate);
    };
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            return Err(CertError::NotACertificate);
        };
        let block = &rest[start..start + len + END.len()];
        certs.push(parse_one(block.as_bytes())?);
        rest = &rest[start + len + END.len()..];
    }
    if certs.is_empty() {
        return Err(CertError::NotACertificate);
    }
    Ok(certs)
}

/// Serial number bytes (big-endian, unsigned) as a decimal string.
fn decimal(be: &[u8]) -> String {
    let mut digits: Vec<u8> = Vec::new();
    let mut number: Vec<u8> = be.iter().copied().skip_while(|&b| b == 0).collect();
    while !number.is_empty() {
        let mut rem = 0u32;
        for byte in &mut number {
            let cur = (rem << 8) | u32::from(*byte);
            *byte = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
        number = number.into_iter().skip_while(|&b| b == 0).collect();
    }
    if digits.is_empty() {
        return "0".into();
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The issuer or subject as Java's `X500Principal.getName()` (RFC 2253) renders it: RDNs in reverse
/// order, `TYPE=value` joined by `,` without spaces; unknown types as dotted OID with `#` hex DER.
pub fn rfc2253(name: &Name) -> String {
    let mut rdns = Vec::new();
    for rdn in name.0.iter().rev() {
        let mut parts = Vec::new();
        for atv in rdn.0.iter() {
            let oid = atv.oid.to_string();
            let text = match atv.value.tag() {
                Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
                    std::str::from_utf8(atv.value.value())
                        .ok()
                        .map(str::to_string)
                }
                Tag::BmpString => {
                    let units: Vec<u16> = atv
                        .value
                        .value()
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                _ => None,
            };
            let part = match (short_name(&oid), text) {
                (Some(short), Some(text)) => format!("{short}={}", escape_rfc2253(&text)),
                _ => format!("{oid}=#{}", hex(&atv.value.to_der().unwrap_or_default())),
            };
            parts.push(part);
        }
        rdns.push(parts.join("+"));
    }
    rdns.join(",")
}

fn sn_of(cert: &Certificate) -> String {
    let issuer = rfc2253(&cert.tbs_certificate.issuer);
    let serial = decimal(cert.tbs_certificate.serial_number.as_bytes());
    let digest = Md5::digest(format!("{issuer}{serial}").as_bytes());
    hex(&digest)
}

/// `app_cert_sn` (or any certificate's SN) from a PEM or DER certificate; of a PEM file holding a
/// chain, the first certificate's.
///
/// # Errors
/// [`CertError::NotACertificate`].
pub fn cert_sn(cert: &[u8]) -> Result<String, CertError> {
    parse_one(cert).map(|c| sn_of(&c))
}

/// `alipay_root_cert_sn` from the root bundle (`alipayRootCert.crt`).
///
/// # Errors
/// [`CertError::NotACertificate`] or [`CertError::NoRsaRoot`].
pub fn root_cert_sn(bundle: &[u8]) -> Result<String, CertError> {
    let sns: Vec<String> = parse_chain(bundle)?
        .iter()
        .filter(|c| {
            c.signature_algorithm
                .oid
                .to_string()
                .starts_with(RSA_FAMILY)
        })
        .map(sn_of)
        .collect();
    if sns.is_empty() {
        return Err(CertError::NoRsaRoot);
    }
    Ok(sns.join("_"))
}

/// Alipay's public key from its public-key certificate (`alipayCertPublicKey_RSA2.crt`).
///
/// # Errors
/// [`CertError`] when the certificate does not parse or its key is not RSA.
pub fn public_key_from_cert(cert: &[u8]) -> Result<AlipayPublicKey, CertError> {
    let cert = parse_one(cert)?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| CertError::NotACertificate)?;
    Ok(AlipayPublicKey::from_der(&spki, KeyRole::AlipayPublicKey)?)
}

/// The subject of a certificate as RFC 2253 text.
pub fn subject(cert: &Certificate) -> String {
    rfc2253(&cert.tbs_certificate.subject)
}

/// The SN of a parsed certificate (see the module documentation).
pub fn sn_of_certificate(cert: &Certificate) -> String {
    sn_of(cert)
}

fn unix(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn day(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| unix_seconds.to_string())
}

/// `Ok` when `cert` is valid at `now` (epoch seconds), else [`CertError::Validity`].
///
/// # Errors
/// [`CertError::Validity`].
pub fn check_validity(cert: &Certificate, now: i64) -> Result<(), CertError> {
    let v = &cert.tbs_certificate.validity;
    let (from, until) = (unix(&v.not_before), unix(&v.not_after));
    let state = if now < from {
        format!("not valid before {}", day(from))
    } else if now > until {
        format!("expired since {}", day(until))
    } else {
        return Ok(());
    };
    Err(CertError::Validity {
        subject: subject(cert),
        state,
    })
}

/// When `cert` stops being valid (epoch seconds).
pub fn not_after(cert: &Certificate) -> i64 {
    unix(&cert.tbs_certificate.validity.not_after)
}

/// Why `issuer` did not sign `cert`, or `Ok` when it did (RSA PKCS#1 v1.5 with SHA-256/384/512, or
/// SHA-1 for legacy roots; keys of 2048 to 8192 bits).
fn check_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    let oid = cert.signature_algorithm.oid.to_string();
    let alg: &'static dyn signature::VerificationAlgorithm = match oid.as_str() {
        "1.2.840.113549.1.1.11" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "1.2.840.113549.1.1.12" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "1.2.840.113549.1.1.13" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "1.2.840.113549.1.1.5" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        other => return Err(format!("signature algorithm {other} is not supported")),
    };
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|_| "the certificate does not re-encode".to_string())?;
    let sig = cert
        .signature
        .as_bytes()
        .ok_or_else(|| "the signature is not a whole number of bytes".to_string())?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| "the issuer's key is not a whole number of bytes".to_string())?;
    UnparsedPublicKey::new(alg, key)
        .verify(&tbs, sig)
        .map_err(|_| format!("the signature of {} does not verify", subject(issuer)))
}

fn same_name(a: &Name, b: &Name) -> bool {
    a.to_der().ok() == b.to_der().ok()
}

/// The longest chain followed (leaf, intermediates, root).
const MAX_CHAIN: usize = 8;

/// A certificate that chains to the root bundle, with what the client needs of it. (Its `Debug`
/// shows the key as [`AlipayPublicKey`]'s does: a fingerprint.)
#[derive(Clone, Debug)]
pub struct TrustedCert {
    /// Its SN (`alipay_cert_sn` for Alipay's certificate).
    pub sn: String,
    /// Its public key.
    pub key: AlipayPublicKey,
    /// When it expires (epoch seconds).
    pub not_after: i64,
    /// The subjects from the leaf up to the root (RFC 2253).
    pub path: Vec<String>,
}

/// Alipay's root bundle (`alipayRootCert.crt`), parsed once: the trust anchors and
/// `alipay_root_cert_sn`.
#[derive(Clone)]
pub struct RootBundle {
    roots: Vec<Certificate>,
    sn: String,
}

impl std::fmt::Debug for RootBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootBundle")
            .field("roots", &self.roots.len())
            .field("sn", &self.sn)
            .finish()
    }
}

impl RootBundle {
    /// Parses the bundle (PEM, several blocks; or one DER certificate).
    ///
    /// # Errors
    /// [`CertError::NotACertificate`] or [`CertError::NoRsaRoot`].
    pub fn from_pem(bundle: &[u8]) -> Result<Self, CertError> {
        let roots = parse_chain(bundle)?;
        let sn = root_cert_sn(bundle)?;
        Ok(Self { roots, sn })
    }

    /// `alipay_root_cert_sn`.
    pub fn root_cert_sn(&self) -> &str {
        &self.sn
    }

    /// The certificates of the bundle, in file order.
    pub fn certificates(&self) -> &[Certificate] {
        &self.roots
    }

    /// Checks a certificate file (PEM: the leaf first, then any intermediates; or one DER
    /// certificate) against the bundle at `now` (epoch seconds): from the leaf, each certificate must
    /// be within its validity window and signed by the next one (found among the file's other
    /// certificates) up to one whose issuer is a root of the bundle and whose signature that root's
    /// key verifies. Roots are trust anchors: their own dates are not checked (as the Java SDK).
    ///
    /// # Errors
    /// [`CertError::NotACertificate`], [`CertError::Validity`], [`CertError::Untrusted`], or
    /// [`CertError::Key`] when the leaf's key is not an acceptable RSA key.
    pub fn verify_chain(&self, file: &[u8], now: i64) -> Result<TrustedCert, CertError> {
        let certs = parse_chain(file)?;
        let leaf = &certs[0];
        let pool = &certs[1..];
        let mut path = vec![subject(leaf)];
        let mut current = leaf;
        for _ in 0..MAX_CHAIN {
            check_validity(current, now)?;
            let issuer_name = &current.tbs_certificate.issuer;
            let mut last_reason = None;
            for root in self
                .roots
                .iter()
                .filter(|r| same_name(&r.tbs_certificate.subject, issuer_name))
            {
                match check_signed_by(current, root) {
                    Ok(()) => {
                        path.push(subject(root));
                        let spki = leaf
                            .tbs_certificate
                            .subject_public_key_info
                            .to_der()
                            .map_err(|_| CertError::NotACertificate)?;
                        return Ok(TrustedCert {
                            sn: sn_of(leaf),
                            key: AlipayPublicKey::from_der(&spki, KeyRole::AlipayPublicKey)?,
                            not_after: not_after(leaf),
                            path,
                        });
                    }
                    Err(reason) => last_reason = Some(reason),
                }
            }
            let next = pool.iter().find(|c| {
                same_name(&c.tbs_certificate.subject, issuer_name)
                    && !same_name(&c.tbs_certificate.subject, &current.tbs_certificate.subject)
            });
            let Some(next) = next else {
                return Err(CertError::Untrusted {
                    subject: subject(current),
                    reason: last_reason.unwrap_or_else(|| {
                        format!(
                            "its issuer {} is neither in the file nor in the root bundle",
                            rfc2253(issuer_name)
                        )
                    }),
                });
            };
            if let Err(reason) = check_signed_by(current, next) {
                return Err(CertError::Untrusted {
                    subject: subject(current),
                    reason,
                });
            }
            path.push(subject(next));
            current = next;
        }
        Err(CertError::Untrusted {
            subject: subject(leaf),
            reason: format!("the chain is longer than {MAX_CHAIN} certificates"),
        })
    }
}

/// `Ok(SN)` when the first certificate of `app_cert` carries the public key of `app_key`.
///
/// # Errors
/// [`CertError::NotACertificate`] or [`CertError::KeyMismatch`].
pub fn app_cert_sn_for_key(app_cert: &[u8], app_key: &AppPrivateKey) -> Result<String, CertError> {
    let certs = parse_chain(app_cert)?;
    let leaf = &certs[0];
    let key = leaf
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .as_bytes();
    if key != Some(app_key.public_key_der()) {
        return Err(CertError::KeyMismatch);
    }
    Ok(sn_of(leaf))
}

/// Which of the three certificate-mode inputs a [`CertModeError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertField {
    /// The app public-key certificate (`appCertPublicKey_<app id>.crt`).
    AppCert,
    /// Alipay's public-key certificate (`alipayCertPublicKey_RSA2.crt`).
    AlipayCert,
    /// Alipay's root bundle (`alipayRootCert.crt`).
    RootCert,
}

impl std::fmt::Display for CertField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertField::AppCert => "the app certificate",
            CertField::AlipayCert => "the Alipay certificate",
            CertField::RootCert => "the root bundle",
        })
    }
}

/// A certificate-mode input that is not usable, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {source}")]
pub struct CertModeError {
    /// Which input.
    pub field: CertField,
    /// Why.
    #[source]
    pub source: CertError,
}

/// The certificate-mode configuration of an app, checked once: the app certificate carries the app
/// key's public key, Alipay's certificate chains to the root bundle now, and the three SNs.
#[derive(Clone, Debug)]
pub struct CertModeSet {
    /// `app_cert_sn` (sent with every request).
    pub app_cert_sn: String,
    /// `alipay_root_cert_sn` (sent with every request).
    pub alipay_root_cert_sn: String,
    /// Alipay's certificate as checked (its SN is what responses carry as `alipay_cert_sn`).
    pub alipay_cert: TrustedCert,
    /// The root bundle, to check the certificates Alipay rotates to.
    pub roots: RootBundle,
}

impl CertModeSet {
    /// Checks the three inputs (PEM or DER) with the app private key at `now` (epoch seconds).
    ///
    /// # Errors
    /// [`CertModeError`] naming the input that is not usable (never any key text).
    pub fn load(
        app_cert: &[u8],
        alipay_cert: &[u8],
        root_bundle: &[u8],
        app_key: &AppPrivateKey,
        now: i64,
    ) -> Result<Self, CertModeError> {
        let err = |field| move |source| CertModeError { field, source };
        let roots = RootBundle::from_pem(root_bundle).map_err(err(CertField::RootCert))?;
        let app_cert_sn =
            app_cert_sn_for_key(app_cert, app_key).map_err(err(CertField::AppCert))?;
        let alipay_cert = roots
            .verify_chain(alipay_cert, now)
            .map_err(err(CertField::AlipayCert))?;
        alipay_cert
            .key
            .ensure_not_app_key(app_key)
            .map_err(|e| CertModeError {
                field: CertField::AlipayCert,
                source: CertError::Key(e),
            })?;
        Ok(Self {
            app_cert_sn,
            alipay_root_cert_sn: roots.root_cert_sn().to_string(),
            alipay_cert,
            roots,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_of_big_serials() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0, 0, 1]), "1");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        // 42665287695059973067612265679949416627 (the java-all fixture's serial).
        let be = 42665287695059973067612265679949416627u128.to_be_bytes();
        assert_eq!(decimal(&be), "42665287695059973067612265679949416627");
    }

    #[test]
    fn escaping_follows_rfc2253() {
        assert_eq!(escape_rfc2253("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc2253(" #x "), "\\ #x\\ ");
        assert_eq!(escape_rfc2253("#x"), "\\#x");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(cert_sn(b"nope"), Err(CertError::NotACertificate));
        assert_eq!(root_cert_sn(b""), Err(CertError::NotACertificate));
    }
}
