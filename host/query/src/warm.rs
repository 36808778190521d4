//! DuckDB instances opened ahead of need and closed after it, off the
//! query's path. Opening an in-memory DuckDB costs about 6.5 ms here and
//! closing one about 1 ms, more than a small query itself; every query
//! still gets an instance nobody used before, and never one used twice (its
//! configuration is locked for good once it is set up).
//!
//! The opening and closing threads run at the lowest CPU priority so they
//! take no time from running queries. Instances are opened with one thread
//! (DuckDB starts no workers then, which would inherit that priority); the
//! query sets its own thread count, and its workers start at its priority.

use std::ops::Deref;
use std::sync::mpsc::{self, Sender};
use std::sync::{Condvar, Mutex, OnceLock};

use duckdb::{Config, Connection};

use crate::error::QueryError;

/// Instances kept open and unused.
const READY: usize = 2;

/// What an instance is opened with: its memory limit.
type Shape = u64;

/// A fresh instance, closed in the background when dropped.
pub(crate) struct Fresh(Option<Connection>);

impl Deref for Fresh {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // If the closer is gone, close it here.
            if let Err(mpsc::SendError(conn)) = pool().closer.lock().unwrap_or_else(|p| p.into_inner()).send(conn) {
                drop(conn);
            }
        }
    }
}

struct Pool {
    state: Mutex<State>,
    wanted: Condvar,
    closer: Mutex<Sender<Connection>>,
}

struct State {
    /// The shape asked for last; the opener keeps instances of it ready.
    shape: Option<Shape>,
    ready: Vec<(Shape, Connection)>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (closer, closing) = mpsc::channel::<Connection>();
        let _ = std::thread::Builder::new().name("trace-query-closer".into()).spawn(move || {
            lowest_priority();
            closing.into_iter().for_each(drop)
        });
        let _ = std::thread::Builder::new().name("trace-query-opener".into()).spawn(|| {
            lowest_priority();
            open_ahead()
        });
        Pool { state: Mutex::new(State { shape: None, ready: Vec::new() }), wanted: Condvar::new(), closer: Mutex::new(closer) }
    })
}

/// The opener: keep `READY` instances of the last shape asked for.
fn open_ahead() {
    let pool = pool();
    loop {
        let shape = {
            let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match state.shape {
                    Some(shape) if state.ready.len() < READY => break shape,
                    _ => state = pool.wanted.wait(state).unwrap_or_else(|p| p.into_inner()),
                }
            }
        };
        match open(shape) {
            Ok(conn) => pool.state.lock().unwrap_or_else(|p| p.into_inner()).ready.push((shape, conn)),
            // Not fatal: queries open their own instance and say why if
            // that fails too. Do not spin on a persistent failure.
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}

/// An instance nobody has used, with a memory limit and one thread (the
/// caller sets its own count).
pub(crate) fn take(memory_bytes: u64) -> Result<Fresh, QueryError> {
    let shape = memory_bytes;
    let pool = pool();
    let ready = {
        let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.shape != Some(shape) {
            // Another shape now: what was ready will not be asked for.
            state.shape = Some(shape);
            for (_, stale) in state.ready.drain(..) {
                drop(Fresh(Some(stale)));
            }
        }
        let i = state.ready.iter().position(|(s, _)| *s == shape);
        i.map(|i| state.ready.swap_remove(i).1)
    };
    pool.wanted.notify_one();
    match ready {
        Some(conn) => Ok(Fresh(Some(conn))),
        None => open(shape).map(|c| Fresh(Some(c))),
    }
}

/// This thread at nice 19 (Linux: priority is per thread).
fn lowest_priority() {
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

pub(crate) fn open(memory_bytes: Shape) -> Result<Connection, QueryError> {
    let setup = |e: duckdb::Error| QueryError::Setup(e.to_string());
    let config = Config::default()
        .enable_autoload_extension(false)
        .and_then(|c| c.with("autoinstall_known_extensions", "false"))
        .and_then(|c| c.with("allow_community_extensions", "false"))
        .and_then(|c| c.threads(1))
        .and_then(|c| c.max_memory(&format!("{memory_bytes}B")))
        .map_err(setup)?;
    Connection::open_in_memory_with_flags(config).map_err(setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_never_handed_out_twice() {
        for round in 0..6 {
            let conn = take(256 << 20).unwrap();
            let left: i64 = conn.query_row("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'left_behind'", [], |r| r.get(0)).unwrap();
            assert_eq!(left, 0, "round {round} got a used instance");
            conn.execute_batch("CREATE TABLE left_behind AS SELECT 1").unwrap();
            let threads: String = conn.query_row("SELECT current_setting('threads')::VARCHAR", [], |r| r.get(0)).unwrap();
            assert_eq!(threads, "1");
        }
        // Another shape is opened with that shape.
        let conn = take(128 << 20).unwrap();
        let memory: String = conn.query_row("SELECT current_setting('memory_limit')::VARCHAR", [], |r| r.get(0)).unwrap();
        assert!(memory.starts_with("128.0 MiB") || memory.starts_with("134.2 MB"), "{memory}");
    }
}
