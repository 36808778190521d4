//! Each query in a process of its own. DuckDB's memory limit bounds its
//! buffer manager, not every allocation a statement can make (a scalar
//! `range(1000000000)` builds an 8 GB list outside it, and cannot be
//! interrupted while it does), so the boundary that holds is the process:
//! an address-space limit the kernel enforces and a kill at the time limit.
//! A query that runs into either fails; the server that asked goes on.
//!
//! ```text
//! service ── Request + system tables (Arrow) ──▶ runner (DuckDB, locked down)
//!         ◀── Reply (+ rows as Arrow) ──────────
//!         kill -9 at timeout + KILL_GRACE; RLIMIT_AS = address_space(memory)
//! ```

use std::ffi::OsString;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::engine::{Catalog, Columns, QueryResult, Written};
use crate::error::QueryError;
use crate::guard::admit;
use crate::limits::{address_space, QueryLimits, KILL_GRACE};
use crate::spawn::{self, RunnerCommand};
use crate::wire::{self, Op, Reply, Request, WireError};

/// The environment variable naming the runner program to use.
pub const RUNNER_ENV: &str = "TRACE_QUERY_RUNNER";

/// The runner program this crate builds.
pub const RUNNER_BIN: &str = "trace-query-runner";

/// How the Query Service starts a query's process: a program that calls
/// [`serve`](crate::serve), and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    command: RunnerCommand,
}

/// What a runner answered.
struct Answer {
    reply: Reply,
    rows: Option<(SchemaRef, Vec<RecordBatch>)>,
}

impl Runner {
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        Runner { command: RunnerCommand { program: program.into(), args: args.into_iter().map(Into::into).collect(), ready: spawn::READY } }
    }

    /// The program started for each query.
    pub fn program(&self) -> &Path {
        &self.command.program
    }

    /// Keep `n` processes started ahead of need (default 2); 0 starts each
    /// when its query arrives, about 7 ms later.
    pub fn keep_ready(mut self, n: usize) -> Self {
        self.command.ready = n;
        self
    }

    /// `$TRACE_QUERY_RUNNER` if set, else `trace-query-runner` beside this
    /// program (or, for a test binary in cargo's `deps/`, one level up). If
    /// there is none, queries fail and the server's log names the path.
    pub fn locate() -> Self {
        if let Some(program) = std::env::var_os(RUNNER_ENV) {
            return Runner::new(program, Vec::<OsString>::new());
        }
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe.parent().unwrap_or(Path::new("/"));
        let beside = dir.join(RUNNER_BIN);
        let up = dir.parent().filter(|_| dir.ends_with("deps")).map(|up| up.join(RUNNER_BIN));
        let program = [Some(beside.clone()), up].into_iter().flatten().find(|p| p.is_file()).unwrap_or(beside);
        Runner::new(program, Vec::<OsString>::new())
    }

    /// Run `sql` over `catalog` under `limits` in a process of its own.
    pub fn run(&self, catalog: &Catalog, sql: &str, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
        let answer = self.exchange(Op::Rows, catalog, sql, limits)?;
        match (answer.reply, answer.rows) {
            (Reply::Rows { rows, truncated, elapsed }, Some((schema, batches))) => {
                let got: usize = batches.iter().map(RecordBatch::num_rows).sum();
                if got != rows || rows > limits.max_rows {
                    return Err(unexpected(&format!("{got} rows for a reply of {rows}")));
                }
                Ok(QueryResult { schema, batches, rows, truncated, elapsed })
            }
            (reply, _) => Err(failure_or_unexpected(reply)),
        }
    }

    /// [`run`](Self::run), writing every row to a Parquet file at `out`.
    pub fn run_to_parquet(&self, catalog: &Catalog, sql: &str, limits: &QueryLimits, out: &Path) -> Result<Written, QueryError> {
        match self.exchange(Op::Parquet(out.to_owned()), catalog, sql, limits)?.reply {
            Reply::Written { rows, bytes, elapsed } => Ok(Written { rows, bytes, elapsed }),
            reply => Err(failure_or_unexpected(reply)),
        }
    }

    /// The columns of each dataset in `catalog` that has data.
    pub fn describe(&self, catalog: &Catalog, limits: &QueryLimits) -> Result<Vec<(String, Columns)>, QueryError> {
        match self.exchange(Op::Describe, catalog, "SELECT 1", limits)?.reply {
            Reply::Described(columns) => Ok(columns),
            reply => Err(failure_or_unexpected(reply)),
        }
    }

    fn exchange(&self, op: Op, catalog: &Catalog, sql: &str, limits: &QueryLimits) -> Result<Answer, QueryError> {
        // Refused here, a query costs no process.
        let sql = admit(sql)?.to_owned();
        let wants_rows = matches!(op, Op::Rows);
        // A runner works from `/`: paths relative to this process's
        // directory are made whole before they cross.
        let whole = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        let op = match op {
            Op::Parquet(out) => Op::Parquet(whole(&out)),
            op => op,
        };
        let request = Request {
            op,
            sql,
            limits: limits.clone(),
            datasets: catalog.datasets.iter().map(|t| (t.name.clone(), t.files.iter().map(|f| whole(f)).collect())).collect(),
            system: catalog.system.iter().map(|t| t.name.to_owned()).collect(),
        };
        let mut child = spawn::take(&self.command, limits.memory_bytes)?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
            spawn::reap(child);
            return Err(QueryError::Setup("the query's process has no pipes".into()));
        };
        // What it says on stderr, read to its end (or as far as it gets).
        let (said, stderr_tail) = mpsc::channel::<String>();
        let _ = std::thread::Builder::new().name("trace-query-stderr".into()).spawn(move || said.send(tail(stderr)));

        // The deadline kills the process unless told it answered first. It
        // runs before the process is waited for, so the pid is still its.
        let (done, finished) = mpsc::channel::<()>();
        let pid = child.id();
        let deadline = limits.timeout + KILL_GRACE;
        let killer = std::thread::Builder::new()
            .name("trace-query-deadline".into())
            .spawn(move || {
                if finished.recv_timeout(deadline) == Err(mpsc::RecvTimeoutError::Timeout) {
                    spawn::kill_group(pid);
                    return true;
                }
                false
            })
            .map_err(|e| QueryError::Setup(format!("starting the deadline: {e}")));
        let killer = match killer {
            Ok(k) => k,
            Err(e) => {
                spawn::reap(child);
                return Err(e);
            }
        };
        let sent = send(stdin, &request, catalog);
        let answer = sent.and_then(|()| receive(stdout, wants_rows, limits));
        let _ = done.send(());
        let killed = killer.join().unwrap_or(false);
        match answer {
            Ok(answer) => {
                // Its exit (tearing down DuckDB and 70 MB of mapped code) is
                // not the query's time: it is ended and waited for off this
                // thread.
                spawn::reap(child);
                Ok(answer)
            }
            Err(e) => {
                if killed {
                    let _ = child.wait();
                    return Err(QueryError::Timeout { limit: limits.timeout });
                }
                // It may be on its way out (an abort in progress): let it
                // end and say why. One that lingers after answering wrong
                // is ended here.
                let (status, ended_by_us) = end_within(&mut child, ANSWERED_WRONG_GRACE);
                let stderr = stderr_tail.recv_timeout(ANSWERED_WRONG_GRACE).unwrap_or_default();
                Err(ended_without_answer(status, ended_by_us, &stderr, &e, limits))
            }
        }
    }
}

fn send(stdin: impl Write, request: &Request, catalog: &Catalog) -> Result<(), WireError> {
    let mut out = BufWriter::new(stdin);
    wire::write_json(&mut out, request)?;
    for table in &catalog.system {
        wire::write_batches(&mut out, &table.rows.schema(), std::slice::from_ref(&table.rows))?;
    }
    out.flush()?;
    Ok(())
}

fn receive(stdout: impl Read, wants_rows: bool, limits: &QueryLimits) -> Result<Answer, WireError> {
    let mut input = BufReader::new(stdout);
    let reply: Reply = wire::read_json(&mut input, wire::MAX_REPLY_HEADER_BYTES)?;
    let rows = match reply {
        // The runner held the rows to `max_result_bytes` as Arrow in memory;
        // their IPC encoding is about that size.
        Reply::Rows { .. } if wants_rows => Some(wire::read_batches(&mut input, (limits.max_result_bytes as u64).saturating_mul(2).saturating_add(1 << 20))?),
        _ => None,
    };
    Ok(Answer { reply, rows })
}

fn failure_or_unexpected(reply: Reply) -> QueryError {
    match reply {
        Reply::Failed(f) => f.into(),
        other => unexpected(&format!("{other:?}").chars().take(200).collect::<String>()),
    }
}

fn unexpected(what: &str) -> QueryError {
    tracing::error!(answer = what, "a query's process answered out of turn");
    QueryError::Setup("the query's process answered out of turn".into())
}

/// How long a process that failed to answer gets to end by itself.
const ANSWERED_WRONG_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// `child`'s exit status, killing it if it has not ended within `grace`;
/// and whether it was killed here.
fn end_within(child: &mut std::process::Child, grace: std::time::Duration) -> (std::io::Result<ExitStatus>, bool) {
    let started = std::time::Instant::now();
    while started.elapsed() < grace {
        match child.try_wait() {
            Ok(Some(status)) => return (Ok(status), false),
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(e) => return (Err(e), false),
        }
    }
    spawn::kill_group(child.id());
    (child.wait(), true)
}

/// What a process that stopped without answering most likely ran into.
fn ended_without_answer(status: std::io::Result<ExitStatus>, ended_by_us: bool, stderr: &str, read: &WireError, limits: &QueryLimits) -> QueryError {
    use std::os::unix::process::ExitStatusExt;
    let signal = status.as_ref().ok().and_then(ExitStatusExt::signal);
    // An allocation refused at the address-space limit ends in an abort
    // (Rust and C++ alike say so on stderr), or the kernel's OOM killer.
    let oom_killed = signal == Some(libc::SIGKILL) && !ended_by_us;
    let out_of_memory = ["memory allocation of", "bad_alloc", "Out of Memory", "out of memory"].iter().any(|m| stderr.contains(m)) || oom_killed;
    if out_of_memory {
        let what = "its process stopped at its address-space limit".to_owned();
        return QueryError::OutOfMemory { what, memory: limits.memory_bytes, address_space: address_space(limits.memory_bytes) };
    }
    let last = stderr.lines().last().unwrap_or("").chars().take(300).collect::<String>();
    tracing::error!(status = ?status, stderr = %last, error = %read, "a query's process ended without answering");
    QueryError::Setup("the query's process ended without answering".into())
}

/// The last few KiB a process wrote to `stream`, read to its end.
fn tail(mut stream: impl Read) -> String {
    const KEEP: usize = 4 << 10;
    let (mut kept, mut buf) = (Vec::new(), [0u8; 4096]);
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * KEEP {
            kept.drain(..kept.len() - KEEP);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}
