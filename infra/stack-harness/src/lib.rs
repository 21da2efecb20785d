//! The one local stack behind the integration tests (`tests/support`), the bench (`stack-bench`) and
//! `make dev` (the `dev-stack` binary): a moto server ([`MotoServer`]), the table and the two secrets
//! seeded one way, the Alipay gateway simulator, and local-stack running every function of
//! `template.yaml`. The function list and the table's shape are read from `template.yaml`, so the
//! template stays their one source.
//!
//! [`start`] runs all of it; the bench, which puts a counting proxy between the functions and moto,
//! uses the parts ([`seed`], [`start_sim`], [`local_stack_options`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
pub use rewards_aws::testing::{MotoOptions, MotoServer, REGION};
use rewards_aws::{IndexShape, TableShape};
use serde_norway::Value;

/// Errors of the harness (startup only).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The simulator's app id (and the functions' `ALIPAY_APP_ID`).
pub const APP_ID: &str = "2021000000000001";
/// The secret with the RSA keys: `{"app_private_key", "alipay_public_key"}` (PEM text), or in
/// certificate mode `{"app_private_key", "app_cert", "alipay_cert", "alipay_root_cert"}` with the
/// simulator's certificates.
pub const KEYS_SECRET: &str = "rewards/alipay-keys";
/// The secret with the session-token HMAC key (base64 text); the only place the key lives.
pub const SESSION_SECRET: &str = "rewards/session-key";
/// The local session key (base64 of 32 bytes): tests and the bench mint session tokens with it.
pub const SESSION_KEY_B64: &str = "c2Vzc2lvbi1rZXktZm9yLXRlc3RzLW9ubHktMzJieXRlcw==";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<root>/template.yaml`.
pub fn template_path() -> PathBuf {
    root().join("template.yaml")
}

fn read_template(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()).into())
}

/// The binary name of every function of the template, in file order.
///
/// # Errors
/// The template cannot be read or parsed.
pub fn functions(template: &Path) -> Result<Vec<String>, Error> {
    let stack = local_stack::template::parse(
        &read_template(template)?,
        &local_stack::template::ResolveContext::default(),
    )?;
    Ok(stack.functions.into_iter().map(|f| f.name).collect())
}

/// The shape of the template's one `AWS::DynamoDB::Table`: keys, GSIs, TTL, point-in-time recovery.
///
/// # Errors
/// No table, or a table this shape cannot express (a key that is not a string, a projection other
/// than ALL).
pub fn table_shape(template_text: &str) -> Result<TableShape, Error> {
    let doc: Value = serde_norway::from_str(template_text)?;
    let props = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .and_then(|resources| {
            resources
                .values()
                .find(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        })
        .and_then(|r| r.get("Properties"))
        .ok_or("no AWS::DynamoDB::Table with Properties in the template")?;
    let text = |v: Option<&Value>, what: &str| -> Result<String, Error> {
        v.and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("table: {what} is missing").into())
    };
    for def in list(props, "AttributeDefinitions") {
        let name = text(def.get("AttributeName"), "AttributeName")?;
        if text(def.get("AttributeType"), "AttributeType")? != "S" {
            return Err(format!("table: attribute {name} is not a string (S)").into());
        }
    }
    let keys = |node: &Value| -> Result<(String, String), Error> {
        let of = |kind: &str| {
            let key = list(node, "KeySchema")
                .iter()
                .find(|k| k.get("KeyType").and_then(Value::as_str) == Some(kind));
            text(key.and_then(|k| k.get("AttributeName")), kind)
        };
        Ok((of("HASH")?, of("RANGE")?))
    };
    let (partition_key, sort_key) = keys(props)?;
    let mut indexes = Vec::new();
    for gsi in list(props, "GlobalSecondaryIndexes") {
        let name = text(gsi.get("IndexName"), "IndexName")?;
        let projection = gsi.get("Projection").and_then(|p| p.get("ProjectionType"));
        if projection.and_then(Value::as_str) != Some("ALL") {
            return Err(format!("table: index {name} does not project ALL").into());
        }
        let (partition_key, sort_key) = keys(gsi)?;
        indexes.push(IndexShape {
            name,
            partition_key,
            sort_key,
        });
    }
    let ttl = props.get("TimeToLiveSpecification");
    let on = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(true);
    Ok(TableShape {
        partition_key,
        sort_key,
        indexes,
        ttl_attribute: if on(ttl.and_then(|t| t.get("Enabled"))) {
            Some(text(
                ttl.and_then(|t| t.get("AttributeName")),
                "TTL AttributeName",
            )?)
        } else {
            None
        },
        point_in_time_recovery: on(props
            .get("PointInTimeRecoverySpecification")
            .and_then(|p| p.get("PointInTimeRecoveryEnabled"))),
    })
}

fn list<'a>(node: &'a Value, key: &str) -> &'a [Value] {
    node.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Where the functions find their data: the table and the two secrets.
#[derive(Debug, Clone)]
pub struct Names {
    /// `TABLE_NAME`.
    pub table: String,
    /// `ALIPAY_KEYS_SECRET_ID`.
    pub keys_secret: String,
    /// `SESSION_KEY_SECRET_ID`.
    pub session_secret: String,
}

impl Names {
    /// The given table, the default secret names.
    pub fn with_table(table: &str) -> Self {
        Self {
            table: table.into(),
            keys_secret: KEYS_SECRET.into(),
            session_secret: SESSION_SECRET.into(),
        }
    }
}

/// An SDK config for a moto endpoint: dummy static credentials, [`REGION`], the SDK's timeouts.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "stack-harness",
        ))
        .load()
        .await
}

fn key_file(name: &str) -> Result<String, Error> {
    let p = root().join("tests/vectors/keys").join(name);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()).into())
}

/// Creates the table (the shape of `template`'s table) and the secrets: the keys secret from
/// `tests/vectors/keys`, the session secret [`SESSION_KEY_B64`]. Idempotent: existing secrets get the
/// values again.
///
/// # Errors
/// The template cannot be read, or moto refuses.
pub async fn seed(moto_endpoint: &str, template: &Path, names: &Names) -> Result<(), Error> {
    seed_with(moto_endpoint, template, names, None).await
}

/// [`seed`], in certificate mode when `certs` are given: the keys secret holds the app private key
/// and the simulator's certificates (what a merchant stores after downloading them from the
/// console), no `alipay_public_key`.
///
/// # Errors
/// As [`seed`].
pub async fn seed_with(
    moto_endpoint: &str,
    template: &Path,
    names: &Names,
    certs: Option<&alipay_sim::certs::CertPems>,
) -> Result<(), Error> {
    let shape = table_shape(&read_template(template)?)?;
    let sdk = sdk_config(moto_endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    rewards_aws::create_table_shaped(&dynamo, &names.table, &shape).await?;
    let keys = match certs {
        None => serde_json::json!({
            "app_private_key": key_file("app_private_pkcs8.pem")?,
            "alipay_public_key": key_file("alipay_public_spki.pem")?,
        }),
        Some(certs) => serde_json::json!({
            "app_private_key": key_file("app_private_pkcs8.pem")?,
            "app_cert": certs.app_cert,
            "alipay_cert": certs.alipay_cert,
            "alipay_root_cert": certs.alipay_root_cert,
        }),
    };
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    for (name, value) in [
        (&names.keys_secret, keys.to_string()),
        (&names.session_secret, SESSION_KEY_B64.to_string()),
    ] {
        let created = secrets
            .create_secret()
            .name(name)
            .secret_string(&value)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                secrets
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(&value)
                    .send()
                    .await
                    .map_err(|e| format!("put_secret_value {name}: {e}"))?;
            }
            Err(e) => return Err(format!("create_secret {name}: {e}").into()),
        }
    }
    Ok(())
}

/// How to run the stack. [`StackOptions::new`] gives ephemeral ports everywhere.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The SAM template (functions, routes, environment, the table's shape).
    pub template: PathBuf,
    /// Where the function binaries are.
    pub bin_dir: PathBuf,
    /// How moto starts.
    pub moto: MotoOptions,
    /// The simulator's port (0: ephemeral).
    pub sim_port: u16,
    /// The simulator logs every call it answers.
    pub sim_log_calls: bool,
    /// Certificate mode: the simulator makes its certificates and the keys secret holds them.
    pub cert_mode: bool,
    /// How long the simulator holds a request it was told to hang (`None`: its default).
    pub sim_hang_limit: Option<Duration>,
    /// The local HTTP API's port (0: ephemeral).
    pub api_port: u16,
    /// The app id of the simulator and the functions.
    pub app_id: String,
    /// The table and the secrets.
    pub names: Names,
    /// Template parameter overrides (`AlipayAppId` is set from [`StackOptions::app_id`]).
    pub parameters: BTreeMap<String, String>,
    /// Extra variables for every function, over everything else.
    pub env: Vec<(String, String)>,
    /// The functions' `RUST_LOG`.
    pub rust_log: String,
}

/// The transfer rail as local stacks run it: `STD_RED_PACKET` in the `现金营销` scene, 0.50 yuan
/// by default for referrals (points exchanges name their amount), the template's 200 yuan cap.
/// Sends without a `rail` still go to the campaign rail (`ReasonRails` is left empty).
pub fn transfer_defaults() -> BTreeMap<String, String> {
    [
        ("TransferProductCode", "STD_RED_PACKET"),
        ("TransferOrderTitle", "积分兑换红包"),
        ("TransferSceneName", "现金营销"),
        ("TransferActivityName", "积分兑换"),
        ("TransferRewardDescription", "积分兑换现金红包"),
        ("TransferReasonAmounts", "referral=0.50"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl StackOptions {
    /// `template.yaml` and `<target>/<profile>` of this workspace, ephemeral ports, the default
    /// names with `table`.
    pub fn new(table: &str, profile: &str) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        Self {
            template: template_path(),
            bin_dir: target.join(profile),
            moto: MotoOptions::default(),
            sim_port: 0,
            sim_log_calls: true,
            cert_mode: false,
            sim_hang_limit: None,
            api_port: 0,
            app_id: APP_ID.into(),
            names: Names::with_table(table),
            parameters: transfer_defaults(),
            env: Vec::new(),
            rust_log: "warn".into(),
        }
    }

    /// The template's functions whose binary is not in [`StackOptions::bin_dir`].
    ///
    /// # Errors
    /// As [`functions`].
    pub fn missing_functions(&self) -> Result<Vec<String>, Error> {
        Ok(functions(&self.template)?
            .into_iter()
            .filter(|f| !self.bin_dir.join(f).is_file())
            .collect())
    }
}

/// Starts the simulator on [`StackOptions::sim_port`] with the stack's app id.
///
/// # Errors
/// Its keys cannot be read or its port is taken.
pub async fn start_sim(opts: &StackOptions) -> Result<alipay_sim::RunningSim, Error> {
    let mut config = alipay_sim::SimConfig::from_env()?;
    config.addr = ([127, 0, 0, 1], opts.sim_port).into();
    config.app_id = opts.app_id.clone();
    config.log_calls = opts.sim_log_calls;
    config.cert_mode = opts.cert_mode;
    if let Some(limit) = opts.sim_hang_limit {
        config.hang_limit = limit;
    }
    Ok(alipay_sim::start(config).await?)
}

/// local-stack's options: the process environment, then the template's parameters, then what every
/// function needs to find the table, the secrets, the gateway and AWS (`aws_endpoint`), then
/// [`StackOptions::env`].
pub fn local_stack_options(
    opts: &StackOptions,
    gateway_url: &str,
    aws_endpoint: &str,
) -> local_stack::Options {
    let mut ls = local_stack::Options::from_env();
    ls.template = opts.template.clone();
    ls.bin_dir = opts.bin_dir.clone();
    ls.port = opts.api_port;
    ls.parameters = opts.parameters.clone();
    ls.parameters
        .insert("AlipayAppId".into(), opts.app_id.clone());
    ls.host_env.insert("RUST_LOG".into(), opts.rust_log.clone());
    for (k, v) in [
        ("TABLE_NAME", opts.names.table.as_str()),
        ("ALIPAY_KEYS_SECRET_ID", &opts.names.keys_secret),
        ("SESSION_KEY_SECRET_ID", &opts.names.session_secret),
        ("ALIPAY_APP_ID", &opts.app_id),
        ("ALIPAY_GATEWAY_URL", gateway_url),
        ("AWS_ENDPOINT_URL", aws_endpoint),
        ("AWS_REGION", REGION),
    ] {
        ls.env.push((k.to_string(), v.to_string()));
    }
    ls.env.extend(opts.env.iter().cloned());
    ls
}

/// The running stack; [`RunningStack::shutdown`] stops it (dropping it kills moto and the function
/// processes too).
pub struct RunningStack {
    /// moto (DynamoDB, Secrets Manager).
    pub moto: MotoServer,
    /// The Alipay gateway simulator.
    pub sim: alipay_sim::RunningSim,
    /// local-stack: the HTTP API and the function processes.
    pub api: local_stack::Running,
}

impl RunningStack {
    /// Stops local-stack (and its function processes), the simulator, then moto.
    pub async fn shutdown(self) {
        self.api.shutdown().await;
        self.sim.shutdown().await;
        drop(self.moto);
    }
}

/// Starts moto, the simulator (whose certificates the seed needs in certificate mode), seeds moto,
/// and starts local-stack. Call it from a thread that lives as long as the stack when
/// [`MotoOptions::die_with_thread`] is set (moto is started on the calling thread, blocking it for
/// moto's startup).
///
/// # Errors
/// Any part fails to start.
pub async fn start(opts: &StackOptions) -> Result<RunningStack, Error> {
    let moto = MotoServer::start_with(&opts.moto)?;
    let sim = start_sim(opts).await?;
    seed_with(
        &moto.endpoint,
        &opts.template,
        &opts.names,
        sim.certs.as_ref(),
    )
    .await?;
    let api = local_stack::start(local_stack_options(opts, &sim.url, &moto.endpoint)).await?;
    Ok(RunningStack { moto, sim, api })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_declares_the_table_the_store_is_written_for() {
        let text = read_template(&template_path()).unwrap();
        let shape = table_shape(&text).unwrap();
        assert_eq!(shape, TableShape::rewards());
        assert_eq!(
            shape
                .indexes
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>(),
            ["gsi1", "gsi2"]
        );
        assert_eq!(shape.ttl_attribute.as_deref(), Some("expiresAt"));
    }

    #[test]
    fn a_table_the_shape_cannot_express_is_refused() {
        let numeric = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions:\n        - {AttributeName: pk, AttributeType: N}\n      KeySchema:\n        - {AttributeName: pk, KeyType: HASH}\n";
        assert!(table_shape(numeric).is_err());
        assert!(table_shape("Resources: {}\n").is_err());
    }

    #[test]
    fn every_function_of_the_template_has_a_crate() {
        let functions = functions(&template_path()).unwrap();
        assert!(functions.len() >= 8, "{functions:?}");
        for f in &functions {
            assert!(
                root()
                    .join("functions")
                    .join(f)
                    .join("Cargo.toml")
                    .is_file(),
                "template.yaml names {f}, but functions/{f} is not a crate"
            );
        }
    }
}
