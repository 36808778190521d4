//! `trace dev`: the whole platform in one process — SQLite system database,
//! in-process queue, a dispatcher and workers — running a DAG end to end.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use trace_dag::Dag;
use trace_sandbox::{Runtime, RuntimeConfig, World};
use trace_delivery::{DeliveryConfig, DeliveryService, WebhookSecret};
use trace_secrets::SecretKey;
use trace_store::{now_millis, Db, Deliveries, Secrets, DestinationSpec, Deployed, OrgId, SqliteStore, Store, StoreError, TaskStatus, TaskView};

use crate::dispatcher::{self, DispatcherConfig};
use crate::plane::Embedded;
use crate::sink;
use trace_protocol::buffered::InProcessBuffer;
use crate::queue::{InProcessQueue, TaskQueue};
use crate::worker::{self, OperatorDir, Outputs, WorkerContext, WorkerError};

/// How often the progress display is refreshed while tasks are open.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Most failed tasks a finished run reports with their errors (the newest).
pub const FAILURES_SHOWN: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error("starting the sandbox")]
    Sandbox(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the DAG has no source job to trigger")]
    NoSource,
    #[error("the range splits into too many chunks: got={got}, limit={limit} (use a larger chunk)")]
    TooManyChunks { got: u64, limit: u64 },
    #[error("the run did not finish within {0:?}; {1} task(s) still open")]
    Timeout(Duration, i64),
}

/// Progress of a run, as printed by `trace dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub elapsed: Duration,
    pub counts: Vec<(TaskStatus, i64)>,
    pub events: i64,
}

/// How a run ended: the final counts, and why tasks failed if any did.
#[derive(Debug)]
pub struct Finished {
    pub deployed: Deployed,
    /// The org the run deployed into (`dev_<millis>`), for inspecting its
    /// tasks afterwards (`trace tasks --org …`).
    pub org: String,
    pub progress: Progress,
    /// The newest failed tasks, at most [`FAILURES_SHOWN`].
    pub failures: Vec<TaskView>,
    /// Alert deliveries by state (empty when the DAG routes none).
    pub deliveries: Vec<(String, i64)>,
}

impl Finished {
    /// Tasks that ended failed.
    pub fn failed(&self) -> i64 {
        self.progress.counts.iter().filter(|(s, _)| *s == TaskStatus::Failed).map(|(_, n)| n).sum()
    }
}

/// One `trace dev` run's settings.
pub struct DevRun<'a> {
    pub dag: &'a Dag,
    pub yaml: &'a str,
    pub operators: &'a Path,
    pub database: &'a Path,
    pub range: (u64, u64),
    pub workers: usize,
    pub timeout: Duration,
    /// Compiled-component cache across runs (`None`: compile in memory).
    pub cache_dir: Option<std::path::PathBuf>,
    /// How often progress is reported and completion checked.
    pub poll: Duration,
    /// Where task outputs are written (`None`: dropped).
    pub storage: Option<trace_storage::Storage>,
    /// Alert destinations registered in the run's org: (name, URL), all
    /// signing with `webhook_secret`. The run sends their deliveries.
    pub destinations: Vec<(String, String)>,
    pub webhook_secret: Option<WebhookSecret>,
    /// Org secrets (name, value) the DAG's worker slots name, sealed into
    /// the run's org before the deploy.
    pub secrets: Vec<(String, String)>,
    /// Trigger each source in runs of this many units (one task each, run
    /// concurrently within the job's limits), as `trace backfill` does;
    /// `None`: one run over the whole range.
    pub chunk: Option<u64>,
    /// Meter fuel (deterministic CPU units) in every task; each attempt's
    /// usage then reports what it burned. Costs some speed.
    pub fuel: bool,
    /// The org to run in, made if it does not exist [default: a new
    /// `dev_<ms>` one per run].
    pub org: Option<String>,
}

/// Most runs `DevRun::chunk` may split a source's range into.
pub const MAX_DEV_CHUNKS: u64 = 100_000;

/// Longest a finished run waits for deliveries that are due to be sent
/// (retries scheduled later than that are left pending, and shown).
pub const DELIVERY_GRACE: Duration = Duration::from_secs(30);

/// Deploy `run.dag` on a SQLite database at `run.database`, trigger its
/// source jobs over `run.range`, and run until no task is open. `progress` is
/// called a few times a second.
pub async fn run(run: DevRun<'_>, progress: impl FnMut(&Progress)) -> Result<Finished, DevError> {
    let db = Arc::new(Db::Sqlite(SqliteStore::open(run.database).await?));
    run_on(db, Arc::new(InProcessQueue::default()), run, progress).await
}

/// [`run`] on any system database and queue (`run.database` is ignored).
pub async fn run_on(db: Arc<Db>, queue: Arc<dyn TaskQueue>, run: DevRun<'_>, mut progress: impl FnMut(&Progress)) -> Result<Finished, DevError> {
    db.migrate().await?;
    let now = now_millis();
    let org_name = run.org.clone().unwrap_or_else(|| format!("dev_{now}"));
    let org: OrgId = match db.org_id(&org_name).await? {
        Some(org) => org,
        None => db.create_org(&org_name, now).await?,
    };
    // Sealed with a key of this run's own: the database never holds a secret in clear.
    let key = Arc::new(SecretKey::generate());
    for (name, value) in &run.secrets {
        let sealed = key.seal(org, name, value.as_bytes()).map_err(|e| DevError::Sandbox(e.into()))?;
        db.set_secret(org, name, &sealed, "dev", now).await?;
    }
    let deployed = db.deploy(org, run.dag, run.yaml, "dev", now).await?;
    if let Some(secret) = &run.webhook_secret {
        for (name, url) in &run.destinations {
            let sealed = trace_delivery::destination::seal_secret(&key, org, name, secret).map_err(|e| DevError::Sandbox(e.into()))?;
            let spec = DestinationSpec { name, url, secret: &sealed, max_in_flight: 4, per_minute: 6000 };
            db.set_destination(org, &spec, "dev", now).await?;
        }
    }
    let sources: Vec<_> = run.dag.jobs.iter().filter(|j| j.kind == trace_dag::JobKind::Source).collect();
    if sources.is_empty() {
        return Err(DevError::NoSource);
    }
    for job in sources {
        match run.chunk.filter(|c| *c > 0) {
            None => {
                db.trigger(deployed.job(&job.name), "dev-run", Some(run.range), "dev", now).await?;
            }
            Some(chunk) => {
                let (start, end) = run.range;
                let n = (end - start).div_ceil(chunk);
                if n > MAX_DEV_CHUNKS {
                    return Err(DevError::TooManyChunks { got: n, limit: MAX_DEV_CHUNKS });
                }
                let runs: Vec<(String, (u64, u64))> =
                    (0..n).map(|i| (start + i * chunk, (start + (i + 1) * chunk).min(end))).map(|(s, e)| (format!("dev-run-{s}-{e}"), (s, e))).collect();
                db.trigger_many(deployed.job(&job.name), &runs, "dev", now).await?;
            }
        }
    }

    let mut config = RuntimeConfig { cache_dir: run.cache_dir.clone(), ..RuntimeConfig::default() };
    config.engine = config.engine.with_fuel(run.fuel);
    let runtime = Arc::new(Runtime::new(config).map_err(|e| DevError::Sandbox(e.into()))?);
    let wake = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let dispatcher = tokio::spawn(dispatcher::run(db.clone(), queue.clone(), wake.clone(), DispatcherConfig::default(), stopped.clone()));
    let buffer = Arc::new(InProcessBuffer::default());
    let sink = tokio::spawn(sink::run(db.clone(), buffer.clone(), wake.clone(), stopped));
    let outputs = run.storage.clone().map_or(Outputs::Discarded, Outputs::Stored);
    let plane = Arc::new(Embedded::with_buffer(db.clone(), buffer.clone()).with_secret_key(key.clone()));
    let ctx = Arc::new(WorkerContext::new(plane, queue.clone(), runtime, OperatorDir(run.operators.to_owned()), wake, outputs));
    // Compile every operator before the first task, not inside it: a large
    // component takes seconds to compile once and microseconds thereafter.
    // (Content-addressed operators load from storage with their first task.)
    for job in run.dag.jobs.iter().filter(|j| !j.operator.starts_with("sha256:")) {
        let world = if job.kind == trace_dag::JobKind::Source { World::Source } else { World::Transform };
        ctx.preload(&job.operator, world).await.map_err(|e| DevError::Sandbox(e.into()))?;
    }
    let workers: Vec<_> = (0..run.workers.max(1)).map(|_| tokio::spawn(worker::run(ctx.clone()))).collect();
    let (stop_delivery, delivery_stopped) = watch::channel(false);
    let delivery = match run.destinations.is_empty() {
        true => None,
        false => {
            let service = DeliveryService::new(db.clone(), key.clone(), DeliveryConfig::new("dev")).map_err(|e| DevError::Sandbox(e.into()))?;
            Some(tokio::spawn(Arc::new(service).run(delivery_stopped)))
        }
    };

    let started = Instant::now();
    let snapshot = |db: Arc<Db>| async move {
        let counts = db.status_counts(org).await?;
        let events = db.event_count(org).await?;
        Ok::<_, StoreError>(Progress { elapsed: started.elapsed(), counts, events })
    };
    // The first poll shows where the run stands at once.
    let mut shown: Option<Instant> = None;
    let result = loop {
        tokio::time::sleep(run.poll).await;
        // Count open tasks before the snapshot: once none is open and every
        // buffered row is committed nothing new can appear (only completions
        // and the sink's commits create tasks), so the last snapshot is final.
        let open = db.open_tasks(org).await?;
        if open == 0 && buffer.unacknowledged() == 0 {
            let p = snapshot(db.clone()).await?;
            progress(&p);
            break Ok(p);
        }
        // Counting every status scans the task table: refresh the display
        // at a human pace, however often completion is checked.
        if shown.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
            progress(&snapshot(db.clone()).await?);
            shown = Some(Instant::now());
        }
        if started.elapsed() > run.timeout {
            break Err(DevError::Timeout(run.timeout, open));
        }
    };
    let _ = stop.send(true);
    queue.close();
    let _ = dispatcher.await;
    if let Ok(Err(e)) = sink.await {
        return Err(e.into());
    }
    for w in workers {
        if let Ok(Err(e)) = w.await {
            return Err(e.into());
        }
    }
    if let Some(delivery) = delivery {
        // Deliveries due now (or soon) are sent before the run ends.
        let grace = Instant::now() + DELIVERY_GRACE;
        while Instant::now() < grace && db.deliveries(org, Some("pending"), 1000).await?.iter().any(|d| d.next_attempt_at.is_some_and(|at| at <= now_millis() + 1000)) {
            tokio::time::sleep(run.poll).await;
        }
        let _ = stop_delivery.send(true);
        let _ = delivery.await;
    }
    let progress = result?;
    let deliveries = db.delivery_counts(org).await?;
    let mut finished = Finished { deployed, org: org_name, progress, failures: Vec::new(), deliveries };
    if finished.failed() > 0 {
        finished.failures = db.failed_tasks(org, FAILURES_SHOWN).await?;
    }
    Ok(finished)
}
