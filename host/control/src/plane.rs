//! The control plane in this process: [`Embedded`] serves the worker
//! contract's [`ControlPlane`] from the system database (`trace dev`);
//! `trace_worker::remote::HttpControlPlane` reaches it over `/internal/*` (`trace worker`).

use std::sync::Arc;

use trace_protocol::buffered::{Buffer, BufferedRead, InProcessBuffer, Value};
use trace_protocol::rpc::SlotGrant;
use trace_secrets::SecretKey;
use trace_store::{now_millis, Buffered, SlotLeases, AttemptAuth, Completion, Db, EmittedEvent, Store, StoreError, TaskId, TaskPayload, TaskStatus};

use crate::completer::Completer;
pub use trace_protocol::plane::{ControlPlane, PlaneError, Refusal};
use trace_protocol::queue::BoxFuture;

/// A store error as the worker sees it.
fn plane_error(e: StoreError) -> PlaneError {
    match e {
        StoreError::StaleAttempt { .. } | StoreError::LateStateWrite { .. } | StoreError::TaskFinished { .. } | StoreError::BadCredential { .. } => {
            PlaneError::Refused { reason: Refusal::Superseded, message: e.to_string() }
        }
        StoreError::NoSuchOutput { .. }
        | StoreError::BadPartition { .. }
        | StoreError::NotBufferedOutput { .. }
        | StoreError::BadBufferedRows { .. }
        | StoreError::NotBuffered { .. }
        | StoreError::TooManyBufferedRows { .. } => PlaneError::Refused { reason: Refusal::Invalid, message: e.to_string() },
        StoreError::NoSuchTask(task) => PlaneError::NoSuchTask(task),
        other => PlaneError::Local(Box::new(other)),
    }
}

/// The control plane in this process: reads from the system database and
/// commits reports through a batching [`Completer`].
pub struct Embedded {
    db: Arc<Db>,
    completer: Completer,
    buffer: Arc<dyn Buffer>,
    /// Opens the secrets of leased slots (`None`: tasks whose slot names a
    /// secret fail, saying the key is missing).
    secret_key: Option<Arc<SecretKey>>,
}

impl Embedded {
    /// Must be called inside a Tokio runtime (it starts the completer).
    /// Buffered outputs go to a buffer of its own (see [`Embedded::with_buffer`]).
    pub fn new(db: Arc<Db>) -> Self {
        Self::with_buffer(db, Arc::new(InProcessBuffer::default()))
    }

    /// Buffered outputs' rows go to `buffer`, which a sink consumes.
    pub fn with_buffer(db: Arc<Db>, buffer: Arc<dyn Buffer>) -> Self {
        let (completer, _) = Completer::spawn(db.clone());
        Self { db, completer, buffer, secret_key: None }
    }

    /// Slots' secrets are opened with `key`.
    pub fn with_secret_key(mut self, key: Arc<SecretKey>) -> Self {
        self.secret_key = Some(key);
        self
    }
}

impl ControlPlane for Embedded {
    fn fetch(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>> {
        Box::pin(async move { self.db.fetch(task).await.map_err(plane_error) })
    }

    fn take(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>> {
        Box::pin(async move {
            match self.db.take(task, now_millis()).await.map_err(plane_error)? {
                trace_store::Taken::Run(payload) => Ok(*payload),
                trace_store::Taken::Duplicate { .. } => Err(PlaneError::AlreadyTaken(task)),
            }
        })
    }

    fn complete(&self, completion: Completion) -> BoxFuture<'_, Result<TaskStatus, PlaneError>> {
        Box::pin(async move { Ok(self.completer.complete(completion).await.map_err(plane_error)?.status) })
    }

    fn post_events<'a>(&'a self, auth: &'a AttemptAuth, events: &'a [EmittedEvent]) -> BoxFuture<'a, Result<usize, PlaneError>> {
        Box::pin(async move {
            let ingested = self.db.post_events(auth, events, now_millis()).await.map_err(plane_error)?;
            Ok(ingested.iter().filter(|i| !i.duplicate).count())
        })
    }

    fn buffer_rows<'a>(&'a self, auth: &'a AttemptAuth, output: u32, rows: Vec<Vec<Value>>) -> BoxFuture<'a, Result<(), PlaneError>> {
        Box::pin(async move {
            for m in self.db.buffer_messages(auth, output, rows).await.map_err(plane_error)? {
                self.buffer.push(m).await.map_err(|e| PlaneError::Local(Box::new(e)))?;
            }
            Ok(())
        })
    }

    fn buffered_rows<'a>(&'a self, auth: &'a AttemptAuth, input: u32) -> BoxFuture<'a, Result<BufferedRead, PlaneError>> {
        Box::pin(async move { self.db.read_buffered(auth, input).await.map_err(plane_error) })
    }

    fn slot_grant<'a>(&'a self, auth: &'a AttemptAuth) -> BoxFuture<'a, Result<SlotGrant, PlaneError>> {
        Box::pin(async move {
            let lease = self.db.slot_lease(auth).await.map_err(plane_error)?;
            lease.open(|org, name, sealed| trace_secrets::open_text(self.secret_key.as_deref(), org, name, sealed)).map_err(|message| PlaneError::Refused { reason: Refusal::Invalid, message })
        })
    }
}
