//! What attempts used, recorded with their outcomes: a task that holds
//! 64 MiB shows at least that peak, a source's rows out and its reader's
//! rows in agree with what was written, a failed attempt is counted too,
//! and the per-org summary adds them up by job.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::operators;
use trace_control::dev::{self, DevRun};
use trace_store::{now_millis, Db, SqliteStore, Store, UsageRecords};

const DAG: &str = r#"name: metered
jobs:
  - name: big
    kind: source
    operator: op_hostile.wasm
    config: { attack: allocate, mib: 64 }
  - name: bomb
    kind: source
    operator: op_hostile.wasm
    max_attempts: 1
    config: { attack: memory_bomb }
  - name: flood
    kind: source
    operator: op_hostile.wasm
    max_attempts: 1
    config: { attack: log_flood }
  - name: blocks
    kind: source
    operator: op_synthetic_blocks.wasm
    config: { range_size: 1000 }
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: { job: blocks, output: 0 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_record_what_they_used() {
    let dir = tempfile::tempdir().unwrap();
    let dag = trace_dag::parse("metered.yaml", DAG).unwrap();
    let path = dir.path().join("trace.db");
    let run = DevRun {
        dag: &dag,
        yaml: DAG,
        operators: operators(),
        database: &path,
        range: (0, 2_000),
        workers: 2,
        timeout: Duration::from_secs(120),
        cache_dir: None,
        poll: Duration::from_millis(50),
        storage: Some(trace_storage::Storage::local(&dir.path().join("objects")).unwrap()),
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let done = dev::run(run, |_| {}).await.unwrap();
    assert_eq!(done.failed(), 2, "the bomb and the flood fail, nothing else");
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&path).await.unwrap()));
    let org = db.org_id(&done.org).await.unwrap().unwrap();
    let tasks = db.tasks_of_org(org, 100).await.unwrap();
    let usage_of = |job: &str| {
        let db = db.clone();
        let ids: Vec<i64> = tasks.iter().filter(|t| t.job_name == job).map(|t| t.id).collect();
        async move {
            let mut all = Vec::new();
            for id in ids {
                all.extend(db.task_usage(id).await.unwrap().into_iter().map(|(_, u)| u));
            }
            all
        }
    };
    let big = usage_of("big").await;
    assert_eq!(big.len(), 1);
    assert!(big[0].peak_memory_bytes >= 64 << 20, "{:?}", big[0]);
    assert!(big[0].cpu_ms <= big[0].wall_ms + 5, "CPU time within the wall time: {:?}", big[0]);
    assert_eq!((big[0].events, big[0].rpc_requests, big[0].output_rows), (1, 0, 0), "{:?}", big[0]);
    assert!(big[0].log_bytes > 0, "{:?}", big[0]);
    let bomb = usage_of("bomb").await;
    assert_eq!(bomb.len(), 1, "a failed attempt is recorded too");
    assert!(bomb[0].peak_memory_bytes >= 128 << 20, "{:?}", bomb[0]);
    // One source run over 0..2000, ten logs a block.
    let blocks = usage_of("blocks").await;
    let written: u64 = blocks.iter().map(|u| u.output_rows).sum();
    assert_eq!(written, 20_000);
    assert!(blocks.iter().all(|u| u.output_bytes > 0 && u.cpu_ms <= u.wall_ms + 5), "{blocks:?}");
    let read: u64 = usage_of("transfers").await.iter().map(|u| u.input_rows).sum();
    assert_eq!(read, 2 * 20_000, "each of the two 1,000-block readers reads the run's one file");

    // What the operators logged is kept with their attempts: all of a short
    // log, the end of a flood (which the sandbox stopped at its limit).
    let attempts_of = |job: &str| {
        let db = db.clone();
        let id = tasks.iter().find(|t| t.job_name == job).unwrap().id;
        async move { db.attempts(id).await.unwrap() }
    };
    let big_log = attempts_of("big").await[0].log.clone().expect("the allocation's log");
    assert_eq!(big_log.len() as u64, big[0].log_bytes);
    let flood = attempts_of("flood").await;
    assert_eq!(flood[0].outcome.as_deref(), Some("failed"));
    let flood_log = flood[0].log.clone().expect("the flood's log");
    let (head, kept) = flood_log.split_once('\n').unwrap();
    assert!(head.starts_with("[first ") && head.ends_with(" dropped]"), "{head}");
    assert_eq!(kept.len(), trace_protocol::contract::MAX_STORED_LOG_BYTES);
    assert!(kept.trim_end().ends_with("xxxx"), "the end of the log is kept");
    assert!(attempts_of("bomb").await[0].log.is_none(), "an attempt that logged nothing has no log");

    // The summary: one row per job this hour, the bomb unsuccessful.
    let rows = db.usage_summary(org, now_millis() - 3_600_000, now_millis() + 1, 3_600_000).await.unwrap();
    let row = |job: &str| rows.iter().filter(|r| r.job == job).collect::<Vec<_>>();
    assert_eq!(row("bomb")[0].unsuccessful, 1);
    assert_eq!(row("transfers").iter().map(|r| r.attempts).sum::<i64>(), 2);
    assert_eq!(row("blocks").iter().map(|r| r.usage.output_rows).sum::<u64>(), 20_000);
    assert!(row("big")[0].usage.peak_memory_bytes >= 64 << 20);
    assert!(rows.iter().all(|r| r.dag == "metered"));
    // Another org has none of it.
    let other = db.create_org("other", now_millis()).await.unwrap();
    assert!(db.usage_summary(other, 0, now_millis() + 1, 86_400_000).await.unwrap().is_empty());
}

/// Fuel metering, on for the worker (`--fuel`) or for one org (its quota's
/// `fuel_per_task`): each attempt's usage says what it burned, and an
/// attempt that burns its org's budget stops with the limit named. Without
/// either, nothing is metered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metered_run_reports_fuel() {
    const SMALL: &str = "name: fueled\njobs:\n  - name: blocks\n    kind: source\n    operator: op_synthetic_blocks.wasm\n    max_attempts: 1\n    config: { range_size: 1000 }\n";
    let dir = tempfile::tempdir().unwrap();
    let dag = trace_dag::parse("fueled.yaml", SMALL).unwrap();
    let path = dir.path().join("trace.db");
    // (org, the worker meters everything, the org's fuel per task)
    let cases = [("plain", false, None), ("worker_metered", true, None), ("org_metered", false, Some(1_000_000_000_000u64)), ("org_starved", false, Some(1_000))];
    for (name, fuel, per_task) in cases {
        {
            let db = Db::Sqlite(SqliteStore::open(&path).await.unwrap());
            db.migrate().await.unwrap();
            let org = db.create_org(name, now_millis()).await.unwrap();
            let quota = trace_store::Quota { fuel_per_task: per_task, ..Default::default() };
            trace_store::Quotas::set_quota(&db, org, &quota, "root", now_millis()).await.unwrap();
        }
        let run = DevRun {
            dag: &dag,
            yaml: SMALL,
            operators: operators(),
            database: &path,
            range: (0, 1_000),
            workers: 1,
            timeout: Duration::from_secs(60),
            cache_dir: None,
            poll: Duration::from_millis(50),
            storage: None,
            destinations: Vec::new(),
            webhook_secret: None,
            secrets: Vec::new(),
            chunk: None,
            fuel,
            org: Some(name.to_owned()),
        };
        let done = dev::run(run, |_| {}).await.unwrap();
        let db = Db::Sqlite(SqliteStore::open(&path).await.unwrap());
        let org = db.org_id(&done.org).await.unwrap().unwrap();
        let task = &db.tasks_of_org(org, 10).await.unwrap()[0];
        let used = db.task_usage(task.id).await.unwrap()[0].1;
        match (fuel, per_task) {
            (false, None) => assert_eq!(used.fuel, None, "no metering, no figure"),
            (true, None) => assert!(used.fuel.is_some_and(|f| f > 10_000), "{used:?}"),
            (_, Some(1_000)) => {
                assert_eq!(done.failed(), 1, "{name}");
                let error = task.last_error.as_deref().unwrap_or_default();
                assert!(error.contains("ran out of fuel") && error.contains("limit=1000"), "{error}");
                assert_eq!(used.fuel, Some(1_000), "it burned all of its budget");
            }
            (_, Some(budget)) => {
                assert_eq!(done.failed(), 0, "{name}");
                assert!(used.fuel.is_some_and(|f| f > 10_000 && f < budget), "{used:?}");
            }
        }
    }
}
