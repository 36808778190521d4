//! The control plane end to end, in one process on SQLite: events become
//! tasks, tasks run in the sandbox, their events become the next tasks.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::{operators, settle, start};
use trace_control::dev::{self, DevRun};
use trace_control::queue::InProcessQueue;
use trace_store::{now_millis, Db, SqliteStore, Store, TaskStatus};

const PIPELINE: &str = r#"name: blocks_pipeline
jobs:
  - name: blocks
    kind: source
    operator: op_range_splitter.wasm
    config: { range_size: 1000 }
  - name: windows
    operator: op_range_aggregator.wasm
    inputs:
      - from: { job: blocks, output: 0 }
    config: { range_size: 10000 }
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: { job: windows, output: 0 }
    scaling: { max_concurrency: 4 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_runs_end_to_end_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let dag = trace_dag::parse("pipeline.yaml", PIPELINE).unwrap();
    let run = DevRun {
        dag: &dag,
        yaml: PIPELINE,
        operators: operators(),
        database: &dir.path().join("trace.db"),
        range: (0, 35_000),
        workers: 2,
        timeout: Duration::from_secs(60),
        cache_dir: None,
        poll: Duration::from_millis(100),
        storage: None,
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let mut updates = 0u32;
    let dev::Finished { deployed, progress: done, .. } = dev::run(run, |_| updates += 1).await.unwrap();
    // The display is refreshed at most every PROGRESS_EVERY, plus the final
    // snapshot, however often completion is polled.
    let bound = done.elapsed.as_secs_f64() / dev::PROGRESS_EVERY.as_secs_f64() + 2.0;
    assert!(updates >= 1 && f64::from(updates) <= bound, "{updates} progress updates in {:?}", done.elapsed);
    // 1 source task → 35 block ranges → 35 aggregator tasks → 3 complete
    // 10,000-block windows → 3 UDF tasks.
    assert_eq!(done.counts, vec![(TaskStatus::Completed, 39)]);
    assert_eq!(done.events, 1 + 35 + 3 + 3);

    let db = Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap());
    let udf = db.tasks_of_job(deployed.job("transfers")).await.unwrap();
    let windows: Vec<_> = udf.iter().map(|t| t.event_range.unwrap()).collect();
    assert_eq!(windows, vec![(0, 10_000), (10_000, 20_000), (20_000, 30_000)]);
    let agg = db.tasks_of_job(deployed.job("windows")).await.unwrap();
    let state = db.fetch(agg[0].id).await.unwrap().state;
    assert!(state.contains(&("next".to_owned(), 35_000u64.to_le_bytes().to_vec())), "{state:?}");
}

const ONE_JOB: &str = r#"name: one
jobs:
  - name: blocks
    kind: source
    operator: op_range_splitter.wasm
    config: { range_size: 10 }
    timeout: 1s
    max_attempts: 3
  - name: sink
    operator: op_noop.wasm
    inputs:
      - from: { job: blocks, output: 0 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_task_is_retried_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let now = now_millis();
    let org = db.create_org("acme", now).await.unwrap();
    let dag = trace_dag::parse("one.yaml", ONE_JOB).unwrap();
    let d = db.deploy(org, &dag, ONE_JOB, "tester", now).await.unwrap();
    let task = db.trigger(d.job("blocks"), "run-1", Some((0, 30)), "tester", now).await.unwrap().tasks[0];

    // A worker takes the task and dies: it claimed, emitted one event, and
    // never completed.
    let lost = db.claim(1, now).await.unwrap().pop().unwrap();
    db.post_events(&lost.auth(), &[trace_store::EmittedEvent { output: 0, partition_key: "0_10".into(), range: Some((0, 10)), cursor: None }], now)
        .await
        .unwrap();

    // Thin messages here (workers fetch); the other test invokes directly.
    let running = start(&db, Arc::new(InProcessQueue::thin()), 1, None);

    settle(&db, org, Duration::from_secs(30)).await;
    running.stop().await;

    let view = db.task(task).await.unwrap();
    assert_eq!((view.status, view.attempts), (TaskStatus::Completed, 2), "timed out once, then completed");
    // The retry re-emitted [0, 10) with the same idempotency key: still one
    // event and one downstream task per range.
    let sinks = db.tasks_of_job(d.job("sink")).await.unwrap();
    let ranges: Vec<_> = sinks.iter().map(|t| t.event_range.unwrap()).collect();
    assert_eq!(ranges, vec![(0, 10), (10, 20), (20, 30)]);
    // The source's event and one per range; the sinks emit none.
    assert_eq!(db.event_count(org).await.unwrap(), 1 + 3);
    assert!(sinks.iter().all(|t| t.status == TaskStatus::Completed));
}

const BLOCKED: &str = r#"name: blocked
jobs:
  - name: sleeper
    kind: source
    operator: op_hostile.wasm
    config: { attack: sleep }
    timeout: 1s
    max_attempts: 1
  - name: quick
    kind: source
    operator: op_noop.wasm
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_blocked_in_a_host_call_frees_its_worker_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let now = now_millis();
    let org = db.create_org("acme", now).await.unwrap();
    let dag = trace_dag::parse("blocked.yaml", BLOCKED).unwrap();
    let d = db.deploy(org, &dag, BLOCKED, "tester", now).await.unwrap();
    // One worker: the sleeper (an hour's `std::thread::sleep`) takes it first.
    let sleeper = db.trigger(d.job("sleeper"), "run-1", None, "tester", now).await.unwrap().tasks[0];
    let quick = db.trigger(d.job("quick"), "run-1", None, "tester", now).await.unwrap().tasks[0];

    let started = std::time::Instant::now();
    let running = start(&db, Arc::new(InProcessQueue::thin()), 1, None);
    settle(&db, org, Duration::from_secs(20)).await;
    let took = started.elapsed();
    running.stop().await;

    let blocked = db.task(sleeper).await.unwrap();
    assert_eq!((blocked.status, blocked.attempts), (TaskStatus::Failed, 1));
    let error = blocked.last_error.unwrap_or_default();
    assert!(error.contains("guest ran past its time limit") && error.contains("limit=1000ms"), "{error}");
    // The worker's only slot came back at the sleeper's deadline.
    assert_eq!(db.task(quick).await.unwrap().status, TaskStatus::Completed);
    assert!(took < Duration::from_secs(5), "both tasks took {took:?}");
}

const PACED: &str = r#"name: paced
jobs:
  - name: slow
    kind: source
    operator: op_pacer.wasm
    config: { pause_ms: 400 }
    timeout: 30s
  - name: sink
    operator: op_noop.wasm
    inputs:
      - from: { job: slow, output: 0 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_task_streams_its_events_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let now = now_millis();
    let org = db.create_org("acme", now).await.unwrap();
    let d = db.deploy(org, &trace_dag::parse("paced.yaml", PACED).unwrap(), PACED, "tester", now).await.unwrap();
    let source = db.trigger(d.job("slow"), "run-1", Some((0, 6)), "tester", now).await.unwrap().tasks[0];

    let running = start(&db, Arc::new(InProcessQueue::default()), 2, None);

    // The source emits one event every 400 ms for ≈ 2.4 s; downstream tasks
    // must appear, and complete, while it is still running.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen_while_running = 0;
    while db.open_tasks(org).await.unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "the run did not finish");
        if db.task(source).await.unwrap().status == TaskStatus::Running {
            let sinks = db.tasks_of_job(d.job("sink")).await.unwrap();
            seen_while_running = seen_while_running.max(sinks.iter().filter(|t| t.status == TaskStatus::Completed).count());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await;
    assert!(seen_while_running >= 1, "no downstream task ran while the source was running");
    // Streamed events and the completion's copy of them are one event each.
    let sinks = db.tasks_of_job(d.job("sink")).await.unwrap();
    let ranges: Vec<_> = sinks.iter().map(|t| t.event_range.unwrap()).collect();
    assert_eq!(ranges, (0..6).map(|i| (i, i + 1)).collect::<Vec<_>>());
    assert_eq!(db.event_count(org).await.unwrap(), 1 + 6);
    assert_eq!(db.task(source).await.unwrap().status, TaskStatus::Completed);
}

const WRITES: &str = include_str!("../../../tests/dags/writes.yaml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_land_in_storage_under_id_only_paths_when_their_task_completes() {
    use trace_store::Registry;
    let dir = tempfile::tempdir().unwrap();
    let storage = trace_storage::Storage::local(&dir.path().join("objects")).unwrap();
    let dag = trace_dag::parse("writes.yaml", WRITES).unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    let run = DevRun {
        dag: &dag,
        yaml: WRITES,
        operators: operators(),
        database: Path::new(""),
        range: (100, 105),
        workers: 2,
        timeout: Duration::from_secs(60),
        cache_dir: None,
        poll: Duration::from_millis(50),
        storage: Some(storage.clone()),
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let dev::Finished { deployed, progress: done, .. } = dev::run_on(db.clone(), Arc::new(InProcessQueue::default()), run, |_| {}).await.unwrap();
    assert_eq!(done.counts, vec![(TaskStatus::Completed, 6)], "1 source task + 5 counting tasks");

    let dataset = db.datasets(deployed.org).await.unwrap().into_iter().find(|d| d.name == "units").unwrap();
    let version = dataset.version.clone().unwrap();
    let parts = db.partitions(deployed.org, "units").await.unwrap();
    assert_eq!(parts.len(), 1);
    let expected = format!("org/{}/dataset/{}/version/{version}/100_105.parquet", deployed.org, dataset.uuid);
    assert_eq!((parts[0].object_key.as_str(), parts[0].rows, parts[0].range), (expected.as_str(), 5, Some((100, 105))));
    assert!(!parts[0].object_key.contains("units"), "no dataset name in a path");

    // The file is real Parquet with the operator's rows; nothing is left staged.
    let file = dir.path().join("objects").join(&parts[0].object_key);
    let mut source = trace_batches::ParquetSource::open(&file, 1024).unwrap();
    let mut units = Vec::new();
    while let Some(ipc) = trace_core::BatchSource::next_batch(&mut source).unwrap() {
        for batch in trace_batches::decode_ipc(&ipc).unwrap() {
            let col = batch.column(0).as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap();
            units.extend(col.values().iter().copied());
        }
    }
    assert_eq!(units, vec![100, 101, 102, 103, 104]);
    let staged = storage.list(&trace_storage::ObjectPath::from(format!("org/{}/staging", deployed.org))).await.unwrap();
    assert!(staged.is_empty(), "{staged:?}");
    assert_eq!(parts[0].bytes, std::fs::metadata(&file).unwrap().len());

    // Downstream, each one-unit event read the partition covering it (the
    // pinned version's file for [100, 105)) and counted its 5 rows.
    let counts = db.partitions(deployed.org, "counts").await.unwrap();
    let keys: Vec<_> = counts.iter().map(|p| p.range.unwrap()).collect();
    assert_eq!(keys, (100..105).map(|i| (i, i + 1)).collect::<Vec<_>>());
    for p in &counts {
        let mut source = trace_batches::ParquetSource::open(&dir.path().join("objects").join(&p.object_key), 16).unwrap();
        let ipc = trace_core::BatchSource::next_batch(&mut source).unwrap().unwrap();
        let batch = trace_batches::decode_ipc(&ipc).unwrap().remove(0);
        let rows = batch.column(0).as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap().value(0);
        assert_eq!(rows, 5, "{p:?}");
    }

    // A worker that died between its commit and its promote leaves the file
    // at its staging key: repair moves it; a file gone altogether is reported.
    let files = db.partition_files(deployed.org).await.unwrap();
    assert_eq!(files.len(), 6);
    let root = dir.path().join("objects");
    let (object, staging) = &files[0];
    std::fs::create_dir_all(root.join(staging).parent().unwrap()).unwrap();
    std::fs::rename(root.join(object), root.join(staging)).unwrap();
    std::fs::remove_file(root.join(&files[1].0)).unwrap();
    let repaired = trace_control::outputs::repair(&storage, &files).await.unwrap();
    assert_eq!((repaired.in_place, repaired.promoted, repaired.lost.clone()), (4, 1, vec![files[1].0.clone()]));
    assert!(root.join(object).exists() && !root.join(staging).exists());

    // The janitor: a committed file left staged is promoted; files staged by
    // an attempt that died before committing are deleted; a running
    // attempt's are kept; what is not a staging path is not touched.
    use trace_store::Store;
    let org = deployed.org;
    let put = |key: &str| {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"PAR1").unwrap();
    };
    std::fs::create_dir_all(root.join(staging).parent().unwrap()).unwrap();
    std::fs::rename(root.join(object), root.join(staging)).unwrap();
    let (task, _) = trace_storage::paths::staged_by(org, &staging.as_str().into()).unwrap();
    let range = trace_storage::Partition::Range { start: 100, end: 105 };
    let dead = trace_storage::paths::staging_path(org, task, 9, 0, &range).to_string();
    put(&dead);
    db.trigger(deployed.job("units"), "live", Some((200, 201)), "tester", now_millis()).await.unwrap();
    let claimed = db.claim(10, now_millis()).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let live = trace_storage::paths::staging_path(org, claimed[0].task, claimed[0].attempt, 0, &range).to_string();
    put(&live);
    let stray = format!("org/{org}/staging/notes.txt");
    put(&stray);
    let swept = trace_control::janitor::sweep(&db, &storage).await.unwrap();
    assert_eq!(swept, trace_control::janitor::Sweep { live: 1, promoted: 1, deleted: 1 });
    assert!(root.join(object).exists() && !root.join(staging).exists(), "the committed file is at its final key");
    assert!(!root.join(&dead).exists() && root.join(&live).exists() && root.join(&stray).exists());
    // Timed out, it may still report late (until a newer attempt starts),
    // and that report may commit the file: it is kept. (The chaos soak
    // found a partition whose file the janitor had deleted this way.)
    db.reap(now_millis() + 3_600_000).await.unwrap();
    let swept = trace_control::janitor::sweep(&db, &storage).await.unwrap();
    assert_eq!(swept, trace_control::janitor::Sweep { live: 1, promoted: 0, deleted: 0 });
    assert!(root.join(&live).exists());
    // Once the next attempt has started, no report of that one is admitted:
    // its file goes.
    let retried = db.claim(10, now_millis() + 7_200_000).await.unwrap();
    assert_eq!((retried.len(), retried[0].task, retried[0].attempt), (1, claimed[0].task, claimed[0].attempt + 1));
    let swept = trace_control::janitor::sweep(&db, &storage).await.unwrap();
    assert_eq!(swept, trace_control::janitor::Sweep { live: 0, promoted: 0, deleted: 1 });
    assert!(!root.join(&live).exists());
}

/// Rows of `dataset`'s current version: (block_number, value as text) per row.
async fn transfer_rows(db: &Db, org: i64, objects: &Path, dataset: &str) -> Vec<(u64, u64, String)> {
    use trace_store::Registry;
    let mut rows = Vec::new();
    for p in db.partitions(org, dataset).await.unwrap() {
        let (start, end) = p.range.unwrap();
        let mut source = trace_batches::ParquetSource::open(&objects.join(&p.object_key), 8192).unwrap();
        while let Some(ipc) = trace_core::BatchSource::next_batch(&mut source).unwrap() {
            for batch in trace_batches::decode_ipc(&ipc).unwrap() {
                let blocks = batch.column(0).as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap();
                let values = batch.column(5).as_any().downcast_ref::<arrow_array::Decimal256Array>().unwrap();
                for i in 0..batch.num_rows() {
                    assert!((start..end).contains(&blocks.value(i)), "row of block {} in window [{start}, {end})", blocks.value(i));
                    rows.push((start, blocks.value(i), values.value(i).to_string()));
                }
            }
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_pipeline_rematerializes_cuts_over_and_rolls_back() {
    use trace_store::{Lifecycle, Registry};
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let storage = trace_storage::Storage::local(&objects).unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let v1_text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/pipeline.yaml")).unwrap();
    let v1 = db.deploy(org, &trace_dag::parse("pipeline.yaml", &v1_text).unwrap(), &v1_text, "tester", now_millis()).await.unwrap();

    let running = start(&db, Arc::new(InProcessQueue::default()), 1, Some(storage));
    let wake = running.wake.clone();
    let drained = || async {
        settle(&db, org, Duration::from_secs(120)).await;
        assert!(db.status_counts(org).await.unwrap().iter().all(|(s, _)| *s == TaskStatus::Completed), "{:?}", db.status_counts(org).await);
    };
    let chunks = |size: u64, end: u64| (0..end / size).map(|i| (format!("c{size}-{i}"), (i * size, (i + 1) * size))).collect::<Vec<_>>();

    // v1: 20,000 blocks in 1,000-block source runs → 2 windows of transfers.
    db.trigger_many(v1.job("blocks"), &chunks(1_000, 20_000), "tester", now_millis()).await.unwrap();
    wake.notify_one();
    drained().await;
    assert_eq!(db.partitions(org, "block_logs").await.unwrap().len(), 20);
    let before = transfer_rows(&db, org, &objects, "erc20_transfers").await;
    let windows: std::collections::BTreeSet<_> = before.iter().map(|r| r.0).collect();
    assert_eq!(windows.into_iter().collect::<Vec<_>>(), vec![0, 10_000]);

    // v2 edits the UDF's threshold: staged, it rematerializes its new
    // dataset version (the edited job, run over the windows) while readers
    // keep v1.
    let v2_text = v1_text.replace(r#"min_value: "1000000000000""#, r#"min_value: "10000000000000""#);
    assert_ne!(v1_text, v2_text);
    let v2 = db.stage(org, &trace_dag::parse("pipeline.yaml", &v2_text).unwrap(), &v2_text, "tester", now_millis()).await.unwrap();
    // Only the edited job replays (its 2 windows); blocks and windows are unchanged.
    assert_eq!(db.rematerialize(org, "erc20_pipeline", v2.version, "tester", now_millis()).await.unwrap(), 2);
    assert_eq!(db.rematerialize(org, "erc20_pipeline", v2.version, "tester", now_millis()).await.unwrap(), 0, "idempotent");
    wake.notify_one();
    drained().await;
    assert_eq!(transfer_rows(&db, org, &objects, "erc20_transfers").await, before, "readers keep v1 until the cutover");

    db.cutover(org, "erc20_pipeline", v2.version, "tester", now_millis()).await.unwrap();
    let after = transfer_rows(&db, org, &objects, "erc20_transfers").await;
    assert!(!after.is_empty() && after.len() < before.len(), "a higher threshold keeps fewer: {} vs {}", after.len(), before.len());
    let kept: Vec<_> = before.iter().filter(|r| r.2.parse::<u128>().unwrap() >= 10_000_000_000_000).cloned().collect();
    assert_eq!(after, kept, "v2 is exactly v1's rows above the new threshold");

    db.rollback(org, "erc20_pipeline", "tester", now_millis()).await.unwrap();
    assert_eq!(transfer_rows(&db, org, &objects, "erc20_transfers").await, before, "rollback restores v1");

    // Re-running one source range rewrites its file: the UDF reads it
    // through a shared read, so no event reaches it; the invalidation
    // re-runs exactly the window that covers the range.
    let windows_before = db.tasks_of_job(v1.job("transfers")).await.unwrap().len();
    db.trigger(v1.job("blocks"), "repair", Some((3_000, 4_000)), "tester", now_millis()).await.unwrap();
    wake.notify_one();
    drained().await;
    let reran = db.tasks_of_job(v1.job("transfers")).await.unwrap();
    assert_eq!(reran[windows_before..].iter().map(|t| t.event_range.unwrap()).collect::<Vec<_>>(), vec![(0, 10_000)]);
    assert_eq!(transfer_rows(&db, org, &objects, "erc20_transfers").await, before, "a deterministic source rewrites the same rows");

    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_addressed_operators_are_fetched_verified_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let storage = trace_storage::Storage::local(&dir.path().join("objects")).unwrap();
    let pacer = storage.put_operator(&std::fs::read(trace_artifacts::PACER).unwrap()).await.unwrap();
    let count = storage.put_operator(&std::fs::read(trace_artifacts::ROW_COUNT).unwrap()).await.unwrap();
    let yaml = WRITES
        .replace("op_pacer.wasm", &format!("\"sha256:{}\"", pacer.sha256))
        .replace("op_row_count.wasm", &format!("\"sha256:{}\"", count.sha256));
    let dag = trace_dag::parse("writes.yaml", &yaml).unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    let run = |range| DevRun {
        dag: &dag,
        yaml: &yaml,
        // Nothing under this directory: every operator comes from storage.
        operators: Path::new("/nonexistent"),
        database: Path::new(""),
        range,
        workers: 2,
        timeout: Duration::from_secs(60),
        cache_dir: None,
        poll: Duration::from_millis(50),
        storage: Some(storage.clone()),
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let done = dev::run_on(db.clone(), Arc::new(InProcessQueue::default()), run((0, 3)), |_| {}).await.unwrap().progress;
    assert_eq!(done.counts, vec![(TaskStatus::Completed, 4)]);

    // A component whose bytes no longer match its digest is refused, and the
    // task fails for good (a retry would fetch the same bytes).
    let path = trace_storage::paths::operator_path(&count.sha256).unwrap();
    storage.put(&path, bytes::Bytes::from_static(b"\0asm tampered")).await.unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = Arc::new(Db::Sqlite(SqliteStore::open(&dir2.path().join("trace.db")).await.unwrap()));
    let dev::Finished { deployed, progress: done, .. } = dev::run_on(db2.clone(), Arc::new(InProcessQueue::default()), run((0, 1)), |_| {}).await.unwrap();
    assert_eq!(done.counts, vec![(TaskStatus::Completed, 1), (TaskStatus::Failed, 1)]);
    let failed = db2.tasks_of_job(deployed.job("counted")).await.unwrap().remove(0);
    let error = failed.last_error.unwrap();
    assert!(error.contains("fails verification: sha256 is"), "{error}");
    assert_eq!(failed.attempts, 1, "not retried");
}
