//! End-to-end no-op tasks per second through the control plane (event →
//! task → claim → fetch → sandbox run → completion → downstream event), and
//! beside it a raw claim/complete SQL loop on the same database with the same
//! transaction pattern (claims in batches, one completion per transaction).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Row};
use trace_control::dev::{self, DevRun};
use trace_store::Db;

/// The benchmark DAG: one source task fans out into `n` no-op tasks. The
/// concurrency limit leaves room for several claim batches in flight: at
/// 256 the run was bound by round trips (a claim-to-completion cycle of
/// ~30 ms caps 256 tasks at ~8,500/s) with the CPUs partly idle.
pub const DAG: &str = r#"name: bench
jobs:
  - name: fan
    kind: source
    operator: op_range_splitter.wasm
    config: { range_size: 1 }
  - name: work
    operator: op_noop.wasm
    inputs:
      - from: { job: fan, output: 0 }
    scaling: { max_concurrency: 4096 }
"#;

/// Tasks per second through Trace for `n` no-op tasks (plus the source task).
pub async fn trace_tasks_per_sec(db: Arc<Db>, operators: &Path, n: u64, workers: usize) -> f64 {
    let dag = trace_dag::parse("bench.yaml", DAG).expect("the bench DAG is valid");
    let run = DevRun {
        dag: &dag,
        yaml: DAG,
        operators,
        database: Path::new(""),
        range: (0, n),
        workers,
        timeout: Duration::from_secs(600),
        cache_dir: None,
        // Progress queries scan the task table; poll rarely so they do not
        // compete with the work (adds at most one interval to the time).
        poll: Duration::from_millis(50),
        storage: None,
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let queue = Arc::new(trace_control::queue::InProcessQueue::default());
    let done = dev::run_on(db, queue, run, |_| {}).await.expect("the bench DAG runs");
    if let Some(t) = done.failures.first() {
        panic!("bench task {} ({}) failed: {}", t.id, t.job_name, t.last_error.as_deref().unwrap_or("?"));
    }
    let done = done.progress;
    let completed: i64 = done.counts.iter().map(|(_, n)| n).sum();
    assert_eq!(completed as u64, n + 1, "every task completed");
    // Timed by the run itself: from the workers' start (after deploying and
    // compiling the operators) until no task is open, seen by a poll.
    (n + 1) as f64 / done.elapsed.as_secs_f64()
}

/// Rows per second through a raw claim/complete loop: claim up to `batch`
/// per transaction, complete `per_commit` rows per transaction (one
/// `UPDATE` each, as a queue without a batching completer would).
pub async fn raw_rows_per_sec(url: String, n: u64, batch: u32, per_commit: usize) -> f64 {
    let sqlite = url.starts_with("sqlite:");
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(2);
    sqlx::any::install_default_drivers();
    let pool = pool.connect(&if sqlite { format!("{url}?mode=rwc") } else { url.to_owned() }).await.expect("connect");
    let p = |sql: &str| AssertSqlSafe(if sqlite { sql.replace('$', "?") } else { sql.to_owned() });
    sqlx::query(p("CREATE TABLE raw_tasks (id BIGINT PRIMARY KEY, status TEXT NOT NULL)")).execute(&pool).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    for id in 0..n as i64 {
        sqlx::query(p("INSERT INTO raw_tasks (id, status) VALUES ($1, 'pending')")).bind(id).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let claim = if sqlite {
        "UPDATE raw_tasks SET status = 'running' WHERE id IN (SELECT id FROM raw_tasks WHERE status = 'pending' ORDER BY id LIMIT $1) RETURNING id"
    } else {
        "UPDATE raw_tasks SET status = 'running' WHERE id IN (SELECT id FROM raw_tasks WHERE status = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id"
    };
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        let mut tx = pool.begin().await.unwrap();
        let ids: Vec<i64> = sqlx::query(p(claim)).bind(i64::from(batch)).fetch_all(&mut *tx).await.unwrap().iter().map(|r| r.get(0)).collect();
        tx.commit().await.unwrap();
        if ids.is_empty() {
            break;
        }
        for chunk in ids.chunks(per_commit.max(1)) {
            let mut tx = pool.begin().await.unwrap();
            for id in chunk {
                sqlx::query(p("UPDATE raw_tasks SET status = 'done' WHERE id = $1")).bind(*id).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
            done += chunk.len() as u64;
        }
    }
    assert_eq!(done, n);
    n as f64 / started.elapsed().as_secs_f64()
}
