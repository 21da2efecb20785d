//! local-stack: the project's functions, run locally as they run on AWS Lambda, behind a local HTTP API
//! built from `template.yaml`.
//!
//! - [`template`] reads the SAM template (functions, environment, routes, authorizers);
//! - [`routes`] matches requests to routes;
//! - [`event`] builds API Gateway HTTP API payload 2.0 events and maps responses;
//! - [`runtime`] is the Lambda Runtime API emulator that runs the real function binaries;
//! - [`front`] is the HTTP API itself.
//!
//! See `docs/local-stack.md` for how `make dev` uses it and what is (not) emulated.

#![warn(missing_docs)]

pub mod event;
pub mod front;
pub mod routes;
pub mod runtime;
pub mod template;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::front::{Front, IamMode};
use crate::runtime::{FunctionConfig, Pool};
use crate::template::{ResolveContext, Stack, DEFAULT_REGION, LOCAL_ACCOUNT_ID};

/// Variables always passed from local-stack's own environment to every function when set there.
pub const PASS_THROUGH: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// How to run the local stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// The SAM template.
    pub template: PathBuf,
    /// Where the function binaries are (`target/debug`).
    pub bin_dir: PathBuf,
    /// The front's port (0 = ephemeral).
    pub port: u16,
    /// Template parameter overrides; the value `@api` means the front's own base URL.
    pub parameters: BTreeMap<String, String>,
    /// `--env K=V`: set in every function, over everything else.
    pub env: Vec<(String, String)>,
    /// local-stack's own environment (overrides the template's values of the same names).
    pub host_env: BTreeMap<String, String>,
    /// IAM check mode for `AWS_IAM` routes.
    pub iam: IamMode,
    /// Concurrency of a function without reserved concurrency.
    pub default_concurrency: usize,
    /// How long an invocation waits for a free instance before 429.
    pub queue_wait: Duration,
    /// `LOCAL_LOG_FILE`: a file that gets every function's output too (appended,
    /// `[<function>#<instance>] <line>`), for tests that scan the logs.
    pub log_file: Option<PathBuf>,
}

impl Options {
    /// Defaults: `template.yaml`, `target/debug`, port 3000, the process environment.
    pub fn from_env() -> Self {
        let host_env: BTreeMap<String, String> = std::env::vars().collect();
        let get = |k: &str| host_env.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            template: get("LOCAL_TEMPLATE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("template.yaml")),
            bin_dir: get("LOCAL_BIN_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target/debug")),
            port: get("API_PORT").and_then(|p| p.parse().ok()).unwrap_or(3000),
            parameters: BTreeMap::new(),
            env: Vec::new(),
            iam: if get("LOCAL_IAM").is_some_and(|v| v.eq_ignore_ascii_case("off")) {
                IamMode::Off
            } else {
                IamMode::RequireSigV4Header
            },
            default_concurrency: get("LOCAL_DEFAULT_CONCURRENCY")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
            queue_wait: Duration::from_millis(
                get("LOCAL_QUEUE_MS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10_000),
            ),
            log_file: get("LOCAL_LOG_FILE").map(PathBuf::from),
            host_env,
        }
    }
}

/// Errors at startup.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The template could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The template could not be parsed.
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    /// The log file could not be opened.
    #[error("cannot open the log file {0}: {1}")]
    LogFile(PathBuf, std::io::Error),
    /// The front could not listen.
    #[error("cannot listen on 127.0.0.1:{0}: {1}")]
    Bind(u16, std::io::Error),
}

/// A running local stack.
#[derive(Debug)]
pub struct Running {
    /// The front's address.
    pub addr: SocketAddr,
    /// The parsed template.
    pub stack: Stack,
    /// The front (routes and pools).
    pub front: Arc<Front>,
    server: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the front and every function process.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        for pool in self.front.pools.values() {
            pool.shutdown().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.server).await;
        self.server.abort();
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The environment of one function's process: Lambda's own variables, then the template's, then the same
/// names from local-stack's environment, then [`PASS_THROUGH`], then `--env`.
pub fn function_env(
    f: &template::FunctionSpec,
    opts: &Options,
    region: &str,
    task_root: &Path,
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    for k in ["PATH", "LANG", "HOME"] {
        if let Some(v) = opts.host_env.get(k) {
            set(k, v.clone());
        }
    }
    set("TZ", ":UTC".into());
    set("AWS_LAMBDA_FUNCTION_NAME", f.name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string());
    set(
        "AWS_LAMBDA_LOG_GROUP_NAME",
        format!("/aws/lambda/{}", f.name),
    );
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
    if let Some(fmt) = &f.log_format {
        set("AWS_LAMBDA_LOG_FORMAT", fmt.clone());
    }
    set("AWS_REGION", region.to_string());
    set("AWS_DEFAULT_REGION", region.to_string());
    set("AWS_ACCESS_KEY_ID", "test".into());
    set("AWS_SECRET_ACCESS_KEY", "test".into());
    set("_HANDLER", "bootstrap".into());
    set("LAMBDA_TASK_ROOT", task_root.display().to_string());
    set("LAMBDA_RUNTIME_DIR", task_root.display().to_string());
    for (k, v) in &f.env {
        set(
            k,
            opts.host_env.get(k).cloned().unwrap_or_else(|| v.clone()),
        );
    }
    for k in PASS_THROUGH {
        if let Some(v) = opts.host_env.get(*k) {
            set(k, v.clone());
        }
    }
    for (k, v) in &opts.env {
        set(k, v.clone());
    }
    env.into_iter().collect()
}

/// Reads the template, binds the front and serves it (in the background) until [`Running::shutdown`].
pub async fn start(opts: Options) -> Result<Running, StartError> {
    let text = std::fs::read_to_string(&opts.template)
        .map_err(|e| StartError::Read(opts.template.clone(), e))?;
    let listener = TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| StartError::Bind(opts.port, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(opts.port, e))?;
    let api_url = format!("http://{addr}");
    let region = opts
        .host_env
        .get("AWS_REGION")
        .filter(|r| !r.is_empty())
        .cloned()
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let mut parameters = opts.parameters.clone();
    // The callback URL of pass templates must reach this front locally.
    if text.contains("PublicBaseUrl:") {
        parameters
            .entry("PublicBaseUrl".to_string())
            .or_insert_with(|| "@api".to_string());
    }
    for v in parameters.values_mut() {
        if v == "@api" {
            v.clone_from(&api_url);
        }
    }
    let ctx = ResolveContext {
        parameters,
        region: region.clone(),
        api_url,
    };
    let stack = template::parse(&text, &ctx)?;
    for w in &stack.warnings {
        eprintln!("[local-stack] warning: {w}");
    }
    let bin_dir = absolute(&opts.bin_dir);
    let log_sink = match &opts.log_file {
        Some(path) => Some(std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| StartError::LogFile(path.clone(), e))?,
        ))),
        None => None,
    };
    let mut pools = BTreeMap::new();
    for f in &stack.functions {
        let binary = bin_dir.join(&f.name);
        if !binary.is_file() {
            eprintln!(
                "[local-stack] warning: {} is not built ({}); its routes answer 502 until it is",
                f.name,
                binary.display()
            );
        }
        let max = f
            .reserved_concurrency
            .and_then(|c| usize::try_from(c).ok())
            .unwrap_or(opts.default_concurrency)
            .max(1);
        let cfg = FunctionConfig {
            name: f.name.clone(),
            env: function_env(f, &opts, &region, &bin_dir),
            binary,
            timeout: Duration::from_secs(f.timeout_secs.max(1)),
            max_concurrency: max,
            queue_wait: opts.queue_wait,
            arn: format!(
                "arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{}",
                f.name
            ),
            log_sink: log_sink.clone(),
        };
        pools.insert(f.name.clone(), Pool::new(cfg));
    }
    let front = Arc::new(Front {
        routes: routes::Router::new(stack.routes.clone()),
        pools,
        authorizers: stack.authorizers.clone(),
        iam: opts.iam,
        region,
    });
    let app = axum::Router::new()
        .fallback(front::handle)
        .with_state(front.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, svc)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        stack,
        front,
        server,
        stop: Some(stop_tx),
    })
}
