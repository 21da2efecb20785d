//! # alipay-sim
//!
//! A loopback Alipay gateway that checks a client as strictly as the real one: it rebuilds the string
//! to sign from the query and form it received and verifies it with the app public key, checks
//! `app_id`, `timestamp`, `charset`, `sign_type` and required parameters, signs every answer with the
//! platform key in each API's exact shape, keeps real state (templates, passes, user tokens,
//! campaigns, payouts, auth codes) for its lifetime, and injects faults on demand.
//!
//! ```no_run
//! # async fn demo() -> Result<(), alipay_sim::SimError> {
//! let sim = alipay_sim::start(alipay_sim::SimConfig::from_defaults()?).await?;
//! println!("gateway at {}", sim.url); // http://127.0.0.1:<port>/gateway.do
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See `docs/simulator-and-client.md` for the control routes and the documented choices.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod calls;
pub mod certs;
pub mod control;
pub mod faults;
pub mod gateway;
pub mod notify;
pub mod settings;
pub mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alipay_protocol::keys::KeyRole;
use alipay_protocol::{AlipayPublicKey, AppPrivateKey, KeyError};
use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use crate::faults::Faults;
use crate::settings::Settings;
use crate::state::State;

/// The app id the simulator accepts by default.
pub const DEFAULT_APP_ID: &str = "2021000000000001";
/// The default port of the binary.
pub const DEFAULT_PORT: u16 = 9999;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file does not hold the expected key.
    #[error("bad key in {path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The key error.
        source: KeyError,
    },
    /// Binding or serving failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// An environment variable is malformed.
    #[error("environment: {0}")]
    Env(String),
    /// The HTTP client for the claim callback could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// Certificate mode: the certificates could not be made.
    #[error(transparent)]
    Certs(#[from] certs::CertGenError),
}

/// How to run the simulator. (`Debug` shows the keys as their types do: a public fingerprint.)
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen (default `127.0.0.1:0`, an ephemeral port).
    pub addr: SocketAddr,
    /// The only `app_id` accepted.
    pub app_id: String,
    /// Verifies request signatures (the app's public key).
    pub app_public_key: AlipayPublicKey,
    /// Signs answers (the platform's private key).
    pub alipay_private_key: Arc<AppPrivateKey>,
    /// How long a `hang` fault holds the connection before closing it (default 300 s).
    pub hang_limit: Duration,
    /// Timeout of the claim component's call to `mcallbackUrl` (default 10 s).
    pub claim_timeout: Duration,
    /// Print one stderr line per gateway call (method and outcome class; never parameters).
    pub log_calls: bool,
    /// Certificate mode (公钥证书模式): the simulator makes its own root, Alipay and app
    /// certificates at start, requires `app_cert_sn` and `alipay_root_cert_sn` on every request,
    /// and names `alipay_cert_sn` in every answer (see [`certs`]).
    pub cert_mode: bool,
}

/// `tests/vectors/keys` of this workspace.
pub fn default_keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/keys")
}

fn read(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl SimConfig {
    /// Loads keys from files: the app public key (verifies requests) and the platform private key
    /// (signs answers).
    ///
    /// # Errors
    /// [`SimError::Read`] or [`SimError::Key`].
    pub fn from_key_files(
        app_public_key: &Path,
        alipay_private_key: &Path,
    ) -> Result<Self, SimError> {
        let app = AlipayPublicKey::from_text_as(&read(app_public_key)?, KeyRole::AppPublicKey)
            .map_err(|source| SimError::Key {
                path: app_public_key.to_path_buf(),
                source,
            })?;
        let platform = AppPrivateKey::from_text(&read(alipay_private_key)?).map_err(|source| {
            SimError::Key {
                path: alipay_private_key.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_id: DEFAULT_APP_ID.into(),
            app_public_key: app,
            alipay_private_key: Arc::new(platform),
            hang_limit: Duration::from_secs(300),
            claim_timeout: Duration::from_secs(10),
            log_calls: false,
            cert_mode: false,
        })
    }

    /// The test-vector keys (`app_public_spki.pem`, `alipay_private_pkcs1.pem`), app id
    /// `2021000000000001`, an ephemeral port.
    ///
    /// # Errors
    /// As [`SimConfig::from_key_files`].
    pub fn from_defaults() -> Result<Self, SimError> {
        let dir = default_keys_dir();
        Self::from_key_files(
            &dir.join("app_public_spki.pem"),
            &dir.join("alipay_private_pkcs1.pem"),
        )
    }

    /// The binary's configuration: the defaults overridden by `SIM_PORT` (default 9999, 0 =
    /// ephemeral), `SIM_APP_ID`, `SIM_APP_PUBLIC_KEY_FILE`, `SIM_ALIPAY_PRIVATE_KEY_FILE`,
    /// `SIM_CERT_MODE` (`1`: certificate mode).
    ///
    /// # Errors
    /// [`SimError::Env`] for a malformed port, or a key error.
    pub fn from_env() -> Result<Self, SimError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let dir = default_keys_dir();
        let app_key = var("SIM_APP_PUBLIC_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("app_public_spki.pem"));
        let platform_key = var("SIM_ALIPAY_PRIVATE_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("alipay_private_pkcs1.pem"));
        let mut config = Self::from_key_files(&app_key, &platform_key)?;
        let port = match var("SIM_PORT") {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| SimError::Env(format!("SIM_PORT must be a port number, got {p:?}")))?,
            None => DEFAULT_PORT,
        };
        config.addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Some(app_id) = var("SIM_APP_ID") {
            config.app_id = app_id;
        }
        config.log_calls = true;
        config.cert_mode = cert_mode_from_env()?;
        Ok(config)
    }
}

/// `SIM_CERT_MODE`: `1`/`true` certificate mode, `0`/`false`/unset public-key mode.
///
/// # Errors
/// [`SimError::Env`] for another value.
pub fn cert_mode_from_env() -> Result<bool, SimError> {
    match std::env::var("SIM_CERT_MODE").ok().as_deref() {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(SimError::Env(format!(
            "SIM_CERT_MODE must be 1 or 0, got {other:?}"
        ))),
    }
}

/// What signs an answer now: the key, and in certificate mode the SN of its certificate (every
/// signed answer, and every notification, names it as `alipay_cert_sn`).
#[derive(Clone)]
pub struct Signer {
    /// The platform key.
    pub key: Arc<AppPrivateKey>,
    /// Certificate mode: the SN of the current Alipay certificate.
    pub alipay_cert_sn: Option<String>,
}

/// The running simulator's shared parts.
pub struct Sim {
    /// Accepted app id.
    pub app_id: String,
    /// Verifies requests.
    pub app_key: AlipayPublicKey,
    /// Signs answers.
    pub platform_key: Arc<AppPrivateKey>,
    /// Business state.
    pub state: Mutex<State>,
    /// Installed faults.
    pub faults: Mutex<Faults>,
    /// Behaviour switches (`/sim/settings`).
    pub settings: Mutex<Settings>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// For the claim component's callback.
    pub http: reqwest::Client,
    /// How long a hang lasts.
    pub hang_limit: Duration,
    /// Certificate mode: the hierarchy (rotated by `POST /sim/settings {"rotateAlipayCert":true}`).
    pub certs: Option<Mutex<certs::SimCerts>>,
    /// Every order.changed notification post (`GET /sim/notifications`).
    pub deliveries: Mutex<Vec<notify::Delivery>>,
    /// Per-API calls: the QPS limiter and `GET /sim/stats`.
    pub calls: Mutex<calls::Calls>,
    log_calls: bool,
}

impl Sim {
    /// The current signing key and, in certificate mode, its certificate's SN.
    pub fn signer(&self) -> Signer {
        match &self.certs {
            None => Signer {
                key: self.platform_key.clone(),
                alipay_cert_sn: None,
            },
            Some(certs) => {
                let certs = match certs.lock() {
                    Ok(c) => c,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let current = certs.current();
                Signer {
                    key: current.key.clone(),
                    alipay_cert_sn: Some(current.sn.clone()),
                }
            }
        }
    }

    /// Certificate mode: runs `f` on the hierarchy. `None` in public-key mode.
    pub fn with_certs<T>(&self, f: impl FnOnce(&mut certs::SimCerts) -> T) -> Option<T> {
        self.certs.as_ref().map(|c| {
            let mut guard = match c.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut guard)
        })
    }

    /// The per-API calls (the QPS limiter and its counters).
    pub fn lock_calls(&self) -> std::sync::MutexGuard<'_, calls::Calls> {
        match self.calls.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Logs one gateway call (method and outcome class only).
    pub fn log(&self, method: &str, class: &str) {
        if self.log_calls {
            eprintln!("alipay-sim: {method} -> {class}");
        }
        tracing::debug!(method, class, "alipay-sim call");
    }
}

/// Lets a handler close its own connection without answering.
#[derive(Clone)]
pub struct ConnKill(pub Arc<Notify>);

/// A started simulator. Dropping it (or calling [`RunningSim::shutdown`]) stops it.
pub struct RunningSim {
    /// The gateway URL, `http://127.0.0.1:<port>/gateway.do`.
    pub url: String,
    /// `http://127.0.0.1:<port>` (control routes live under `/sim/`).
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// Certificate mode: the certificates at start (`GET /sim/certs` shows the current ones).
    pub certs: Option<certs::CertPems>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The routes: `/gateway.do` and the `/sim/*` control routes.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/gateway.do", post(gateway::handle).get(gateway::handle))
        .route("/sim/claim", post(control::claim))
        .route("/sim/payouts", get(control::payouts))
        .route("/sim/passes", get(control::passes))
        .route("/sim/templates", get(control::templates))
        .route("/sim/campaigns", get(control::campaigns))
        .route("/sim/transfers", get(control::transfers))
        .route("/sim/notifications", get(control::notifications))
        .route(
            "/sim/campaigns/{crowd_no}/pay",
            post(control::pay).get(control::pay_page),
        )
        .route("/sim/campaigns/{crowd_no}/settle", post(control::settle))
        .route(
            "/sim/faults",
            post(control::add_fault)
                .get(control::list_faults)
                .delete(control::clear_faults),
        )
        .route(
            "/sim/settings",
            post(control::update_settings).get(control::get_settings),
        )
        .route(
            "/sim/stats",
            get(control::stats).delete(control::reset_stats),
        )
        .route("/sim/auth-codes", post(control::auth_code))
        .route("/sim/certs", get(control::certs))
        .route("/sim/users/{user_id}", get(control::user))
        .route("/sim/health", get(|| async { "ok" }))
        .with_state(sim)
}

/// Binds `config.addr` and serves until shutdown.
///
/// # Errors
/// [`SimError::Io`] when the address cannot be bound, [`SimError::Http`] when the callback client
/// cannot be built.
pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .timeout(config.claim_timeout)
        .build()?;
    let state = State::new(&config.app_id);
    let certs = if config.cert_mode {
        Some(certs::SimCerts::generate(
            &config.app_id,
            &config.app_public_key,
        )?)
    } else {
        None
    };
    let pems = certs.as_ref().map(certs::SimCerts::pems);
    let sim = Arc::new(Sim {
        app_id: config.app_id,
        app_key: config.app_public_key,
        platform_key: config.alipay_private_key,
        state: Mutex::new(state),
        faults: Mutex::new(Faults::default()),
        settings: Mutex::new(Settings::default()),
        base_url: base_url.clone(),
        http,
        hang_limit: config.hang_limit,
        certs: certs.map(Mutex::new),
        deliveries: Mutex::new(Vec::new()),
        calls: Mutex::new(calls::Calls::default()),
        log_calls: config.log_calls,
    });
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, router(sim), rx));
    Ok(RunningSim {
        url: format!("{base_url}/gateway.do"),
        base_url,
        addr,
        certs: pems,
        shutdown: tx,
        task: Some(task),
    })
}

/// The accept loop: HTTP/1.1 per connection, with a per-connection kill switch handed to handlers
/// (for `commit_then_drop` and `hang`).
async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let app = app.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let handle = ConnKill(kill.clone());
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(handle.clone());
                app.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}
