//! `trace usage`: what an org's attempts used, per hour or day, DAG and job
//! (the basis of quotas and billing); and the one-line form `trace task`
//! prints under each attempt.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use trace_core::units::human_bytes;
use trace_store::{now_millis, AttemptUsage, UsageRecords, MAX_SUMMARY_ROWS};

use crate::target::{block_on, open, org, Target};

/// How wide one row's window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn millis(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// How far back to look, e.g. `24h`, `7d`.
    #[arg(long, default_value = "24h", value_parser = trace_core::units::parse_duration)]
    pub since: Duration,
    /// Sum per hour or per day (UTC).
    #[arg(long, value_enum, default_value = "hour")]
    pub by: Bucket,
    #[command(flatten)]
    pub target: Target,
}

/// One attempt's usage on one line.
pub fn describe(u: &AttemptUsage) -> String {
    let mut parts = vec![
        format!("wall {} ms", u.wall_ms),
        format!("cpu {} ms", u.cpu_ms),
        format!("memory {}", human_bytes(u.peak_memory_bytes)),
        format!("in {} rows / {}", u.input_rows, human_bytes(u.input_bytes)),
        format!("out {} rows / {}", u.output_rows, human_bytes(u.output_bytes)),
        format!("events {}", u.events),
        format!("log {}", human_bytes(u.log_bytes)),
    ];
    if let Some(fuel) = u.fuel {
        parts.push(format!("fuel {fuel}"));
    }
    if u.rpc_requests > 0 {
        parts.push(format!("rpc {} requests / {}", u.rpc_requests, human_bytes(u.rpc_bytes)));
    }
    parts.join(", ")
}

fn utc(ms: i64) -> String {
    // Whole hours since the epoch, in the civil calendar (days from 1970-01-01).
    let (days, hour) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000) / 3_600_000);
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02} {hour:02}:00")
}

/// Days since 1970-01-01 as (year, month, day): Howard Hinnant's algorithm.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn run(args: UsageArgs) -> anyhow::Result<ExitCode> {
    if args.since > Duration::from_secs(366 * 86_400) {
        bail!("--since is at most a year (366d), got {:?}", args.since);
    }
    block_on(async {
        let db = open(&args.target).await?;
        let org = org(&db, &args.target).await?;
        let until = now_millis();
        let rows = db.usage_summary(org, until - args.since.as_millis() as i64, until + 1, args.by.millis()).await?;
        println!(
            "{:<16}  {:<20} {:<20} {:>8} {:>6} {:>10} {:>10} {:>10} {:>12} {:>10} {:>9}",
            "UTC", "dag", "job", "attempts", "failed", "wall s", "cpu s", "max mem", "rows out", "bytes out", "rpc reqs"
        );
        for r in &rows {
            let u = &r.usage;
            println!(
                "{:<16}  {:<20} {:<20} {:>8} {:>6} {:>10.1} {:>10.1} {:>10} {:>12} {:>10} {:>9}",
                utc(r.bucket),
                r.dag,
                r.job,
                r.attempts,
                r.unsuccessful,
                u.wall_ms as f64 / 1000.0,
                u.cpu_ms as f64 / 1000.0,
                human_bytes(u.peak_memory_bytes),
                u.output_rows,
                human_bytes(u.output_bytes),
                u.rpc_requests
            );
        }
        if rows.len() as u32 >= MAX_SUMMARY_ROWS {
            println!("(the first {MAX_SUMMARY_ROWS} rows; narrow --since)");
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_print_as_utc_hours() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_796_617_234_941), "2026-12-07 04:00", "the hour it falls in");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
    }
}
