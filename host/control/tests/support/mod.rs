//! The control plane as `trace dev` runs it, for the end-to-end suites.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use trace_control::dispatcher::{self, DispatcherConfig};
use trace_control::plane::Embedded;
use trace_control::queue::TaskQueue;
use trace_control::worker::{self, OperatorDir, Outputs, WorkerContext};
use trace_protocol::buffered::{Buffer, InProcessBuffer};
use trace_sandbox::{Runtime, RuntimeConfig};
use trace_store::{Db, Store};

pub fn operators() -> &'static Path {
    Path::new(trace_artifacts::NOOP).parent().unwrap()
}

/// A dispatcher and `workers` worker loops on `db`, as `trace dev` runs them.
pub struct Running {
    queue: Arc<dyn TaskQueue>,
    /// Buffered datasets' rows, committed by the sink.
    pub buffer: Arc<dyn Buffer>,
    sink: tokio::task::JoinHandle<Result<(), trace_store::StoreError>>,
    pub wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    dispatcher: tokio::task::JoinHandle<()>,
    workers: Vec<tokio::task::JoinHandle<Result<(), trace_control::worker::WorkerError>>>,
}

pub fn start(db: &Arc<Db>, queue: Arc<dyn TaskQueue>, workers: usize, storage: Option<trace_storage::Storage>) -> Running {
    start_with_buffer(db, queue, workers, storage, Arc::new(InProcessBuffer::default()))
}

/// [`start`] with buffered datasets' rows going through `buffer`.
pub fn start_with_buffer(db: &Arc<Db>, queue: Arc<dyn TaskQueue>, workers: usize, storage: Option<trace_storage::Storage>, buffer: Arc<dyn Buffer>) -> Running {
    let wake = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let dispatcher = tokio::spawn(dispatcher::run(db.clone(), queue.clone(), wake.clone(), DispatcherConfig::default(), stopped.clone()));
    let sink = tokio::spawn(trace_control::sink::run(db.clone(), buffer.clone(), wake.clone(), stopped));
    let outputs = storage.map_or(Outputs::Discarded, Outputs::Stored);
    let plane = Arc::new(Embedded::with_buffer(db.clone(), buffer.clone()));
    let ctx = Arc::new(WorkerContext::new(plane, queue.clone(), runtime, OperatorDir(operators().to_owned()), wake.clone(), outputs));
    let workers = (0..workers).map(|_| tokio::spawn(worker::run(ctx.clone()))).collect();
    Running { queue, buffer, sink, wake, stop, dispatcher, workers }
}

/// Wait until no task of `org` is open; fail the test after `within`.
pub async fn settle(db: &Db, org: i64, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while db.open_tasks(org).await.unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "the run did not finish within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until no task of `org` is open and every buffered row handed over
/// is committed (a commit may start tasks, so both hold twice in a row).
pub async fn settle_buffered(db: &Db, running: &Running, org: i64, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    let mut quiet = 0;
    while quiet < 2 {
        assert!(std::time::Instant::now() < deadline, "the run did not finish within {within:?}");
        let idle = db.open_tasks(org).await.unwrap() == 0 && running.buffer.pending().await.unwrap() == 0;
        quiet = if idle { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Running {
    /// Stop taking work; every loop must end cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.queue.close();
        self.dispatcher.await.unwrap();
        self.sink.await.unwrap().unwrap();
        for w in self.workers {
            w.await.unwrap().unwrap();
        }
    }
}


/// Local files with SQLite (the embedded default).
pub async fn local_and_sqlite(dir: &tempfile::TempDir) -> (Arc<Db>, trace_storage::Storage) {
    let storage = trace_storage::Storage::local(&dir.path().join("objects")).unwrap();
    let db = Arc::new(Db::Sqlite(trace_store::SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    (db, storage)
}

/// S3 on moto's server (bucket `bucket`, made here) with PostgreSQL:
/// production's parts.
pub async fn s3_and_postgres(moto: &trace_testbed::Moto, bucket: &str) -> (Arc<Db>, trace_storage::Storage) {
    let created = reqwest::Client::new().put(format!("{}/{bucket}", moto.endpoint())).send().await.unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let config = trace_storage::S3Config {
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    };
    let storage = trace_storage::Storage::s3(bucket, &config).unwrap();
    let db = Arc::new(Db::Postgres(trace_store::PgStore::connect(&trace_testbed::database(), 8).await.unwrap()));
    (db, storage)
}
