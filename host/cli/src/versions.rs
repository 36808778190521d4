//! A DAG's versions: deploy (or stage), trigger a source run, cut over to a
//! staged version, roll back.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use trace_store::{now_millis, Lifecycle, Store};

use crate::target::{actor, block_on, job_of, open, org, org_or_create, Target};

/// `trace deploy FILE`
pub fn deploy(t: &Target, file: &PathBuf, staged: bool) -> anyhow::Result<ExitCode> {
    let yaml = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let dag = match trace_dag::parse(&file.display().to_string(), &yaml) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("invalid DAG: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    block_on(async {
        let db = open(t).await?;
        let now = now_millis();
        let org = org_or_create(&db, t, now).await?;
        if staged {
            let d = db.stage(org, &dag, &yaml, &actor(), now).await.context("staging")?;
            println!(
                "staged DAG `{}` version {} ({} jobs) for org `{}`; the active version is unchanged until `trace cutover {} {}`",
                dag.name, d.version, d.jobs.len(), t.org, dag.name, d.version
            );
            // First deploy of a DAG: nothing is active, nothing to replay.
            if db.active_job(org, &dag.name, &dag.jobs[0].name).await?.is_some() {
                let queued = db.rematerialize(org, &dag.name, d.version, &actor(), now_millis()).await.context("queueing the rematerialization")?;
                println!("{queued} task(s) queued to rematerialize the edited jobs (their downstream follows)");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let d = db.deploy(org, &dag, &yaml, &actor(), now).await.context("deploying")?;
        println!("deployed DAG `{}` version {} ({} jobs) for org `{}`", dag.name, d.version, d.jobs.len(), t.org);
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace trigger DAG JOB`
pub fn trigger(t: &Target, dag: &str, job: &str, range: Option<(u64, u64)>, run_id: &str, version: Option<i32>) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let job_id = job_of(&db, org, t, dag, job, version).await?;
        let r = db.trigger(job_id, run_id, range, &actor(), now_millis()).await?;
        if r.duplicate {
            println!("run {run_id:?} of `{dag}.{job}` was already triggered (event {}); nothing new", r.event_id);
        } else {
            println!("triggered run {run_id:?} of `{dag}.{job}`: task {}", r.tasks.first().map_or("-".into(), |t| t.to_string()));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace cutover DAG VERSION`
pub fn cutover(t: &Target, dag: &str, version: i32) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let r = db.cutover(org, dag, version, &actor(), now_millis()).await?;
        println!(
            "cut over `{dag}` v{} -> v{}: {} queued and running task(s) of v{} moved to v{} ({} canceled, {} asked to stop), {} task(s) of work done meanwhile queued for v{}",
            r.from_version, r.to_version, r.moved, r.from_version, r.to_version, r.canceled, r.stopping, r.replayed, r.to_version
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace rollback DAG`
pub fn rollback(t: &Target, dag: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let r = db.rollback(org, dag, &actor(), now_millis()).await?;
        println!(
            "rolled back `{dag}` v{} -> v{}: {} queued task(s) canceled, {} running task(s) asked to stop",
            r.from_version, r.to_version, r.canceled, r.stopping
        );
        Ok(ExitCode::SUCCESS)
    })
}
