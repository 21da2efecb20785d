//! Signed gateway requests: the string to sign, the wire form (system parameters in the URL query,
//! `biz_content` and application parameters in the form body, as the Java SDK sends them) and the
//! client-side order string (for APIs the mini-program invokes itself).

use crate::aes::AesKey;
use crate::keys::AppPrivateKey;
use crate::sign::{string_to_sign, SignType};
use crate::time::GatewayTimestamp;

/// Parameters the Java SDK puts in the URL query; everything else goes in the form body.
const QUERY_PARAMS: &[&str] = &[
    "method",
    "version",
    "app_id",
    "sign_type",
    "terminal_type",
    "terminal_info",
    "notify_url",
    "return_url",
    "charset",
    "target_app_id",
    "encrypt_type",
    "app_cert_sn",
    "alipay_root_cert_sn",
    "timestamp",
    "format",
    "auth_token",
    "alipay_sdk",
    "prod_code",
];

/// Parameters the signer sets itself; a caller may not pass them.
const RESERVED: &[&str] = &[
    "method",
    "version",
    "app_id",
    "sign_type",
    "charset",
    "timestamp",
    "sign",
    "encrypt_type",
    "app_cert_sn",
    "alipay_root_cert_sn",
    "biz_content",
];

/// Certificate-mode serial numbers sent with every request (see [`crate::cert`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertModeSns {
    /// `app_cert_sn`: SN of the app public-key certificate.
    pub app_cert_sn: String,
    /// `alipay_root_cert_sn`: SNs of the RSA-family roots joined with `_`.
    pub alipay_root_cert_sn: String,
}

/// What every request of one app shares.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `app_id`.
    pub app_id: String,
    /// Set for certificate-mode apps.
    pub cert_mode: Option<CertModeSns>,
}

/// One API call before signing.
#[derive(Debug, Clone, Default)]
pub struct UnsignedRequest<'a> {
    /// API name, e.g. `alipay.pass.instance.add`.
    pub method: &'a str,
    /// `biz_content` exactly as it will be transmitted (JSON text); `None` for APIs without one.
    pub biz_content: Option<&'a str>,
    /// Other top-level parameters (`notify_url`, `app_auth_token`, `grant_type`, `code`, …).
    /// `None` and empty values are not sent, as the platform drops them from the string to sign.
    pub params: Vec<(&'a str, Option<&'a str>)>,
    /// Encrypt `biz_content` with AES (`encrypt_type=AES`).
    pub encrypt: bool,
}

/// A request that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `method` was empty.
    #[error("method is empty")]
    MissingMethod,
    /// A parameter the signer sets itself was passed.
    #[error("parameter `{0}` is set by the signer and cannot be passed")]
    ReservedParam(String),
    /// The same parameter was passed twice.
    #[error("parameter `{0}` was passed twice")]
    DuplicateParam(String),
    /// Encryption was asked for without an AES key.
    #[error("encrypt requested but no AES key is configured")]
    NoAesKey,
}

/// A signed request, ready for the wire.
#[derive(Clone)]
pub struct SignedRequest {
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
    sign: String,
    string_to_sign: String,
}

impl std::fmt::Debug for SignedRequest {
    // The signature and body are not secret, but a full signed request is replayable: keep it out of
    // logs by default.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = self
            .query
            .iter()
            .find(|(k, _)| k == "method")
            .map(|(_, v)| v.as_str());
        f.debug_struct("SignedRequest")
            .field("method", &method)
            .finish_non_exhaustive()
    }
}

/// Signs `request` for `app` with `key` at `timestamp`.
///
/// # Errors
/// [`RequestError`] for a missing method, a reserved or repeated parameter, or encryption without a key.
pub fn sign_request(
    app: &AppConfig,
    key: &AppPrivateKey,
    aes: Option<&AesKey>,
    request: &UnsignedRequest<'_>,
    timestamp: GatewayTimestamp,
) -> Result<SignedRequest, RequestError> {
    if request.method.is_empty() {
        return Err(RequestError::MissingMethod);
    }
    let mut all: Vec<(String, String)> = vec![
        ("method".into(), request.method.into()),
        ("app_id".into(), app.app_id.clone()),
        ("charset".into(), "utf-8".into()),
        ("version".into(), "1.0".into()),
        ("sign_type".into(), SignType::Rsa2.as_str().into()),
        ("timestamp".into(), timestamp.to_string()),
    ];
    if let Some(cert) = &app.cert_mode {
        all.push(("app_cert_sn".into(), cert.app_cert_sn.clone()));
        all.push((
            "alipay_root_cert_sn".into(),
            cert.alipay_root_cert_sn.clone(),
        ));
    }
    if let Some(biz) = request.biz_content {
        if request.encrypt {
            let aes = aes.ok_or(RequestError::NoAesKey)?;
            all.push(("encrypt_type".into(), "AES".into()));
            all.push(("biz_content".into(), aes.encrypt(biz)));
        } else {
            all.push(("biz_content".into(), biz.into()));
        }
    }
    for (k, v) in &request.params {
        if RESERVED.contains(k) {
            return Err(RequestError::ReservedParam((*k).to_string()));
        }
        if request
            .params
            .iter()
            .filter(|(other, _)| other == k)
            .count()
            > 1
        {
            return Err(RequestError::DuplicateParam((*k).to_string()));
        }
        match v {
            Some(v) if !v.is_empty() && !k.is_empty() => all.push(((*k).into(), (*v).into())),
            _ => {}
        }
    }
    let string_to_sign =
        string_to_sign(all.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"]);
    let sign = key.sign(string_to_sign.as_bytes());
    let (mut query, body): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(k, _)| QUERY_PARAMS.contains(&k.as_str()));
    query.push(("sign".into(), sign.clone()));
    Ok(SignedRequest {
        query,
        body,
        sign,
        string_to_sign,
    })
}

fn encode_pairs<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

impl SignedRequest {
    /// The string that was signed.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The base64 signature.
    pub fn sign(&self) -> &str {
        &self.sign
    }

    /// Parameters sent in the URL query (system parameters and `sign`), decoded.
    pub fn query_params(&self) -> &[(String, String)] {
        &self.query
    }

    /// Parameters sent in the form body (`biz_content` and application parameters), decoded.
    pub fn body_params(&self) -> &[(String, String)] {
        &self.body
    }

    /// The URL query, `application/x-www-form-urlencoded` like Java's `URLEncoder` (space as `+`).
    pub fn query_string(&self) -> String {
        encode_pairs(self.query.iter())
    }

    /// The form body, `application/x-www-form-urlencoded`.
    pub fn form_body(&self) -> String {
        encode_pairs(self.body.iter())
    }

    /// `gateway?query`, the URL to POST the form body to.
    pub fn url(&self, gateway: &str) -> String {
        let sep = if gateway.contains('?') { '&' } else { '?' };
        format!("{gateway}{sep}{}", self.query_string())
    }

    /// The order string handed to a client that calls the API itself (Java `sdkExecute`): every
    /// parameter including `sign`, sorted by key, form-encoded.
    pub fn order_string(&self) -> String {
        let mut all: Vec<&(String, String)> = self.query.iter().chain(self.body.iter()).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        encode_pairs(all.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AppPrivateKey {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/keys/app_private_pkcs1.pem"
        ))
        .unwrap();
        AppPrivateKey::from_text(&text).unwrap()
    }

    fn app() -> AppConfig {
        AppConfig {
            app_id: "2021000000000001".into(),
            cert_mode: None,
        }
    }

    #[test]
    fn biz_content_goes_to_the_body_and_system_params_to_the_query() {
        let ts = GatewayTimestamp::parse("2024-01-02 03:04:05").unwrap();
        let req = UnsignedRequest {
            method: "alipay.trade.query",
            biz_content: Some(r#"{"a":"中 文"}"#),
            params: vec![
                ("app_auth_token", Some("tok")),
                ("notify_url", Some("https://x/n")),
            ],
            encrypt: false,
        };
        let signed = sign_request(&app(), &key(), None, &req, ts).unwrap();
        let body: Vec<&str> = signed
            .body_params()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(body, ["biz_content", "app_auth_token"]);
        assert!(signed
            .query_string()
            .contains("timestamp=2024-01-02+03%3A04%3A05"));
        assert!(signed.query_string().contains("notify_url="));
        assert!(signed
            .form_body()
            .starts_with("biz_content=%7B%22a%22%3A%22%E4%B8%AD+%E6%96%87"));
        let order = signed.order_string();
        assert!(order.starts_with("app_auth_token=tok&app_id=2021000000000001&biz_content="));
        assert!(order.contains("&sign="));
    }

    #[test]
    fn reserved_and_duplicate_params_are_rejected() {
        let ts = GatewayTimestamp::now();
        let mut req = UnsignedRequest {
            method: "m",
            params: vec![("sign", Some("x"))],
            ..Default::default()
        };
        assert_eq!(
            sign_request(&app(), &key(), None, &req, ts).unwrap_err(),
            RequestError::ReservedParam("sign".into())
        );
        req.params = vec![("code", Some("1")), ("code", Some("2"))];
        assert_eq!(
            sign_request(&app(), &key(), None, &req, ts).unwrap_err(),
            RequestError::DuplicateParam("code".into())
        );
        req.method = "";
        assert_eq!(
            sign_request(&app(), &key(), None, &req, ts).unwrap_err(),
            RequestError::MissingMethod
        );
    }

    #[test]
    fn encryption_needs_a_key_and_signs_the_ciphertext() {
        let ts = GatewayTimestamp::now();
        let req = UnsignedRequest {
            method: "m",
            biz_content: Some("{}"),
            encrypt: true,
            ..Default::default()
        };
        assert_eq!(
            sign_request(&app(), &key(), None, &req, ts).unwrap_err(),
            RequestError::NoAesKey
        );
        let aes = AesKey::from_base64("aa4BtZ4tspm2wnXLb1ThQA==").unwrap();
        let signed = sign_request(&app(), &key(), Some(&aes), &req, ts).unwrap();
        assert!(signed.string_to_sign().contains("encrypt_type=AES"));
        assert!(!signed.string_to_sign().contains("biz_content={}"));
    }
}
