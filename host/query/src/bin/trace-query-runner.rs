//! A query's process: reads one query on stdin, answers on stdout. The
//! Query Service starts it; see `trace_query::Runner`.

fn main() -> std::process::ExitCode {
    trace_query::serve(std::env::args())
}
