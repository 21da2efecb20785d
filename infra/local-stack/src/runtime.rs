//! A local Lambda Runtime API (`2018-06-01`) and the execution environments behind it.
//!
//! Each function has a [`Pool`] of instances. An instance is one child process (the real function binary)
//! with its own Runtime API listener on an ephemeral `127.0.0.1` port, passed as `AWS_LAMBDA_RUNTIME_API`
//! (that variable is `host:port` and cannot carry a path or an instance id, so one listener per instance
//! is how the emulator knows which process asks for work). Instances start on demand, up to the function's
//! reserved concurrency; one instance serves one invocation at a time, as on Lambda. An instance whose
//! process exits is dropped (its invocation fails) and the next invocation starts a fresh one; an invocation
//! that outlives the function's timeout kills its instance.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;

/// Largest response a function may post (Lambda's synchronous limit is 6 MB).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// How long a fresh instance may take to ask for its first event (Lambda's init phase limit is 10 s).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How one function runs locally.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The function (binary) name.
    pub name: String,
    /// The executable.
    pub binary: PathBuf,
    /// The complete environment of the process (the emulator adds `AWS_LAMBDA_RUNTIME_API`).
    pub env: Vec<(String, String)>,
    /// The invocation timeout.
    pub timeout: Duration,
    /// The most instances at once (reserved concurrency, or the default).
    pub max_concurrency: usize,
    /// How long an invocation waits for a free instance before it is throttled.
    pub queue_wait: Duration,
    /// The function ARN given in `Lambda-Runtime-Invoked-Function-Arn`.
    pub arn: String,
    /// Where every line the function prints also goes (`[<function>#<instance>] <line>`), besides stderr.
    pub log_sink: Option<LogSink>,
}

/// A file shared by every function's output (`LOCAL_LOG_FILE`), one `[<function>#<instance>] <line>` a line.
pub type LogSink = Arc<Mutex<std::fs::File>>;

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The binary does not exist (not built yet).
    #[error("binary {0} not found: build it first")]
    MissingBinary(String),
    /// All instances are busy and none came free in time.
    #[error("throttled: reserved concurrency of {0} reached")]
    Throttled(usize),
    /// The process could not be started.
    #[error("could not start the function: {0}")]
    Spawn(String),
    /// The process exited (crash, panic, init error) before it answered.
    #[error("function process exited: {0}")]
    Crashed(String),
    /// The invocation ran past the function's timeout (the instance was killed).
    #[error("Task timed out after {0:.2} seconds")]
    Timeout(f64),
    /// The function reported an error (`/invocation/{id}/error`); the payload is the error document.
    #[error("function error {error_type}: {error_message}")]
    Function {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
        /// The error document as posted.
        payload: Vec<u8>,
    },
    /// The function's response exceeded [`MAX_RESPONSE_BYTES`].
    #[error("response larger than {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge,
}

type Outcome = Result<Bytes, InvokeError>;

struct Pending {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    picked: oneshot::Sender<()>,
    done: oneshot::Sender<Outcome>,
}

struct Current {
    request_id: String,
    done: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Slot {
    pending: Option<Pending>,
    current: Option<Current>,
    dead: bool,
    init_error: Option<String>,
}

struct Instance {
    id: u64,
    cfg: Arc<FunctionConfig>,
    slot: Mutex<Slot>,
    wake: Notify,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    exited: Notify,
    server: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Instance {
    fn is_dead(&self) -> bool {
        lock(&self.slot).dead
    }

    fn kill(&self) {
        if let Some(tx) = lock(&self.kill).take() {
            let _ = tx.send(());
        }
    }

    /// Marks the instance dead and fails whatever it held.
    fn died(&self, why: String) {
        let (pending, current, init_error) = {
            let mut s = lock(&self.slot);
            s.dead = true;
            (s.pending.take(), s.current.take(), s.init_error.take())
        };
        let why = match init_error {
            Some(e) => format!("{why}; init error: {e}"),
            None => why,
        };
        if let Some(p) = pending {
            let _ = p.done.send(Err(InvokeError::Crashed(why.clone())));
        }
        if let Some(c) = current {
            let _ = c.done.send(Err(InvokeError::Crashed(why)));
        }
        self.wake.notify_waiters();
        if let Some(h) = lock(&self.server).take() {
            h.abort();
        }
        self.exited.notify_waiters();
    }
}

/// The instances of one function.
pub struct Pool {
    cfg: Arc<FunctionConfig>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Arc<Instance>>>,
    all: Mutex<HashMap<u64, Arc<Instance>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.cfg.name)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn trace_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    let p = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now_ms() / 1000,
        &u[..24],
        &p[..16]
    )
}

impl Pool {
    /// A pool with no instances yet.
    pub fn new(cfg: FunctionConfig) -> Arc<Self> {
        let max = cfg.max_concurrency.max(1);
        Arc::new(Self {
            cfg: Arc::new(cfg),
            permits: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Vec::new()),
            all: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The function's configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.cfg
    }

    /// How many instances are running now.
    pub fn instances(&self) -> usize {
        lock(&self.all).len()
    }

    /// Invokes the function synchronously with a JSON payload and returns its response payload.
    pub async fn invoke(self: &Arc<Self>, payload: Bytes) -> Result<Bytes, InvokeError> {
        if !self.cfg.binary.is_file() {
            return Err(InvokeError::MissingBinary(
                self.cfg.binary.display().to_string(),
            ));
        }
        let permit =
            tokio::time::timeout(self.cfg.queue_wait, self.permits.clone().acquire_owned())
                .await
                .map_err(|_| InvokeError::Throttled(self.cfg.max_concurrency))?
                .map_err(|_| InvokeError::Throttled(self.cfg.max_concurrency))?;
        let idle = {
            let mut idle = lock(&self.idle);
            idle.retain(|i| !i.is_dead());
            idle.pop()
        };
        let instance = match idle {
            Some(i) => i,
            None => self.spawn().await?,
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let timeout = self.cfg.timeout;
        let (picked_tx, picked_rx) = oneshot::channel();
        let (done_tx, mut done_rx) = oneshot::channel();
        {
            let mut slot = lock(&instance.slot);
            if slot.dead {
                drop(slot);
                drop(permit);
                return Err(InvokeError::Crashed("instance exited".into()));
            }
            slot.pending = Some(Pending {
                request_id,
                payload,
                deadline_ms: 0,
                picked: picked_tx,
                done: done_tx,
            });
        }
        instance.wake.notify_one();

        // The init phase (a fresh process getting to `/next`) is not part of the timeout.
        match tokio::time::timeout(INIT_TIMEOUT, picked_rx).await {
            Err(_) => {
                instance.kill();
                return Err(InvokeError::Crashed(format!(
                    "no request for the event within {}s of start (init timeout)",
                    INIT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(_)) => {
                // The instance died before taking the event: its reason is in `done`.
                return Err(match done_rx.await {
                    Ok(Err(e)) => e,
                    _ => InvokeError::Crashed("instance exited".into()),
                });
            }
            Ok(Ok(())) => {}
        }
        let outcome = match tokio::time::timeout(timeout, &mut done_rx).await {
            Err(_) => {
                instance.kill();
                Err(InvokeError::Timeout(timeout.as_secs_f64()))
            }
            Ok(Err(_)) => Err(InvokeError::Crashed("instance exited".into())),
            Ok(Ok(o)) => o,
        };
        if !instance.is_dead() && !matches!(outcome, Err(InvokeError::Timeout(_))) {
            lock(&self.idle).push(instance);
        }
        drop(permit);
        outcome
    }

    async fn spawn(self: &Arc<Self>) -> Result<Arc<Instance>, InvokeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| InvokeError::Spawn(format!("runtime API listener: {e}")))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| InvokeError::Spawn(format!("runtime API listener: {e}")))?;
        let (kill_tx, kill_rx) = oneshot::channel();
        let instance = Arc::new(Instance {
            id,
            cfg: self.cfg.clone(),
            slot: Mutex::new(Slot::default()),
            wake: Notify::new(),
            kill: Mutex::new(Some(kill_tx)),
            exited: Notify::new(),
            server: Mutex::new(None),
        });
        let app = runtime_api(instance.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *lock(&instance.server) = Some(server);

        let mut cmd = tokio::process::Command::new(&self.cfg.binary);
        cmd.env_clear()
            .envs(self.cfg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/[$LATEST]{:032x}", id),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child if local-stack dies.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                instance.died(format!("spawn failed: {e}"));
                return Err(InvokeError::Spawn(format!(
                    "{}: {e}",
                    self.cfg.binary.display()
                )));
            }
        };
        let tag = format!("{}#{}", self.cfg.name, id);
        if let Some(out) = child.stdout.take() {
            forward(tag.clone(), out, self.cfg.log_sink.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(tag.clone(), err, self.cfg.log_sink.clone());
        }
        lock(&self.all).insert(id, instance.clone());
        eprintln!("[local-stack] {tag}: started (runtime API {addr})");
        let pool = Arc::downgrade(self);
        let inst = instance.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let why = match status {
                Ok(s) => format!("exit {s}"),
                Err(e) => format!("wait failed: {e}"),
            };
            eprintln!("[local-stack] {tag}: stopped ({why})");
            if let Some(pool) = pool.upgrade() {
                lock(&pool.all).remove(&inst.id);
                lock(&pool.idle).retain(|i| i.id != inst.id);
            }
            inst.died(why);
        });
        Ok(instance)
    }

    /// Kills every instance and waits (up to 5 s) for them to exit.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Instance>> = lock(&self.all).values().cloned().collect();
        for i in &all {
            i.kill();
        }
        let wait = async {
            for i in &all {
                let exited = i.exited.notified();
                if lock(&self.all).contains_key(&i.id) {
                    exited.await;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    }
}

fn forward<R>(tag: String, r: R, sink: Option<LogSink>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{tag}] {line}");
            if let Some(sink) = &sink {
                use std::io::Write as _;
                let _ = writeln!(lock(sink), "[{tag}] {line}");
            }
        }
    });
}

fn runtime_api(instance: Arc<Instance>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(instance)
}

fn status_json(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [("content-type", HeaderValue::from_static("application/json"))],
        v.to_string(),
    )
        .into_response()
}

async fn next(State(inst): State<Arc<Instance>>) -> Response {
    loop {
        let wake = inst.wake.notified();
        {
            let mut slot = lock(&inst.slot);
            if slot.dead {
                return status_json(
                    StatusCode::GONE,
                    json!({"errorType":"InstanceStopped","errorMessage":"instance stopped"}),
                );
            }
            if let Some(mut p) = slot.pending.take() {
                p.deadline_ms = now_ms().saturating_add(
                    u64::try_from(inst.cfg.timeout.as_millis()).unwrap_or(u64::MAX),
                );
                let _ = p.picked.send(());
                slot.current = Some(Current {
                    request_id: p.request_id.clone(),
                    done: p.done,
                });
                let mut resp = Response::new(Body::from(p.payload));
                let h = resp.headers_mut();
                let pairs = [
                    ("lambda-runtime-aws-request-id", p.request_id),
                    ("lambda-runtime-deadline-ms", p.deadline_ms.to_string()),
                    ("lambda-runtime-invoked-function-arn", inst.cfg.arn.clone()),
                    ("lambda-runtime-trace-id", trace_id()),
                    ("content-type", "application/json".to_string()),
                ];
                for (k, v) in pairs {
                    if let Ok(v) = HeaderValue::from_str(&v) {
                        h.insert(k, v);
                    }
                }
                return resp;
            }
        }
        wake.await;
    }
}

fn take_current(inst: &Instance, id: &str) -> Option<Current> {
    let mut slot = lock(&inst.slot);
    match &slot.current {
        Some(c) if c.request_id == id => slot.current.take(),
        _ => None,
    }
}

fn accepted() -> Response {
    status_json(StatusCode::ACCEPTED, json!({"status":"OK"}))
}

fn unknown_id(id: &str) -> Response {
    status_json(
        StatusCode::BAD_REQUEST,
        json!({"errorType":"InvalidRequestID","errorMessage":format!("unknown or finished request id {id}")}),
    )
}

async fn read_limited(body: Body) -> Option<Bytes> {
    axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await.ok()
}

async fn response(
    State(inst): State<Arc<Instance>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let bytes = read_limited(body).await;
    let Some(current) = take_current(&inst, &id) else {
        return unknown_id(&id);
    };
    match bytes {
        Some(b) => {
            let _ = current.done.send(Ok(b));
            accepted()
        }
        None => {
            let _ = current.done.send(Err(InvokeError::ResponseTooLarge));
            status_json(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"errorType":"RequestEntityTooLarge","errorMessage":"response too large"}),
            )
        }
    }
}

fn error_fields(bytes: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
    let field = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("Unknown")
            .to_string()
    };
    (field("errorType"), field("errorMessage"))
}

async fn error(State(inst): State<Arc<Instance>>, Path(id): Path<String>, body: Body) -> Response {
    let bytes = read_limited(body).await.unwrap_or_default();
    let Some(current) = take_current(&inst, &id) else {
        return unknown_id(&id);
    };
    let (error_type, error_message) = error_fields(&bytes);
    eprintln!(
        "[local-stack] {}#{}: invocation {id} failed: {error_type}: {error_message}",
        inst.cfg.name, inst.id
    );
    let _ = current.done.send(Err(InvokeError::Function {
        error_type,
        error_message,
        payload: bytes.to_vec(),
    }));
    accepted()
}

async fn init_error(State(inst): State<Arc<Instance>>, body: Body) -> Response {
    let bytes = read_limited(body).await.unwrap_or_default();
    let (t, m) = error_fields(&bytes);
    eprintln!(
        "[local-stack] {}#{}: init error: {t}: {m}",
        inst.cfg.name, inst.id
    );
    lock(&inst.slot).init_error = Some(format!("{t}: {m}"));
    // Lambda stops an environment whose init failed.
    inst.kill();
    accepted()
}
