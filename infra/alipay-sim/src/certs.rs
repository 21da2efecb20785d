//! Certificate mode (公钥证书模式): the simulator's own certificate hierarchy, made at start.
//!
//! Like Alipay's: a root bundle (an ECDSA root and an RSA root, so `alipay_root_cert_sn` keeps only
//! the RSA one), a "Class 1" CA that issues the app's public-key certificate (for the configured app
//! public key) and a "Class 2" CA that issues Alipay's public-key certificates, shipped as the leaf
//! followed by the Class 2 certificate (as `alipayCertPublicKey_RSA2.crt` is). Every answer is signed
//! with the key of the current Alipay certificate and names it (`alipay_cert_sn`); a rotation issues
//! a new certificate for a new key, and every certificate ever issued stays downloadable by SN.

use std::sync::Arc;

use alipay_protocol::cert::{cert_sn, root_cert_sn};
use alipay_protocol::{AlipayPublicKey, AppPrivateKey};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use time::{Duration, OffsetDateTime};

/// Why the certificates could not be made.
#[derive(Debug, thiserror::Error)]
#[error("certificate generation: {0}")]
pub struct CertGenError(String);

fn gen_err(e: impl std::fmt::Display) -> CertGenError {
    CertGenError(e.to_string())
}

/// One Alipay public-key certificate the simulator issued.
#[derive(Clone)]
pub struct AlipayCert {
    /// Its SN (`alipay_cert_sn`).
    pub sn: String,
    /// The certificate file: the leaf, then the Class 2 CA certificate (PEM).
    pub pem: String,
    /// The key it certifies: answers signed while it is current use it.
    pub key: Arc<AppPrivateKey>,
}

/// The hierarchy: roots, the app certificate, and Alipay's certificates (the last one is current).
pub struct SimCerts {
    /// `alipayRootCert.crt`: every root, PEM.
    pub root_bundle_pem: String,
    /// `alipay_root_cert_sn` requests must carry.
    pub root_cert_sn: String,
    /// `appCertPublicKey_<app id>.crt`: the app certificate, then the Class 1 CA certificate.
    pub app_cert_pem: String,
    /// `app_cert_sn` requests must carry.
    pub app_cert_sn: String,
    class2: Issuer<'static, KeyPair>,
    class2_pem: String,
    alipay: Vec<AlipayCert>,
    next_serial: u64,
    /// Random per hierarchy: two simulators never issue the same SN (issuer name + serial).
    serial_prefix: u64,
}

/// The public key of the configured app key pair, as rcgen wants it.
struct RsaPublic(Vec<u8>);

impl PublicKeyData for RsaPublic {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

fn name(org: &str, unit: Option<&str>, common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, org);
    if let Some(unit) = unit {
        dn.push(DnType::OrganizationalUnitName, unit);
    }
    dn.push(DnType::CommonName, common);
    dn
}

/// A random number from the standard library's per-instance hasher keys.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn params(dn: DistinguishedName, serial: (u64, u64), ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(if ca { 3650 } else { 365 });
    // A large serial like Alipay's (its SN is MD5 of the issuer and the decimal serial).
    let mut bytes = vec![0x2a];
    bytes.extend_from_slice(&serial.0.to_be_bytes());
    bytes.extend_from_slice(&serial.1.to_be_bytes());
    p.serial_number = Some(bytes.into());
    p.distinguished_name = dn;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p
}

fn rsa_key() -> Result<KeyPair, CertGenError> {
    KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(gen_err)
}

impl SimCerts {
    /// Makes the hierarchy for an app whose public key is `app_key`, with a fresh key for Alipay's
    /// first certificate. Four RSA keys are generated (root, two CAs, Alipay), so this takes a
    /// moment.
    ///
    /// # Errors
    /// [`CertGenError`].
    pub fn generate(app_id: &str, app_key: &AlipayPublicKey) -> Result<Self, CertGenError> {
        let prefix = random_u64();
        let ec_root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
        let ec_root = params(
            name("Sim Financial", None, "Sim Financial ECC Root"),
            (prefix, 1),
            true,
        )
        .self_signed(&ec_root_key)
        .map_err(gen_err)?;
        let root_key = rsa_key()?;
        let root_params = params(
            name(
                "Sim Financial",
                Some("Certification Authority"),
                "Sim Financial Certification Authority R1",
            ),
            (prefix, 2),
            true,
        );
        let root_cert = root_params.self_signed(&root_key).map_err(gen_err)?;
        let root = Issuer::new(root_params, root_key);
        let ca =
            |class: u8, serial: u64| -> Result<(Issuer<'static, KeyPair>, String), CertGenError> {
                let key = rsa_key()?;
                let p = params(
                    name(
                        "Sim Financial",
                        Some("Certification Authority"),
                        &format!("Sim Financial Certification Authority Class {class} R1"),
                    ),
                    (prefix, serial),
                    true,
                );
                let cert = p.signed_by(&key, &root).map_err(gen_err)?;
                Ok((Issuer::new(p, key), cert.pem()))
            };
        let (class1, class1_pem) = ca(1, 3)?;
        let (class2, class2_pem) = ca(2, 4)?;
        let app_cert = params(
            name("Sim Merchant", Some("Alipay"), app_id),
            (prefix, 5),
            false,
        )
        .signed_by(&RsaPublic(app_key.pkcs1_der().to_vec()), &class1)
        .map_err(gen_err)?;
        let root_bundle_pem = format!("{}{}", ec_root.pem(), root_cert.pem());
        // The app certificate file carries its CA after it, so it chains like Alipay's does.
        let app_cert_pem = format!("{}{class1_pem}", app_cert.pem());
        let mut certs = Self {
            root_cert_sn: root_cert_sn(root_bundle_pem.as_bytes()).map_err(gen_err)?,
            app_cert_sn: cert_sn(app_cert_pem.as_bytes()).map_err(gen_err)?,
            root_bundle_pem,
            app_cert_pem,
            class2,
            class2_pem,
            alipay: Vec::new(),
            next_serial: 100,
            serial_prefix: prefix,
        };
        certs.rotate()?;
        Ok(certs)
    }

    /// Issues a new Alipay certificate for a new key and makes it current.
    ///
    /// # Errors
    /// [`CertGenError`].
    pub fn rotate(&mut self) -> Result<&AlipayCert, CertGenError> {
        let key = rsa_key()?;
        let serial = self.next_serial;
        self.next_serial += 1;
        let leaf = params(
            name("Sim Alipay", Some("Alipay"), "2088000000000000"),
            (self.serial_prefix, serial),
            false,
        )
        .signed_by(&key, &self.class2)
        .map_err(gen_err)?;
        let pem = format!("{}{}", leaf.pem(), self.class2_pem);
        let private = base64::engine::general_purpose::STANDARD.encode(key.serialize_der());
        let signer = AppPrivateKey::from_text(&private).map_err(gen_err)?;
        self.alipay.push(AlipayCert {
            sn: cert_sn(leaf.pem().as_bytes()).map_err(gen_err)?,
            pem,
            key: Arc::new(signer),
        });
        Ok(self.current())
    }

    /// The certificate that signs answers now.
    pub fn current(&self) -> &AlipayCert {
        // `generate` issues one before anyone can ask.
        &self.alipay[self.alipay.len() - 1]
    }

    /// Any certificate ever issued, by SN.
    pub fn by_sn(&self, sn: &str) -> Option<&AlipayCert> {
        self.alipay.iter().find(|c| c.sn == sn)
    }

    /// Every Alipay certificate issued, oldest first.
    pub fn all(&self) -> &[AlipayCert] {
        &self.alipay
    }
}

/// The PEM texts a merchant would download from the console (what the harness seeds the keys
/// secret with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPems {
    /// `app_cert`.
    pub app_cert: String,
    /// `alipay_cert` (the current one).
    pub alipay_cert: String,
    /// `alipay_root_cert`.
    pub alipay_root_cert: String,
}

impl SimCerts {
    /// The three files of the current state.
    pub fn pems(&self) -> CertPems {
        CertPems {
            app_cert: self.app_cert_pem.clone(),
            alipay_cert: self.current().pem.clone(),
            alipay_root_cert: self.root_bundle_pem.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay_protocol::cert::CertModeSet;

    #[test]
    fn the_hierarchy_satisfies_the_client_s_checks_and_rotates() {
        let dir = crate::default_keys_dir();
        let app_private = AppPrivateKey::from_text(
            &std::fs::read_to_string(dir.join("app_private_pkcs8.pem")).unwrap(),
        )
        .unwrap();
        let mut certs = SimCerts::generate("2021000000000001", &app_private.public_key()).unwrap();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let pems = certs.pems();
        let set = CertModeSet::load(
            pems.app_cert.as_bytes(),
            pems.alipay_cert.as_bytes(),
            pems.alipay_root_cert.as_bytes(),
            &app_private,
            now,
        )
        .unwrap();
        assert_eq!(set.app_cert_sn, certs.app_cert_sn);
        assert_eq!(set.alipay_root_cert_sn, certs.root_cert_sn);
        assert!(
            !set.alipay_root_cert_sn.contains('_'),
            "only the RSA root counts"
        );
        assert_eq!(set.alipay_cert.sn, certs.current().sn);
        assert_eq!(set.alipay_cert.path.len(), 3);
        let app = set
            .roots
            .verify_chain(pems.app_cert.as_bytes(), now)
            .unwrap();
        assert_eq!(
            (app.sn.as_str(), app.path.len()),
            (certs.app_cert_sn.as_str(), 3)
        );
        let first = certs.current().sn.clone();
        let second = certs.rotate().unwrap().sn.clone();
        assert_ne!(first, second);
        let rotated = set
            .roots
            .verify_chain(certs.by_sn(&second).unwrap().pem.as_bytes(), now)
            .unwrap();
        assert_eq!(rotated.sn, second);
        assert!(certs.by_sn(&first).is_some());
        assert_eq!(certs.all().len(), 2);
    }
}
