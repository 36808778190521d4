//! Why a worker stopped serving (not why a task failed: that is a
//! [`Failure`](crate::failure::Failure), reported as the task's outcome).

use trace_protocol::contract::TaskId;
use trace_protocol::plane::PlaneError;
use trace_protocol::queue::QueueError;

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
