//! `doctor`: is this deployment able to work? Each check is one line, `✓` or `✗` (with the fix), or
//! `–` when there is nothing to check. The keys are parsed exactly as the functions parse them
//! (`rewards_aws::keys::parse_secret`); the gateway check is a signed, harmless call whose signed
//! error answer proves our key is registered and Alipay's key is the right one.

use crate::api::Api;
use crate::target::Deployment;
use alipay_client::cash::CashDetailQuery;
use alipay_client::{AlipayClient, ClientConfig, FailureKind, Keys, Outcome, UnknownReason};
use alipay_protocol::cert::{CertError, RootBundle};
use alipay_protocol::keys::KeyKind;
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, KeyError};
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};
use x509_cert::Certificate;

/// The crowd number the gateway check asks about: no campaign has it, so the platform answers a
/// signed business error and nothing changes anywhere.
pub const PROBE_CROWD_NO: &str = "rewardsctl_doctor_probe";

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `ok`, `failed` or `skipped`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// What to do (failed checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: "ok",
            detail: detail.into(),
            fix: None,
        }
    }
    fn failed(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: "failed",
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn skipped(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: "skipped",
            detail: detail.into(),
            fix: None,
        }
    }

    /// `✓ name: detail`, `✗ name: detail — fix: …`, `– name: detail`.
    pub fn line(&self) -> String {
        match self.status {
            "ok" => format!("✓ {}: {}", self.name, self.detail),
            "failed" => format!(
                "✗ {}: {} — fix: {}",
                self.name,
                self.detail,
                self.fix.as_deref().unwrap_or("")
            ),
            _ => format!("– {}: {}", self.name, self.detail),
        }
    }

    /// True when the check failed.
    pub fn failed_(&self) -> bool {
        self.status == "failed"
    }
}

/// Certificate files given on the command line (they win over the secret's fields).
#[derive(Debug, Clone, Default)]
pub struct CertFiles {
    /// The app public-key certificate (appCertPublicKey_<appid>.crt).
    pub app: Option<String>,
    /// Alipay's public-key certificate (alipayCertPublicKey_RSA2.crt).
    pub alipay: Option<String>,
    /// Alipay's root bundle (alipayRootCert.crt).
    pub root: Option<String>,
}

/// Everything the doctor looks at.
pub struct Inputs<'a> {
    /// The deployment (table, secret, app id, gateway).
    pub deployment: &'a Deployment,
    /// The SDK configuration for Secrets Manager and DynamoDB.
    pub sdk: &'a aws_config::SdkConfig,
    /// The API client.
    pub api: &'a Api,
    /// Certificate files.
    pub certs: CertFiles,
}

/// Runs every check, in order.
pub async fn run(inputs: &Inputs<'_>) -> Vec<Check> {
    let d = inputs.deployment;
    let mut checks = Vec::new();
    let secret_text = match &d.keys_secret {
        None => {
            checks.push(Check::failed(
                "keys secret",
                "no keys secret is known",
                "pass --stack NAME, or --keys-secret NAME (the local stack reports it itself)",
            ));
            None
        }
        Some(id) => match read_secret(inputs.sdk, id).await {
            Ok(text) => Some(text),
            Err(e) => {
                checks.push(Check::failed(
                    "keys secret",
                    format!("cannot read {id}: {e}"),
                    "check the secret name (--keys-secret), --region and secretsmanager:GetSecretValue",
                ));
                None
            }
        },
    };
    let mut keys = None;
    let mut fields = serde_json::Map::new();
    if let (Some(text), Some(id)) = (&secret_text, &d.keys_secret) {
        match rewards_aws::keys::parse_secret(text) {
            Ok(k) => {
                checks.push(Check::ok(
                    "keys secret",
                    format!(
                        "{id} parses as the functions read it (app key RSA {} bits)",
                        k.app_private_key.bits()
                    ),
                ));
                keys = Some(k);
            }
            Err(e) => checks.push(Check::failed(
                "keys secret",
                format!("{id}: {e}"),
                "put {\"app_private_key\": <应用私钥 PEM>, \"alipay_public_key\": <支付宝公钥 PEM>} in the secret, or in certificate mode app_private_key with app_cert, alipay_cert and alipay_root_cert (docs/deploy.md)",
            )),
        }
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
            fields = map;
        }
        checks.push(key_pair(&fields));
    } else {
        checks.push(Check::skipped("key pair", "no secret to read"));
    }
    checks.extend(certificates(&fields, &inputs.certs, keys.as_ref()));
    checks.push(table(inputs.sdk, d.table.as_deref()).await);
    checks.push(gateway(d, keys.as_ref()).await);
    checks.push(api(inputs.api).await);
    checks
}

async fn read_secret(sdk: &aws_config::SdkConfig, id: &str) -> Result<String, String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            // The error names the secret and the AWS reason, never its value.
            match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => "no such secret".to_owned(),
                _ => aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            }
        })?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| "the secret has no string value".to_owned())
}

fn fingerprint(pkcs1: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pkcs1);
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn is_private(kind: KeyKind) -> bool {
    matches!(kind, KeyKind::Pkcs8PrivateKey | KeyKind::Pkcs1PrivateKey)
}

fn is_public(kind: KeyKind) -> bool {
    matches!(kind, KeyKind::SpkiPublicKey | KeyKind::Pkcs1PublicKey)
}

/// The app key and the Alipay key: in their places (not swapped), and not one pair (the app's own
/// public key configured as Alipay's); an `app_public_key` field, when present, is the private key's pair.
fn key_pair(fields: &serde_json::Map<String, Value>) -> Check {
    const NAME: &str = "key pair";
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    let (Some(app_text), Some(alipay_text)) = (text("app_private_key"), text("alipay_public_key"))
    else {
        if text("alipay_cert").is_some() {
            return Check::skipped(
                NAME,
                "certificate mode: Alipay's key is its certificate's (see the certificate lines)",
            );
        }
        return Check::skipped(
            NAME,
            "the secret lacks app_private_key or alipay_public_key",
        );
    };
    let app = AppPrivateKey::from_text(app_text);
    let alipay = AlipayPublicKey::from_text(alipay_text);
    fn given<T>(r: &Result<T, KeyError>) -> Option<KeyKind> {
        match r {
            Err(KeyError::WrongKind { given, .. }) => Some(*given),
            _ => None,
        }
    }
    match (given(&app), given(&alipay)) {
        (Some(a), Some(b)) if is_public(a) && is_private(b) => {
            return Check::failed(
                NAME,
                "swapped: app_private_key holds a public key and alipay_public_key a private key",
                "exchange the two fields' values",
            )
        }
        (Some(a), _) if is_public(a) => {
            return Check::failed(
                NAME,
                "app_private_key holds a public key",
                "put the app private key (应用私钥, from the key tool) in app_private_key",
            )
        }
        (_, Some(b)) if is_private(b) => {
            return Check::failed(
                NAME,
                "alipay_public_key holds a private key",
                "put the Alipay public key (支付宝公钥, from the open platform console) in alipay_public_key",
            )
        }
        _ => {}
    }
    let (Ok(app), Ok(alipay)) = (app, alipay) else {
        return Check::failed(
            NAME,
            "a key does not parse (see the keys secret line)",
            "fix the secret first",
        );
    };
    if alipay.ensure_not_app_key(&app).is_err() {
        return Check::failed(
            NAME,
            "mismatched: alipay_public_key is the app's own public key (the pair of app_private_key)",
            "copy the 支付宝公钥 (Alipay public key) from the console into alipay_public_key, not the 应用公钥",
        );
    }
    if let Some(app_public) = text("app_public_key") {
        match AlipayPublicKey::from_text_as(app_public, alipay_protocol::keys::KeyRole::AppPublicKey) {
            Ok(k) if k.pkcs1_der() == app.public_key_der() => {}
            _ => {
                return Check::failed(
                    NAME,
                    "mismatched: app_public_key is not the pair of app_private_key",
                    "upload the public key of app_private_key to the console (and store that one), or store the matching private key",
                )
            }
        }
    }
    Check::ok(
        NAME,
        format!(
            "app key {} and Alipay key {} are in their places and distinct",
            fingerprint(app.public_key_der()),
            fingerprint(alipay.pkcs1_der())
        ),
    )
}

fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Every certificate in a PEM text (or one DER certificate): the protocol crate's parser, the one
/// the functions use.
pub fn parse_certs(data: &[u8]) -> Result<Vec<Certificate>, String> {
    alipay_protocol::cert::parse_certificates(data).map_err(|e| e.to_string())
}

fn certificates(
    fields: &serde_json::Map<String, Value>,
    files: &CertFiles,
    keys: Option<&rewards_aws::AlipayKeys>,
) -> Vec<Check> {
    // Flags win; else the secret's optional fields.
    let source = |file: &Option<String>, field: &str| -> Option<Result<Vec<u8>, String>> {
        match file {
            Some(path) => Some(read_file(path)),
            None => fields
                .get(field)
                .and_then(Value::as_str)
                .map(|s| Ok(s.replace("\\n", "\n").into_bytes())),
        }
    };
    let app = source(&files.app, "app_cert");
    let alipay = source(&files.alipay, "alipay_cert");
    let root = source(&files.root, "alipay_root_cert");
    if app.is_none() && alipay.is_none() && root.is_none() {
        return vec![Check::skipped(
            "certificates",
            "none configured (public-key mode)",
        )];
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut checks = Vec::new();
    let roots = match root {
        None => {
            checks.push(Check::failed(
                "root certificate",
                "certificates are configured but no root bundle",
                "give alipayRootCert.crt (--root-cert or the secret's alipay_root_cert)",
            ));
            None
        }
        Some(Err(e)) => {
            checks.push(Check::failed("root certificate", e, "check the path"));
            None
        }
        Some(Ok(data)) => match RootBundle::from_pem(&data) {
            Ok(bundle) => {
                checks.push(Check::ok(
                    "root certificate",
                    format!(
                        "{} certificate(s), alipay_root_cert_sn {}",
                        bundle.certificates().len(),
                        bundle.root_cert_sn()
                    ),
                ));
                Some(bundle)
            }
            Err(e) => {
                checks.push(Check::failed(
                    "root certificate",
                    e.to_string(),
                    "give Alipay's alipayRootCert.crt",
                ));
                None
            }
        },
    };
    for (name, given, expected_key) in [
        (
            "app certificate",
            app,
            keys.map(|k| k.app_private_key.public_key_der().to_vec()),
        ),
        (
            "Alipay certificate",
            alipay,
            keys.map(|k| k.alipay_public_key.pkcs1_der().to_vec()),
        ),
    ] {
        let Some(given) = given else {
            checks.push(Check::failed(
                name,
                "missing while other certificates are configured",
                "give all three: --app-cert, --alipay-cert, --root-cert (or the secret's app_cert, alipay_cert, alipay_root_cert)",
            ));
            continue;
        };
        checks.push(match given {
            Err(e) => Check::failed(name, e, "give the .crt file downloaded from the console"),
            Ok(file) => one_certificate(name, &file, roots.as_ref(), expected_key.as_deref(), now),
        });
    }
    checks
}

/// One certificate file (leaf first, then any intermediates): its SN, validity, chain to the root
/// bundle (the protocol crate's check, as the functions run it) and key.
fn one_certificate(
    name: &str,
    file: &[u8],
    roots: Option<&RootBundle>,
    expected_key: Option<&[u8]>,
    now: i64,
) -> Check {
    let certs = match parse_certs(file) {
        Ok(c) => c,
        Err(e) => return Check::failed(name, e, "give the .crt file downloaded from the console"),
    };
    let leaf = &certs[0];
    // The file may carry its chain after the certificate: the SN is the first one's.
    let sn = alipay_protocol::cert::sn_of_certificate(leaf);
    let day = |s: i64| {
        time::OffsetDateTime::from_unix_timestamp(s)
            .map(|t| t.date().to_string())
            .unwrap_or_else(|_| s.to_string())
    };
    if let Err(CertError::Validity { state, .. }) = alipay_protocol::cert::check_validity(leaf, now)
    {
        return Check::failed(
            name,
            format!("SN {sn} {state}"),
            "download a renewed certificate from the console and update the secret",
        );
    }
    let valid = format!(
        "valid until {}",
        day(alipay_protocol::cert::not_after(leaf))
    );
    let Some(roots) = roots else {
        return Check::failed(
            name,
            format!("SN {sn}: no usable root bundle to chain to"),
            "fix the root certificate first",
        );
    };
    let path = match roots.verify_chain(file, now) {
        Ok(trusted) => trusted.path,
        Err(e) => {
            return Check::failed(
                name,
                format!("SN {sn} does not chain to the root bundle: {e}"),
                "use the certificate and the root bundle downloaded together from the console",
            )
        }
    };
    if let Some(expected) = expected_key {
        let key = leaf
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .as_bytes();
        if key != Some(expected) {
            return Check::failed(
                name,
                format!("SN {sn}: its public key is not the key in the secret"),
                "store the key that belongs to this certificate (or the certificate of the stored key)",
            );
        }
    }
    Check::ok(
        name,
        format!("SN {sn}, {valid}, chains {}", path.join(" → ")),
    )
}

/// The table exists, is active, and has the keys and indexes of template.yaml's RewardsTable.
pub const EXPECTED_KEYS: (&str, &str) = ("pk", "sk");
/// The global secondary indexes and their keys.
pub const EXPECTED_INDEXES: [(&str, &str, &str); 2] =
    [("gsi1", "gsi1pk", "gsi1sk"), ("gsi2", "gsi2pk", "gsi2sk")];

async fn table(sdk: &aws_config::SdkConfig, name: Option<&str>) -> Check {
    const NAME: &str = "table";
    let Some(name) = name else {
        return Check::failed(
            NAME,
            "no table is known",
            "pass --stack NAME, or --table NAME (the local stack reports it itself)",
        );
    };
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let out = match client.describe_table().table_name(name).send().await {
        Ok(o) => o,
        Err(e) => {
            let missing = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception());
            return if missing {
                Check::failed(
                    NAME,
                    format!("{name} does not exist"),
                    "deploy the stack (sam deploy) or, locally, run make dev (its stack harness creates it)",
                )
            } else {
                Check::failed(
                    NAME,
                    format!(
                        "cannot describe {name}: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    ),
                    "check --region and dynamodb:DescribeTable",
                )
            };
        }
    };
    let Some(t) = out.table() else {
        return Check::failed(NAME, format!("{name}: no description"), "retry");
    };
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> (String, String) {
        let of = |kt: aws_sdk_dynamodb::types::KeyType| {
            schema
                .iter()
                .find(|k| k.key_type() == &kt)
                .map(|k| k.attribute_name().to_owned())
                .unwrap_or_default()
        };
        (
            of(aws_sdk_dynamodb::types::KeyType::Hash),
            of(aws_sdk_dynamodb::types::KeyType::Range),
        )
    };
    let mut wrong = Vec::new();
    let (h, r) = keys(t.key_schema());
    if (h.as_str(), r.as_str()) != EXPECTED_KEYS {
        wrong.push(format!("keys are {h}/{r}, expected pk/sk"));
    }
    for (index, hk, rk) in EXPECTED_INDEXES {
        match t
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(index))
        {
            None => wrong.push(format!("index {index} is missing")),
            Some(g) => {
                let (h, r) = keys(g.key_schema());
                if (h.as_str(), r.as_str()) != (hk, rk) {
                    wrong.push(format!(
                        "index {index} has keys {h}/{r}, expected {hk}/{rk}"
                    ));
                }
            }
        }
    }
    let status = t
        .table_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "?".into());
    if !wrong.is_empty() {
        return Check::failed(
            NAME,
            format!("{name}: {}", wrong.join("; ")),
            "the table must be template.yaml's RewardsTable: redeploy the stack (the data stays: DeletionPolicy Retain)",
        );
    }
    Check::ok(
        NAME,
        format!(
            "{name} {status}, keys pk/sk, indexes gsi1 (gsi1pk/gsi1sk) and gsi2 (gsi2pk/gsi2sk)"
        ),
    )
}

async fn gateway(d: &Deployment, keys: Option<&rewards_aws::AlipayKeys>) -> Check {
    const NAME: &str = "gateway";
    let (Some(url), Some(app_id)) = (&d.gateway, &d.app_id) else {
        return Check::failed(
            NAME,
            "no gateway URL or app id is known",
            "pass --stack NAME, or --gateway URL and --app-id ID",
        );
    };
    let Some(keys) = keys else {
        return Check::skipped(NAME, "no usable keys to sign with");
    };
    let mut config = ClientConfig::new(
        app_id.clone(),
        url.clone(),
        Keys {
            app_private_key: keys.app_private_key.clone(),
            alipay_public_key: keys.alipay_public_key.clone(),
        },
    )
    .with_timeouts(Duration::from_secs(3), Duration::from_secs(10));
    config.cert_mode = keys.cert_mode.clone();
    let verified_with = if keys.cert_mode.is_some() {
        "the key of the Alipay certificate it names"
    } else {
        "alipay_public_key"
    };
    let client = match AlipayClient::new(config) {
        Ok(c) => c,
        Err(e) => return Check::failed(NAME, e.to_string(), "fix the keys secret"),
    };
    let probe = CashDetailQuery {
        crowd_no: PROBE_CROWD_NO.into(),
    };
    match client.execute(&probe).await {
        Outcome::Success(_) => Check::ok(
            NAME,
            format!("{url} accepted our signature for app {app_id}; its signed answer verified with {verified_with}"),
        ),
        Outcome::Failed(f) if f.kind == FailureKind::NotSent => Check::failed(
            NAME,
            format!("cannot reach {url}: {}", f.msg),
            "check the gateway URL (AlipayGatewayUrl) and the network path to it",
        ),
        Outcome::Failed(f) => {
            let sub = f.sub_code.clone().unwrap_or_default();
            if sub == "isv.invalid-signature" {
                Check::failed(
                    NAME,
                    format!("{url} refused our signature ({})", f.code),
                    "upload the public key of app_private_key (应用公钥) for this app in the console, or store the private key that belongs to the uploaded one",
                )
            } else if matches!(
                sub.as_str(),
                "isv.app-cert-not-exist" | "isv.missing-app-cert-sn" | "isv.invalid-alipay-root-cert-sn"
            ) {
                Check::failed(
                    NAME,
                    format!("{url} refused our certificate SNs ({sub})"),
                    "store the app certificate and root bundle downloaded from the console for this app (certificate mode), or switch the app to public-key mode",
                )
            } else if sub == "isv.invalid-app-id" {
                Check::failed(
                    NAME,
                    format!("{url} does not know app {app_id}"),
                    "check AlipayAppId (and that the gateway is production or sandbox as the app is)",
                )
            } else if f.kind == FailureKind::Gateway && sub.starts_with("isv.missing") {
                Check::failed(NAME, format!("{url} refused the call: {f}"), "report this")
            } else {
                Check::ok(
                    NAME,
                    format!(
                        "{url} accepted our signature for app {app_id}: a signed answer ({} {}) verified with {verified_with}",
                        f.code,
                        if sub.is_empty() { f.msg.clone() } else { sub }
                    ),
                )
            }
        }
        Outcome::Unknown(UnknownReason::BadSignature) => Check::failed(
            NAME,
            format!("{url} answered, but its signature does not verify with alipay_public_key"),
            "copy the 支付宝公钥 (Alipay public key) of this app from the console into alipay_public_key",
        ),
        Outcome::Unknown(reason) => Check::failed(
            NAME,
            format!("{url}: no usable answer ({reason})"),
            "retry; if it persists check the gateway URL",
        ),
    }
}

async fn api(api: &Api) -> Check {
    const NAME: &str = "API";
    let started = Instant::now();
    match api.get("/templates").await {
        Ok(r) => Check::ok(
            NAME,
            format!(
                "{} answers (signed GET /templates: {} in {} ms)",
                api.base(),
                r.status,
                started.elapsed().as_millis()
            ),
        ),
        Err(e) => Check::failed(NAME, format!("{}: {}", api.base(), e.what), e.hint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        alipay_protocol::fixtures::cert(name).unwrap()
    }

    fn key(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../tests/vectors/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn secret(app: &str, alipay: &str) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("app_private_key".into(), Value::String(key(app)));
        m.insert("alipay_public_key".into(), Value::String(key(alipay)));
        m
    }

    #[test]
    fn key_pair_finds_swapped_and_mismatched_keys() {
        assert!(!key_pair(&secret("app_private_pkcs8.pem", "alipay_public_spki.pem")).failed_());
        let swapped = key_pair(&secret("alipay_public_spki.pem", "app_private_pkcs8.pem"));
        assert!(
            swapped.line().starts_with("✗ key pair: swapped"),
            "{}",
            swapped.line()
        );
        let own = key_pair(&secret("app_private_pkcs8.pem", "app_public_spki.pem"));
        assert!(own
            .line()
            .contains("mismatched: alipay_public_key is the app's own"));
        let mut wrong_pub = secret("app_private_pkcs8.pem", "alipay_public_spki.pem");
        wrong_pub.insert(
            "app_public_key".into(),
            Value::String(key("alipay_public_spki.pem")),
        );
        assert!(key_pair(&wrong_pub)
            .line()
            .contains("app_public_key is not the pair"));
    }

    #[test]
    fn certificates_chain_expire_and_carry_their_sns() {
        let app = [fixture("app_cert.pem"), fixture("class1.pem")].concat();
        let roots = RootBundle::from_pem(&fixture("root_bundle.pem")).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let check = one_certificate("app certificate", &app, Some(&roots), None, now);
        assert!(
            check.line().starts_with(
                "✓ app certificate: SN 14a1633ce57ff42aa17ea8a8727ae669, valid until 2036"
            ),
            "{}",
            check.line()
        );
        assert_eq!(check.detail.matches(" → ").count(), 2, "{}", check.detail);
        // Without its intermediate the app certificate does not chain; nor with the wrong one.
        let alone = one_certificate(
            "app certificate",
            &fixture("app_cert.pem"),
            Some(&roots),
            None,
            now,
        );
        assert!(
            alone.line().contains("does not chain") && alone.line().contains("Class 1 R1"),
            "{}",
            alone.line()
        );
        let wrong = [fixture("app_cert.pem"), fixture("class2.pem")].concat();
        assert!(one_certificate("app certificate", &wrong, Some(&roots), None, now).failed_());
        let in_2040 = 2_208_988_800;
        let expired = one_certificate("app certificate", &app, Some(&roots), None, in_2040);
        assert!(expired.line().starts_with(
            "✗ app certificate: SN 14a1633ce57ff42aa17ea8a8727ae669 expired since 2036"
        ));
    }

    #[test]
    fn the_expected_table_is_template_yamls() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
                .unwrap();
        // The template's custom tags (!Ref, !Sub, …) are not YAML 1.2 core: read it as text-tolerant YAML.
        let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let table = &doc["Resources"]["RewardsTable"]["Properties"];
        let key_names = |schema: &serde_norway::Value| -> (String, String) {
            let of = |t: &str| {
                schema
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .find(|k| k["KeyType"].as_str() == Some(t))
                    .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
                    .unwrap()
            };
            (of("HASH"), of("RANGE"))
        };
        let (h, r) = key_names(&table["KeySchema"]);
        assert_eq!((h.as_str(), r.as_str()), EXPECTED_KEYS);
        let gsis = table["GlobalSecondaryIndexes"].as_sequence().unwrap();
        assert_eq!(gsis.len(), EXPECTED_INDEXES.len());
        for (index, hk, rk) in EXPECTED_INDEXES {
            let g = gsis
                .iter()
                .find(|g| g["IndexName"].as_str() == Some(index))
                .unwrap();
            let (h, r) = key_names(&g["KeySchema"]);
            assert_eq!((h.as_str(), r.as_str()), (hk, rk));
        }
    }
}
