//! The worker wrapper: the protection boundary around operator code. It
//! receives a task id, fetches the task (and the attempt credential, which it
//! keeps to itself), runs the operator in a fresh sandbox, and reports the
//! outcome with the operator's events and state writes as one completion.
//! A task marked canceled is reported without running any operator code.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use trace_core::{InputEvent, Range, TaskContext, VecSource};
use trace_storage::Storage;
use trace_sandbox::{Limits, LoadError, MemoryState, Operator, Runtime, Task, World};
use trace_protocol::contract::{Completion, Outcome, StateWrites, TaskId, TaskPayload, TaskStatus};

use trace_protocol::plane::{ControlPlane, PlaneError, Refusal};
use trace_protocol::queue::{QueueError, TaskQueue};
use crate::{inputs, outputs};
use crate::stream::{self, ChannelSink};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Plane(#[from] PlaneError),
    #[error("the sandbox thread for task {0} panicked")]
    Panicked(TaskId),
    #[error("a task's report panicked")]
    ReportPanicked,
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Turns an operator reference from a DAG into a component file.
#[derive(Debug, Clone)]
pub struct OperatorDir(pub PathBuf);

impl OperatorDir {
    fn resolve(&self, operator: &str) -> PathBuf {
        let path = PathBuf::from(operator);
        if path.is_absolute() { path } else { self.0.join(path) }
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
    /// Where outputs go (`None`: outputs are dropped, as in pure control
    /// tests and benchmarks).
    pub storage: Option<Storage>,
    loaded: Mutex<HashMap<(String, bool), Operator>>,
}

impl WorkerContext {
    pub fn new(plane: Arc<dyn ControlPlane>, queue: Arc<dyn TaskQueue>, runtime: Arc<Runtime>, operators: OperatorDir, wake: Arc<Notify>) -> Self {
        Self { plane, queue, runtime, operators, wake, storage: None, loaded: Mutex::new(HashMap::new()) }
    }

    /// Write task outputs to `storage`.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Load (compile or fetch from cache) an operator ahead of its tasks.
    pub fn preload(&self, reference: &str, world: World) -> Result<(), LoadError> {
        self.operator(reference, world).map(drop)
    }

    fn operator(&self, reference: &str, world: World) -> Result<Operator, LoadError> {
        if let Some(op) = self.cached(reference, world) {
            return Ok(op);
        }
        let op = self.runtime.load_file(&self.operators.resolve(reference), world)?;
        self.remember(reference, world, &op);
        Ok(op)
    }

    fn cached(&self, reference: &str, world: World) -> Option<Operator> {
        self.loaded.lock().expect("operator cache poisoned").get(&(reference.to_owned(), world == World::Source)).cloned()
    }

    fn remember(&self, reference: &str, world: World, op: &Operator) {
        self.loaded.lock().expect("operator cache poisoned").insert((reference.to_owned(), world == World::Source), op.clone());
    }
}

/// Serve tasks until the queue closes. A message is acknowledged only after
/// its task was reported, so a worker that dies leaves it to be redelivered.
///
/// Reports are pipelined: while one task's report waits for its batch to
/// commit, the worker already runs the next task (the wait is a commit, the
/// run is CPU). In-flight reports are bounded by the jobs' concurrency:
/// nothing new is claimed for a job until its running tasks report.
pub async fn run(ctx: Arc<WorkerContext>) -> Result<(), WorkerError> {
    let mut reports: JoinSet<Result<(), WorkerError>> = JoinSet::new();
    while let Some(mut delivery) = ctx.queue.recv().await? {
        let completion = match delivery.payload.take() {
            Some(payload) => execute(&ctx, *payload).await?,
            None => match fetch(&ctx, delivery.task).await? {
                Some(payload) => execute(&ctx, payload).await?,
                None => None,
            },
        };
        let ctx = ctx.clone();
        reports.spawn(async move {
            if let Some(completion) = completion {
                report(&ctx, completion).await?;
            }
            ctx.queue.ack(&delivery).await?;
            ctx.wake.notify_one();
            Ok(())
        });
        while let Some(done) = reports.try_join_next() {
            done.map_err(|_| WorkerError::ReportPanicked)??;
        }
    }
    while let Some(done) = reports.join_next().await {
        done.map_err(|_| WorkerError::ReportPanicked)??;
    }
    Ok(())
}

/// The task's payload, or `None` if it no longer exists.
async fn fetch(ctx: &WorkerContext, task: TaskId) -> Result<Option<TaskPayload>, WorkerError> {
    match ctx.plane.fetch(task).await {
        Ok(payload) => Ok(Some(payload)),
        // Deleted (purged) since it was queued: nothing to run.
        Err(PlaneError::NoSuchTask(_)) => {
            tracing::warn!(task, "received a task that does not exist; dropping the message");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Run the task's operator in a fresh sandbox (unless the task was canceled)
/// and say how it ended; `None` for a task that was never claimed.
async fn execute(ctx: &Arc<WorkerContext>, payload: TaskPayload) -> Result<Option<Completion>, WorkerError> {
    let task = payload.task;
    let Some(auth) = payload.attempt.clone() else {
        tracing::warn!(task, "received a task that was never claimed; dropping the message");
        return Ok(None);
    };
    let ended = |outcome, events, state| Ok(Some(Completion { auth: auth.clone(), outcome, events, state, partitions: Vec::new() }));
    if payload.is_canceled() {
        return ended(Outcome::Canceled, Vec::new(), Vec::new());
    }
    if let Some(why) = &payload.refusal {
        return ended(Outcome::Failed { retryable: false, message: why.clone() }, Vec::new(), Vec::new());
    }
    let world = if payload.kind == "source" { World::Source } else { World::Transform };
    let operator = match load_operator(ctx, &payload.operator, world).await {
        Ok(op) => op,
        Err((retryable, message)) => {
            let outcome = Outcome::Failed { retryable, message: format!("loading operator {}: {message}", payload.operator) };
            return ended(outcome, Vec::new(), Vec::new());
        }
    };
    // Inputs are read before the operator starts.
    let fetched = match &ctx.storage {
        Some(storage) if payload.inputs_from.iter().any(|f| !f.partitions.is_empty()) => inputs::fetch(storage, &payload).await.map(Some),
        _ => Ok(None),
    };
    let fetched = match fetched {
        Ok(f) => f,
        Err(e) => return ended(Outcome::Failed { retryable: e.is_retryable(), message: error_chain(&e) }, Vec::new(), Vec::new()),
    };
    // And so are the files `append` outputs add to (their keys are dropped).
    let existing = match &ctx.storage {
        Some(storage) => outputs::fetch_existing(storage, &payload).await,
        None => Ok(Vec::new()),
    };
    let existing = match existing {
        Ok(e) => e,
        Err(e) => return ended(Outcome::Failed { retryable: e.is_retryable(), message: error_chain(&e) }, Vec::new(), Vec::new()),
    };
    // Events stream while the task runs only where its outputs are not
    // stored: a downstream task started by a streamed event would otherwise
    // read the producer's dataset before its files commit (with the
    // completion). Stored outputs send every event with the completion.
    let mut sandbox_task = sandbox_task(&payload);
    let streamer = ctx.storage.is_none().then(|| {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        sandbox_task.event_sink = Some(Box::new(ChannelSink(events_tx)));
        tokio::spawn(stream::stream(ctx.plane.clone(), auth.clone(), events_rx))
    });
    let encode = ctx.storage.is_some();
    let ran = tokio::task::spawn_blocking(move || {
        if let Some(fetched) = fetched {
            sandbox_task.inputs = inputs::sources(fetched)?;
        }
        // Encoding the outputs is work done on the guest's behalf: it counts
        // against the task's time limit like the guest's own.
        let (started, limit) = (Instant::now(), sandbox_task.limits.timeout);
        Ok::<_, inputs::InputError>(operator.run(sandbox_task).map(|report| {
            let files = match encode {
                true => outputs::encode(&report.outputs, &existing).and_then(|f| outputs::within_time_limit(started, limit).map(|()| Some(f))),
                false => Ok(None),
            };
            (report, files)
        }))
    })
    .await
    .map_err(|_| WorkerError::Panicked(task))?;
    // The sandbox dropped its sink: the streamer stops (no post can race
    // the completion's own events past this point).
    if let Some(streamer) = streamer {
        let _ = streamer.await;
    }
    let ran = match ran {
        Ok(ran) => ran,
        Err(e) => return ended(Outcome::Failed { retryable: e.is_retryable(), message: error_chain(&e) }, Vec::new(), Vec::new()),
    };
    match ran {
        Ok((report_, files)) => {
            let staged = match (files, &ctx.storage) {
                (Ok(Some(files)), Some(storage)) => outputs::stage(storage, &payload, files).await,
                (Ok(_), _) => Ok(Vec::new()),
                (Err(e), _) => Err(e),
            };
            let partitions = match staged {
                Ok(p) => p,
                Err(e) => {
                    let outcome = Outcome::Failed { retryable: e.is_retryable(), message: error_chain(&e) };
                    return ended(outcome, Vec::new(), Vec::new());
                }
            };
            let events = report_.events.into_iter().map(stream::emitted);
            let state: StateWrites = report_.state_writes.into_iter().collect();
            Ok(Some(Completion { auth: auth.clone(), outcome: Outcome::Succeeded, events: events.collect(), state, partitions }))
        }
        Err(failure) => {
            let outcome = Outcome::Failed { retryable: failure.error.is_retryable(), message: failure.error.to_string() };
            ended(outcome, Vec::new(), Vec::new())
        }
    }
}

fn sandbox_task(p: &TaskPayload) -> Task {
    let config = serde_json::from_str(&p.config).unwrap_or(serde_json::Value::Null);
    let attempt = p.attempt.as_ref().map_or(0, |a| a.attempt) as u32;
    let context = TaskContext { task_id: p.task.to_string(), attempt, job: p.job_name.clone(), org: p.org.to_string(), config };
    let event = InputEvent {
        input: 0,
        partition_key: p.partition_key.clone(),
        range: p.range.map(|(start, end)| Range { start, end }),
        cursor: p.cursor.clone(),
    };
    let state = MemoryState(p.state.iter().cloned().collect());
    let limits = Limits::default().with_timeout(Duration::from_millis(p.timeout_ms.max(1) as u64));
    let mut task = Task::new(context, event).with_outputs(p.outputs.max(1) as usize).with_state(state).with_limits(limits);
    // Every wired input is present (empty unless its partitions are read
    // from storage), so operators see their real input count.
    for _ in 0..p.inputs {
        task = task.with_input(VecSource::default());
    }
    task
}

/// The operator a DAG names: a file under the operator directory, or
/// `sha256:HEX`, a component in object storage, verified against its digest
/// before it is compiled. Compiling, once per component per process, runs
/// off the async threads. Errors say whether a retry could help (storage
/// trouble) or not (a bad or missing component).
async fn load_operator(ctx: &Arc<WorkerContext>, reference: &str, world: World) -> Result<Operator, (bool, String)> {
    if let Some(op) = ctx.cached(reference, world) {
        return Ok(op);
    }
    let bytes = match reference.strip_prefix("sha256:") {
        Some(digest) => {
            let storage = ctx.storage.as_ref().ok_or((false, "a content-addressed operator needs object storage (--storage)".to_owned()))?;
            storage.get_operator(digest, None).await.map_err(|e| {
                use trace_storage::StorageError::*;
                let retryable = !matches!(e, DigestMismatch { .. } | NotFound { .. } | BadId { .. } | TooLarge { .. });
                (retryable, error_chain(&e))
            })?
        }
        None => {
            let path = ctx.operators.resolve(reference);
            let read = tokio::fs::read(&path).await;
            let bytes = read.map_err(|source| (false, LoadError::Read { path: path.display().to_string(), source }.to_string()))?;
            bytes.into()
        }
    };
    let runtime = ctx.runtime.clone();
    let op = tokio::task::spawn_blocking(move || runtime.load(&bytes, world))
        .await
        .map_err(|_| (true, "compiling the operator panicked".to_owned()))?
        .map_err(|e| (false, e.to_string()))?;
    ctx.remember(reference, world, &op);
    Ok(op)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    std::iter::successors(Some(e), |e| e.source()).map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

/// Report the attempt; on acceptance its staged files become final, on
/// refusal they are dropped. When the answer never came (the call failed
/// after its retries) the commit may have happened: the files stay where
/// they were staged, where readers and `trace dataset repair` find them.
async fn report(ctx: &WorkerContext, completion: Completion) -> Result<(), WorkerError> {
    // Only a success carries files (see `execute`).
    let written = completion.partitions.clone();
    let accepted = submit(ctx, completion).await;
    if let Some(storage) = ctx.storage.as_ref().filter(|_| !written.is_empty()) {
        match accepted {
            Ok(true) => outputs::promote(storage, &written).await,
            Ok(false) => outputs::discard(storage, &written).await,
            Err(_) => tracing::warn!(files = written.len(), "the completion's fate is unknown; its staged files are kept"),
        }
    }
    accepted.map(drop)
}

/// `Ok(true)` when the report itself was accepted as a success (its files
/// registered; an append that raced another becomes a retry instead).
async fn submit(ctx: &WorkerContext, completion: Completion) -> Result<bool, WorkerError> {
    let auth = completion.auth.clone();
    let refused = match ctx.plane.complete(completion).await {
        Ok(status) => return Ok(status == TaskStatus::Completed),
        // Superseded or already finished: the platform has moved on, and the
        // attempt's results are rightly dropped.
        Err(e @ PlaneError::Refused { reason: Refusal::Superseded, .. }) => {
            // A retried call whose first try committed finds the task
            // finished: by this very attempt, whose files must then stay.
            let ours = ctx.plane.fetch(auth.task).await.is_ok_and(|p| {
                p.status == TaskStatus::Completed && p.attempt.as_ref().is_some_and(|a| a.attempt == auth.attempt)
            });
            tracing::info!(error = %e, committed_by_this_attempt = ours, "completion refused");
            return Ok(ours);
        }
        // The report itself is invalid (an event for an output the job does
        // not have): fail the attempt, fatally, rather than the worker.
        Err(PlaneError::Refused { reason: Refusal::Invalid, message }) => message,
        Err(e) => return Err(e.into()),
    };
    let outcome = Outcome::Failed { retryable: false, message: format!("the operator's report was refused: {refused}") };
    let retry = Completion { auth: auth.clone(), outcome, events: Vec::new(), state: Vec::new(), partitions: Vec::new() };
    match ctx.plane.complete(retry).await {
        Ok(_) | Err(PlaneError::Refused { reason: Refusal::Superseded, .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
