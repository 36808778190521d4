//! The completer: workers hand it their attempts' reports, and it commits
//! them in batches, one transaction per batch (commit count is what limits a
//! database-backed queue; River's completer does the same). Each report is
//! still gated and applied on its own, and its worker gets its own result.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use trace_store::{now_millis, Completed, Completion, Db, Store, StoreError};

type Reply = oneshot::Sender<Result<Completed, StoreError>>;

/// Most reports committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// A handle workers submit reports through.
#[derive(Clone)]
pub struct Completer {
    tx: mpsc::UnboundedSender<(Completion, Reply)>,
}

impl Completer {
    /// Start the batching task on `db`. It ends when every handle is dropped.
    pub fn spawn(db: Arc<Db>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, tokio::spawn(run(db, rx)))
    }

    /// Submit one report and wait for its own outcome.
    pub async fn complete(&self, completion: Completion) -> Result<Completed, StoreError> {
        let (reply, result) = oneshot::channel();
        if self.tx.send((completion, reply)).is_err() {
            return Err(StoreError::Closed);
        }
        result.await.unwrap_or(Err(StoreError::Closed))
    }
}

async fn run(db: Arc<Db>, mut rx: mpsc::UnboundedReceiver<(Completion, Reply)>) {
    let mut batch: Vec<(Completion, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        fill(&mut batch, &mut rx);
        let completions: Vec<Completion> = batch.iter().map(|(c, _)| c.clone()).collect();
        let started = std::time::Instant::now();
        let committed = db.complete_many(&completions, now_millis()).await;
        metrics::histogram!("trace_completion_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("trace_completions_total").increment(completions.len() as u64);
        match committed {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, size = batch.len(), "committing a batch of completions failed");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::BatchFailed(message.clone())));
                }
            }
        }
    }
}

/// Whatever else is already waiting joins the batch, up to [`MAX_BATCH`].
fn fill<T>(batch: &mut Vec<T>, rx: &mut mpsc::UnboundedReceiver<T>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_what_is_waiting_up_to_the_limit() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..MAX_BATCH + 10 {
            tx.send(i).unwrap();
        }
        let mut batch = Vec::new();
        fill(&mut batch, &mut rx);
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(batch.last(), Some(&(MAX_BATCH - 1)), "in arrival order");
        batch.clear();
        fill(&mut batch, &mut rx);
        assert_eq!(batch, (MAX_BATCH..MAX_BATCH + 10).collect::<Vec<_>>(), "the rest waits for the next transaction");
        batch.clear();
        fill(&mut batch, &mut rx);
        assert!(batch.is_empty(), "nothing waiting: the batch is what it is");
    }
}
