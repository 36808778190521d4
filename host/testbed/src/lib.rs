//! Real servers for tests and benchmarks, on 127.0.0.1 only.
//!
//! A throwaway PostgreSQL cluster: Debian's server binaries, `initdb` into a
//! temporary directory, `postgres` on a free port, stopped and removed when
//! this process exits. One per process; [`database`] hands out a fresh
//! database on it. And [`moto()`], an SQS/S3-compatible server.

pub mod anvil;
pub mod moto;
pub mod restartable;
pub use anvil::{anvil, Anvil};
pub use moto::{moto, Moto};
pub use restartable::RestartablePostgres;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Cluster {
    /// The port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// Where PostgreSQL's server binaries are (`initdb`, `postgres`).
pub(crate) fn pg_bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().expect("PostgreSQL server binaries not found: install Debian's `postgresql` package (.ci/run does)")
}

/// Run a PostgreSQL binary, as the `postgres` user when we are root
/// (the server refuses to run as root).
pub(crate) fn pg_command(bin: &Path) -> Command {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_cluster() -> Cluster {
    let bindir = pg_bindir();
    let dir = tempfile::Builder::new().prefix("trace-pg-").tempdir().unwrap();
    let data = dir.path().join("data");
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        assert!(status.success(), "chown of the cluster directory failed");
    }
    let status = pg_command(&bindir.join("initdb"))
        .args(["-D"]).arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdout(Stdio::null())
        .status()
        .expect("running initdb");
    assert!(status.success(), "initdb failed");
    let port = free_port();
    // The server dies with this test process: a watchdog shell stops it once
    // our pid is gone (checked through /proc: as `postgres` it may not signal
    // us) and removes the cluster, so nothing outlives the run.
    let server = format!(
        "{} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300",
        bindir.join("postgres").display(),
        data.display(),
        dir.path().display(),
    );
    let watchdog = format!(
        "{server} >{log} 2>&1 & pg=$!; while [ -d /proc/{me} ]; do sleep 0.5; done; kill -INT $pg; wait $pg; rm -rf {dir}",
        log = dir.path().join("server.log").display(),
        me = std::process::id(),
        dir = dir.path().display(),
    );
    // Detached on purpose: the watchdog outlives this call and stops the
    // server once the test process is gone.
    #[allow(clippy::zombie_processes, reason = "the watchdog is reaped by init after the test process exits")]
    let _watchdog = pg_command(Path::new("/bin/sh")).args(["-c", &watchdog]).stdin(Stdio::null()).spawn().expect("starting postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "postgres did not start; see {}", dir.path().join("server.log").display());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Accepting TCP is not quite ready for queries; pg_isready tells.
    assert!(ready_by(&bindir, port, deadline), "postgres did not become ready");
    Cluster { port, _dir: dir }
}

/// Wait until the server on `port` answers queries; `false` at `deadline`.
pub(crate) fn ready_by(bindir: &Path, port: u16, deadline: Instant) -> bool {
    while !pg_command(&bindir.join("pg_isready")).args(["-h", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Create database `name` on the server on `port`; returns its URL.
pub(crate) fn create_database(bindir: &Path, port: u16, name: &str) -> String {
    let status = pg_command(&bindir.join("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-q", "-c", &format!("CREATE DATABASE {name}")])
        .stdout(Stdio::null())
        .status()
        .expect("running psql");
    assert!(status.success(), "creating database {name} failed");
    format!("postgres://postgres@127.0.0.1:{port}/{name}")
}

/// The process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start_cluster)
}


/// The URL of a new, empty database on the cluster.
pub fn database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let c = cluster();
    let name = format!("t_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    create_database(&pg_bindir(), c.port, &name)
}
