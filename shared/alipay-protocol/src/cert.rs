//! Public-key-certificate mode: `app_cert_sn`, `alipay_root_cert_sn`, and Alipay's public key taken
//! from its certificate.
//!
//! `SN = lowercase hex MD5(issuer DN as RFC 2253 text (Java's `getName()`) + decimal serial number)`;
//! the root SN joins, in file order, the SNs of the roots signed with an RSA-family algorithm
//! (OID prefix `1.2.840.113549.1.1`) with `_`.

use der::{Decode, DecodePem, Encode, Tag, Tagged};
use md5::{Digest, Md5};
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::keys::{AlipayPublicKey, KeyError, KeyRole};

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
}

const RSA_FAMILY: &str = "1.2.840.113549.1.1";

fn parse_one(data: &[u8]) -> Result<Certificate, CertError> {
    Certificate::from_pem(data)
        .or_else(|_| Certificate::from_der(data))
        .map_err(|_| CertError::NotACertificate)
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

/// `app_cert_sn` (or any certificate's SN) from a PEM or DER certificate.
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
