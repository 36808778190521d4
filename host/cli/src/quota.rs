//! `trace quota`: an org's limits, set by the deployment's operator on the
//! system database (an org's own admins cannot raise them).

use std::process::ExitCode;

use trace_core::units::{human_bytes, parse_bytes};
use trace_store::{now_millis, Quota, Quotas};

use crate::target::{actor, block_on, open, org, Target};

#[derive(Debug, clap::Subcommand)]
pub enum QuotaCommand {
    /// Set the org's limits. A limit not given is removed; with none
    /// given (or `--clear`) the org has no quota.
    Set {
        /// Tasks running at once; more wait pending.
        #[arg(long, value_name = "N")]
        running: Option<u64>,
        /// Task attempts started per clock hour (UTC); more wait for the
        /// next hour, and API calls that start runs get 429.
        #[arg(long, value_name = "N")]
        tasks_per_hour: Option<u64>,
        /// Bytes of committed dataset files (e.g. `50GiB`); past it the
        /// org's tasks wait until versions are purged.
        #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
        stored: Option<u64>,
        /// Queries running at once (instead of the server's
        /// `--queries-per-org`); more get 429.
        #[arg(long, value_name = "N")]
        queries: Option<u64>,
        /// Fuel each task attempt may burn: the org's tasks run with fuel
        /// metering (reported in their usage) and an attempt that burns
        /// this much stops with a limit error. Roughly one unit per
        /// WebAssembly instruction.
        #[arg(long, value_name = "UNITS")]
        fuel_per_task: Option<u64>,
        /// Remove every limit.
        #[arg(long, conflicts_with_all = ["running", "tasks_per_hour", "stored", "queries", "fuel_per_task"])]
        clear: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show the org's limits and where it stands.
    Show {
        #[command(flatten)]
        target: Target,
    },
}

fn shown(v: Option<u64>, f: impl Fn(u64) -> String) -> String {
    v.map_or_else(|| "no limit".to_owned(), f)
}

pub fn run(c: QuotaCommand) -> anyhow::Result<ExitCode> {
    match c {
        QuotaCommand::Set { running, tasks_per_hour, stored, queries, fuel_per_task, clear: _, target } => {
            if [running, tasks_per_hour, queries, fuel_per_task].contains(&Some(0)) {
                anyhow::bail!("a limit of 0 would stop the org for good; give at least 1 (or leave the limit out for none)");
            }
            let quota = Quota { max_running: running, max_tasks_per_hour: tasks_per_hour, max_stored_bytes: stored, max_queries: queries, fuel_per_task };
            block_on(async {
                let db = open(&target).await?;
                let org = org(&db, &target).await?;
                db.set_quota(org, &quota, &actor(), now_millis()).await?;
                println!("{}", if quota.is_empty() { format!("org `{}` has no quota now", target.org) } else { format!("org `{}`: {quota:?}", target.org) });
                Ok(ExitCode::SUCCESS)
            })
        }
        QuotaCommand::Show { target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            let q = db.quota(org).await?.unwrap_or_default();
            let u = db.quota_usage(org, now_millis()).await?;
            println!("running tasks         {:>10}   limit {}", u.running, shown(q.max_running, |v| v.to_string()));
            println!("started this hour     {:>10}   limit {}", u.started_this_hour, shown(q.max_tasks_per_hour, |v| v.to_string()));
            println!("stored                {:>10}   limit {}", human_bytes(u.stored_bytes.max(0) as u64), shown(q.max_stored_bytes, human_bytes));
            println!("queries at once                    limit {}", shown(q.max_queries, |v| v.to_string()));
            println!("fuel per task attempt              limit {}", shown(q.fuel_per_task, |v| v.to_string()));
            Ok(ExitCode::SUCCESS)
        }),
    }
}
