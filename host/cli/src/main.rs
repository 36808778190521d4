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
mod query_runner;
mod quota;
mod system_db;
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
    if query_runner::asked() {
        return trace_query::serve(std::env::args());
    }
    let args = cli::Cli::parse();
    // Log lines on stderr (TRACE_LOG, TRACE_LOG_FORMAT) and, with
    // OTEL_EXPORTER_OTLP_ENDPOINT set, spans over OTLP; held to the end so
    // the last spans are exported.
    let service = match &args.command {
        cli::Command::Server(_) => "trace-server",
        cli::Command::Worker(_) => "trace-worker",
        cli::Command::Dev(_) => "trace-dev",
        _ => "trace",
    };
    let _telemetry = match trace_telemetry::init(service) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                eprintln!("  caused by: {c}");
                cause = c.source();
            }
            return ExitCode::from(2);
        }
    };
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
