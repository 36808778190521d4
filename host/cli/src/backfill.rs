//! `trace backfill`: a source over a large range, split into range runs that
//! the platform works through in parallel (up to the job's concurrency),
//! with progress and an ETA. Run ids are derived from the label and the
//! chunk's start, so the same command again resumes: chunks already
//! triggered are not triggered twice.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use trace_store::{now_millis, RunProgress, Store, TaskStatus};

use crate::target::{block_on, job_of, open, org, Target};

/// Most chunks one backfill is split into.
pub const MAX_CHUNKS: u64 = 100_000;

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
    #[command(flatten)]
    pub target: Target,
}

fn check_label(label: &str) -> anyhow::Result<()> {
    let ok = !label.is_empty() && label.len() <= 64 && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        bail!("--label must be 1 to 64 of a-z 0-9 - _, got {label:?}");
    }
    Ok(())
}

/// `[start, end)` in chunks of `chunk`, aligned to `start`.
fn chunks(range: (u64, u64), chunk: u64) -> anyhow::Result<Vec<(u64, u64)>> {
    if chunk == 0 {
        bail!("--chunk must be at least 1");
    }
    let n = (range.1 - range.0).div_ceil(chunk);
    if n > MAX_CHUNKS {
        bail!("{}..{} in chunks of {chunk} is too many chunks: got={n}, limit={MAX_CHUNKS} (use a larger --chunk)", range.0, range.1);
    }
    Ok((0..n).map(|i| (range.0 + i * chunk, (range.0 + (i + 1) * chunk).min(range.1))).collect())
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

/// Wait until the org has no open task, then count the failed tasks of jobs
/// other than the source that were created since the backfill's first chunk.
async fn wait_downstream(db: &trace_store::Db, org: i64, source: i64, first_task: i64, every: Duration, started: Instant) -> anyhow::Result<i64> {
    loop {
        let open = db.open_tasks(org).await?;
        if open == 0 {
            break;
        }
        println!("[{:>6.1}s] chunks settled; {open} downstream task(s) still open", started.elapsed().as_secs_f64());
        tokio::time::sleep(every).await;
    }
    let failed = db.failed_tasks(org, DOWNSTREAM_SCAN).await?;
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
    let label = args.label.clone().unwrap_or_else(|| match args.version {
        None => format!("{}-{}-{}", args.range.0, args.range.1, args.chunk),
        Some(v) => format!("v{v}-{}-{}-{}", args.range.0, args.range.1, args.chunk),
    });
    check_label(&label)?;
    let parts = chunks(args.range, args.chunk)?;
    let prefix = format!("backfill:{label}:");
    let runs: Vec<(String, (u64, u64))> = parts.iter().map(|r| (format!("{prefix}{}", r.0), *r)).collect();
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
        let started = Instant::now();
        let done_at_start = db.run_progress(job, &prefix).await?.count(TaskStatus::Completed);
        let settled = loop {
            let p = db.run_progress(job, &prefix).await?;
            println!("{}", progress_line(&p, total, started.elapsed(), done_at_start));
            if p.count(TaskStatus::Completed) + p.count(TaskStatus::Failed) + p.count(TaskStatus::Canceled) >= total {
                break p;
            }
            tokio::time::sleep(args.every).await;
        };
        let chunks_failed = settled.count(TaskStatus::Failed) + settled.count(TaskStatus::Canceled);
        // The chunks are done; what they started downstream may not be, and
        // a failure there loses data as surely as a failed chunk.
        let first_task = triggered.iter().flat_map(|i| i.tasks.iter().copied()).min().unwrap_or(0);
        let downstream_failed = wait_downstream(&db, org, job, first_task, args.every, started).await?;
        let line = last_line(&label, total, chunks_failed, downstream_failed);
        println!("{line}");
        Ok(if chunks_failed + downstream_failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_exactly_and_are_bounded() {
        assert_eq!(chunks((5, 30), 10).unwrap(), vec![(5, 15), (15, 25), (25, 30)]);
        assert_eq!(chunks((0, 10), 10).unwrap(), vec![(0, 10)]);
        let err = chunks((0, 1_000_001), 10).unwrap_err().to_string();
        assert!(err.contains("too many chunks: got=100001, limit=100000"), "{err}");
        assert!(chunks((0, 10), 0).is_err());
        assert!(check_label("Bad Label").is_err());
        assert!(check_label("q4-2026_b").is_ok());
    }

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
