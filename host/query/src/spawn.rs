//! Runner processes: started under their limits, and kept ready ahead of
//! need. A runner opens its DuckDB as it starts (about 7 ms with the process
//! start), so the service keeps a couple started for the memory limit asked
//! for last; every query still gets a process nobody used before, and a
//! process never serves a second query.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Condvar, Mutex, OnceLock};

use crate::error::QueryError;
use crate::limits::address_space;
use crate::runner::MEMORY_ARG;

/// Runners kept started and unused, unless a runner says otherwise.
pub(crate) const READY: usize = 2;

/// How to start a runner, and how many to keep started ahead of need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunnerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub ready: usize,
}

/// What a runner is started with: its command and DuckDB memory limit.
type Shape = (RunnerCommand, u64);

struct Pool {
    state: Mutex<State>,
    wanted: Condvar,
    reaper: Mutex<Sender<Child>>,
}

struct State {
    /// The shape asked for last; the starter keeps runners of it ready.
    shape: Option<Shape>,
    ready: Vec<Child>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (reaper, reaping) = mpsc::channel::<Child>();
        let _ = std::thread::Builder::new().name("trace-query-reaper".into()).spawn(move || {
            reaping.into_iter().for_each(end);
        });
        // Runners die with the thread that started them (PR_SET_PDEATHSIG):
        // this one lives as long as the process.
        let _ = std::thread::Builder::new().name("trace-query-starter".into()).spawn(start_ahead);
        Pool { state: Mutex::new(State { shape: None, ready: Vec::new() }), wanted: Condvar::new(), reaper: Mutex::new(reaper) }
    })
}

/// Kill and wait for `child` off the caller's thread.
pub(crate) fn reap(child: Child) {
    discard(child);
}

fn discard(child: Child) {
    if let Err(mpsc::SendError(child)) = pool().reaper.lock().unwrap_or_else(|p| p.into_inner()).send(child) {
        end(child);
    }
}

/// End `child` and its process group, and wait for it.
fn end(mut child: Child) {
    kill_group(child.id());
    let _ = child.wait();
}

/// SIGKILL to the process group a runner leads (see `spawn`). Only for a
/// child not yet waited for, so its id is still its own.
pub(crate) fn kill_group(pid: u32) {
    // SAFETY: a plain system call; a negative pid names the group.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// The starter: keep runners of the last shape asked for ready.
fn start_ahead() {
    let pool = pool();
    loop {
        let shape = {
            let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match &state.shape {
                    Some(shape) if state.ready.len() < shape.0.ready => break shape.clone(),
                    _ => state = pool.wanted.wait(state).unwrap_or_else(|p| p.into_inner()),
                }
            }
        };
        match spawn(&shape.0, shape.1) {
            Ok(child) => {
                let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.shape.as_ref() == Some(&shape) {
                    state.ready.push(child);
                } else {
                    drop(state);
                    discard(child);
                }
            }
            // Not fatal: a query starts its own runner and says why if that
            // fails too. Do not spin on a persistent failure.
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}

/// A runner nobody has used, started for `memory_bytes`.
pub(crate) fn take(command: &RunnerCommand, memory_bytes: u64) -> Result<Child, QueryError> {
    let shape = (command.clone(), memory_bytes);
    let pool = pool();
    let ready = {
        let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.shape.as_ref() != Some(&shape) {
            // Another shape now: what was ready will not be asked for.
            state.shape = Some(shape);
            for stale in state.ready.drain(..) {
                discard(stale);
            }
        }
        let mut found = None;
        while let Some(mut child) = state.ready.pop() {
            // One that died while it waited (killed from outside) is no use.
            if matches!(child.try_wait(), Ok(None)) {
                found = Some(child);
                break;
            }
            discard(child);
        }
        found
    };
    pool.wanted.notify_one();
    match ready {
        Some(child) => Ok(child),
        None => spawn(command, memory_bytes).map_err(|e| {
            tracing::error!(program = %command.program.display(), error = %e, "starting a query runner");
            QueryError::Setup("the query's process could not be started".into())
        }),
    }
}

/// Start a runner: no environment but what the allocators need, no core
/// dumps, its address space bounded by [`address_space`], killed if the
/// thread that started it ends.
fn spawn(command: &RunnerCommand, memory_bytes: u64) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&command.program);
    cmd.args(&command.args)
        .arg(MEMORY_ARG)
        .arg(memory_bytes.to_string())
        // Nothing of the server's environment (database URLs, keys) reaches
        // a query's process.
        .env_clear()
        // glibc reserves 64 MiB of address space per malloc arena, up to
        // eight per core; two keep the address-space limit about memory.
        .env("MALLOC_ARENA_MAX", "2")
        // mimalloc (the `trace` binary's allocator) reserves 1 GiB up front
        // unless told not to.
        .env("MIMALLOC_ARENA_RESERVE", "0")
        // Bind every symbol while the runner waits for its query, not on
        // each first call during it (DuckDB's library has many).
        .env("LD_BIND_NOW", "1")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let limit = address_space(memory_bytes);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls, no
    // allocation.
    unsafe {
        cmd.pre_exec(move || {
            let bound = |resource, value: u64| {
                let rl = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &rl) != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
            };
            // A group of its own: ending it ends anything it started.
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            bound(libc::RLIMIT_AS, limit)?;
            bound(libc::RLIMIT_CORE, 0)?;
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the line above.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runners die with what started them, so a killed server leaves none
    /// behind (PR_SET_PDEATHSIG fires when the starting thread ends).
    #[test]
    fn a_runner_dies_with_the_thread_that_started_it() {
        let command = RunnerCommand { program: "/bin/sh".into(), args: vec!["-c".into(), "exec sleep 30".into()], ready: 0 };
        let pid = std::thread::spawn(move || {
            let child = spawn(&command, 64 << 20).unwrap();
            let pid = child.id();
            // Not waited for here: the point is what happens without it.
            std::mem::forget(child);
            pid
        })
        .join()
        .unwrap();
        let gone = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"));
        let started = std::time::Instant::now();
        while !gone(pid) {
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "runner {pid} outlived its starter");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
    }
}
