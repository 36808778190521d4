//! The far side of the process boundary: a query's runner. It opens its
//! DuckDB as soon as it starts (so a runner kept ready has paid for that
//! before a query arrives), reads one query from stdin, answers on stdout
//! and exits. The Query Service started it with an address-space limit and
//! kills it at the query's time limit; see [`Runner`](crate::Runner).
//!
//! Any binary can be a runner by calling [`serve`]: the `trace` binary does
//! (`trace __query-runner`), and this crate's `trace-query-runner` does for
//! tests of the crates that embed the Query Service.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use crate::engine::{describe_on, run_on, run_to_parquet_on, Catalog, SystemTable, Table};
use crate::error::QueryError;
use crate::wire::{self, Failure, Op, Reply, Request, WireError};

/// Largest system table accepted (the service sends them; the bound is
/// against a stream that is not what it should be).
const MAX_SYSTEM_TABLE_BYTES: u64 = 1 << 30;

/// The argument that carries the memory limit: `--memory-bytes N`.
pub(crate) const MEMORY_ARG: &str = "--memory-bytes";

/// Serve one query over stdin and stdout; `args` are the process's
/// arguments (the memory limit is found among them).
pub fn serve(args: impl IntoIterator<Item = String>) -> ExitCode {
    let mut args = args.into_iter();
    let memory = args.by_ref().find(|a| a == MEMORY_ARG).and(args.next()).and_then(|n| n.parse::<u64>().ok());
    let Some(memory) = memory else {
        eprintln!("trace query runner: {MEMORY_ARG} N is required (the Query Service starts runners; they are not for people)");
        return ExitCode::from(2);
    };
    // DuckDB is opened, and its code mapped, before the query arrives: that
    // is what a runner kept ready saves the query.
    let conn = crate::warm::open(memory);
    map_libraries_in();
    let (stdin, stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    let (mut input, mut output) = (BufReader::new(stdin), BufWriter::new(stdout));
    let request = match read_request(&mut input) {
        Ok(r) => r,
        Err(e) => {
            // The service went away, or sent something else: nothing to answer.
            eprintln!("trace query runner: reading the query: {e}");
            return ExitCode::from(3);
        }
    };
    let answered = match conn {
        Ok(conn) => answer(&conn, request, &mut output),
        Err(e) => wire::write_json(&mut output, &Reply::Failed(e.into())),
    };
    match answered.and_then(|()| output.flush().map_err(WireError::from)) {
        // The service has its answer and ends this process; closing DuckDB
        // first would only make it wait.
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("trace query runner: answering: {e}");
            ExitCode::from(3)
        }
    }
}

fn read_request(input: &mut impl std::io::Read) -> Result<(Request, Catalog), WireError> {
    let request: Request = wire::read_json(input, wire::MAX_REQUEST_BYTES)?;
    let mut system = Vec::with_capacity(request.system.len());
    for name in &request.system {
        let (_, batches) = wire::read_batches(input, MAX_SYSTEM_TABLE_BYTES)?;
        let rows = match batches.as_slice() {
            [one] => one.clone(),
            _ => return Err(WireError::Malformed(format!("system table {name}: expected one batch, got {}", batches.len()))),
        };
        let name = crate::system::NAMES.iter().find(|n| **n == name).ok_or_else(|| WireError::Malformed(format!("no system table {name}")))?;
        system.push(SystemTable { name, rows });
    }
    let datasets = request.datasets.iter().map(|(name, files)| Table { name: name.clone(), files: files.clone() }).collect();
    Ok((request, Catalog { datasets, system }))
}

fn answer(conn: &duckdb::Connection, (request, catalog): (Request, Catalog), output: &mut impl Write) -> Result<(), WireError> {
    let Request { op, sql, limits, .. } = request;
    let failed = |e: QueryError| Reply::Failed(Failure::from(e));
    match op {
        Op::Rows => match run_on(conn, &catalog, &sql, &limits) {
            Ok(r) => {
                wire::write_json(output, &Reply::Rows { rows: r.rows, truncated: r.truncated, elapsed: r.elapsed })?;
                wire::write_batches(output, &r.schema, &r.batches)
            }
            Err(e) => wire::write_json(output, &failed(e)),
        },
        Op::Parquet(out) => {
            // The file may not grow past the result limit even if a check
            // above were wrong: the kernel stops the write (the margin is
            // for the Parquet footer written at close).
            limit_file_size(limits.max_result_bytes as u64 + (1 << 20));
            let reply = match run_to_parquet_on(conn, &catalog, &sql, &limits, &out) {
                Ok(w) => Reply::Written { rows: w.rows, bytes: w.bytes, elapsed: w.elapsed },
                Err(e) => failed(e),
            };
            wire::write_json(output, &reply)
        }
        Op::Describe => {
            let reply = match describe_on(conn, &catalog, &limits) {
                Ok(d) => Reply::Described(d),
                Err(e) => failed(e),
            };
            wire::write_json(output, &reply)
        }
    }
}

/// Map every page of this process's shared libraries now. A fresh process
/// otherwise takes a page fault the first time it runs each page of
/// DuckDB's 70 MB of code, on the query's time; the pages are in the page
/// cache already (other runners use them), so this only fills page tables.
/// (With LD_BIND_NOW, which the service sets, symbols are bound now too.)
fn map_libraries_in() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return };
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms), Some(path)) = (fields.next(), fields.next(), fields.nth(3)) else { continue };
        if !perms.starts_with('r') || !path.contains(".so") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else { continue };
        // SAFETY: advice on a range this process has mapped; it changes no
        // contents. Kernels before 5.14 refuse it, which costs nothing.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_READ);
        }
    }
}

/// RLIMIT_FSIZE for this process: files it writes stop at `bytes`.
fn limit_file_size(bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
    // SAFETY: setrlimit with a valid pointer to a local value.
    unsafe {
        libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
    }
}
