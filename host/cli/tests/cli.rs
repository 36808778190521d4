//! The `trace` binary, driven as a user would: arguments in, exit code and
//! text out, files on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trace(args: &[&str], dir: &Path) -> Output {
    // Compiled components are cached under the test's own directory.
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .expect("running trace")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn example_logs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/erc20_logs.parquet")
}

#[test]
fn op_run_filters_the_example_parquet_and_writes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let logs = example_logs();
    let o = trace(
        &[
            "op", "run", trace_artifacts::ERC20_TRANSFERS,
            "--input", logs.to_str().unwrap(),
            "--range", "17000000..17000500",
            "--config", r#"{"min_value": "100000000000"}"#,
            "--out-dir", "out",
        ],
        dir.path(),
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("events (1):\n  output=0 partition_key=17000000_17000500 range=[17000000, 17000500)"), "{out}");
    assert!(out.contains("usage: time"), "{out}");
    assert!(out.contains("INFO kept "), "{out}");
    let rows: u64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("output 0: ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no output line in {out}"));
    assert!(rows > 0 && rows < 5_000, "{rows}");
    assert!(dir.path().join("out/output-0.parquet").exists());
}

#[test]
fn op_run_reports_a_contained_attack_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["op", "run", trace_artifacts::HOSTILE, "--config", r#"{"attack": "event_flood"}"#], dir.path());
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("task failed: guest emitted too many events: got=10001, limit=10000"), "{out}");
    assert!(!dir.path().join("trace-out/output-0.parquet").exists(), "a failed task writes nothing");
}

#[test]
fn op_run_times_out_an_infinite_loop() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["op", "run", trace_artifacts::HOSTILE, "--config", r#"{"attack": "infinite_loop"}"#, "--timeout", "300ms"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("task failed: guest ran past its time limit"), "{}", stdout(&o));
}

#[test]
fn op_run_refuses_a_networked_component_with_the_whole_chain() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["op", "run", trace_artifacts::HOSTILE_SOCKETS], dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error: loading the component"), "{err}");
    assert!(err.contains("caused by: component sha256:") && err.contains("imports `wasi:sockets/"), "{err}");
}

#[test]
fn op_run_carries_operator_state_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let run = |range: &str| {
        trace(
            &["op", "run", trace_artifacts::RANGE_AGGREGATOR, "--range", range, "--config", r#"{"range_size": 100}"#, "--state", "state.json"],
            dir.path(),
        )
    };
    let first = run("0..60");
    assert!(first.status.success(), "{}", stdout(&first));
    assert!(stdout(&first).contains("events (0):"));
    let second = run("60..250");
    let out = stdout(&second);
    assert!(out.contains("partition_key=0_100 range=[0, 100)") && out.contains("partition_key=100_200"), "{out}");
    // A gap is not an error: a range after it completes its own window, and
    // the window the gap is in completes when the gap is filled.
    let ahead = run("300..400");
    let out = stdout(&ahead);
    assert!(ahead.status.success() && out.contains("events (1):") && out.contains("partition_key=300_400"), "{out}");
    let filled = run("250..300");
    let out = stdout(&filled);
    assert!(out.contains("events (1):") && out.contains("partition_key=200_300"), "{out}");
    // A range that partly overlaps what was aggregated conflicts.
    let conflict = run("350..450");
    assert_eq!(conflict.status.code(), Some(1));
    let out = stdout(&conflict);
    assert!(out.contains("input range [350, 450) overlaps the already aggregated [0, 400) without matching it"), "{out}");
}

#[test]
fn bad_arguments_get_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["op", "run", trace_artifacts::NOOP, "--range", "9..3"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--range: range is backwards: start=9 > end=3"), "{}", stderr(&o));
    let o = trace(&["op", "run", trace_artifacts::NOOP, "--max-memory", "lots"], dir.path());
    assert!(stderr(&o).contains("is not a size like 256MiB"), "{}", stderr(&o));
}

#[test]
fn op_run_caches_the_compiled_component() {
    let dir = tempfile::tempdir().unwrap();
    let first = trace(&["op", "run", trace_artifacts::NOOP], dir.path());
    assert!(first.status.success(), "{}", stderr(&first));
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache/trace/components")).unwrap().collect();
    assert_eq!(cached.len(), 1);
    let none = tempfile::tempdir().unwrap();
    let o = trace(&["op", "run", trace_artifacts::NOOP, "--no-cache"], none.path());
    assert!(o.status.success());
    assert!(!none.path().join("cache").exists(), "--no-cache writes nothing");
}

#[test]
fn dag_check_summarises_a_valid_dag_and_points_at_errors() {
    let dir = tempfile::tempdir().unwrap();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/erc20.yaml");
    let o = trace(&["dag", "check", example.to_str().unwrap()], dir.path());
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("DAG `erc20`: 3 job(s), 1 worker pool(s)"), "{out}");
    assert!(out.contains("windows (Transform, concurrency 1) <- blocks[0]  sha256:"), "{out}");
    assert!(out.contains("publish transfers[0] as erc20_transfers"), "{out}");

    let text = std::fs::read_to_string(&example).unwrap().replace("range_size: 10000 }", "range_size: 10000 }\n    execution_strategy: Bulk");
    std::fs::write(dir.path().join("bulk.yaml"), text).unwrap();
    let o = trace(&["dag", "check", "bulk.yaml"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("invalid DAG: bulk.yaml:23: job `windows`: execution_strategy: Bulk is not supported"), "{err}");
}

/// `trace dev` on the example DAG over `range`, its database `dev.db` in `dir`.
fn dev_example(range: &str, dir: &Path) -> Output {
    let dag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/dev.yaml");
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    trace(&["dev", dag.to_str().unwrap(), "--operators", operators.to_str().unwrap(), "--range", range, "--database", "dev.db"], dir)
}

#[test]
fn dev_runs_the_example_dag_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let o = dev_example("0..25000", dir.path());
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // 1 source task, 25 block ranges, 2 complete windows.
    assert!(out.contains("tasks: completed 28 | events: 30"), "{out}");
    assert!(out.starts_with("trace dev: DAG `blocks_pipeline` (3 jobs), sources over 0..25000"), "{out}");
    assert!(dir.path().join("dev.db").exists());
    // This DAG's UDF reads the windows' manifests, which carry no rows.
    assert!(out.trim_end().ends_with("published, no files yet: erc20_transfers"), "{out}");
}

#[test]
fn dev_says_why_tasks_failed_and_how_to_look_closer() {
    let dir = tempfile::tempdir().unwrap();
    // 1,000-block ranges over 20,000,000 blocks: 20,000 events from the
    // source task, twice what a task may emit.
    let o = dev_example("0..20000000", dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{}\n{err}", stdout(&o));
    assert!(stdout(&o).contains("tasks: failed 1 | events: 1"), "{}", stdout(&o));
    assert!(err.contains("1 task(s) failed:\n"), "{err}");
    assert!(err.trim_end().lines().last().unwrap().starts_with("trace dev FAILED: 1 task(s) failed"), "{err}");
    assert!(err.contains("(blocks [0, 20000000), 1 attempt(s)): guest emitted too many events: got=10001, limit=10000"), "{err}");

    // The hint names the run's org, so the command it prints works as is.
    let hint = err.lines().find_map(|l| l.strip_prefix("inspect: trace ")).expect("an inspect hint");
    let args: Vec<&str> = hint.split(' ').collect();
    let o = trace(&args, dir.path());
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("failed") && out.contains("too many events"), "{out}");

    // The failed task is listed, and a retry makes it pending again (no
    // worker runs here, so it stays pending); a second retry is refused.
    let target = &args[2..]; // --db sqlite:PATH --org ORG
    let id = args[1];
    let listed = |dir: &Path| stdout(&trace(&[&["tasks", "--status", "failed"], target].concat(), dir));
    let before = listed(dir.path());
    assert!(before.lines().any(|l| l.trim_start().starts_with(id) && l.contains("too many events")), "{before}");
    let o = trace(&[&["retry", id], target].concat(), dir.path());
    assert!(o.status.success() && stdout(&o).contains(&format!("task {id}: pending again")), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(listed(dir.path()).lines().count(), 1, "only the header is left");
    let o = trace(&[&["retry", id], target].concat(), dir.path());
    assert!(!o.status.success() && stderr(&o).contains("is pending, not failed"), "{}", stderr(&o));
}

#[test]
fn dev_shows_at_most_the_newest_ten_failures() {
    let dir = tempfile::tempdir().unwrap();
    // 15 block ranges, each handed to a UDF whose config it refuses.
    std::fs::write(
        dir.path().join("failing.yaml"),
        "name: failing\njobs:\n  - name: blocks\n    kind: source\n    operator: op_range_splitter.wasm\n    config: { range_size: 1000 }\n  \
         - name: bad\n    operator: op_erc20_transfers.wasm\n    inputs:\n      - from: { job: blocks, output: 0 }\n    config: { min_value: \"minus one\" }\n",
    )
    .unwrap();
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let o = trace(&["dev", "failing.yaml", "--operators", operators.to_str().unwrap(), "--range", "0..15000"], dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{}\n{err}", stdout(&o));
    assert!(err.contains("15 tasks failed; the newest 10:\n"), "{err}");
    let shown: Vec<&str> = err.lines().filter(|l| l.starts_with("  task ")).collect();
    assert_eq!(shown.len(), trace_control::dev::FAILURES_SHOWN as usize, "{err}");
    assert!(shown[0].starts_with("  task 16 (bad [14000, 15000), 1 attempt(s)): "), "newest first: {err}");
    assert!(shown.iter().all(|l| l.contains("config.min_value must be a non-negative integer")), "{err}");
    assert!(!err.contains("inspect: "), "no hint for a temporary database: {err}");
}

#[test]
fn deploy_trigger_list_inspect_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let dag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/dev.yaml");
    let db = "--db=sqlite:sys.db";
    let o = trace(&["deploy", dag.to_str().unwrap(), db, "--org", "acme"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("deployed DAG `blocks_pipeline` version 1 (3 jobs) for org `acme`"), "{}", stdout(&o));

    let o = trace(&["trigger", "blocks_pipeline", "blocks", "--range", "0..5000", "--run-id", "r1", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("triggered run \"r1\" of `blocks_pipeline.blocks`: task 1"), "{}{}", stdout(&o), stderr(&o));
    let o = trace(&["trigger", "blocks_pipeline", "blocks", "--range", "0..5000", "--run-id", "r1", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("was already triggered"), "{}", stdout(&o));

    let o = trace(&["tasks", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).lines().any(|l| l.contains("blocks") && l.contains("pending") && l.contains("[0, 5000)")), "{}", stdout(&o));
    let o = trace(&["deploy", dag.to_str().unwrap(), db, "--org", "globex"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = trace(&["cancel", "1", db, "--org", "globex"], dir.path());
    assert!(stderr(&o).contains("task 1 does not exist in org `globex`"), "tenancy: {}", stderr(&o));
    let o = trace(&["cancel", "1", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("task 1: canceled"), "{}", stdout(&o));
    let o = trace(&["task", "1", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("task 1 of job `blocks`: canceled"), "{}", stdout(&o));
    let o = trace(&["datasets", db, "--org", "acme"], dir.path());
    let line = stdout(&o).lines().find(|l| l.starts_with("erc20_transfers")).map(str::to_owned);
    assert!(line.as_deref().is_some_and(|l| l.contains("blocks_pipeline.transfers[0]") && l.ends_with("(private)")), "{}", stdout(&o));

    let o = trace(&["trigger", "blocks_pipeline", "nope", db, "--org", "acme"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has no job `nope` in its active version"), "{}", stderr(&o));
    let o = trace(&["tasks", db, "--org", "ghost"], dir.path());
    assert!(stderr(&o).contains("org \"ghost\" does not exist"), "{}", stderr(&o));
}

#[test]
fn help_explains_op_run() {
    let o = trace(&["op", "run", "--help"], Path::new("."));
    let out = stdout(&o);
    assert!(out.contains("Run a component locally on Parquet files"), "{out}");
    assert!(out.contains("--fuel"), "{out}");
}

#[test]
fn rollback_and_purge_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/dev.yaml")).unwrap();
    let v2 = v1.replace(r#"min_value: "1000000""#, r#"min_value: "5000000""#);
    assert_ne!(v1, v2, "the example DAG has the threshold this test edits");
    std::fs::write(dir.path().join("v1.yaml"), &v1).unwrap();
    std::fs::write(dir.path().join("v2.yaml"), &v2).unwrap();
    let db = "--db=sqlite:sys.db";
    let version = |dir: &Path| {
        let o = trace(&["datasets", db, "--org", "acme"], dir);
        let line = stdout(&o).lines().find(|l| l.starts_with("erc20_transfers")).unwrap().to_owned();
        line.split_whitespace().nth(3).unwrap().to_owned()
    };
    assert!(trace(&["deploy", "v1.yaml", db, "--org", "acme"], dir.path()).status.success());
    let first = version(dir.path());
    assert!(trace(&["deploy", "v2.yaml", db, "--org", "acme"], dir.path()).status.success());
    let second = version(dir.path());
    assert_ne!(first, second, "a new threshold is a new dataset version");

    let o = trace(&["rollback", "blocks_pipeline", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("rolled back `blocks_pipeline` v2 -> v1"), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(version(dir.path()), first);

    // Staged: invisible until the cutover, which makes it current at once.
    let o = trace(&["deploy", "v2.yaml", "--staged", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("staged DAG `blocks_pipeline` version 3"), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(version(dir.path()), first);
    let o = trace(&["trigger", "blocks_pipeline", "blocks", "--version", "3", "--range", "0..10", "--run-id", "fill", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("triggered run \"fill\""), "{}{}", stdout(&o), stderr(&o));
    let o = trace(&["cutover", "blocks_pipeline", "3", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("cut over `blocks_pipeline` v1 -> v3"), "{}{}", stdout(&o), stderr(&o));
    let third = version(dir.path());
    assert!(third != first && third != second, "v3 has a dataset version of its own");
    // Rollback returns to what was active before (v1), not to v2.
    let o = trace(&["rollback", "blocks_pipeline", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("rolled back `blocks_pipeline` v3 -> v1"), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(version(dir.path()), first);

    // Files of the unused version (as a worker would have written them).
    let objects = dir.path().join("objects");
    let uuid = stdout(&trace(&["datasets", db, "--org", "acme"], dir.path()))
        .lines()
        .find(|l| l.starts_with("erc20_transfers"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let files = objects.join(format!("org/1/dataset/{uuid}/version/{second}"));
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("0_10.parquet"), b"rows").unwrap();
    let keep = objects.join(format!("org/1/dataset/{uuid}/version/{first}"));
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("0_10.parquet"), b"rows").unwrap();

    let storage = format!("--storage=file://{}", objects.display());
    let o = trace(&["dataset", "purge", "erc20_transfers", "--version", &first, &storage, db, "--org", "acme"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is what its DAG's active version serves; it cannot be purged"), "{}", stderr(&o));
    let o = trace(&["dataset", "purge", "erc20_transfers", "--version", &second, &storage, db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("0 partition(s) unregistered, 1 file(s) deleted"), "{}{}", stdout(&o), stderr(&o));
    assert!(!files.join("0_10.parquet").exists());
    assert!(keep.join("0_10.parquet").exists(), "purge removes only what it names");

    let o = trace(&["dataset", "partitions", "erc20_transfers", db, "--org", "acme"], dir.path());
    assert!(stdout(&o).contains("0 partition(s), 0 row(s)"), "{}{}", stdout(&o), stderr(&o));
    let o = trace(&["dataset", "partitions", "nope", db, "--org", "acme"], dir.path());
    assert!(stderr(&o).contains("org `acme` has no dataset `nope`"), "{}", stderr(&o));
    let audit = stdout(&trace(&["audit", db], dir.path()));
    let actions: Vec<&str> = audit.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    assert_eq!(
        actions,
        ["org.create", "dag.deploy", "dag.deploy", "dag.rollback", "dag.stage", "dag.rematerialize", "job.trigger", "dag.cutover", "dag.rollback", "dataset.purge"],
        "{audit}"
    );
}

#[test]
fn op_push_stores_a_component_under_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("--storage=file://{}", dir.path().join("objects").display());
    let o = trace(&["op", "push", trace_artifacts::NOOP, &storage], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = stdout(&o).trim().to_owned();
    let bytes = std::fs::read(trace_artifacts::NOOP).unwrap();
    let expected = trace_core::Digest::of(&bytes).to_string();
    assert_eq!(reference, expected, "prints the sha256: reference");
    let hex = reference.strip_prefix("sha256:").unwrap();
    assert_eq!(std::fs::read(dir.path().join(format!("objects/operators/sha256/{hex}.wasm"))).unwrap(), bytes);

    std::fs::write(dir.path().join("junk.wasm"), b"not a component").unwrap();
    let o = trace(&["op", "push", "junk.wasm", &storage], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("junk.wasm is not a component Trace accepts"), "{}", stderr(&o));
}

#[test]
fn op_inspect_describes_a_component_and_says_why_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["op", "inspect", trace_artifacts::RPC_PROBE], dir.path());
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let digest = trace_core::Digest::of(&std::fs::read(trace_artifacts::RPC_PROBE).unwrap()).to_string();
    assert!(out.contains(&format!("  digest   {digest}")), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("trace:operator/rpc@")), "{out}");
    assert!(out.contains("  exports  (1)\n    run\n"), "the world's one export: {out}");
    assert!(out.lines().any(|l| l.starts_with("  core     ") && l.contains("module(s)")), "{out}");
    assert!(out.contains("  table    ") && out.contains("  data     "), "{out}");
    assert!(!out.contains("  note     dynamically linked"), "a Rust component is not: {out}");
    assert!(out.contains("as a source:    accepted"), "{out}");
    assert!(out.contains("as a transform: refused:") && out.contains("rpc"), "a transform may not use rpc: {out}");

    let o = trace(&["op", "inspect", trace_artifacts::HOSTILE_SOCKETS], dir.path());
    assert_eq!(o.status.code(), Some(1), "refused as both");
    assert!(stdout(&o).lines().any(|l| l.contains("wasi:sockets/") && l.contains("REFUSED: operators have no network access")), "{}", stdout(&o));

    std::fs::write(dir.path().join("junk.wasm"), b"junk").unwrap();
    let o = trace(&["op", "inspect", "junk.wasm"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("junk.wasm is not a WebAssembly component"), "{}", stderr(&o));
}

#[test]
fn worker_and_server_refuse_settings_outside_their_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["worker", "--operators", ".", "--worker-token", "t", "--concurrency", "257"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--concurrency must be between 1 and 256, got 257"), "{}", stderr(&o));
    let o = trace(&["worker", "--operators", ".", "--worker-token", "t", "--concurrency", "0"], dir.path());
    assert!(stderr(&o).contains("got 0"), "{}", stderr(&o));
    // Without storage a worker would run tasks and drop their outputs.
    let o = trace(&["worker", "--operators", ".", "--worker-token", "t"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("trace worker needs --storage"), "{}", stderr(&o));
}

#[test]
fn dev_ends_by_querying_what_it_published_and_query_reads_it_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let dag = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/pipeline.yaml");
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let o = trace(&["dev", dag.to_str().unwrap(), "--operators", operators.to_str().unwrap(), "--range", "0..20000", "--database", "dev.db"], dir.path());
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // 20 source runs of 1,000 blocks, ten logs each; the transfers kept.
    assert!(out.contains("| block_logs      | 200000 |"), "{out}");
    let hint = out.lines().find_map(|l| l.strip_prefix("query it: trace query ")).expect("a query hint");
    let org = hint.rsplit(' ').next().unwrap();
    let target = ["--db", "sqlite:dev.db", "--org", org];
    let query = |sql: &str, extra: &[&str]| trace(&[&["query", sql], &target[..], extra].concat(), dir.path());

    let counted = query("SELECT count(*) AS n FROM erc20_transfers", &["--format", "json"]);
    let json = stdout(&counted);
    let n: u64 = json.trim().trim_start_matches("[{\"n\":").trim_end_matches("}]").parse().unwrap_or_else(|_| panic!("{json}"));
    assert!(out.contains(&format!("| erc20_transfers | {n:<6} |")), "the dev summary and the query agree: {n}\n{out}");
    assert!(n > 0);
    // One source run wrote one file over both windows: each window's task
    // read it whole and must still keep only its own blocks.
    let dup = query("SELECT count(*) - count(DISTINCT (block_number, log_index)) AS d FROM erc20_transfers", &["--format", "csv"]);
    assert_eq!(stdout(&dup), "d\n0\n", "no transfer is in two windows");
    let csv = query("SELECT block_number FROM erc20_transfers ORDER BY block_number, log_index", &["--format", "csv", "--max-rows", "3"]);
    assert_eq!(stdout(&csv).lines().count(), 4, "a header and three rows");
    assert!(stderr(&csv).contains("3 row(s)") && stderr(&csv).contains("cut at 3 rows; more rows matched"), "{}", stderr(&csv));

    // Escapes are refused with a clear error and exit code 1.
    let passwd = query("SELECT * FROM read_csv('/etc/passwd')", &[]);
    assert_eq!(passwd.status.code(), Some(1));
    assert!(stderr(&passwd).contains("file system operations are disabled"), "{}", stderr(&passwd));
    // A statement that builds a value past the query's memory ends in its
    // own process, with the limit named.
    let huge = query("SELECT range(1000000000) AS l FROM erc20_transfers LIMIT 1", &[]);
    assert_eq!(huge.status.code(), Some(1));
    assert!(stderr(&huge).contains("error: the query ran out of memory (") && stderr(&huge).contains("bytes of address space for its process"), "{}", stderr(&huge));
    let copy = query("COPY erc20_transfers TO 'out.csv'", &[]);
    assert!(stderr(&copy).contains("got COPY") && !dir.path().join("out.csv").exists(), "{}", stderr(&copy));
    // A dataset that is not there, and a version that is not there.
    let missing = query("SELECT * FROM secret_things", &[]);
    assert_eq!(stderr(&missing).trim(), "error: no such dataset: secret_things");
    let bogus = query("SELECT 1", &["--as-of", "erc20_transfers=00000000-0000-0000-0000-000000000000"]);
    assert_eq!(stderr(&bogus).trim(), "error: dataset erc20_transfers has no version 00000000-0000-0000-0000-000000000000");
    let other = query("SELECT 1", &["--as-of", "not_mine=00000000-0000-0000-0000-000000000000"]);
    assert_eq!(stderr(&other).trim(), "error: no such dataset: not_mine");

    // What can be queried, with columns; every row as Parquet in a batch.
    let schema = trace(&[&["datasets", "--schema"], &target[..]].concat(), dir.path());
    let listing = stdout(&schema);
    assert!(listing.contains("erc20_transfers  version ") && listing.contains(&format!("{n} row(s)")), "{listing}");
    assert!(listing.lines().any(|l| l.trim_start().starts_with("block_number")), "{listing}");
    let batch = query("SELECT * FROM erc20_transfers", &["--batch", "--output", "all.parquet"]);
    assert!(stderr(&batch).contains(&format!(": {n} row(s), ")), "{}", stderr(&batch));
    assert!(std::fs::read(dir.path().join("all.parquet")).unwrap().starts_with(b"PAR1"));
}

/// `examples/receiver.py` on a free port on 127.0.0.1, checking signatures
/// with `secret`; returns the process and its URL.
fn python_receiver(secret: &str, dir: &Path) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/receiver.py");
    let child = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string()])
        .env("TRACE_WEBHOOK_SECRET", secret)
        .stdout(std::fs::File::create(dir.join("received.jsonl")).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs the example receiver");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the example receiver did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}/hook"))
}

#[test]
fn dev_sends_the_alert_example_to_the_example_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (mut receiver, url) = python_receiver(secret, dir.path());
    let dag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/alerts.yaml");
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let (ops, pager) = (format!("ops={url}"), format!("pager={url}"));
    let o = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["dev", dag.to_str().unwrap(), "--operators", operators.to_str().unwrap(), "--range", "0..3000", "--database", "dev.db"])
        .args(["--destination", &ops, "--destination", &pager])
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("TRACE_WEBHOOK_SECRET", secret)
        .output()
        .unwrap();
    receiver.kill().unwrap();
    receiver.wait().unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(!out.contains(secret), "the secret came from the environment; it is not printed: {out}");
    let delivered: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("alert deliveries: delivered "))
        .and_then(|n| n.split(',').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no delivery summary: {out}"));
    let received = std::fs::read_to_string(dir.path().join("received.jsonl")).unwrap();
    let alerts: Vec<serde_json::Value> = received.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(delivered > 0);
    assert_eq!(alerts.len() as u64, delivered, "{received}");
    assert!(alerts.iter().all(|a| a["type"] == "alert" && a["alert_key"].as_str().unwrap().starts_with("transfer:")));
    assert!(alerts.iter().any(|a| a["destination"] == "pager" && a["severity"] == "critical"));

    // The same deliveries from the command line.
    let see = out.lines().find_map(|l| l.strip_prefix("see them: trace ")).expect("a hint to list deliveries");
    let args: Vec<&str> = see.split_whitespace().collect();
    let o = trace(&[&args[..], &["--state", "delivered", "--limit", "1000"]].concat(), dir.path());
    let listed = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(listed.lines().count() as u64 - 1, delivered, "{listed}");
    let id = listed.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let (db, org) = (args[3], args[5]);
    let o = trace(&["deliveries", "show", &id, "--db", db, "--org", org], dir.path());
    assert!(stdout(&o).contains("attempt 1: delivered HTTP 204"), "{}", stdout(&o));
    let o = trace(&["destination", "list", "--db", db, "--org", org], dir.path());
    assert!(stdout(&o).contains(&url) && !stdout(&o).contains("whsec_"), "{}", stdout(&o));
    let o = trace(&["deliveries", "retry", &id, "--db", db, "--org", org], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("delivery {id} is delivered; only a failed delivery can be retried")), "{}", stderr(&o));
}

#[test]
fn secrets_are_set_from_stdin_sealed_on_disk_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let value = "rpc-key-5b1e0c7d";
    let with_stdin = |args: &[&str], key: Option<&str>, input: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trace"));
        c.args(args).current_dir(dir.path()).env("XDG_CACHE_HOME", dir.path().join("cache")).env_remove("TRACE_SECRET_KEY");
        if let Some(k) = key {
            c.env("TRACE_SECRET_KEY", k);
        }
        let mut child = c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let o = trace(&["user", "add", "root", "--role", "admin", "--db", "sqlite:t.db"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    // Without a key nothing is stored, and the message says what to set.
    let o = with_stdin(&["secret", "set", "rpc/key-1", "--db", "sqlite:t.db"], None, value);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no secret key: set TRACE_SECRET_KEY"), "{}", stderr(&o));
    let key = stdout(&trace(&["secret", "new-key"], dir.path())).trim().to_owned();
    assert_eq!(key.len(), 44, "{key}");
    let o = with_stdin(&["secret", "set", "rpc/key-1", "--db", "sqlite:t.db"], Some(&key), &format!("{value}\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), format!("secret `rpc/key-1` set ({} bytes)", value.len()));
    let list = stdout(&trace(&["secret", "list", "--db", "sqlite:t.db"], dir.path()));
    assert!(list.contains("rpc/key-1") && !list.contains(value), "{list}");
    let audit = stdout(&trace(&["audit", "--db", "sqlite:t.db"], dir.path()));
    assert!(audit.contains("secret.set") && audit.contains("rpc/key-1") && !audit.contains(value), "{audit}");
    // Nowhere in the database's files.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("t.db") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "{} holds the secret in clear", path.display());
        }
    }
    let o = trace(&["secret", "rm", "rpc/key-1", "--db", "sqlite:t.db"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = trace(&["secret", "rm", "rpc/key-1", "--db", "sqlite:t.db"], dir.path());
    assert!(stderr(&o).contains("secret \"rpc/key-1\" does not exist"), "{}", stderr(&o));
}

/// `TRACE_LOG_FORMAT=json`: one JSON object a line, each attempt's lines
/// inside a span naming its task, attempt and job; an unknown format is
/// refused by name.
#[test]
fn json_logs_carry_the_task_and_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let dag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/dev.yaml");
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let args = ["dev", dag.to_str().unwrap(), "--operators", operators.to_str().unwrap(), "--range", "0..3000", "--metrics", "off"];
    let o = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(args)
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("TRACE_LOG", "warn,trace_worker=debug")
        .env("TRACE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stderr(&o).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let finished: Vec<&serde_json::Value> = lines.iter().filter(|l| l["fields"]["message"] == "attempt finished").collect();
    assert_eq!(finished.len(), 4, "the source, three ranges (no complete window): {lines:?}");
    for l in &finished {
        assert_eq!(l["span"]["name"], "attempt");
        assert!(l["span"]["task"].as_u64().is_some() && l["span"]["attempt"].as_u64() == Some(1), "{l}");
        assert!(l["fields"]["wall_ms"].as_u64().is_some() && l["fields"]["outcome"] == "succeeded", "{l}");
    }
    let jobs: std::collections::BTreeSet<&str> = finished.iter().map(|l| l["span"]["job"].as_str().unwrap()).collect();
    assert_eq!(jobs, ["blocks", "windows"].into_iter().collect());

    let o = Command::new(env!("CARGO_BIN_EXE_trace")).args(["tasks"]).current_dir(dir.path()).env("TRACE_LOG_FORMAT", "yaml").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("TRACE_LOG_FORMAT must be text or json, got \"yaml\""), "{}", stderr(&o));
}

/// `trace dev` prints where to look (the console with a token to sign in
/// with, and the metrics), and with `--stay` keeps the console up after the
/// run: its overview shows the run's completed tasks to that token only.
#[test]
fn dev_prints_the_console_and_keeps_it_up_with_stay() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let dag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags/dev.yaml");
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["dev", dag.to_str().unwrap(), "--operators", operators.to_str().unwrap(), "--range", "0..3000", "--stay"])
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut console, mut token, mut metrics) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("console at ") {
            let (url, tail) = rest.split_once(" (sign in with the token ").unwrap();
            console = Some(url.to_owned());
            token = Some(tail.trim_end_matches(')').to_owned());
        }
        metrics = metrics.or_else(|| line.strip_prefix("metrics at ").map(str::to_owned));
        if line.starts_with("the console stays up at ") {
            break;
        }
    }
    let (console, token) = (console.expect("a console line"), token.expect("a token"));
    assert!(metrics.expect("a metrics line").ends_with("/metrics"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, page, refused) = runtime.block_on(async {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = http.get(&console).header("cookie", format!("trace_console={token}")).send().await.unwrap();
        let status = r.status().as_u16();
        let page = r.text().await.unwrap();
        let refused = http.get(&console).header("cookie", "trace_console=trc_wrong").send().await.unwrap();
        (status, page, refused.headers().get("location").map(|l| l.to_str().unwrap().to_owned()))
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let exited = child.wait().unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("dev · admin"), "{page}");
    let completed = page.split("id=\"count-completed\"").nth(1).and_then(|r| r.split("class=\"n\">").nth(1)).and_then(|r| r.split('<').next()).unwrap();
    assert_eq!(completed, "4", "the run's tasks: {page}");
    assert_eq!(refused.as_deref(), Some("/console/login"), "another token signs in nowhere");
    assert!(exited.success(), "Ctrl-C ends a run that stayed: {exited:?}");
}
