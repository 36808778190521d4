//! The range aggregator under the platform's real delivery order: a source
//! task held back by a dead worker and retried after its attempt times out
//! completes last, and a backlog can run newest first. The published rows
//! must be exactly those of an in-order run, on SQLite with local files and
//! on PostgreSQL with S3 (moto's server).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::{settle, start};
use trace_control::queue::InProcessQueue;
use trace_storage::Storage;
use trace_store::{now_millis, Db, Registry, Store, TaskStatus};

/// The example pipeline with a short source timeout, so that an attempt a
/// dead worker holds is retried within the test, and source runs four at a
/// time, as a backfill runs them: they complete in any order.
fn pipeline() -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/pipeline.yaml")).unwrap();
    let with_timeout = text.replacen("config: { range_size: 1000 }", "config: { range_size: 1000 }\n    timeout: 2s\n    scaling: { max_concurrency: 4 }", 1);
    assert_ne!(with_timeout, text, "the example's source config moved; update this test");
    with_timeout
}

const CHUNK: u64 = 1_000;
const BLOCKS: u64 = 30_000;

fn chunks() -> Vec<(String, (u64, u64))> {
    (0..BLOCKS / CHUNK).map(|i| (format!("c{i}"), (i * CHUNK, (i + 1) * CHUNK))).collect()
}

/// Every published row of `dataset`, as (partition, rows' bytes as text),
/// sorted: what a reader of the dataset sees, whatever its files are named.
async fn published(db: &Db, storage: &Storage, org: i64, dataset: &str) -> Vec<(String, u64, Vec<String>)> {
    let mut out = Vec::new();
    for p in db.partitions(org, dataset).await.unwrap() {
        let bytes = storage.get(&p.object_key.as_str().into(), 1 << 30).await.unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 8192).unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            for i in 0..batch.num_rows() {
                let cells: Vec<_> = batch.columns().iter().map(|c| arrow_cast::display::array_value_to_string(c, i).unwrap()).collect();
                rows.push(cells.join("|"));
            }
        }
        out.push((p.partition_key.clone(), p.rows, rows));
    }
    out.sort();
    out
}

async fn deploy(db: &Db, name: &str) -> (i64, trace_store::Deployed) {
    let org = db.create_org(name, now_millis()).await.unwrap();
    let text = pipeline();
    let d = db.deploy(org, &trace_dag::parse("pipeline.yaml", &text).unwrap(), &text, "tester", now_millis()).await.unwrap();
    (org, d)
}

fn assert_all_completed(counts: &[(TaskStatus, i64)]) {
    assert!(counts.iter().all(|(s, _)| *s == TaskStatus::Completed), "{counts:?}");
}

async fn reordered_and_retried_sources_publish_what_an_in_order_run_does(db: Arc<Db>, storage: Storage) {
    db.migrate().await.unwrap();
    let (calm, calm_dag) = deploy(&db, "calm").await;
    let (held, held_dag) = deploy(&db, "held").await;
    let (newest, newest_dag) = deploy(&db, "newest").await;

    // A dead worker: it claimed the source task for [12000, 13000) of the
    // `held` org and never reported. Its attempt times out after 2 s and is
    // retried, long after the ranges around it were aggregated.
    let lost = chunks().into_iter().filter(|(_, r)| r.0 == 12_000).collect::<Vec<_>>();
    db.trigger_many(held_dag.job("blocks"), &lost, "tester", now_millis()).await.unwrap();
    let claimed = db.claim(1, now_millis()).await.unwrap();
    assert_eq!(claimed.len(), 1);

    let running = start(&db, Arc::new(InProcessQueue::default()), 1, Some(storage.clone()));
    let wake = running.wake.clone();
    db.trigger_many(calm_dag.job("blocks"), &chunks(), "tester", now_millis()).await.unwrap();
    db.trigger_many(held_dag.job("blocks"), &chunks(), "tester", now_millis()).await.unwrap();
    // One worker takes a backlog in the order it was triggered: newest first.
    let mut reversed = chunks();
    reversed.reverse();
    db.trigger_many(newest_dag.job("blocks"), &reversed, "tester", now_millis()).await.unwrap();
    wake.notify_one();
    for org in [calm, held, newest] {
        settle(&db, org, Duration::from_secs(120)).await;
        assert_all_completed(&db.status_counts(org).await.unwrap());
    }
    running.stop().await;

    let retried = db.task(claimed[0].task).await.unwrap();
    assert_eq!((retried.status, retried.attempts), (TaskStatus::Completed, 2), "the held source task was retried");

    let expected_logs = published(&db, &storage, calm, "block_logs").await;
    let expected = published(&db, &storage, calm, "erc20_transfers").await;
    let windows: Vec<_> = expected.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(windows, vec!["0_10000", "10000_20000", "20000_30000"]);
    assert!(expected.iter().all(|(_, rows, _)| *rows > 0));
    for org in [held, newest] {
        assert_eq!(published(&db, &storage, org, "block_logs").await, expected_logs, "org {org}");
        assert_eq!(published(&db, &storage, org, "erc20_transfers").await, expected, "org {org}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (db, storage) = support::local_and_sqlite(&dir).await;
    reordered_and_retried_sources_publish_what_an_in_order_run_does(db, storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_postgres() {
    let moto = trace_testbed::moto();
    let (db, storage) = support::s3_and_postgres(&moto, "ordering").await;
    reordered_and_retried_sources_publish_what_an_in_order_run_does(db, storage).await;
}
