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
    /// Serve the public and internal APIs on one address and dispatch tasks
    /// to SQS (the distributed control plane; workers run separately).
    Server(crate::distributed::ServerArgs),
    /// Take tasks from SQS, run them in the sandbox and report them to a
    /// `trace server` over its internal API.
    Worker(crate::distributed::WorkerArgs),
    /// Deploy a DAG file as a new active version (creates the org if needed).
    Deploy {
        file: std::path::PathBuf,
        /// Record the version without activating it: readers keep the
        /// current one while its jobs fill the new dataset versions
        /// (`trace trigger --version`, `trace backfill --version`); then
        /// `trace cutover`.
        #[arg(long)]
        staged: bool,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Make a staged DAG version active: one transaction swapping the
    /// dataset-version pointer set (readers see all old or all new).
    Cutover {
        dag: String,
        version: i32,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Start a run of a source job.
    Trigger {
        /// DAG name.
        dag: String,
        /// Source job name.
        job: String,
        /// Range to cover, START..END.
        #[arg(long, value_parser = trace_core::units::parse_nonempty_range)]
        range: Option<(u64, u64)>,
        /// Durable run id: the same id twice is the same run.
        #[arg(long, default_value = "manual")]
        run_id: String,
        /// A DAG version other than the active one (a staged version).
        #[arg(long)]
        version: Option<i32>,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Org secrets (write-only): set from stdin, list names, remove.
    #[command(subcommand)]
    Secret(crate::secrets::SecretCommand),
    /// Alert destinations: webhook URLs with write-only signing secrets.
    #[command(subcommand)]
    Destination(crate::alerts::DestinationCommand),
    /// Alert deliveries: list by state, show attempts, retry a failed one.
    #[command(subcommand)]
    Deliveries(crate::alerts::DeliveriesCommand),
    /// Run a Delivery Service: lease due deliveries and send them as signed
    /// webhooks (`trace server` runs one too, unless --no-delivery). Needs
    /// TRACE_SECRET_KEY: the destinations' signing secrets are sealed with it.
    Delivery(crate::alerts::DeliveryArgs),
    /// List the newest tasks (a * marks a requested cancel).
    Tasks {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only tasks in this state (`failed`: the newest failed tasks, with
        /// their errors).
        #[arg(long, value_parser = ["failed"])]
        status: Option<String>,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Give a failed task one more attempt (its last error stays on record
    /// until the attempt ends).
    Retry {
        id: i64,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Show a task and its attempts.
    Task {
        id: i64,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// List the org's datasets: name, UUID, producer, current version, ACL;
    /// with --schema, what `trace query` can read: columns, rows and size.
    Datasets {
        /// Show each queryable dataset's columns, partitions, rows and bytes
        /// (through a server with --server, or the system database).
        #[arg(long)]
        schema: bool,
        /// With --schema: print JSON.
        #[arg(long, requires = "schema")]
        json: bool,
        #[command(flatten)]
        endpoint: crate::query::Endpoint,
    },
    /// Run SQL over the org's published datasets, each a table by name,
    /// pinned to its current version (or --as-of one), in a locked-down
    /// DuckDB: one read-only statement, bounded in rows and time.
    Query(crate::query::QueryArgs),
    /// Run a source over a large range in chunks, in parallel up to the
    /// job's concurrency, showing progress (done/total, rows, rate, ETA).
    /// The same command again resumes it.
    Backfill(crate::backfill::BackfillArgs),
    /// Live mode for a chain source: poll the head through the job's RPC
    /// endpoint and trigger each chunk once it is `--confirmations` deep.
    /// Restarting it resumes where it left off.
    Follow(crate::follow::FollowArgs),
    /// What the org's task attempts used (wall and CPU time, memory, rows
    /// and bytes in and out, events, logs, RPC requests), per hour or day,
    /// DAG and job.
    Usage(crate::usage::UsageArgs),
    /// An org's quota: tasks running at once, task starts per hour, stored
    /// bytes, queries at once (set by the deployment's operator).
    #[command(subcommand)]
    Quota(crate::quota::QuotaCommand),
    /// Make the DAG's previously active version active again: its dataset versions
    /// become current, queued work of the rolled-back version is canceled.
    Rollback {
        dag: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Manage datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Show the newest audit-log entries (who changed what, when).
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Manage users (bootstrap the first admin here; later ones via the API).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens for the public API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Cancel a task: at once if pending, cooperatively if running.
    Cancel {
        id: i64,
        #[command(flatten)]
        target: crate::target::Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// List the committed partitions of a dataset's current version.
    Partitions {
        dataset: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Check that every committed partition's file is at its final key, and
    /// promote any left at its staging key (a worker that died between its
    /// commit and the promote). Exits 1 if a file is missing altogether.
    Repair {
        /// Where the files are: `file:///DIR` or `s3://BUCKET`.
        #[arg(long, env = "TRACE_STORAGE")]
        storage: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Delete a dataset version no active DAG version uses: its partitions
    /// leave the registry, its files leave storage (audited).
    Purge {
        /// Dataset name.
        dataset: String,
        /// The dataset version (UUID) to purge.
        #[arg(long)]
        version: String,
        /// Where its files are: `file:///DIR` or `s3://BUCKET`.
        #[arg(long, env = "TRACE_STORAGE")]
        storage: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to the org (created if needed).
    Add {
        name: String,
        /// admin (everything), developer (deploy, trigger, cancel, read) or viewer (read).
        #[arg(long)]
        role: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it (once).
    Create {
        user: String,
        #[arg(long, default_value = "cli")]
        label: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
    /// Revoke every token of a user.
    Revoke {
        user: String,
        #[command(flatten)]
        target: crate::target::Target,
    },
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
    /// Create an operator project in Rust, JavaScript or Python.
    ///
    /// The project keeps the rows whose `config.column` reaches `config.min`,
    /// with its logic in a module of its own and a test for the language's
    /// usual runner (`cargo test`, `node --test`, `python3 -m unittest`).
    New {
        /// The operator's name (lowercase letters, digits and `_`); also its directory.
        name: String,
        #[arg(long, value_parser = ["rust", "js", "python"])]
        lang: String,
        /// Where to create the project directory.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
    },
    /// Build an operator project into a component, then inspect it.
    ///
    /// Rust through cargo (`wasm32-wasip2`, release); JavaScript through
    /// componentize-qjs and Python through componentize-py, with Trace's kit
    /// and contract staged in and every WASI import stubbed. Writes
    /// `<dir>/build/<name>.wasm`; an unchanged JS/Python project is not rebuilt.
    /// Exits 1 if Trace would refuse the component.
    Build {
        /// The project directory (with `operator.yaml`, or a Rust crate).
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
        /// Write the component here instead of `<dir>/build`.
        #[arg(long)]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Run a component locally on Parquet files or a JSON event, with no server.
    ///
    /// Prints the events it emitted and what it used (time, fuel, memory),
    /// writes each output to `<out-dir>/output-<index>.parquet`.
    Run(op::run::RunArgs),
    /// Describe a component: size, digest, imports, exports, and whether
    /// Trace would run it as a transform or a source (and why not).
    /// Exits 1 if it would run as neither.
    Inspect {
        /// The component (`.wasm`).
        file: std::path::PathBuf,
    },
    /// Store a component in object storage under its SHA-256 and print the
    /// reference to use as a DAG job's `operator:` (`sha256:…`). Workers
    /// fetch it from there and verify it before compiling.
    Push {
        /// The component (`.wasm`).
        file: std::path::PathBuf,
        /// `file:///DIR` or `s3://BUCKET`.
        #[arg(long, env = "TRACE_STORAGE")]
        storage: String,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Op(OpCommand::New { name, lang, dir }) => op::new::run(&name, &lang, &dir),
        Command::Op(OpCommand::Build { dir, out_dir }) => op::build::run(&dir, out_dir.as_deref()),
        Command::Op(OpCommand::Run(args)) => op::run::run(args),
        Command::Op(OpCommand::Push { file, storage }) => crate::datasets::push_operator(&file, &storage),
        Command::Op(OpCommand::Inspect { file }) => crate::op::inspect::run(&file),
        Command::Dag(DagCommand::Check { file }) => crate::dag::check(&file),
        Command::Dev(args) => crate::dev::run(args),
        Command::Server(args) => crate::distributed::server(args),
        Command::Worker(args) => crate::distributed::worker(args),
        Command::Deploy { file, staged, target } => crate::versions::deploy(&target, &file, staged),
        Command::Cutover { dag, version, target } => crate::versions::cutover(&target, &dag, version),
        Command::Trigger { dag, job, range, run_id, version, target } => crate::versions::trigger(&target, &dag, &job, range, &run_id, version),
        Command::Tasks { limit, status, target } => crate::tasks::tasks(&target, limit, status.is_some()),
        Command::Task { id, target } => crate::tasks::task(&target, id),
        Command::Cancel { id, target } => crate::tasks::cancel(&target, id),
        Command::Retry { id, target } => crate::tasks::retry(&target, id),
        Command::Query(args) => crate::query::run(args),
        Command::Secret(c) => crate::secrets::run(c),
        Command::Destination(c) => crate::alerts::destination(c),
        Command::Deliveries(c) => crate::alerts::deliveries(c),
        Command::Delivery(args) => crate::alerts::delivery(args),
        Command::Datasets { schema: true, json, endpoint } => crate::query::schema(&endpoint, json),
        Command::Datasets { endpoint, .. } if endpoint.server.is_some() => {
            anyhow::bail!("--server works with --schema; the plain listing reads the system database")
        }
        Command::Datasets { endpoint, .. } => crate::datasets::datasets(&endpoint.target),
        Command::Backfill(args) => crate::backfill::run(args),
        Command::Follow(args) => crate::follow::run(args),
        Command::Usage(args) => crate::usage::run(args),
        Command::Quota(c) => crate::quota::run(c),
        Command::Audit { limit, target } => crate::identity::audit(&target, limit),
        Command::Rollback { dag, target } => crate::versions::rollback(&target, &dag),
        Command::Dataset(DatasetCommand::Partitions { dataset, target }) => crate::datasets::partitions(&target, &dataset),
        Command::Dataset(DatasetCommand::Repair { storage, target }) => crate::datasets::repair(&target, &storage),
        Command::Dataset(DatasetCommand::Purge { dataset, version, storage, target }) => crate::datasets::purge(&target, &dataset, &version, &storage),
        Command::User(UserCommand::Add { name, role, target }) => crate::identity::add_user(&target, &name, &role),
        Command::Token(TokenCommand::Create { user, label, target }) => crate::identity::create_token(&target, &user, &label),
        Command::Token(TokenCommand::Revoke { user, target }) => crate::identity::revoke_tokens(&target, &user),
    }
}
