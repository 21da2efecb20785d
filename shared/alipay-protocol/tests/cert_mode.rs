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
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys/");
    let direct = AlipayPublicKey::from_text(
        &std::fs::read_to_string(format!("{dir}alipay_public_spki.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(from_cert.pkcs1_der(), direct.pkcs1_der());

    // A cert-mode response signed by the platform key: right SN verifies, other SN is refused.
    let platform = AppPrivateKey::from_text(
        &std::fs::read_to_string(format!("{dir}alipay_private_pkcs1.pem")).unwrap(),
    )
    .unwrap();
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
