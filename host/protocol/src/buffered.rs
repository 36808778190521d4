//! Buffered datasets: rows kept in the system database rather than as
//! Parquet. A writer hands its rows to the dataset's buffer (a queue per
//! dataset); a platform sink commits them to the dataset's table, where its
//! unique key drops duplicates, and emits the dataset's event after the
//! commit. This module holds the shapes every side shares: a table's
//! columns, the message a writer sends, and the [`Buffer`] interface.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use crate::contract::{JobId, OrgId, TaskId};
use crate::queue::{BoxFuture, QueueError};

/// A column's type: what the system database stores and what an operator
/// reads back as Arrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// UTF-8 text (Arrow Utf8).
    Text,
    /// A signed 64-bit integer (Arrow Int64; any integer column that fits).
    Int64,
    /// A 64-bit float (Arrow Float64).
    Float64,
    /// Arrow Boolean.
    Bool,
    /// A JSON document, written as text and checked to parse (Arrow Utf8).
    Json,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Bool => "bool",
            ColumnType::Json => "json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// A null is refused for this column.
    #[serde(default)]
    pub required: bool,
}

impl Column {
    pub fn new(name: &str, ty: ColumnType, required: bool) -> Self {
        Self { name: name.to_owned(), ty, required }
    }
}

/// What a buffered dataset's table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// Rows in the dataset's own table, `buf_{uuid}`.
    Rows,
    /// Alerts written by detectors (`buf_{uuid}` with the alert schema).
    AlertEvents,
    /// Delivery work items: rows go to the platform's one shared
    /// `alert_deliveries` table, which the Delivery Service leases from.
    AlertDeliveries,
}

/// A buffered dataset's columns and unique key. Columns are written by the
/// writers; the sink adds the bookkeeping columns `_seq` (commit order),
/// `_writer_job`, `_writer_task` and `_committed_at`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableSchema {
    pub kind: TableKind,
    pub columns: Vec<Column>,
    pub unique_key: Vec<String>,
}

/// Most columns a buffered dataset declares.
pub const MAX_COLUMNS: usize = 64;

impl TableSchema {
    /// The alert schema every detector writes (see `docs/alerts.md`):
    /// a detector's `alert_key` names one alert for good, so a retried task
    /// or a re-run range writes the same key and adds nothing.
    pub fn alert_events() -> Self {
        Self {
            kind: TableKind::AlertEvents,
            columns: vec![
                Column::new("alert_key", ColumnType::Text, true),
                Column::new("severity", ColumnType::Text, true),
                Column::new("event_time", ColumnType::Int64, true),
                Column::new("payload", ColumnType::Json, false),
            ],
            unique_key: vec!["alert_key".into()],
        }
    }

    /// What a routing job writes: one row per (alert, destination), sent
    /// (`suppressed_reason` null) or recorded as suppressed.
    pub fn alert_deliveries() -> Self {
        Self {
            kind: TableKind::AlertDeliveries,
            columns: vec![
                Column::new("alert_key", ColumnType::Text, true),
                Column::new("destination", ColumnType::Text, true),
                Column::new("severity", ColumnType::Text, true),
                Column::new("event_time", ColumnType::Int64, true),
                Column::new("payload", ColumnType::Json, false),
                Column::new("suppressed_reason", ColumnType::Text, false),
            ],
            unique_key: vec!["alert_key".into(), "destination".into()],
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A buffered output of a task: where its rows go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferedTarget {
    pub dataset_uuid: String,
    pub schema: TableSchema,
}

/// One value of a row, in its column's type.
pub type Value = serde_json::Value;

/// Rows one writer task hands to a dataset's buffer in one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferedRows {
    pub org: OrgId,
    pub dataset_uuid: String,
    /// The writer: the sink emits the dataset's event as this job's output.
    pub job: JobId,
    pub task: TaskId,
    pub output: u32,
    /// Column names, in the order of each row's values.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// The rows of a buffered input that one task reads: its event's commit.
/// Besides the declared columns, `_writer` (the writing job's name) and
/// `_seq` (commit order) come last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferedRead {
    pub schema: TableSchema,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Most rows one task reads from one buffered input.
pub const MAX_READ_ROWS: usize = 100_000;

/// Most bytes of one buffer message (SQS takes 256 KiB; JSON adds a little
/// when the message is wrapped).
pub const MAX_MESSAGE_BYTES: usize = 192 * 1024;

/// One message taken from a buffer; acknowledge it after its rows commit.
#[derive(Debug)]
pub struct BufferDelivery {
    pub rows: BufferedRows,
    pub receipt: Option<String>,
}

/// A dataset's buffer: one queue per buffered dataset, so a slow or broken
/// dataset never holds up another.
pub trait Buffer: Send + Sync {
    /// Hand rows to `rows.dataset_uuid`'s buffer. Waits while the buffer is
    /// full (backpressure); never drops rows.
    fn push(&self, rows: BufferedRows) -> BoxFuture<'_, Result<(), QueueError>>;
    /// Up to `max` messages of `dataset_uuid`'s buffer, waiting at most
    /// about `wait_ms` for the first.
    fn receive<'a>(&'a self, dataset_uuid: &'a str, max: usize, wait_ms: u64) -> BoxFuture<'a, Result<Vec<BufferDelivery>, QueueError>>;
    fn ack<'a>(&'a self, dataset_uuid: &'a str, delivery: &'a BufferDelivery) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Messages handed over and not yet acknowledged, across every dataset
    /// this buffer has seen: zero once every row is committed.
    fn pending(&self) -> BoxFuture<'_, Result<usize, QueueError>>;
}

/// Buffers in this process (`trace dev`, tests): a bounded channel per
/// dataset. A message taken and not acknowledged is lost with the process,
/// as the whole in-process deployment is.
pub struct InProcessBuffer {
    capacity: usize,
    queues: Mutex<HashMap<String, Arc<Channel>>>,
    /// Messages pushed and not yet acknowledged (waiting or being committed).
    unacked: std::sync::atomic::AtomicUsize,
}

struct Channel {
    tx: mpsc::Sender<BufferedRows>,
    rx: AsyncMutex<mpsc::Receiver<BufferedRows>>,
}

/// Messages an in-process buffer holds per dataset before writers wait.
pub const IN_PROCESS_CAPACITY: usize = 256;

impl Default for InProcessBuffer {
    fn default() -> Self {
        Self::with_capacity(IN_PROCESS_CAPACITY)
    }
}

impl InProcessBuffer {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), queues: Mutex::new(HashMap::new()), unacked: std::sync::atomic::AtomicUsize::new(0) }
    }

    fn channel(&self, dataset: &str) -> Arc<Channel> {
        let mut queues = self.queues.lock().expect("buffer lock poisoned");
        queues
            .entry(dataset.to_owned())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(self.capacity);
                Arc::new(Channel { tx, rx: AsyncMutex::new(rx) })
            })
            .clone()
    }

    /// Messages pushed to any dataset and not yet acknowledged: zero once
    /// every row handed over is committed.
    pub fn unacknowledged(&self) -> usize {
        self.unacked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Messages waiting in `dataset`'s buffer.
    pub fn depth(&self, dataset: &str) -> usize {
        let channel = self.channel(dataset);
        self.capacity - channel.tx.capacity()
    }
}

impl Buffer for InProcessBuffer {
    fn push(&self, rows: BufferedRows) -> BoxFuture<'_, Result<(), QueueError>> {
        let channel = self.channel(&rows.dataset_uuid);
        Box::pin(async move {
            self.unacked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let sent = channel.tx.send(rows).await;
            if sent.is_err() {
                self.unacked.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
            sent.map_err(|_| QueueError { op: "buffer push", source: "the buffer is closed".into() })
        })
    }

    fn receive<'a>(&'a self, dataset_uuid: &'a str, max: usize, wait_ms: u64) -> BoxFuture<'a, Result<Vec<BufferDelivery>, QueueError>> {
        let channel = self.channel(dataset_uuid);
        Box::pin(async move {
            let mut rx = channel.rx.lock().await;
            let mut out = Vec::new();
            let first = tokio::time::timeout(std::time::Duration::from_millis(wait_ms), rx.recv()).await;
            if let Ok(Some(rows)) = first {
                out.push(BufferDelivery { rows, receipt: None });
                while out.len() < max {
                    match rx.try_recv() {
                        Ok(rows) => out.push(BufferDelivery { rows, receipt: None }),
                        Err(_) => break,
                    }
                }
            }
            Ok(out)
        })
    }

    fn ack<'a>(&'a self, _dataset_uuid: &'a str, _delivery: &'a BufferDelivery) -> BoxFuture<'a, Result<(), QueueError>> {
        self.unacked.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    fn pending(&self) -> BoxFuture<'_, Result<usize, QueueError>> {
        let n = self.unacknowledged();
        Box::pin(async move { Ok(n) })
    }
}

/// Split `rows` into messages of at most [`MAX_MESSAGE_BYTES`] of JSON
/// each. A single row above the bound is an error naming its size.
pub fn split_messages(template: &BufferedRows, rows: Vec<Vec<Value>>) -> Result<Vec<BufferedRows>, RowTooLarge> {
    let overhead = serde_json::to_vec(&BufferedRows { rows: Vec::new(), ..template.clone() }).map(|v| v.len()).unwrap_or(0);
    let mut out = Vec::new();
    let mut current: Vec<Vec<Value>> = Vec::new();
    let mut size = overhead;
    for (index, row) in rows.into_iter().enumerate() {
        let len = serde_json::to_vec(&row).map(|v| v.len()).unwrap_or(0) + 1;
        if overhead + len > MAX_MESSAGE_BYTES {
            return Err(RowTooLarge { row: index, bytes: len, limit: MAX_MESSAGE_BYTES - overhead });
        }
        if size + len > MAX_MESSAGE_BYTES {
            out.push(BufferedRows { rows: std::mem::take(&mut current), ..template.clone() });
            size = overhead;
        }
        size += len;
        current.push(row);
    }
    if !current.is_empty() {
        out.push(BufferedRows { rows: current, ..template.clone() });
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row} is too large for a buffered dataset: got={bytes} bytes, limit={limit} bytes")]
pub struct RowTooLarge {
    pub row: usize,
    pub bytes: usize,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> BufferedRows {
        BufferedRows { org: 1, dataset_uuid: "d".into(), job: 2, task: 3, output: 0, columns: vec!["a".into()], rows: Vec::new() }
    }

    #[test]
    fn messages_stay_under_the_bound_and_keep_every_row_in_order() {
        let rows: Vec<Vec<Value>> = (0..5_000).map(|i| vec![Value::String(format!("{i:0>60}"))]).collect();
        let messages = split_messages(&template(), rows.clone()).unwrap();
        assert!(messages.len() > 1);
        for m in &messages {
            assert!(serde_json::to_vec(m).unwrap().len() <= MAX_MESSAGE_BYTES);
        }
        let joined: Vec<Vec<Value>> = messages.into_iter().flat_map(|m| m.rows).collect();
        assert_eq!(joined, rows);
    }

    #[test]
    fn a_row_above_the_bound_is_refused_with_its_size() {
        let rows = vec![vec![Value::String("x".repeat(MAX_MESSAGE_BYTES))]];
        let err = split_messages(&template(), rows).unwrap_err();
        assert_eq!(err.row, 0);
        assert!(err.to_string().starts_with("row 0 is too large for a buffered dataset: got="), "{err}");
    }

    #[tokio::test]
    async fn a_full_in_process_buffer_makes_writers_wait_and_loses_nothing() {
        let buffer = Arc::new(InProcessBuffer::with_capacity(2));
        for task in 0..2 {
            buffer.push(BufferedRows { task, ..template() }).await.unwrap();
        }
        assert_eq!(buffer.depth("d"), 2);
        let pushing = tokio::spawn({
            let buffer = buffer.clone();
            async move { buffer.push(BufferedRows { task: 2, ..template() }).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!pushing.is_finished(), "a full buffer must hold the writer back");
        let first = buffer.receive("d", 10, 10).await.unwrap();
        assert_eq!(first.iter().map(|d| d.rows.task).collect::<Vec<_>>(), vec![0, 1]);
        pushing.await.unwrap().unwrap();
        let rest = buffer.receive("d", 10, 10).await.unwrap();
        assert_eq!(rest.iter().map(|d| d.rows.task).collect::<Vec<_>>(), vec![2]);
    }
}
