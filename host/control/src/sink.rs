//! The platform sink for buffered datasets: one consumer per dataset's
//! buffer (shared code, per-dataset queue, so one slow or broken dataset
//! never holds up another). Each message's rows are committed to the
//! dataset's table, duplicates dropped by its unique key, and the writer's
//! event is emitted in the same transaction; only then is the message
//! acknowledged. A commit that fails for a passing reason (the database
//! restarting) is retried with backoff and never dropped; a message that
//! can never commit (rows that do not fit the table) is logged and dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use trace_protocol::buffered::Buffer;
use trace_store::{now_millis, Buffered, Db, StoreError};

/// How often the sink looks for newly deployed buffered datasets.
pub const DISCOVER_EVERY: Duration = Duration::from_millis(500);
/// Messages taken from one buffer at a time.
pub const RECEIVE_BATCH: usize = 32;
/// Longest wait between retries of a commit that failed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Run a consumer for every buffered dataset (found as they are deployed)
/// until `stop` turns true. `wake` is notified after a commit starts tasks.
pub async fn run(db: Arc<Db>, buffer: Arc<dyn Buffer>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
    let mut running: HashSet<String> = HashSet::new();
    let mut consumers = tokio::task::JoinSet::new();
    loop {
        match db.buffered_datasets().await {
            Ok(datasets) => {
                for d in datasets {
                    if running.insert(d.uuid.clone()) {
                        consumers.spawn(consume(db.clone(), buffer.clone(), wake.clone(), d.uuid, stop.clone()));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing buffered datasets failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(DISCOVER_EVERY) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    while consumers.join_next().await.is_some() {}
    Ok(())
}

/// Consume one dataset's buffer until `stop`.
async fn consume(db: Arc<Db>, buffer: Arc<dyn Buffer>, wake: Arc<Notify>, dataset: String, stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let received = match buffer.receive(&dataset, RECEIVE_BATCH, 250).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, dataset, "receiving from a buffer failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for delivery in received {
            let mut backoff = Duration::from_millis(50);
            loop {
                match db.commit_buffered(&delivery.rows, now_millis()).await {
                    Ok(done) => {
                        tracing::debug!(dataset, inserted = done.inserted, duplicates = done.duplicates, tasks = done.tasks, "buffered rows committed");
                        if done.tasks > 0 {
                            wake.notify_one();
                        }
                        break;
                    }
                    Err(e @ StoreError::BadBufferedRows { .. }) => {
                        tracing::error!(error = %e, dataset, task = delivery.rows.task, rows = delivery.rows.rows.len(), "dropping buffered rows that can never commit");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, dataset, ?backoff, "committing buffered rows failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            if let Err(e) = buffer.ack(&dataset, &delivery).await {
                // Redelivered later: its rows are dropped as duplicates then.
                tracing::warn!(error = %e, dataset, "acknowledging a buffer message failed");
            }
        }
    }
}
