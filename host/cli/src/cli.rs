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
    }
}
