//! Dataset update strategies end to end, with real operators, on local
//! files with SQLite and on S3 (moto's server on 127.0.0.1) with PostgreSQL.

mod support;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::UInt64Array;
use support::{settle, start};
use trace_control::queue::InProcessQueue;
use trace_storage::{ObjectPath, Storage};
use trace_store::{now_millis, Db, Registry, Store, TaskStatus};

/// Run one test body on both.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local_sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let (db, storage) = crate::support::local_and_sqlite(&dir).await;
                super::$name(db, storage).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3_postgres() {
                let moto = trace_testbed::moto();
                let (db, storage) = crate::support::s3_and_postgres(&moto, "trace-data").await;
                super::$name(db, storage).await;
            }
        }
    };
}

const WRITES: &str = include_str!("../../../tests/dags/writes.yaml");

/// A source appending its units (keyed by `unit`), and a job counting the
/// rows it reads for each unit's range.
const APPENDS: &str = r#"name: appends
jobs:
  - name: units
    kind: source
    operator: op_pacer.wasm
    config: { pause_ms: 0 }
    update_strategy: append
    unique_key: [unit]
  - name: counted
    operator: op_row_count.wasm
    inputs:
      - from: { job: units, output: 0 }
publish:
  - { job: units, output_index: 0, dataset: units }
  - { job: counted, output_index: 0, dataset: counts }
"#;

/// Every value of UInt64 column `column` in `dataset`'s current files, file by file.
async fn column(db: &Db, storage: &Storage, org: i64, dataset: &str, column: usize) -> Vec<(String, Vec<u64>)> {
    let mut out = Vec::new();
    for p in db.partitions(org, dataset).await.unwrap() {
        let bytes = storage.get(&ObjectPath::from(p.object_key.as_str()), 1 << 20).await.unwrap();
        let mut source = trace_batches::ParquetSource::from_bytes(&p.object_key, bytes, 1024).unwrap();
        let mut values = Vec::new();
        while let Some(ipc) = trace_core::BatchSource::next_batch(&mut source).unwrap() {
            for batch in trace_batches::decode_ipc(&ipc).unwrap() {
                values.extend(batch.column(column).as_any().downcast_ref::<UInt64Array>().unwrap().values().iter().copied());
            }
        }
        out.push((p.partition_key, values));
    }
    out
}

async fn append_adds_only_new_keys_and_readers_see_every_file(db: Arc<Db>, storage: Storage) {
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let d = db.deploy(org, &trace_dag::parse("appends.yaml", APPENDS).unwrap(), APPENDS, "tester", now_millis()).await.unwrap();
    let running = start(&db, Arc::new(InProcessQueue::default()), 1, Some(storage.clone()));
    let units_job = d.job("units");
    let run = |id: &'static str, range: (u64, u64)| {
        let (db, wake) = (db.clone(), running.wake.clone());
        async move {
            db.trigger(units_job, id, Some(range), "tester", now_millis()).await.unwrap();
            wake.notify_one();
            settle(&db, org, Duration::from_secs(60)).await;
        }
    };

    run("a", (0, 3)).await;
    run("b", (2, 5)).await;
    let sources = db.tasks_of_job(d.job("units")).await.unwrap();
    assert!(sources.iter().all(|t| t.status == TaskStatus::Completed), "{sources:?}");
    let (a, b) = (sources[0].id, sources[1].id);
    // Each run added a file of its own; unit 2, already there, was dropped.
    let files = column(&db, &storage, org, "units", 0).await;
    assert_eq!(files, vec![(format!("0_3.t{a}"), vec![0, 1, 2]), (format!("2_5.t{b}"), vec![3, 4])]);
    // A reader of [2, 3) reads both files: every row appended to the range.
    let counts = column(&db, &storage, org, "counts", 0).await;
    assert_eq!(counts.iter().find(|(k, _)| k == "2_3").unwrap().1, vec![5]);

    // Nothing new: no file at all.
    run("c", (0, 5)).await;
    assert_eq!(column(&db, &storage, org, "units", 0).await, files, "a run of known keys adds nothing");
    running.stop().await;

    let units = db.datasets(org).await.unwrap().into_iter().find(|x| x.name == "units").unwrap();
    let stored = storage.list(&trace_storage::paths::version_prefix(org, &units.uuid, &units.version.unwrap()).unwrap()).await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
}

on_both!(append_adds_only_new_keys_and_readers_see_every_file);

async fn rewriting_a_range_replaces_its_files_and_reruns_exactly_its_downstream(db: Arc<Db>, storage: Storage) {
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let d = db.deploy(org, &trace_dag::parse("writes.yaml", WRITES).unwrap(), WRITES, "tester", now_millis()).await.unwrap();

    let running = start(&db, Arc::new(InProcessQueue::default()), 1, Some(storage.clone()));
    let wake = running.wake.clone();
    let drained = || settle(&db, org, Duration::from_secs(30));

    // Two ranges, then [0, 3) again (a replace of that range).
    db.trigger(d.job("units"), "first", Some((0, 3)), "tester", now_millis()).await.unwrap();
    db.trigger(d.job("units"), "other", Some((3, 6)), "tester", now_millis()).await.unwrap();
    wake.notify_one();
    drained().await;
    let before = db.partitions(org, "counts").await.unwrap();
    assert_eq!(before.len(), 6);
    db.trigger(d.job("units"), "again", Some((0, 3)), "tester", now_millis()).await.unwrap();
    wake.notify_one();
    drained().await;
    running.stop().await;

    // Exactly the downstream of [0, 3) ran again: 3 more counting tasks, not 6.
    let counted = db.tasks_of_job(d.job("counted")).await.unwrap();
    assert_eq!(counted.len(), 6 + 3);
    let mut reran: Vec<_> = counted[6..].iter().map(|t| t.event_range.unwrap()).collect();
    reran.sort();
    assert_eq!(reran, vec![(0, 1), (1, 2), (2, 3)]);
    // Same keys, same number of files: the rewrite replaced them.
    let after = db.partitions(org, "counts").await.unwrap();
    let keys = |p: &[trace_store::PartitionView]| p.iter().map(|x| x.object_key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&after), keys(&before));
    let units = db.partitions(org, "units").await.unwrap();
    assert_eq!(units.iter().map(|p| p.range.unwrap()).collect::<Vec<_>>(), vec![(0, 3), (3, 6)]);
    let dataset = db.datasets(org).await.unwrap().into_iter().find(|x| x.name == "counts").unwrap();
    let version = dataset.version.unwrap();
    let files = storage.list(&trace_storage::paths::version_prefix(org, &dataset.uuid, &version).unwrap()).await.unwrap();
    assert_eq!(files.len(), 6, "{files:?}");
}
on_both!(rewriting_a_range_replaces_its_files_and_reruns_exactly_its_downstream);

/// `units` feeding a job that writes, emits and sets state, then traps.
const BROKEN: &str = r#"name: broken
jobs:
  - name: units
    kind: source
    operator: op_pacer.wasm
    config: { pause_ms: 0 }
  - name: broken
    operator: op_hostile.wasm
    inputs:
      - from: { job: units, output: 0 }
    config: { attack: trap_mid_write }
publish:
  - { job: broken, output_index: 0, dataset: broken }
"#;

async fn a_failed_attempt_leaves_no_visible_partition_and_no_file(db: Arc<Db>, storage: Storage) {
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let d = db.deploy(org, &trace_dag::parse("broken.yaml", BROKEN).unwrap(), BROKEN, "tester", now_millis()).await.unwrap();
    let running = start(&db, Arc::new(InProcessQueue::default()), 1, Some(storage.clone()));
    db.trigger(d.job("units"), "r", Some((0, 1)), "tester", now_millis()).await.unwrap();
    running.wake.notify_one();
    settle(&db, org, Duration::from_secs(60)).await;
    running.stop().await;

    let broken = db.tasks_of_job(d.job("broken")).await.unwrap();
    assert_eq!(broken.iter().map(|t| (t.status, t.attempts)).collect::<Vec<_>>(), vec![(TaskStatus::Failed, 1)], "a trap is not retried: {broken:?}");
    assert!(db.partitions(org, "broken").await.unwrap().is_empty(), "no partition of a failed task is visible");
    let dataset = db.datasets(org).await.unwrap().into_iter().find(|x| x.name == "broken").unwrap();
    let files = storage.list(&trace_storage::paths::version_prefix(org, &dataset.uuid, &dataset.version.unwrap()).unwrap()).await.unwrap();
    assert!(files.is_empty(), "{files:?}");
    let staged = storage.list(&ObjectPath::from(format!("org/{org}/staging"))).await.unwrap();
    assert!(staged.is_empty(), "the attempt's staged file is gone: {staged:?}");
    // Its mid-task event and state write went nowhere either.
    assert!(db.tasks_of_org(org, 100).await.unwrap().iter().all(|t| t.job_name != "broken" || t.id == broken[0].id));
}
on_both!(a_failed_attempt_leaves_no_visible_partition_and_no_file);
