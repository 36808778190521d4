//! How a worker talks to the control plane: fetch a task's current attempt,
//! report how it ended. [`ControlPlane`] is the interface; [`Embedded`]
//! serves it from the system database in the same process (`trace dev`), and
//! `trace_api::HttpControlPlane` over `/internal/*` (`trace worker`).

use std::sync::Arc;

use trace_store::{now_millis, AttemptAuth, Completion, Db, EmittedEvent, Store, StoreError, TaskId, TaskPayload, TaskStatus};

use crate::completer::Completer;
use crate::queue::BoxFuture;

/// Why the control plane would not take a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A newer attempt started, the task already finished, or the credential
    /// is not this attempt's: the platform moved on; drop the results.
    Superseded,
    /// The report itself is invalid (an event for an output the job does not
    /// have): the attempt must fail instead.
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    #[error("the control plane refused the report: {message}")]
    Refused { reason: Refusal, message: String },
    #[error("task {0} does not exist")]
    NoSuchTask(TaskId),
    #[error(transparent)]
    Store(StoreError),
    #[error("calling the control plane ({op})")]
    Remote {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<StoreError> for PlaneError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StaleAttempt { .. } | StoreError::TaskFinished { .. } | StoreError::BadCredential { .. } => {
                PlaneError::Refused { reason: Refusal::Superseded, message: e.to_string() }
            }
            StoreError::NoSuchOutput { .. } | StoreError::BadPartition { .. } => PlaneError::Refused { reason: Refusal::Invalid, message: e.to_string() },
            StoreError::NoSuchTask(task) => PlaneError::NoSuchTask(task),
            other => PlaneError::Store(other),
        }
    }
}

/// The worker wrapper's view of the control plane.
pub trait ControlPlane: Send + Sync {
    /// The task with its current attempt's credential and its job's state.
    fn fetch(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>>;
    /// Finish an attempt: outcome, final events and state writes, atomically.
    fn complete(&self, completion: Completion) -> BoxFuture<'_, Result<TaskStatus, PlaneError>>;
    /// Events of a running attempt, ahead of its completion; returns how
    /// many were new (the rest were already recorded).
    fn post_events<'a>(&'a self, auth: &'a AttemptAuth, events: &'a [EmittedEvent]) -> BoxFuture<'a, Result<usize, PlaneError>>;
}

/// The control plane in this process: reads from the system database and
/// commits reports through a batching [`Completer`].
pub struct Embedded {
    db: Arc<Db>,
    completer: Completer,
}

impl Embedded {
    /// Must be called inside a Tokio runtime (it starts the completer).
    pub fn new(db: Arc<Db>) -> Self {
        let (completer, _) = Completer::spawn(db.clone());
        Self { db, completer }
    }
}

impl ControlPlane for Embedded {
    fn fetch(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>> {
        Box::pin(async move { Ok(self.db.fetch(task).await?) })
    }

    fn complete(&self, completion: Completion) -> BoxFuture<'_, Result<TaskStatus, PlaneError>> {
        Box::pin(async move { Ok(self.completer.complete(completion).await?.status) })
    }

    fn post_events<'a>(&'a self, auth: &'a AttemptAuth, events: &'a [EmittedEvent]) -> BoxFuture<'a, Result<usize, PlaneError>> {
        Box::pin(async move {
            let ingested = self.db.post_events(auth, events, now_millis()).await?;
            Ok(ingested.iter().filter(|i| !i.duplicate).count())
        })
    }
}
