//! Certificate-mode SNs against fixtures whose expected values come from the openssl CLI
//! (scripts/gen-cert-fixtures.sh), not from this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alipay_protocol::cert::{cert_sn, public_key_from_cert, rfc2253, root_cert_sn};
use alipay_protocol::response::ResponseVerifier;
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, ResponseError};
use der::DecodePem;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/certs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn keys(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../tests/vectors/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn expected(field: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(&fixture("expected.json")).unwrap();
    v[field].as_str().unwrap().to_string()
}

#[test]
fn app_and_alipay_cert_sns_match_openssl() {
    assert_eq!(
        cert_sn(&fixture("app_cert.pem")).unwrap(),
        expected("app_cert_sn")
    );
    assert_eq!(
        cert_sn(&fixture("alipay_cert.pem")).unwrap(),
        expected("alipay_cert_sn")
    );
}

#[test]
fn a_file_with_its_chain_has_the_sn_and_key_of_its_first_certificate() {
    let file = [fixture("alipay_cert.pem"), fixture("class2.pem")].concat();
    assert_eq!(cert_sn(&file).unwrap(), expected("alipay_cert_sn"));
    let alone = public_key_from_cert(&fixture("alipay_cert.pem")).unwrap();
    assert_eq!(
        public_key_from_cert(&file).unwrap().pkcs1_der(),
        alone.pkcs1_der()
    );
}

#[test]
fn root_sn_joins_only_the_rsa_signed_roots_in_file_order() {
    assert_eq!(
        root_cert_sn(&fixture("root_bundle.pem")).unwrap(),
        expected("alipay_root_cert_sn")
    );
    assert!(root_cert_sn(&fixture("root_ec.pem")).is_err());
}

#[test]
fn issuer_text_is_rfc2253_with_escapes() {
    let cert = x509_cert::Certificate::from_pem(fixture("app_cert.pem")).unwrap();
    assert_eq!(
        rfc2253(&cert.tbs_certificate.issuer),
        expected("app_cert_issuer_rfc2253")
    );
    let root = x509_cert::Certificate::from_pem(fixture("root_rsa1.pem")).unwrap();
    assert_eq!(
        rfc2253(&root.tbs_certificate.issuer),
        expected("root_rsa1_issuer_rfc2253")
    );
}

#[test]
fn the_alipay_key_comes_out_of_its_certificate_and_cert_sn_is_checked() {
    let from_cert = public_key_from_cert(&fixture("alipay_cert.pem")).unwrap();
    let direct = AlipayPublicKey::from_text(&keys("alipay_public_spki.pem")).unwrap();
    assert_eq!(from_cert.pkcs1_der(), direct.pkcs1_der());

    // A cert-mode response signed by the platform key: right SN verifies, other SN is refused.
    let platform = AppPrivateKey::from_text(&keys("alipay_private_pkcs1.pem")).unwrap();
    let content = r#"{"code":"10000","msg":"Success"}"#;
    let sn = expected("alipay_cert_sn");
    let body = format!(
        r#"{{"alipay_trade_query_response":{content},"alipay_cert_sn":"{sn}","sign":"{}"}}"#,
        platform.sign(content.as_bytes())
    );
    let verifier = ResponseVerifier::new(from_cert.clone()).with_cert_sn(sn);
    assert!(verifier.verify(&body, "alipay.trade.query").is_ok());
    let other = ResponseVerifier::new(from_cert).with_cert_sn("0".repeat(32));
    assert!(matches!(
        other.verify(&body, "alipay.trade.query"),
        Err(ResponseError::CertSnMismatch { .. })
    ));
}

// The chain check (`RootBundle::verify_chain`) on the generated hierarchy: root → Class 2 → Alipay
// certificate, root → Class 1 → app certificate, and a SHA-1 root → leaf.

use alipay_protocol::cert::{CertError, CertField, CertModeError, CertModeSet, RootBundle};

/// 2026-12-01, inside every fixture's validity window.
const NOW: i64 = 1_796_083_200;

/// Alipay's certificate with its intermediate, as the open platform hands it out.
const ALIPAY_CHAIN: &[&str] = &["alipay_cert.pem", "class2.pem"];

fn cat(names: &[&str]) -> Vec<u8> {
    names.iter().flat_map(|n| fixture(n)).collect()
}

#[test]
fn a_leaf_with_its_intermediate_chains_to_the_bundle() {
    let roots = RootBundle::from_pem(&fixture("root_bundle.pem")).unwrap();
    assert_eq!(roots.root_cert_sn(), expected("alipay_root_cert_sn"));
    let trusted = roots.verify_chain(&cat(ALIPAY_CHAIN), NOW).unwrap();
    assert_eq!(trusted.sn, expected("alipay_cert_sn"));
    assert_eq!(trusted.path.len(), 3, "{:?}", trusted.path);
    assert!(trusted.path[2].contains("Test Root CA R1"));
    let direct = AlipayPublicKey::from_text(&keys("alipay_public_spki.pem")).unwrap();
    assert_eq!(trusted.key.pkcs1_der(), direct.pkcs1_der());
    // An intermediate is itself signed by a root of the bundle.
    assert_eq!(
        roots
            .verify_chain(&fixture("class2.pem"), NOW)
            .unwrap()
            .path
            .len(),
        2
    );
}

#[test]
fn a_leaf_without_its_intermediate_or_under_another_root_is_untrusted() {
    let roots = RootBundle::from_pem(&fixture("root_bundle.pem")).unwrap();
    let e = roots
        .verify_chain(&fixture("alipay_cert.pem"), NOW)
        .unwrap_err();
    assert!(matches!(e, CertError::Untrusted { .. }), "{e}");
    assert!(e.to_string().contains("Class 2"), "{e}");
    // The SHA-1 root alone does not anchor the SHA-256 hierarchy.
    let legacy_only = RootBundle::from_pem(&fixture("root_rsa1.pem")).unwrap();
    assert!(matches!(
        legacy_only.verify_chain(&cat(ALIPAY_CHAIN), NOW),
        Err(CertError::Untrusted { .. })
    ));
    // The app certificate's intermediate is not the Alipay certificate's.
    assert!(matches!(
        roots.verify_chain(&cat(&["alipay_cert.pem", "class1.pem"]), NOW),
        Err(CertError::Untrusted { .. })
    ));
}

#[test]
fn a_sha1_signed_chain_is_accepted_as_alipay_s_older_root_signs() {
    let roots = RootBundle::from_pem(&cat(&["root_rsa256.pem", "sha1_root.pem"])).unwrap();
    let trusted = roots.verify_chain(&fixture("sha1_leaf.pem"), NOW).unwrap();
    assert_eq!(trusted.path.len(), 2);
}

#[test]
fn a_tampered_signature_is_untrusted() {
    let cert = x509_cert::Certificate::from_pem(fixture("class2.pem")).unwrap();
    let mut der = der::Encode::to_der(&cert).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let roots = RootBundle::from_pem(&fixture("root_bundle.pem")).unwrap();
    let e = roots.verify_chain(&der, NOW).unwrap_err();
    assert!(
        matches!(&e, CertError::Untrusted { reason, .. } if reason.contains("does not verify")),
        "{e}"
    );
}

#[test]
fn the_validity_window_of_every_certificate_on_the_path_is_checked() {
    let roots = RootBundle::from_pem(&fixture("root_bundle.pem")).unwrap();
    let chain = cat(ALIPAY_CHAIN);
    // 2040: the leaf (10 years from 2026-11) has expired.
    let e = roots.verify_chain(&chain, 2_208_988_800).unwrap_err();
    assert!(
        matches!(&e, CertError::Validity { state, .. } if state.starts_with("expired since")),
        "{e}"
    );
    // 2020: not valid yet.
    let e = roots.verify_chain(&chain, 1_577_836_800).unwrap_err();
    assert!(
        matches!(&e, CertError::Validity { state, .. } if state.starts_with("not valid before")),
        "{e}"
    );
}

/// The files of a certificate-mode set, each the named fixtures concatenated.
#[derive(Clone, Copy)]
struct SetFiles {
    app_cert: &'static [&'static str],
    alipay_cert: &'static [&'static str],
    root_bundle: &'static [&'static str],
}

/// The set as the open platform hands it out.
const GOOD: SetFiles = SetFiles {
    app_cert: &["app_cert.pem"],
    alipay_cert: ALIPAY_CHAIN,
    root_bundle: &["root_bundle.pem"],
};

/// `CertModeSet::load` at [`NOW`].
fn load_set(files: SetFiles, app_key: &AppPrivateKey) -> Result<CertModeSet, CertModeError> {
    CertModeSet::load(
        &cat(files.app_cert),
        &cat(files.alipay_cert),
        &cat(files.root_bundle),
        app_key,
        NOW,
    )
}

#[test]
fn the_cert_mode_set_checks_the_app_key_and_the_chain_once() {
    let app_key = AppPrivateKey::from_text(&keys("app_private_pkcs8.pem")).unwrap();
    let set = load_set(GOOD, &app_key).unwrap();
    assert_eq!(set.app_cert_sn, expected("app_cert_sn"));
    assert_eq!(set.alipay_cert.sn, expected("alipay_cert_sn"));
    assert_eq!(set.alipay_root_cert_sn, expected("alipay_root_cert_sn"));

    // The app certificate of another key.
    let other_key = AppPrivateKey::from_text(&keys("alipay_private_pkcs8.pem")).unwrap();
    let e = load_set(GOOD, &other_key).unwrap_err();
    assert_eq!(e.field, CertField::AppCert);
    assert_eq!(e.source, CertError::KeyMismatch);
    // Alipay's certificate that does not chain; a bundle without an RSA root.
    let unchained = SetFiles {
        alipay_cert: &["alipay_cert.pem"],
        ..GOOD
    };
    let e = load_set(unchained, &app_key).unwrap_err();
    assert_eq!(e.field, CertField::AlipayCert);
    let no_rsa_root = SetFiles {
        root_bundle: &["root_ec.pem"],
        ..GOOD
    };
    let e = load_set(no_rsa_root, &app_key).unwrap_err();
    assert_eq!(
        (e.field, e.source),
        (CertField::RootCert, CertError::NoRsaRoot)
    );
    // The Alipay certificate given as the app certificate: its key is not the app key's.
    let swapped = SetFiles {
        app_cert: &["alipay_cert.pem"],
        ..GOOD
    };
    let e = load_set(swapped, &app_key).unwrap_err();
    assert_eq!(e.field, CertField::AppCert);
}
