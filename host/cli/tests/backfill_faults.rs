//! A backfill of the example pipeline while a worker is killed mid-run, on
//! the distributed pieces (PostgreSQL, SQS and S3 on moto's server, `trace
//! server` and `trace worker` processes). The killed worker's source
//! attempts come back only after their visibility timeout, so the
//! aggregator sees their ranges after later ones: every task must still
//! complete, and every published file must be byte for byte the file of an
//! undisturbed backfill of the same range.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

const CHUNKS: usize = 30;

/// The example pipeline, its source's attempts timing out after 3 s and
/// running four at a time, as a backfill runs them.
fn pipeline() -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/dags/pipeline.yaml")).unwrap();
    let with_timeout = text.replacen("config: { range_size: 1000 }", "config: { range_size: 1000 }\n    timeout: 3s\n    scaling: { max_concurrency: 4 }", 1);
    assert_ne!(with_timeout, text, "the example's source config moved; update this test");
    with_timeout
}

/// `trace tasks` of `org`: (job, status) per task.
fn tasks(org: &str, env: &[(&str, String)], cache: &std::path::Path) -> Vec<(String, String)> {
    let out = run_ok(&["tasks", "--limit", "1000", "--org", org], env, cache);
    out.lines().skip(1).filter_map(|l| {
        let mut cols = l.split_whitespace();
        let (_id, job, status) = (cols.next()?, cols.next()?, cols.next()?);
        Some((job.to_owned(), status.trim_end_matches('*').to_owned()))
    }).collect()
}

/// Every published file of `dataset` in `org`, by partition key: its rows
/// and its bytes as stored in S3.
async fn published(org: &str, dataset: &str, env: &[(&str, String)], cache: &std::path::Path, bucket: &trace_storage::Storage) -> BTreeMap<String, (u64, Vec<u8>)> {
    let out = run_ok(&["dataset", "partitions", dataset, "--org", org], env, cache);
    let mut files = BTreeMap::new();
    for line in out.lines().skip(1) {
        let cols: Vec<_> = line.split_whitespace().collect();
        let [key, rows, _bytes, object] = cols[..] else { continue };
        let Ok(rows) = rows.parse::<u64>() else { continue };
        let data = bucket.get(&trace_storage::ObjectPath::from(object), 1 << 30).await.unwrap();
        files.insert(key.to_owned(), (rows, data.to_vec()));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_survives_a_killed_worker_and_publishes_what_a_calm_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let moto = trace_testbed::moto();
    let env = cluster_env(trace_testbed::database(), "chaos", "backfill-faults", &moto);
    make_bucket(&moto, "faults").await;
    let bucket = trace_storage::Storage::s3("faults", &s3_config(&moto)).unwrap();

    let dag = dir.path().join("pipeline.yaml");
    std::fs::write(&dag, pipeline()).unwrap();
    for org in ["chaos", "calm"] {
        run_ok(&["deploy", dag.to_str().unwrap(), "--org", org], &env, &cache);
    }
    let (_server, base) = start_server(&env, &cache);
    let worker_args = [
        "worker", "--server", &base, "--operators", operators().to_str().unwrap(), "--concurrency", "2", "--visibility", "3s",
        "--storage", "s3://faults",
    ];
    let worker = || Proc(trace_cmd(&worker_args, &env, &cache).stdout(Stdio::null()).spawn().unwrap());

    // The chaos backfill, with one worker that is killed once it is busy.
    let mut doomed = worker();
    let backfill = ["backfill", "erc20_pipeline", "blocks", "--range", "0..30000", "--chunk", "1000", "--every", "300ms"];
    // Its output goes to files: a pipe nobody reads would fill and block it.
    let (out_path, err_path) = (dir.path().join("chaos.out"), dir.path().join("chaos.err"));
    let (out_file, err_file) = (std::fs::File::create(&out_path).unwrap(), std::fs::File::create(&err_path).unwrap());
    let chaos = trace_cmd(&backfill, &env, &cache).args(["--org", "chaos"]).stdout(out_file).stderr(err_file).spawn().unwrap();
    let chaos = Proc(chaos);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = tasks("chaos", &env, &cache).iter().filter(|(job, status)| job == "blocks" && status == "completed").count();
        if done >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the chaos backfill never got going");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    doomed.0.kill().unwrap();
    let _ = doomed.0.wait();
    // A replacement comes up, as a supervisor would start one.
    let _replacement = worker();

    let mut chaos = chaos;
    let succeeded = wait(&mut chaos.0, Duration::from_secs(240));
    let out = (succeeded, std::fs::read_to_string(&out_path).unwrap(), std::fs::read_to_string(&err_path).unwrap());
    if !out.0 {
        let failed = run_ok(&["tasks", "--status", "failed", "--org", "chaos"], &env, &cache);
        panic!("the chaos backfill failed:\n{}\n{}\nfailed tasks:\n{failed}", out.1, out.2);
    }
    let last = out.1.lines().last().unwrap_or_default();
    assert_eq!(last, format!("backfill `0-30000-1000`: all {CHUNKS} chunk(s) and the tasks they started downstream completed"), "{}", out.1);
    let chaos_tasks = tasks("chaos", &env, &cache);
    assert!(chaos_tasks.iter().all(|(_, status)| status == "completed"), "{chaos_tasks:?}");

    let calm = run_ok(&backfill.iter().copied().chain(["--org", "calm"]).collect::<Vec<_>>(), &env, &cache);
    assert!(calm.lines().last().unwrap().contains("all 30 chunk(s)"), "{calm}");

    for dataset in ["block_logs", "erc20_transfers"] {
        let calm = published("calm", dataset, &env, &cache, &bucket).await;
        let chaos = published("chaos", dataset, &env, &cache, &bucket).await;
        let expected = if dataset == "block_logs" { CHUNKS } else { CHUNKS / 10 };
        assert_eq!(calm.len(), expected, "{dataset}: {:?}", calm.keys());
        assert_eq!(calm.keys().collect::<Vec<_>>(), chaos.keys().collect::<Vec<_>>(), "{dataset}");
        for (key, (rows, bytes)) in &calm {
            let (chaos_rows, chaos_bytes) = &chaos[key];
            assert_eq!((rows, bytes.len()), (chaos_rows, chaos_bytes.len()), "{dataset} {key}");
            assert!(bytes == chaos_bytes, "{dataset} {key}: the files differ");
        }
    }
}

/// Wait for `child` to exit and say whether it succeeded; fail after `within`.
fn wait(child: &mut std::process::Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lines `child` prints, as they come.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line from `lines` that contains `what`, within 60 s.
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(e) => panic!("waiting for a line with {what:?}: {e}"),
        }
    }
    panic!("no line with {what:?} in 60 s");
}

/// The watch of `trace backfill` outlives a restart of its database (it
/// says so and goes on), and gives up, naming its patience, when the
/// database stays away. No worker runs: the chunks stay pending.
#[test]
fn a_backfill_watch_waits_out_a_database_restart() {
    let pg = trace_testbed::RestartablePostgres::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let env = vec![("TRACE_DB", pg.database("patience")), ("TRACE_ORG", "acme".to_owned())];
    let dag = dir.path().join("pipeline.yaml");
    std::fs::write(&dag, pipeline()).unwrap();
    run_ok(&["deploy", dag.to_str().unwrap()], &env, &cache);
    let backfill = |label: &str, patience: &str| {
        let args = ["backfill", "erc20_pipeline", "blocks", "--range", "0..10000", "--chunk", "1000", "--every", "200ms", "--label", label, "--database-patience", patience];
        Proc(trace_cmd(&args, &env, &cache).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
    };

    let mut watching = backfill("restart", "60s");
    let lines = lines_of(&mut watching.0);
    wait_for(&lines, "chunks 0/10 done, 0 running, 10 pending");
    pg.crash().unwrap();
    let said = wait_for(&lines, "the system database is unreachable");
    assert!(said.contains("s of 60s patience)"), "{said}");
    pg.start().unwrap();
    wait_for(&lines, "chunks 0/10 done, 0 running, 10 pending");
    assert!(watching.0.try_wait().unwrap().is_none(), "the watch went on after the restart");
    drop(watching);

    let mut giving_up = backfill("gives-up", "2s");
    let lines = lines_of(&mut giving_up.0);
    wait_for(&lines, "chunks 0/10 done");
    pg.crash().unwrap();
    let crashed = Instant::now();
    let succeeded = wait(&mut giving_up.0, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(giving_up.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!succeeded);
    assert!(crashed.elapsed() >= Duration::from_secs(2), "{:?}", crashed.elapsed());
    assert!(stderr.contains("the system database has been unreachable for ") && stderr.contains("s, past --database-patience 2.0s"), "{stderr}");
    // It asked nothing of the chunks: the same command resumes the watch.
    pg.start().unwrap();
    let resumed = run_ok(&["backfill", "erc20_pipeline", "blocks", "--range", "0..10000", "--chunk", "1000", "--label", "gives-up", "--no-wait"], &env, &cache);
    assert!(resumed.contains("0 new, 10 already triggered"), "{resumed}");
}
