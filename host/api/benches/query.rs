//! `cargo bench -p trace-api --bench query [-- --quick]`: the same SQL over
//! the same Parquet files (ten files, 10,000,000 rows; 1,000,000 with
//! `--quick`), in one run, four ways:
//!
//! - plain DuckDB: one open connection with a view over the files (the
//!   baseline);
//! - the engine: a fresh locked-down DuckDB per query over the same files;
//! - the engine in a process of its own (`trace-query-runner`, kept ready
//!   ahead of need), as the service runs every query;
//! - the service: that plus resolving the dataset by name in the SQLite
//!   system database and pinning its version;
//! - the API: the service behind `POST /api/v1/query` on 127.0.0.1, with a
//!   token, answering JSON.
//!
//! The legs take turns, round after round (so drift on a busy machine hits
//! them all alike); each reports its best of 10. Ratios are against plain
//! DuckDB, the faster of its two configurations in that run.
//!
//! The runner is a binary of its own: build it first with
//! `cargo build --release -p trace-query --bin trace-query-runner`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trace_api::{public_router, PublicState};
use trace_query::duckdb::Connection;
use trace_query::{run, Caller, Catalog, QueryLimits, QueryRequest, QueryService, Runner, ServiceLimits, Table};
use trace_storage::Storage;
use trace_store::{now_millis, Db, Registry, Role, SqliteStore, Store};

const ROUNDS: usize = 10;
const FILES: u64 = 10;

/// Each leg's best time over `ROUNDS` rounds, the legs taking turns.
fn best_of_turns(legs: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; legs.len()];
    for _ in 0..ROUNDS {
        for (leg, b) in legs.iter_mut().zip(&mut best) {
            let started = Instant::now();
            leg();
            *b = (*b).min(started.elapsed());
        }
    }
    best
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let runner = Runner::locate();
    if !runner.program().is_file() {
        eprintln!("no query runner at {}: build it first with `cargo build --release -p trace-query --bin trace-query-runner`", runner.program().display());
        std::process::exit(2);
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let rows: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    let raw = Connection::open_in_memory().unwrap();

    // The dataset, registered in SQLite the way a run registers it.
    let (db, org, token, files) = rt.block_on(async {
        let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
        db.migrate().await.unwrap();
        let now = now_millis();
        let org = db.create_org("bench", now).await.unwrap();
        let user = db.create_user(org, "ann", Role::Admin, "bench", now).await.unwrap();
        let token = db.create_token(user, "bench", "bench", now).await.unwrap();
        let mut files = Vec::new();
        let mut i = 0;
        trace_query::testing::publish_with(&db, org, &trace_query::testing::dag(1), "bench", FILES, now, async |key: String| {
            let path = storage.local_file(&key.as_str().into()).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let (start, end) = (i * rows / FILES, (i + 1) * rows / FILES);
            raw.execute_batch(&format!(
                "COPY (SELECT i AS id, i % 1000 AS k, (i * 7919) % 100000 AS v FROM range({start}, {end}) t(i)) TO '{}' (FORMAT parquet)",
                path.display()
            ))
            .unwrap();
            i += 1;
            files.push(path.clone());
            (end - start, std::fs::metadata(&path).unwrap().len())
        })
        .await;
        (db, org, token, files)
    });
    let list = files.iter().map(|f| format!("'{}'", f.display())).collect::<Vec<_>>().join(", ");
    raw.execute_batch(&format!("CREATE VIEW transfers AS SELECT * FROM read_parquet([{list}])")).unwrap();
    let catalog: Catalog = vec![Table { name: "transfers".into(), files }].into();
    let limits = QueryLimits::default();

    let service = Arc::new(QueryService::new(db.clone(), storage, dir.path().join("cache"), ServiceLimits::default()).unwrap());
    let caller = Caller { org, user: None };
    let (base, http) = rt.block_on(async {
        let app = public_router(Arc::new(PublicState::new(db).with_query(Some(service.clone()))));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, reqwest::Client::new())
    });

    // The same DuckDB without its cache of file blocks between queries (a
    // fresh instance per query starts without one): shows what that cache
    // is worth.
    let uncached = Connection::open_in_memory().unwrap();
    uncached.execute_batch(&format!("SET enable_external_file_cache = false; CREATE VIEW transfers AS SELECT * FROM read_parquet([{list}])")).unwrap();
    let plain_uncached = |sql: &str| -> String {
        let mut stmt = uncached.prepare(sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let row = rows.next().unwrap().unwrap();
        format!("{:?}", row.get_ref(0).unwrap())
    };
    let plain = |sql: &str| -> String {
        let mut stmt = raw.prepare(sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let row = rows.next().unwrap().unwrap();
        format!("{:?}", row.get_ref(0).unwrap())
    };
    let engine = |sql: &str| run(&catalog, sql, &limits).unwrap().rows;
    let isolated = |sql: &str| runner.run(&catalog, sql, &limits).unwrap().rows;
    let in_service = |sql: &str| {
        let request = QueryRequest { sql: sql.into(), ..Default::default() };
        rt.block_on(service.query(&caller, request)).unwrap().rows
    };
    let api = |sql: &str| {
        rt.block_on(async {
            let r = http.post(format!("{base}/api/v1/query")).bearer_auth(&token).json(&serde_json::json!({ "sql": sql })).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap().len()
        })
    };

    println!("the Query Service vs plain DuckDB {} over {rows} rows in {FILES} Parquet files (best of {ROUNDS}):", trace_query::duckdb_version());
    for (what, sql) in [
        ("aggregate (sum, count, avg over every row)", "SELECT sum(v), count(*), avg(k) FROM transfers"),
        ("point lookup (one id)", "SELECT * FROM transfers WHERE id = 7777"),
        ("small query (fixed cost: resolve, pin, new DuckDB, lockdown, view, first row)", "SELECT id FROM transfers LIMIT 1"),
    ] {
        // Warm every path once (the OS page cache, the service's first use).
        let _ = (plain(sql), engine(sql), isolated(sql), in_service(sql), api(sql));
        let times = best_of_turns(&mut [
            &mut || drop(std::hint::black_box(plain(sql))),
            &mut || drop(std::hint::black_box(plain_uncached(sql))),
            &mut || {
                std::hint::black_box(engine(sql));
            },
            &mut || {
                std::hint::black_box(isolated(sql));
            },
            &mut || {
                std::hint::black_box(in_service(sql));
            },
            &mut || {
                std::hint::black_box(api(sql));
            },
        ]);
        let base = times[0].min(times[1]);
        let names = ["plain DuckDB", "(DuckDB, no file cache)", "engine", "engine, own process", "service (SQLite)", "API (HTTP, JSON)"];
        let legs = names.into_iter().zip(times.iter().copied());
        println!("  {what}");
        for (name, took) in legs {
            println!("    {name:<24} {:>10}   {:.2}x", ms(took), took.as_secs_f64() / base.as_secs_f64());
        }
    }
}
