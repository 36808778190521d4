//! The system database a command acts on directly (embedded mode, or an
//! operator of a deployment), the org it acts for, and what those commands share.

use anyhow::{bail, Context};
use trace_store::{Db, OrgId, Store};

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
    let db = Db::open(&t.db).await.with_context(|| format!("opening the system database {}", crate::system_db::redacted(&t.db)))?;
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
pub(crate) async fn org_or_create(db: &Db, t: &Target, now: i64) -> anyhow::Result<OrgId> {
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

