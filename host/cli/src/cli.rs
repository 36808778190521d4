//! The command tree.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::op;

/// Trace runs data-pipeline operators as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "trace", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with operator components.
    #[command(subcommand)]
    Op(OpCommand),
    /// Work with DAG files.
    #[command(subcommand)]
    Dag(DagCommand),
    /// Run a DAG end to end in one process: SQLite system database,
    /// in-process queue, dispatcher and workers. Triggers every source job
    /// over --range and shows the tasks flowing until none is open.
    Dev(crate::dev::DevArgs),
}

#[derive(Debug, Subcommand)]
pub enum DagCommand {
    /// Validate a DAG file and summarise it: jobs, wiring, publishes and
    /// each job's materialization hash. Errors name the line.
    Check {
        /// The DAG's YAML file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// Run a component locally on Parquet files or a JSON event, with no server.
    ///
    /// Prints the events it emitted and what it used (time, fuel, memory),
    /// writes each output to `<out-dir>/output-<index>.parquet`.
    Run(op::run::RunArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Op(OpCommand::Run(args)) => op::run::run(args),
        Command::Dag(DagCommand::Check { file }) => crate::dag::check(&file),
        Command::Dev(args) => crate::dev::run(args),
    }
}
