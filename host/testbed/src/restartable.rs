//! A PostgreSQL cluster a test may crash and restart: `pg_ctl` drives it,
//! so [`RestartablePostgres::crash`] is PostgreSQL's immediate shutdown
//! (every backend killed, no checkpoint; the next start replays the WAL),
//! and [`RestartablePostgres::start`] brings it back on the same port and
//! data directory. Separate from the shared [`crate::cluster`] so that a
//! chaos test crashing its database never disturbs another test's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{create_database, free_port, pg_bindir, pg_command, ready_by};

pub struct RestartablePostgres {
    /// The port on 127.0.0.1 (the same across restarts).
    pub port: u16,
    bindir: PathBuf,
    dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct PgCtlFailed(pub String);

impl std::fmt::Display for PgCtlFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pg_ctl failed: {}", self.0)
    }
}

impl std::error::Error for PgCtlFailed {}

impl RestartablePostgres {
    /// `initdb` a new cluster and start it.
    pub fn new() -> Self {
        let bindir = pg_bindir();
        let dir = tempfile::Builder::new().prefix("trace-pg-chaos-").tempdir().unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let status = pg_command(&bindir.join("initdb"))
            .arg("-D").arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .expect("running initdb");
        assert!(status.success(), "initdb failed");
        let pg = Self { port: free_port(), bindir, dir };
        // If this test process dies without dropping us, a watchdog stops
        // the cluster and removes it (as the shared cluster's does).
        let watchdog = format!(
            "while [ -d /proc/{me} ]; do sleep 0.5; done; {ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            me = std::process::id(),
            ctl = pg.bindir.join("pg_ctl").display(),
            data = pg.data().display(),
            dir = pg.dir.path().display(),
        );
        #[allow(clippy::zombie_processes, reason = "the watchdog is reaped by init after the test process exits")]
        let _watchdog = pg_command(Path::new("/bin/sh")).args(["-c", &watchdog]).stdin(Stdio::null()).spawn().expect("starting the watchdog");
        pg.start().expect("starting postgres");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), PgCtlFailed> {
        let out = pg_command(&self.bindir.join("pg_ctl"))
            .arg("-D").arg(self.data())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| PgCtlFailed(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(PgCtlFailed(format!("{args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))))
        }
    }

    /// Start the server and wait until it answers queries.
    pub fn start(&self) -> Result<(), PgCtlFailed> {
        // Commits must survive the crash: synchronous_commit stays on (with
        // it off, an immediate shutdown loses the last acknowledged commits,
        // which no client can recover from). fsync may stay off: the
        // operating system, which keeps written WAL, does not crash here.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display(),
        );
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&["start", "-w", "-t", "60", "-o", &options, "-l", log.to_str().unwrap()])?;
        match ready_by(&self.bindir, self.port, Instant::now() + Duration::from_secs(30)) {
            true => Ok(()),
            false => Err(PgCtlFailed("postgres did not become ready in 30 s".into())),
        }
    }

    /// Immediate shutdown: every connection is cut and nothing is flushed.
    pub fn crash(&self) -> Result<(), PgCtlFailed> {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"])
    }

    /// A new, empty database; returns its URL.
    pub fn database(&self, name: &str) -> String {
        create_database(&self.bindir, self.port, name)
    }
}

impl Default for RestartablePostgres {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RestartablePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
    }
}
