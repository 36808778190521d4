//! Dispatch queues carry only task ids (seed 004: thin messages); a worker
//! fetches the rest. [`TaskQueue`] is the interface; [`InProcessQueue`] serves
//! `trace dev` and tests, and `trace-queue-sqs` implements it over SQS.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use tokio::sync::{mpsc, Mutex as AsyncMutex};
use trace_store::TaskId;

/// A boxed, sendable future (the trait is used as `dyn TaskQueue`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A queue failure, with the backend's error as its source.
#[derive(Debug, thiserror::Error)]
#[error("queue {op} failed")]
pub struct QueueError {
    pub op: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// One received message. Acknowledge it once the task has been reported;
/// an unacknowledged message may be delivered again (at-least-once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub task: TaskId,
    /// The backend's handle for acknowledging (`None` in process).
    pub receipt: Option<String>,
}

/// Where the dispatcher puts task ids and workers take them from.
pub trait TaskQueue: Send + Sync {
    fn send(&self, task: TaskId) -> BoxFuture<'_, Result<(), QueueError>>;
    /// The next delivery; `None` once the queue is closed and drained.
    fn recv(&self) -> BoxFuture<'_, Result<Option<Delivery>, QueueError>>;
    fn ack<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Stop: receivers finish what is left, then get `None`.
    fn close(&self);
}

/// An unbounded in-process queue shared by a dispatcher and its workers.
pub struct InProcessQueue {
    tx: Mutex<Option<mpsc::UnboundedSender<TaskId>>>,
    rx: AsyncMutex<mpsc::UnboundedReceiver<TaskId>>,
}

impl Default for InProcessQueue {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx: Mutex::new(Some(tx)), rx: AsyncMutex::new(rx) }
    }
}

impl TaskQueue for InProcessQueue {
    fn send(&self, task: TaskId) -> BoxFuture<'_, Result<(), QueueError>> {
        let tx = self.tx.lock().expect("queue lock poisoned");
        // Sending after close drops the id: the task stays claimed and the
        // reaper brings it back, exactly as for a lost message.
        if let Some(tx) = tx.as_ref() {
            let _ = tx.send(task);
        }
        Box::pin(async { Ok(()) })
    }

    fn recv(&self) -> BoxFuture<'_, Result<Option<Delivery>, QueueError>> {
        Box::pin(async move { Ok(self.rx.lock().await.recv().await.map(|task| Delivery { task, receipt: None })) })
    }

    fn ack<'a>(&'a self, _delivery: &'a Delivery) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) {
        self.tx.lock().expect("queue lock poisoned").take();
    }
}
