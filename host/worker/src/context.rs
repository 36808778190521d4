//! What all of a process's workers share: the control plane and queue, the
//! sandbox runtime, where operators and outputs are, and the operators
//! already compiled. Operators load through one loader, whether named by a
//! file under the operator directory or by the digest of a component in
//! object storage.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use trace_protocol::plane::ControlPlane;
use trace_protocol::queue::TaskQueue;
use trace_sandbox::{LoadError, Operator, Runtime, World};
use trace_storage::Storage;

use crate::failure::{error_chain, Failure};

/// Turns an operator reference from a DAG into a component file.
#[derive(Debug, Clone)]
pub struct OperatorDir(pub PathBuf);

impl OperatorDir {
    fn resolve(&self, operator: &str) -> PathBuf {
        let path = PathBuf::from(operator);
        if path.is_absolute() { path } else { self.0.join(path) }
    }
}

/// What happens to the rows operators write, fixed when the worker is built.
#[derive(Debug, Clone)]
pub enum Outputs {
    /// Written to object storage as Parquet, staged until the completion is
    /// accepted; events are sent with the completion, after the files.
    Stored(Storage),
    /// Dropped on purpose: for control-plane tests and benchmarks, which
    /// measure task flow, not data. Events stream while the task runs.
    Discarded,
}

impl Outputs {
    pub fn storage(&self) -> Option<&Storage> {
        match self {
            Outputs::Stored(s) => Some(s),
            Outputs::Discarded => None,
        }
    }
}

/// Shared by all of a process's workers.
pub struct WorkerContext {
    pub plane: Arc<dyn ControlPlane>,
    pub queue: Arc<dyn TaskQueue>,
    pub runtime: Arc<Runtime>,
    pub operators: OperatorDir,
    /// Woken after every completion so the dispatcher claims the follow-ups.
    pub wake: Arc<Notify>,
    pub outputs: Outputs,
    /// Compiled operators by reference, world and whether metered.
    loaded: Mutex<HashMap<(String, World, bool), Operator>>,
    /// A second runtime with fuel metering, built the first time a task
    /// with a fuel budget arrives at an unmetered worker (its org's quota
    /// meters its tasks); the same one when the worker meters everything.
    metered: Mutex<Option<Arc<Runtime>>>,
    /// Source tasks' RPC requests share its connections (built on first use).
    rpc_http: std::sync::OnceLock<reqwest::Client>,
    /// Each (job, slot)'s request pacing, across its tasks here.
    pub rpc_pacers: trace_rpc::SlotPacers,
}

impl WorkerContext {
    pub fn new(plane: Arc<dyn ControlPlane>, queue: Arc<dyn TaskQueue>, runtime: Arc<Runtime>, operators: OperatorDir, wake: Arc<Notify>, outputs: Outputs) -> Self {
        Self { plane, queue, runtime, operators, wake, outputs, loaded: Mutex::new(HashMap::new()), metered: Mutex::new(None), rpc_http: std::sync::OnceLock::new(), rpc_pacers: trace_rpc::SlotPacers::default() }
    }

    /// The HTTP client source tasks' RPC calls go through.
    pub fn rpc_http(&self) -> reqwest::Client {
        self.rpc_http.get_or_init(|| trace_rpc::http_client().expect("a TLS backend is available")).clone()
    }

    /// Load (compile, or take from the cache) an operator ahead of its tasks.
    pub async fn preload(&self, reference: &str, world: World) -> Result<(), Failure> {
        self.operator(reference, world, false).await.map(drop)
    }

    /// The runtime for a task: the process's own, or, for a task with a
    /// fuel budget, one that meters fuel.
    fn runtime_for(&self, metered: bool) -> Result<Arc<Runtime>, Failure> {
        if !metered || self.runtime.meters_fuel() {
            return Ok(self.runtime.clone());
        }
        let mut slot = self.metered.lock().expect("metered runtime lock poisoned");
        if let Some(runtime) = slot.as_ref() {
            return Ok(runtime.clone());
        }
        let mut config = self.runtime.config().clone();
        config.engine = config.engine.with_fuel(true);
        let runtime = Arc::new(Runtime::new(config).map_err(|e| Failure::fatal(format!("starting a fuel-metered sandbox: {e}")))?);
        *slot = Some(runtime.clone());
        Ok(runtime)
    }

    /// The operator a DAG names: a file under the operator directory, or
    /// `sha256:HEX`, a component in object storage, verified against its
    /// digest before it is compiled. Compiling, once per component per
    /// process, runs off the async threads. A failure says whether a retry
    /// could help (storage trouble) or not (a bad or missing component).
    pub async fn operator(&self, reference: &str, world: World, metered: bool) -> Result<Operator, Failure> {
        let key = (reference.to_owned(), world, metered);
        if let Some(op) = self.loaded.lock().expect("operator cache poisoned").get(&key).cloned() {
            return Ok(op);
        }
        let failed = |retryable, message: String| Failure { retryable, message: format!("loading operator {reference}: {message}") };
        let bytes = match reference.strip_prefix("sha256:") {
            Some(digest) => {
                let storage = self.outputs.storage().ok_or_else(|| failed(false, "a content-addressed operator needs object storage (--storage)".into()))?;
                storage.get_operator(digest, None).await.map_err(|e| {
                    use trace_storage::StorageError::*;
                    let retryable = !matches!(e, DigestMismatch { .. } | NotFound { .. } | BadId { .. } | TooLarge { .. });
                    failed(retryable, error_chain(&e))
                })?
            }
            None => {
                let path = self.operators.resolve(reference);
                let read = tokio::fs::read(&path).await;
                read.map_err(|source| failed(false, LoadError::Read { path: path.display().to_string(), source }.to_string()))?.into()
            }
        };
        let runtime = self.runtime_for(metered)?;
        let op = tokio::task::spawn_blocking(move || runtime.load(&bytes, world))
            .await
            .map_err(|_| failed(true, "compiling the operator panicked".into()))?
            .map_err(|e| failed(false, e.to_string()))?;
        self.loaded.lock().expect("operator cache poisoned").insert(key, op.clone());
        Ok(op)
    }
}
