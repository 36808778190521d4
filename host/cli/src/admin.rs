//! Operating a system database directly (embedded mode): deploy a DAG,
//! trigger a source run, list and inspect tasks, cancel.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use trace_store::{now_millis, Db, Lifecycle, OrgId, Registry, Role, Store};

/// Where the system database is and which org to act for.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// System database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "TRACE_DB", default_value = "sqlite:trace.db", global = true)]
    pub db: String,
    /// Org to act for (created on first deploy).
    #[arg(long, env = "TRACE_ORG", default_value = "default", global = true)]
    pub org: String,
}

pub(crate) async fn open(t: &Target) -> anyhow::Result<Db> {
    let db = Db::open(&t.db).await.with_context(|| format!("opening the system database {}", t.db))?;
    db.migrate().await.context("migrating the system database")?;
    Ok(db)
}

pub(crate) async fn org(db: &Db, t: &Target) -> anyhow::Result<OrgId> {
    match db.org_id(&t.org).await? {
        Some(id) => Ok(id),
        None => bail!("org {:?} does not exist; deploy a DAG first (`trace deploy`)", t.org),
    }
}

/// The target's org, created if this is its first deploy or user.
async fn org_or_create(db: &Db, t: &Target, now: i64) -> anyhow::Result<OrgId> {
    Ok(match db.org_id(&t.org).await? {
        Some(id) => id,
        None => db.create_org(&t.org, now).await?,
    })
}

/// Job `job` of DAG `dag`: in its active version, or in `version`.
pub(crate) async fn job_of(db: &Db, org: OrgId, t: &Target, dag: &str, job: &str, version: Option<i32>) -> anyhow::Result<trace_store::JobId> {
    let found = match version {
        None => db.active_job(org, dag, job).await?,
        Some(v) => db.version_job(org, dag, v, job).await?,
    };
    let which = || version.map_or("its active version".to_owned(), |v| format!("version {v}"));
    found.ok_or_else(|| anyhow::anyhow!("DAG `{dag}` has no job `{job}` in {} (org `{}`)", which(), t.org))
}

/// Who the audit log names for direct database operations: the OS user.
pub(crate) fn actor() -> String {
    format!("local:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned()))
}

pub(crate) fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?.block_on(f)
}

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
                task.status.to_string() + if task.cancel_requested { "*" } else { "" },
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
        println!("task {} of job `{}`: {}{}", task.id, task.job_name, task.status, if task.cancel_requested { " (cancel requested)" } else { "" });
        if let Some(e) = &task.last_error {
            println!("last error: {e}");
        }
        for a in db.attempts(id).await? {
            let took = a.finished_at.map_or("running".to_owned(), |f| format!("{} ms", f - a.started_at));
            println!("  attempt {}: {} ({took})", a.attempt, a.outcome.as_deref().unwrap_or("running"));
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

/// `trace user add NAME --role ROLE` (creates the org if needed, so the first
/// admin can be made before any deploy).
pub fn add_user(t: &Target, name: &str, role: &str) -> anyhow::Result<ExitCode> {
    let role = Role::parse(role).map_err(anyhow::Error::msg)?;
    block_on(async {
        let db = open(t).await?;
        let now = now_millis();
        let org = org_or_create(&db, t, now).await?;
        db.create_user(org, name, role, &actor(), now).await?;
        println!("user `{name}` ({}) added to org `{}`", role.as_str(), t.org);
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace token create USER`: prints the token once.
pub fn create_token(t: &Target, user: &str, label: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let Some(id) = db.user(org, user).await? else {
            bail!("org `{}` has no user `{user}` (add one with `trace user add`)", t.org);
        };
        let token = db.create_token(id, label, &actor(), now_millis()).await?;
        eprintln!("API token for `{user}` (shown once; only its hash is stored):");
        println!("{token}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace token revoke USER`
pub fn revoke_tokens(t: &Target, user: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let Some(id) = db.user(org, user).await? else {
            bail!("org `{}` has no user `{user}`", t.org);
        };
        let n = db.revoke_tokens(id, &actor(), now_millis()).await?;
        println!("revoked {n} token(s) of `{user}`");
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace datasets`
pub fn datasets(t: &Target) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        println!("{:<28} {:<36} {:<30} {:<36} read_roles", "dataset", "uuid", "producer", "version");
        for d in db.datasets(org).await? {
            println!(
                "{:<28} {:<36} {:<30} {:<36} {}",
                d.name,
                d.uuid,
                format!("{}.{}[{}]", d.dag, d.producer_job, d.output_index),
                d.version.as_deref().unwrap_or("-"),
                if d.read_roles.is_empty() { "(private)".to_owned() } else { d.read_roles.join(",") }
            );
        }
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

/// `trace dataset purge NAME --version UUID --storage URL`
pub fn purge(t: &Target, dataset: &str, version: &str, storage: &str) -> anyhow::Result<ExitCode> {
    let storage = crate::distributed::open_storage(storage, "us-east-1")?;
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        // Registry first: once the rows are gone nothing reads the files.
        let purged = db.purge_version(org, dataset, version, &actor(), now_millis()).await?;
        let prefix = trace_storage::paths::version_prefix(org, &purged.dataset_uuid, &purged.version_uuid)?;
        let deleted = storage.delete_prefix(&prefix).await.with_context(|| format!("deleting the files under {prefix}"))?;
        println!(
            "purged `{dataset}` version {version}: {} partition(s) unregistered, {deleted} file(s) deleted from {}",
            purged.object_keys.len(),
            storage.location()
        );
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

/// `trace op push FILE --storage URL`
pub fn push_operator(file: &std::path::Path, storage: &str) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    // Refuse here what workers would refuse to load.
    let runtime = trace_sandbox::Runtime::new(trace_sandbox::RuntimeConfig::default()).map_err(|e| anyhow::anyhow!("starting the sandbox: {e}"))?;
    let world = [trace_sandbox::World::Transform, trace_sandbox::World::Source]
        .into_iter()
        .find(|w| runtime.load(&bytes, *w).is_ok());
    if world.is_none() {
        let why = runtime.load(&bytes, trace_sandbox::World::Source).err().map(|e| e.to_string()).unwrap_or_default();
        bail!("{} is not a component Trace accepts: {why}", file.display());
    }
    let storage = crate::distributed::open_storage(storage, "us-east-1")?;
    let digests = block_on(async { storage.put_operator(&bytes).await.context("storing the component") })?;
    println!("sha256:{}", digests.sha256);
    eprintln!("stored {} ({} bytes) in {}; blake3 {}", file.display(), bytes.len(), storage.location(), digests.blake3);
    Ok(ExitCode::SUCCESS)
}

/// `trace dataset repair --storage URL`
pub fn repair(t: &Target, storage: &str) -> anyhow::Result<ExitCode> {
    let storage = crate::distributed::open_storage(storage, "us-east-1")?;
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let files = db.partition_files(org).await?;
        let r = trace_control::outputs::repair(&storage, &files).await.context("checking partition files")?;
        println!("{} partition file(s): {} in place, {} promoted from staging, {} missing", files.len(), r.in_place, r.promoted, r.lost.len());
        for lost in &r.lost {
            println!("  missing: {lost}");
        }
        Ok(if r.lost.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

/// `trace dataset partitions NAME`
pub fn partitions(t: &Target, dataset: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        if !db.datasets(org).await?.iter().any(|d| d.name == dataset) {
            bail!("org `{}` has no dataset `{dataset}`", t.org);
        }
        let parts = db.partitions(org, dataset).await?;
        let (rows, bytes): (u64, u64) = parts.iter().fold((0, 0), |(r, b), p| (r + p.rows, b + p.bytes));
        println!("{:<24} {:>12} {:>12}  object", "partition", "rows", "bytes");
        for p in &parts {
            println!("{:<24} {:>12} {:>12}  {}", p.partition_key, p.rows, p.bytes, p.object_key);
        }
        println!("{} partition(s), {rows} row(s), {}", parts.len(), trace_core::units::human_bytes(bytes));
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace audit`
pub fn audit(t: &Target, limit: u32) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        for e in db.audit_tail(limit).await?.into_iter().rev() {
            println!("{:>14}  {:<20} {:<18} {}", e.at, e.actor, e.action, e.detail);
        }
        Ok(ExitCode::SUCCESS)
    })
}
