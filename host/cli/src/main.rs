//! `trace`: the command-line tool. `main` only maps `run()` to an exit code;
//! errors print with their whole chain.

mod alerts;
mod backfill;
mod follow;
mod usage;
mod secrets;
mod cli;
mod console;
mod datasets;
mod dag;
mod dev;
mod distributed;
mod identity;
mod op;
mod query;
mod quota;
mod target;
mod tasks;
mod versions;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's allocator: a worker frees every input batch
/// right after handing it to a sandbox, and glibc gave each run's freed
/// heap back to the kernel (trimming, then refaulting it for the next),
/// which was 11 of the 24 ms a 150 MB input took to reach the guest.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // TRACE_LOG filters (`warn` by default); TRACE_LOG_FORMAT=json writes one
    // JSON object a line, with the task and attempt of the span it is in.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRACE_LOG").unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match std::env::var("TRACE_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().with_current_span(true).with_span_list(false).init(),
        Ok("text") | Err(_) => logs.init(),
        Ok(other) => {
            eprintln!("error: TRACE_LOG_FORMAT must be text or json, got {other:?}");
            return ExitCode::from(2);
        }
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
