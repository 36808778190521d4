//! The `trace` binary is also the process each query runs in
//! (`trace __query-runner`, started by the Query Service, never by people):
//! nothing else has to be installed beside it.

use trace_query::Runner;

/// The hidden first argument that makes `trace` a query's process.
pub const ARG: &str = "__query-runner";

/// Whether this process was started as a query's process.
pub fn asked() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == ARG)
}

/// How this binary's Query Service starts a query's process: this binary,
/// unless `TRACE_QUERY_RUNNER` names another runner.
pub fn runner() -> Runner {
    match std::env::current_exe() {
        Ok(exe) if std::env::var_os(trace_query::RUNNER_ENV).is_none() => Runner::new(exe, [ARG]),
        _ => Runner::locate(),
    }
}
