//! Where the CLI talks: `--endpoint` (or `REWARDS_API`, default the local stack), or `--stack NAME`,
//! whose outputs and parameters name the API, the callback URL, the table, the keys secret, the app
//! id and the gateway.

use crate::error::CliError;
use std::collections::BTreeMap;

/// The local stack of `make dev`.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:3000";

/// What is known about the deployment the CLI talks to.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// The HTTP API base URL.
    pub api: String,
    /// `PASS_CALLBACK_URL` (templates must carry it).
    pub callback_url: Option<String>,
    /// The DynamoDB table.
    pub table: Option<String>,
    /// The Alipay keys secret (name or ARN).
    pub keys_secret: Option<String>,
    /// The Alipay app id.
    pub app_id: Option<String>,
    /// The Alipay gateway.
    pub gateway: Option<String>,
    /// `AWS_ENDPOINT_URL` of the functions (the local stack's moto).
    pub aws_endpoint: Option<String>,
}

/// Reads a stack's outputs and parameters.
pub async fn from_stack(sdk: &aws_config::SdkConfig, name: &str) -> Result<Deployment, CliError> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            CliError::unavailable(
                format!(
                    "cannot read stack {name}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                ),
                "check --stack, --region and your AWS credentials (cloudformation:DescribeStacks)",
            )
        })?;
    let Some(stack) = out.stacks().first() else {
        return Err(CliError::refused(
            format!("no stack named {name}"),
            "check --stack and --region",
        ));
    };
    let outputs: BTreeMap<&str, &str> = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
        .collect();
    let params: BTreeMap<&str, &str> = stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?, p.parameter_value()?)))
        .collect();
    let Some(api) = outputs.get("ApiUrl") else {
        return Err(CliError::refused(
            format!("stack {name} has no ApiUrl output"),
            "is this the rewards stack (template.yaml)?",
        ));
    };
    let own = |m: &BTreeMap<&str, &str>, k: &str| m.get(k).map(|v| (*v).to_owned());
    Ok(Deployment {
        api: (*api).to_owned(),
        callback_url: own(&outputs, "PassCallbackUrl"),
        table: own(&outputs, "TableName"),
        keys_secret: own(&outputs, "AlipayKeysSecretArn"),
        app_id: own(&params, "AlipayAppId"),
        gateway: own(&params, "AlipayGatewayUrl")
            .or_else(|| Some("https://openapi.alipay.com/gateway.do".into())),
        aws_endpoint: None,
    })
}

/// The function environment the local stack reports (`GET /_local/functions`), when the endpoint
/// is a local stack; nothing otherwise.
pub async fn local_environment(api: &str) -> Option<BTreeMap<String, String>> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .ok()?;
    let resp = http
        .get(format!("{}/_local/functions", api.trim_end_matches('/')))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_str(&resp.text().await.ok()?).ok()?;
    // Every function shares the template's global variables; take them from the one that calls Alipay.
    doc.get("functions")?
        .as_array()?
        .iter()
        .filter_map(|f| f.get("environment")?.as_object())
        .find(|env| env.contains_key("ALIPAY_KEYS_SECRET_ID"))
        .map(|env| {
            env.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
}

/// Fills what the local stack reports into a deployment at a local endpoint.
pub fn with_local(mut d: Deployment, env: &BTreeMap<String, String>) -> Deployment {
    let get = |k: &str| env.get(k).cloned().filter(|v| !v.is_empty());
    d.callback_url = d.callback_url.or_else(|| get("PASS_CALLBACK_URL"));
    d.table = d.table.or_else(|| get("TABLE_NAME"));
    d.keys_secret = d.keys_secret.or_else(|| get("ALIPAY_KEYS_SECRET_ID"));
    d.app_id = d.app_id.or_else(|| get("ALIPAY_APP_ID"));
    d.gateway = d.gateway.or_else(|| get("ALIPAY_GATEWAY_URL"));
    d.aws_endpoint = d.aws_endpoint.or_else(|| get("AWS_ENDPOINT_URL"));
    d
}

/// The SigV4 region: `--region`, the SDK's configured region, the region in an execute-api host,
/// else us-east-1 (the local stack does not check it).
pub fn signing_region(flag: Option<&str>, sdk: &aws_config::SdkConfig, api: &str) -> String {
    if let Some(r) = flag {
        return r.to_owned();
    }
    if let Some(r) = sdk.region() {
        return r.to_string();
    }
    let host = api
        .split("://")
        .nth(1)
        .unwrap_or(api)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    let parts: Vec<&str> = host.split('.').collect();
    if let Some(i) = parts.iter().position(|p| *p == "execute-api") {
        if let Some(r) = parts.get(i + 1) {
            return (*r).to_owned();
        }
    }
    "us-east-1".into()
}
