//! Each query runs in a process of its own (`trace-query-runner` here):
//! what DuckDB's own limits cannot stop ends there, at the address-space
//! limit or the time limit, and the process that asked goes on. A runner is
//! also distrusted: whatever it answers is read within bounds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use trace_query::{address_space, render, run, Catalog, Format, QueryError, QueryLimits, Runner, SystemTable, Table, KILL_GRACE};

fn runner() -> Runner {
    Runner::new(env!("CARGO_BIN_EXE_trace-query-runner"), Vec::<String>::new())
}

/// A runner that is a shell script instead (`sh -c SCRIPT`; the memory
/// argument follows as `$0 $1`), started only when a query asks.
fn script(script: &str) -> Runner {
    Runner::new("/bin/sh", ["-c", script]).keep_ready(0)
}

fn parquet(path: &Path, rows: i64) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("who", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..rows)), Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("w{}", i % 7))))]).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    trace_batches::write_parquet(path, &[trace_batches::encode_ipc(&[batch]).unwrap()]).unwrap();
    path.to_owned()
}

fn catalog(dir: &Path) -> Catalog {
    let t = Table { name: "t".into(), files: vec![parquet(&dir.join("a.parquet"), 1000), parquet(&dir.join("b.parquet"), 500)] };
    // System tables are of the engine's (DuckDB's) Arrow version.
    use trace_query::arrow::{array as a, datatypes as d};
    let schema = Arc::new(d::Schema::new(vec![d::Field::new("name", d::DataType::Utf8, true), d::Field::new("rows", d::DataType::Int64, true)]));
    let rows = a::RecordBatch::try_new(schema, vec![Arc::new(a::StringArray::from(vec!["t"])), Arc::new(a::Int64Array::from(vec![1500]))]).unwrap();
    Catalog { datasets: vec![t], system: vec![SystemTable { name: "datasets", rows }] }
}

fn json(r: &trace_query::QueryResult) -> String {
    String::from_utf8(render(r, Format::Json).unwrap()).unwrap()
}

#[test]
fn a_query_in_its_own_process_answers_as_in_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let limits = QueryLimits { max_rows: 5, ..QueryLimits::default() };
    for sql in [
        "SELECT who, count(*) AS n, sum(id) AS s FROM t GROUP BY who ORDER BY who",
        "SELECT d.name, d.rows, (SELECT count(*) FROM t) AS counted FROM trace.datasets d",
        "SELECT id, [id, id * 2] AS pair, {'w': who} AS s FROM t ORDER BY id",
    ] {
        let here = run(&catalog, sql, &limits).unwrap();
        let there = runner().run(&catalog, sql, &limits).unwrap();
        assert_eq!(json(&there), json(&here), "{sql}");
        assert_eq!((there.rows, there.truncated, there.schema.clone()), (here.rows, here.truncated, here.schema.clone()), "{sql}");
    }
    // Refusals and DuckDB's errors cross the boundary as themselves.
    assert!(matches!(runner().run(&catalog, "COPY t TO 'x'", &limits), Err(QueryError::NotReadOnly { got }) if got == "COPY"));
    assert!(matches!(runner().run(&catalog, "SELECT * FROM nope", &limits), Err(QueryError::NoSuchDataset { name }) if name == "nope"));
    match runner().run(&catalog, "SELECT * FROM read_csv('/etc/passwd')", &limits) {
        Err(QueryError::Sql(m)) => assert!(m.contains("file system operations are disabled"), "{m}"),
        other => panic!("{other:?}"),
    }
    let described = runner().describe(&catalog, &limits).unwrap();
    assert_eq!(described, vec![("t".to_owned(), vec![("id".to_owned(), "BIGINT".to_owned()), ("who".to_owned(), "VARCHAR".to_owned())])]);
    let out = dir.path().join("all.parquet");
    let written = runner().run_to_parquet(&catalog, "SELECT * FROM t", &QueryLimits::batch(), &out).unwrap();
    assert_eq!((written.rows, written.bytes), (1500, std::fs::metadata(&out).unwrap().len()));
}

#[test]
fn paths_relative_to_the_servers_directory_are_read_from_there() {
    // Tests run in the crate's directory, the runner in `/`: a path below
    // here (one with `..` would resolve alike from `/`).
    let dir = tempfile::Builder::new().prefix(".isolation-test-").tempdir_in(".").unwrap();
    let here = std::env::current_dir().unwrap();
    let relative = |p: PathBuf| if p.is_absolute() { p.strip_prefix(&here).unwrap().to_path_buf() } else { p };
    let file = relative(parquet(&dir.path().join("r.parquet"), 42));
    assert!(file.is_relative(), "{}", file.display());
    let catalog: Catalog = vec![Table { name: "r".into(), files: vec![file] }].into();
    let counted = runner().run(&catalog, "SELECT count(*) AS n FROM r", &QueryLimits::default()).unwrap();
    assert_eq!(json(&counted).trim(), "[{\"n\":42}]");
    let out = relative(dir.path().join("out.parquet"));
    let written = runner().run_to_parquet(&catalog, "SELECT * FROM r", &QueryLimits::batch(), &out).unwrap();
    assert_eq!((written.rows, written.bytes), (42, std::fs::metadata(&out).unwrap().len()));
}

#[test]
fn a_dataset_of_many_files_crosses_whole() {
    // 80,000 paths of about 250 bytes: a long history of small partitions,
    // 20 MB of request (more than a reply's header may be).
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("d".repeat(200));
    let file = parquet(&deep.join("p.parquet"), 3);
    let catalog: Catalog = vec![Table { name: "many".into(), files: vec![file; 80_000] }].into();
    let r = runner().run(&catalog, "SELECT count(*) AS n FROM (SELECT * FROM many LIMIT 5)", &QueryLimits::default()).unwrap();
    assert_eq!(json(&r).trim(), "[{\"n\":5}]");
}

#[test]
fn a_list_built_past_the_memory_limit_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let limits = QueryLimits { memory_bytes: 256 << 20, timeout: Duration::from_secs(10), ..QueryLimits::default() };
    // 1e9 BIGINTs are 8 GB, built outside DuckDB's buffer manager: in this
    // process it would take the test with it.
    for sql in ["SELECT range(1000000000) FROM t", "SELECT repeat('x', 2000000000) AS s", "SELECT list_resize([1], 1000000000) AS l"] {
        let started = Instant::now();
        match runner().run(&catalog, sql, &limits) {
            Err(QueryError::OutOfMemory { memory, address_space: space, what }) => {
                eprintln!("{sql}: {what}");
                assert_eq!((memory, space), (256 << 20, address_space(256 << 20)), "{sql}");
            }
            other => panic!("{sql}: expected the memory limit, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(8), "{sql}: {:?}", started.elapsed());
    }
    let e = runner().run(&catalog, "SELECT range(1000000000) FROM t", &limits).unwrap_err();
    let message = e.to_string();
    assert!(message.starts_with("the query ran out of memory (failed to allocate data of size 8.0 GiB ("), "{message}");
    assert!(message.ends_with(&format!("): limit={} bytes for DuckDB, {} bytes of address space for its process; read fewer rows or columns, or build smaller values", 256 << 20, address_space(256 << 20))), "{message}");
    // The next query runs as usual.
    assert_eq!(runner().run(&catalog, "SELECT count(*) AS n FROM t", &limits).unwrap().rows, 1);
}

#[test]
fn a_process_that_does_not_answer_is_killed_at_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let limits = QueryLimits { timeout: Duration::from_millis(500), ..QueryLimits::default() };
    let pid_file = dir.path().join("pid");
    let stalls = script(&format!("echo $$ > {}; exec sleep 60", pid_file.display()));
    let started = Instant::now();
    match stalls.run(&catalog, "SELECT 1", &limits) {
        Err(QueryError::Timeout { limit }) => assert_eq!(limit, limits.timeout),
        other => panic!("expected the time limit, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took >= limits.timeout + KILL_GRACE && took < limits.timeout + KILL_GRACE + Duration::from_secs(3), "{took:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(ends_soon(pid.trim()), "the process {pid} is gone");

    // One that leaves a process of its own holding its pipes: the deadline
    // ends the whole process group, so the answer does not wait on it.
    let leaves = script(&format!("sleep 60 & echo $! > {}; exit 1", pid_file.display()));
    let started = Instant::now();
    assert!(matches!(leaves.run(&catalog, "SELECT 1", &limits), Err(QueryError::Timeout { .. })));
    assert!(started.elapsed() < limits.timeout + KILL_GRACE + Duration::from_secs(3), "{:?}", started.elapsed());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(ends_soon(pid.trim()), "the left-behind process {pid} was ended");
}

/// Whether the process is gone or a zombie within a second: a SIGKILL is
/// delivered asynchronously (a killed process can still read as running just
/// after the kill), and an orphan's zombie waits on whoever reaps for init.
fn ends_soon(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
        if stat.is_empty() || state == Some("Z") {
            return true;
        }
        if Instant::now() >= deadline {
            eprintln!("{pid} still running: {stat}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_runner_is_distrusted_like_any_input() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let limits = QueryLimits { timeout: Duration::from_secs(5), ..QueryLimits::default() };
    for (what, body) in [
        ("garbage", "head -c 4096 /dev/urandom"),
        ("a header frame of 2^63 bytes", "printf '\\377\\377\\377\\377\\377\\377\\377\\177'"),
        ("a header cut short", "printf '\\100\\000\\000\\000\\000\\000\\000\\000{\"Rows\"'"),
        ("nothing, then an exit", "exit 7"),
        ("a crash", "kill -SEGV $$"),
        ("garbage, then silence", "printf 'not a frame at all'; exec sleep 60"),
    ] {
        let started = Instant::now();
        match script(&format!("cat > /dev/null; {body}")).run(&catalog, "SELECT 1", &limits) {
            Err(QueryError::Setup(m)) => assert_eq!(m, "the query's process ended without answering", "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(3), "{what}: {:?}", started.elapsed());
    }
    // A process that aborts saying an allocation failed met its limit.
    let aborts = script("cat > /dev/null; echo 'memory allocation of 8589934592 bytes failed' >&2; kill -ABRT $$");
    match aborts.run(&catalog, "SELECT 1", &limits) {
        Err(QueryError::OutOfMemory { what, address_space: space, .. }) => {
            assert_eq!((what.as_str(), space), ("its process stopped at its address-space limit", address_space(limits.memory_bytes)));
        }
        other => panic!("{other:?}"),
    }
    // A well-formed answer of the wrong kind.
    let rows = script("cat > /dev/null; printf '\\020\\000\\000\\000\\000\\000\\000\\000{\"Described\":[]}'");
    assert!(matches!(rows.run(&catalog, "SELECT 1", &limits), Err(QueryError::Setup(m)) if m == "the query's process answered out of turn"));
}

#[test]
fn a_query_process_gets_no_environment_and_an_address_space_limit() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let seen = dir.path().join("seen");
    let probe = script(&format!("cat > /dev/null; {{ env; echo limit=$(ulimit -v); echo core=$(ulimit -c); echo args=\"$0 $1\"; }} > {}", seen.display()));
    let _ = probe.run(&catalog, "SELECT 1", &QueryLimits { memory_bytes: 300 << 20, ..QueryLimits::default() });
    let seen = std::fs::read_to_string(&seen).unwrap();
    // This process has PATH, HOME and cargo's variables; none of them pass.
    let mut names: Vec<&str> = seen.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).filter(|k| !matches!(*k, "limit" | "core" | "args" | "PWD" | "SHLVL" | "_")).collect();
    names.sort_unstable();
    assert_eq!(names, ["LD_BIND_NOW", "MALLOC_ARENA_MAX", "MIMALLOC_ARENA_RESERVE"], "{seen}");
    assert!(seen.contains(&format!("limit={}", address_space(300 << 20) / 1024)), "{seen}");
    assert!(seen.contains("core=0"), "{seen}");
    assert!(seen.contains(&format!("--memory-bytes {}", 300 << 20)), "{seen}");
}
