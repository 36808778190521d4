//! Tasks: list them, inspect one, cancel one, give a failed one another attempt.

use std::process::ExitCode;

use anyhow::bail;
use trace_store::{now_millis, Db, Store, UsageRecords};

use crate::target::{actor, block_on, open, org, Target};

/// `trace tasks`
pub fn tasks(t: &Target, limit: u32, failed_only: bool) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let tasks = if failed_only { db.failed_tasks(org, limit).await? } else { db.tasks_of_org(org, limit).await? };
        println!("{:>8}  {:<20} {:<10} {:>8}  {:<20} error", "task", "job", "status", "attempts", "event");
        for task in tasks {
            let mut event = task.event_range.map_or(task.event_partition_key.clone(), |(s, e)| format!("[{s}, {e})"));
            if task.invalidation {
                event.push_str(" (invalidated)");
            }
            println!(
                "{:>8}  {:<20} {:<10} {:>8}  {:<20} {}",
                task.id,
                task.job_name,
                task.state().to_owned() + if task.cancel_requested { "*" } else { "" },
                task.attempts,
                event,
                task.last_error.unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Task `id`, if it is in the target's org (another org's task does not
/// exist for this caller).
async fn task_in_org(db: &Db, t: &Target, id: i64) -> anyhow::Result<trace_store::TaskView> {
    let org = org(db, t).await?;
    let task = db.task(id).await?;
    if task.org != org {
        bail!("task {id} does not exist in org `{}`", t.org);
    }
    Ok(task)
}

/// `trace task ID`
pub fn task(t: &Target, id: i64) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let task = task_in_org(&db, t, id).await?;
        println!("task {} of job `{}`: {}{}", task.id, task.job_name, task.state(), if task.cancel_requested { " (cancel requested)" } else { "" });
        if let Some(e) = &task.last_error {
            println!("last error: {e}");
        }
        let used = db.task_usage(id).await?;
        for a in db.attempts(id).await? {
            let took = a.finished_at.map_or_else(|| format!("{} ms so far", now_millis() - a.started_at), |f| format!("{} ms", f - a.started_at));
            println!("  attempt {}: {} ({took})", a.attempt, a.state(now_millis()));
            if let Some((_, u)) = used.iter().find(|(n, _)| *n == a.attempt) {
                println!("    used: {}", crate::usage::describe(u));
            }
            if let Some(log) = &a.log {
                println!("    log:");
                for line in log.lines() {
                    println!("      {}", printable(line));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace cancel ID`
pub fn cancel(t: &Target, id: i64) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        task_in_org(&db, t, id).await?;
        let status = db.cancel(id, &actor(), now_millis()).await?;
        match status {
            trace_store::TaskStatus::Running => println!("task {id}: cancel requested; its worker will stop it"),
            other => println!("task {id}: {other}"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace retry ID`: one more attempt for a failed task.
pub fn retry(t: &Target, id: i64) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let task = task_in_org(&db, t, id).await?;
        if task.status != trace_store::TaskStatus::Failed {
            bail!("task {id} is {}, not failed; only failed tasks are retried", task.status);
        }
        match db.retry(id, &actor(), now_millis()).await? {
            trace_store::TaskStatus::Pending => println!("task {id}: pending again; a worker will take it"),
            other => bail!("task {id} is {other}, not failed; only failed tasks are retried"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// An operator's log line as it may reach a terminal: control characters
/// (escape sequences that could move the cursor or rewrite what the user
/// sees) shown as `\u{…}` instead.
fn printable(line: &str) -> String {
    line.chars().map(|c| if c.is_control() && c != '\t' { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_operators_escape_sequences_do_not_reach_the_terminal() {
        assert_eq!(super::printable("ok\tdone"), "ok\tdone");
        assert_eq!(super::printable("\u{1b}[2Jgone\r"), "\\u{1b}[2Jgone\\u{d}");
    }
}
