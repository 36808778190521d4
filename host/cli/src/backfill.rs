//! `trace backfill`: a source over a large range, split into range runs that
//! the platform works through in parallel (up to the job's concurrency),
//! with progress and an ETA. Run ids are derived from the label and the
//! chunk's start, so the same command again resumes: chunks already
//! triggered are not triggered twice. While it watches, a system database
//! that goes away (a restart, a failover) is waited for, up to
//! `--database-patience`, as the servers and workers wait for it.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use trace_core::backfill::BackfillPlan;
use trace_store::{now_millis, RunProgress, Store, StoreError, TaskStatus};

use crate::target::{block_on, job_of, open, org, Target};

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// DAG name.
    pub dag: String,
    /// Source job name.
    pub job: String,
    /// The whole range, START..END.
    #[arg(long, value_parser = trace_core::units::parse_nonempty_range, value_name = "START..END")]
    pub range: (u64, u64),
    /// Units per chunk (one source task each).
    #[arg(long, default_value_t = 10_000)]
    pub chunk: u64,
    /// Names this backfill; the same label, range and chunk resume it
    /// [default: START-END-CHUNK].
    #[arg(long)]
    pub label: Option<String>,
    /// A DAG version other than the active one (to rematerialize a staged
    /// version before its cutover).
    #[arg(long)]
    pub version: Option<i32>,
    /// Trigger and return, without watching progress.
    #[arg(long)]
    pub no_wait: bool,
    /// Time between progress lines.
    #[arg(long, default_value = "1s", value_parser = trace_core::units::parse_duration)]
    pub every: Duration,
    /// How long the watch waits for an unreachable system database (it
    /// retries every `--every`, at least every second) before it gives up;
    /// the backfill goes on either way, and the same command resumes the
    /// watch.
    #[arg(long, default_value = "5m", value_parser = trace_core::units::parse_duration)]
    pub database_patience: Duration,
    #[command(flatten)]
    pub target: Target,
}

fn progress_line(p: &RunProgress, total: i64, elapsed: Duration, done_at_start: i64) -> String {
    let done = p.count(TaskStatus::Completed);
    let failed = p.count(TaskStatus::Failed) + p.count(TaskStatus::Canceled);
    let rate = (done - done_at_start) as f64 / elapsed.as_secs_f64().max(1e-3);
    let left = total - done - failed;
    let eta = if left == 0 {
        "done".to_owned()
    } else if rate > 0.0 {
        format!("ETA {:.0}s", left as f64 / rate)
    } else {
        "ETA ?".to_owned()
    };
    format!(
        "[{:>6.1}s] chunks {done}/{total} done, {} running, {} pending, {failed} failed | rows {} | {rate:.1} chunks/s | {eta}",
        elapsed.as_secs_f64(),
        p.count(TaskStatus::Running),
        p.count(TaskStatus::Pending),
        p.rows,
    )
}

/// Tasks of other jobs one backfill waits for and counts when they fail.
const DOWNSTREAM_SCAN: u32 = 100_000;

/// How the watch reads the system database: each read retried while the
/// database is unreachable, for at most `patience` in a row.
struct Watch {
    every: Duration,
    patience: Duration,
    started: Instant,
}

impl Watch {
    async fn read<T, F, Fut>(&self, what: &str, mut read: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut unavailable_since: Option<Instant> = None;
        loop {
            match read().await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_unavailable() => {
                    let since = *unavailable_since.get_or_insert_with(Instant::now);
                    let waited = since.elapsed();
                    if waited >= self.patience {
                        return Err(e).with_context(|| {
                            format!(
                                "{what}: the system database has been unreachable for {:.1}s, past --database-patience {:.1}s; the backfill goes on without this watch, and the same command resumes it",
                                waited.as_secs_f64(),
                                self.patience.as_secs_f64()
                            )
                        });
                    }
                    println!(
                        "[{:>6.1}s] the system database is unreachable ({}); retrying ({:.0}s of {:.0}s patience)",
                        self.started.elapsed().as_secs_f64(),
                        trace_core::error_chain(&e),
                        waited.as_secs_f64(),
                        self.patience.as_secs_f64()
                    );
                    tokio::time::sleep(self.every.min(Duration::from_secs(1))).await;
                }
                Err(e) => return Err(e).context(what.to_owned()),
            }
        }
    }
}

/// Wait until the org has no open task, then count the failed tasks of jobs
/// other than the source that were created since the backfill's first chunk.
async fn wait_downstream(db: &trace_store::Db, org: i64, source: i64, first_task: i64, watch: &Watch) -> anyhow::Result<i64> {
    loop {
        let open = watch.read("counting open tasks", || db.open_tasks(org)).await?;
        if open == 0 {
            break;
        }
        println!("[{:>6.1}s] chunks settled; {open} downstream task(s) still open", watch.started.elapsed().as_secs_f64());
        tokio::time::sleep(watch.every).await;
    }
    let failed = watch.read("listing failed tasks", || db.failed_tasks(org, DOWNSTREAM_SCAN)).await?;
    Ok(failed.iter().filter(|t| t.id >= first_task && t.job != source).count() as i64)
}

/// The backfill's verdict, the last thing it prints.
fn last_line(label: &str, total: i64, chunks_failed: i64, downstream_failed: i64) -> String {
    if chunks_failed + downstream_failed == 0 {
        return format!("backfill `{label}`: all {total} chunk(s) and the tasks they started downstream completed");
    }
    format!(
        "backfill `{label}` FAILED: {chunks_failed} of {total} chunk(s) and {downstream_failed} downstream task(s) failed; list them with `trace tasks --status failed`, retry with `trace retry ID`"
    )
}

pub fn run(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let plan = BackfillPlan::new(args.range, args.chunk, args.label.as_deref(), args.version)?;
    let (label, prefix, runs) = (plan.label, plan.run_prefix, plan.runs);
    block_on(async {
        let db = open(&args.target).await?;
        let org = org(&db, &args.target).await?;
        let job = job_of(&db, org, &args.target, &args.dag, &args.job, args.version).await?;
        let actor = crate::target::actor();
        let triggered = db.trigger_many(job, &runs, &actor, now_millis()).await.context("triggering the chunks")?;
        let new = triggered.iter().filter(|i| !i.duplicate).count();
        println!(
            "backfill `{label}` of `{}.{}` over {}..{}: {} chunk(s) of {}, {new} new, {} already triggered",
            args.dag,
            args.job,
            args.range.0,
            args.range.1,
            runs.len(),
            args.chunk,
            runs.len() - new
        );
        if args.no_wait {
            return Ok(ExitCode::SUCCESS);
        }
        let total = runs.len() as i64;
        let watch = Watch { every: args.every, patience: args.database_patience, started: Instant::now() };
        let progress = || db.run_progress(job, &prefix);
        let done_at_start = watch.read("reading the backfill's progress", progress).await?.count(TaskStatus::Completed);
        let settled = loop {
            let p = watch.read("reading the backfill's progress", progress).await?;
            println!("{}", progress_line(&p, total, watch.started.elapsed(), done_at_start));
            if p.count(TaskStatus::Completed) + p.count(TaskStatus::Failed) + p.count(TaskStatus::Canceled) >= total {
                break p;
            }
            tokio::time::sleep(args.every).await;
        };
        let chunks_failed = settled.count(TaskStatus::Failed) + settled.count(TaskStatus::Canceled);
        // The chunks are done; what they started downstream may not be, and
        // a failure there loses data as surely as a failed chunk.
        let first_task = triggered.iter().flat_map(|i| i.tasks.iter().copied()).min().unwrap_or(0);
        let downstream_failed = wait_downstream(&db, org, job, first_task, &watch).await?;
        let line = last_line(&label, total, chunks_failed, downstream_failed);
        println!("{line}");
        Ok(if chunks_failed + downstream_failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_rate_and_eta() {
        let p = RunProgress { counts: vec![(TaskStatus::Completed, 4), (TaskStatus::Running, 2), (TaskStatus::Pending, 4)], rows: 40_000 };
        let line = progress_line(&p, 10, Duration::from_secs(2), 0);
        assert!(last_line("l", 10, 0, 0).ends_with("all 10 chunk(s) and the tasks they started downstream completed"));
        let failed = last_line("l", 60, 0, 30);
        assert!(failed.starts_with("backfill `l` FAILED: 0 of 60 chunk(s) and 30 downstream task(s) failed"), "{failed}");
        assert!(line.ends_with("chunks 4/10 done, 2 running, 4 pending, 0 failed | rows 40000 | 2.0 chunks/s | ETA 3s"), "{line}");
    }
}
