//! Dispatch queues carry task ids (thin messages) and a worker fetches the
//! rest; or, for direct invocation, the full payload read in the claim's
//! own transaction, which saves the fetch. [`TaskQueue`] is the
//! interface; [`InProcessQueue`] serves `trace dev` and tests and invokes
//! directly; `trace-queue-sqs` implements it over SQS with thin messages.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use tokio::sync::{mpsc, Mutex as AsyncMutex};
use crate::contract::{TaskId, TaskPayload};

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
    /// Direct invocation: the payload as claimed (no fetch needed).
    pub payload: Option<Box<TaskPayload>>,
}

/// Where the dispatcher puts task ids and workers take them from.
pub trait TaskQueue: Send + Sync {
    fn send(&self, task: TaskId) -> BoxFuture<'_, Result<(), QueueError>>;
    /// Whether [`send_payload`](TaskQueue::send_payload) carries the payload
    /// (then the dispatcher claims with payloads and workers skip the fetch).
    fn carries_payloads(&self) -> bool {
        false
    }
    /// Direct invocation; a thin queue sends the task id only.
    fn send_payload(&self, payload: TaskPayload) -> BoxFuture<'_, Result<(), QueueError>> {
        self.send(payload.task)
    }
    /// The next delivery; `None` once the queue is closed and drained.
    fn recv(&self) -> BoxFuture<'_, Result<Option<Delivery>, QueueError>>;
    fn ack<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Stop: receivers finish what is left, then get `None`.
    fn close(&self);
}

/// An unbounded in-process queue shared by a dispatcher and its workers.
/// It carries payloads (direct invocation), or only ids when built
/// [`thin`](InProcessQueue::thin).
pub struct InProcessQueue {
    tx: Mutex<Option<mpsc::UnboundedSender<Delivery>>>,
    rx: AsyncMutex<mpsc::UnboundedReceiver<Delivery>>,
    direct: bool,
}

impl InProcessQueue {
    /// Task ids only: workers fetch each task, as over SQS.
    pub fn thin() -> Self {
        Self { direct: false, ..Self::default() }
    }

    fn push(&self, delivery: Delivery) {
        let tx = self.tx.lock().expect("queue lock poisoned");
        // Sending after close drops the message: the task stays claimed and
        // the reaper brings it back, exactly as for a lost message.
        if let Some(tx) = tx.as_ref() {
            let _ = tx.send(delivery);
        }
    }
}

impl Default for InProcessQueue {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx: Mutex::new(Some(tx)), rx: AsyncMutex::new(rx), direct: true }
    }
}

impl TaskQueue for InProcessQueue {
    fn send(&self, task: TaskId) -> BoxFuture<'_, Result<(), QueueError>> {
        self.push(Delivery { task, receipt: None, payload: None });
        Box::pin(async { Ok(()) })
    }

    fn carries_payloads(&self) -> bool {
        self.direct
    }

    fn send_payload(&self, payload: TaskPayload) -> BoxFuture<'_, Result<(), QueueError>> {
        self.push(Delivery { task: payload.task, receipt: None, payload: Some(Box::new(payload)) });
        Box::pin(async { Ok(()) })
    }

    fn recv(&self) -> BoxFuture<'_, Result<Option<Delivery>, QueueError>> {
        Box::pin(async move { Ok(self.rx.lock().await.recv().await) })
    }

    fn ack<'a>(&'a self, _delivery: &'a Delivery) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) {
        self.tx.lock().expect("queue lock poisoned").take();
    }
}
