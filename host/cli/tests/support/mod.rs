//! `trace` as child processes, for the tests that run the distributed pieces.

#![allow(dead_code, reason = "each test binary uses part of it")]

pub mod balancer;
pub mod webhooks;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const WORKER_TOKEN: &str = "worker-token-0123456789abcdef0123456789abcdef";

/// Killed on drop, so a failing assertion leaves no process behind.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn trace_cmd(args: &[&str], env: &[(&str, String)], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trace"));
    c.args(args).env("XDG_CACHE_HOME", cache).env("TRACE_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

pub fn run_ok(args: &[&str], env: &[(&str, String)], cache: &Path) -> String {
    let o = trace_cmd(args, env, cache).output().unwrap();
    assert!(o.status.success(), "trace {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

pub fn operators() -> &'static Path {
    Path::new(trace_artifacts::NOOP).parent().unwrap()
}

pub fn s3_config(moto: &trace_testbed::Moto) -> trace_storage::S3Config {
    trace_storage::S3Config { endpoint: Some(moto.endpoint()), region: "us-east-1".into(), access_key_id: "test".into(), secret_access_key: "test".into() }
}

/// Start `trace server` on a free loopback port; returns it and its base URL.
pub fn start_server(env: &[(&str, String)], cache: &Path) -> (Proc, String) {
    let mut server = trace_cmd(&["server", "--listen", "127.0.0.1:0"], env, cache).stdout(Stdio::piped()).spawn().unwrap();
    let mut first_line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    let base = first_line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first_line}");
    (Proc(server), base)
}

/// The environment of a deployment's processes: PostgreSQL `db`, SQS queue
/// `queue` and S3 on moto, the shared worker token, acting in `org`.
pub fn cluster_env(db: String, org: &str, queue: &str, moto: &trace_testbed::Moto) -> Vec<(&'static str, String)> {
    vec![
        ("TRACE_DB", db),
        ("TRACE_ORG", org.to_owned()),
        ("TRACE_WORKER_TOKEN", WORKER_TOKEN.to_owned()),
        ("TRACE_SQS_ENDPOINT", moto.endpoint()),
        ("TRACE_SQS_QUEUE", queue.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("TRACE_S3_ENDPOINT", moto.endpoint()),
    ]
}

/// Make an S3 bucket on moto (its S3 needs a plain PUT).
pub async fn make_bucket(moto: &trace_testbed::Moto, bucket: &str) {
    let made = reqwest::Client::new().put(format!("{}/{bucket}", moto.endpoint())).send().await.unwrap();
    assert!(made.status().is_success(), "making bucket {bucket}: {}", made.status());
}

/// Ask a process to stop as an orchestrator would (SIGTERM) and wait for
/// it, at most 30 s.
pub fn stop(p: &mut Proc) -> ExitStatus {
    // SAFETY: kill(2) on a child this test started and has not reaped.
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
