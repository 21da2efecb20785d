//! Test helpers (cargo feature `testing`): a real moto server as a child process.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! let moto = rewards_aws::testing::MotoServer::start()?;
//! let store = moto.fresh_store().await?;      // a new table with the GSI
//! // ... use store; the server is killed when `moto` is dropped.
//! # Ok(()) }
//! ```

use crate::store::DynamoStore;
use crate::table::create_table;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Dummy region used with moto.
pub const REGION: &str = "us-east-1";

/// A moto server on 127.0.0.1:<free port>, killed on drop.
pub struct MotoServer {
    child: Child,
    /// The port.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The moto_server binary: `$MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server` (created with
/// `scripts/ensure-venv.sh` when missing).
pub fn moto_binary() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let root = workspace_root();
    let bin = root.join(".venv/bin/moto_server");
    if !bin.exists() {
        let status = Command::new(root.join("scripts/ensure-venv.sh"))
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("running scripts/ensure-venv.sh: {e}"))?;
        if !status.success() {
            return Err(format!("scripts/ensure-venv.sh failed: {status}"));
        }
    }
    Ok(bin)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

fn answers(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1."))
}

/// How to start a [`MotoServer`].
#[derive(Debug, Clone, Default)]
pub struct MotoOptions {
    /// The port (`None`: a free one).
    pub port: Option<u16>,
    /// Where moto's output goes (`None`: discarded).
    pub log: Option<PathBuf>,
    /// Kill moto when the thread that started it ends (Linux `PR_SET_PDEATHSIG`): for a server held
    /// in a static that is never dropped, e.g. the stack of an integration-test binary.
    pub die_with_thread: bool,
    /// How many TransactWriteItems calls in 1000 fail with an HTML 500, half before and half after
    /// the transaction is applied (`scripts/moto-server-atomic.py`); 0: none.
    pub transact_faults_per_mille: u32,
}

/// How moto is run: `$MOTO_SERVER` as given; else the workspace venv's python with
/// `scripts/moto-server-atomic.py` (moto_server with each DynamoDB operation, and each transaction's
/// rollback, atomic: stock moto restores a whole-table copy when a transaction fails, undoing the
/// writes of concurrent requests, which real DynamoDB never does).
fn moto_command(bin: &PathBuf) -> Command {
    if std::env::var_os("MOTO_SERVER").is_some() {
        return Command::new(bin);
    }
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    let mut cmd = Command::new(python);
    cmd.arg(root.join("scripts/moto-server-atomic.py"));
    cmd
}

fn spawn(bin: &PathBuf, port: u16, options: &MotoOptions) -> Result<Child, String> {
    let mut cmd = moto_command(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null());
    if options.transact_faults_per_mille > 0 {
        cmd.env(
            "MOTO_TRANSACT_FAULTS_PER_MILLE",
            options.transact_faults_per_mille.to_string(),
        );
    }
    match &options.log {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("creating {}: {e}", path.display()))?;
            let copy = file
                .try_clone()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            cmd.stdout(file).stderr(copy);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    if options.die_with_thread {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn()
        .map_err(|e| format!("spawning {}: {e}", bin.display()))
}

impl MotoServer {
    /// Starts moto on a free port and waits (≤ 30 s) until it answers HTTP.
    ///
    /// # Errors
    /// A message when moto cannot be found or started.
    pub fn start() -> Result<MotoServer, String> {
        Self::start_with(&MotoOptions::default())
    }

    /// Starts moto as `options` say and waits (≤ 30 s) until it answers HTTP. On a free port it
    /// tries three times (another process may take the port between the probe and moto's bind).
    ///
    /// # Errors
    /// A message when moto cannot be found or started.
    pub fn start_with(options: &MotoOptions) -> Result<MotoServer, String> {
        let bin = moto_binary()?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = match options.port {
                Some(p) => p,
                None => free_port()?,
            };
            let mut child = spawn(&bin, port, options)?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!("moto exited early: {status}");
                    break;
                }
                if answers(port) {
                    return Ok(MotoServer {
                        child,
                        port,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last.is_empty() {
                last = "moto did not answer within 30 s".into();
            }
            if options.port.is_some() {
                break;
            }
        }
        Err(last)
    }

    /// The environment a child process (a function binary) needs to reach this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
    }

    /// An SDK config for this moto: endpoint, dummy static credentials, region.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .timeout_config(crate::config::timeouts())
            .load()
            .await
    }

    /// A DynamoDB client for this moto.
    pub async fn dynamo_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// A Secrets Manager client for this moto.
    pub async fn secrets_client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
    }

    /// Creates a new uniquely named table and returns a store on it.
    ///
    /// # Errors
    /// A message when the table cannot be created.
    pub async fn fresh_store(&self) -> Result<DynamoStore, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!("rewards-test-{}", N.fetch_add(1, Ordering::SeqCst));
        let client = self.dynamo_client().await;
        create_table(&client, &name)
            .await
            .map_err(|e| e.to_string())?;
        Ok(DynamoStore::new(client, name))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
