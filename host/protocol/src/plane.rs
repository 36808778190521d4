//! How a worker talks to the control plane: fetch a task's current attempt,
//! post events while it runs, report how it ended. The control plane in the
//! same process (`trace dev`) and the one behind the internal API
//! (`trace worker`) both implement [`ControlPlane`].

use crate::buffered::{BufferedRead, Value};
use crate::contract::{AttemptAuth, Completion, EmittedEvent, TaskId, TaskPayload, TaskStatus};
use crate::queue::BoxFuture;
use crate::rpc::SlotGrant;

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
    /// Another worker took this running attempt first: this copy of the
    /// queue message is a duplicate, to be dropped.
    #[error("task {0}'s running attempt was already taken by another worker (a duplicate queue delivery)")]
    AlreadyTaken(TaskId),
    /// The control plane in this process failed (its database).
    #[error("the control plane failed")]
    Local(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("calling the control plane ({op})")]
    Remote {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The worker wrapper's view of the control plane.
pub trait ControlPlane: Send + Sync {
    /// The task with its current attempt's credential and its job's state.
    fn fetch(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>>;
    /// [`fetch`](ControlPlane::fetch) for a task received from the queue:
    /// the first worker to take a running attempt gets it; another gets
    /// [`PlaneError::AlreadyTaken`].
    fn take(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>>;
    /// Finish an attempt: outcome, final events and state writes, atomically.
    fn complete(&self, completion: Completion) -> BoxFuture<'_, Result<TaskStatus, PlaneError>>;
    /// Events of a running attempt, ahead of its completion; returns how
    /// many were new (the rest were already recorded).
    fn post_events<'a>(&'a self, auth: &'a AttemptAuth, events: &'a [EmittedEvent]) -> BoxFuture<'a, Result<usize, PlaneError>>;
    /// Hand rows of a buffered output to its dataset's buffer. Only the
    /// task's live attempt may; the call waits while the buffer is full.
    fn buffer_rows<'a>(&'a self, auth: &'a AttemptAuth, output: u32, rows: Vec<Vec<Value>>) -> BoxFuture<'a, Result<(), PlaneError>>;
    /// The rows of buffered input `input` that this task reads.
    fn buffered_rows<'a>(&'a self, auth: &'a AttemptAuth, input: u32) -> BoxFuture<'a, Result<BufferedRead, PlaneError>>;
    /// The env and opened secrets of the worker slot the live attempt
    /// `auth` leased, for host-side capabilities only.
    fn slot_grant<'a>(&'a self, auth: &'a AttemptAuth) -> BoxFuture<'a, Result<SlotGrant, PlaneError>>;
}
