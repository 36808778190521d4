//! Dispatch queues carry only task ids (seed 004: thin messages); a worker
//! fetches the rest. The in-process queue serves `trace dev` and tests; an
//! SQS implementation will sit beside it behind the same interface.

use std::sync::Mutex;

use tokio::sync::{mpsc, Mutex as AsyncMutex};
use trace_store::TaskId;

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

impl InProcessQueue {
    /// Enqueue a task id; false once the queue is closed.
    pub fn send(&self, task: TaskId) -> bool {
        let tx = self.tx.lock().expect("queue lock poisoned");
        tx.as_ref().is_some_and(|tx| tx.send(task).is_ok())
    }

    /// The next task id, or `None` once closed and drained.
    pub async fn recv(&self) -> Option<TaskId> {
        self.rx.lock().await.recv().await
    }

    /// Stop accepting messages; receivers drain what is left, then get `None`.
    pub fn close(&self) {
        self.tx.lock().expect("queue lock poisoned").take();
    }
}
