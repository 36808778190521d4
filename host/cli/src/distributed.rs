//! `trace server` and `trace worker`: the distributed pieces. The server
//! owns the system database: it serves the public and internal APIs and runs
//! the dispatcher, which sends task ids to SQS. Workers take ids from SQS,
//! run each task in the sandbox and talk to the server over `/internal/*`
//! with the worker token and per-attempt credentials. Neither needs the
//! other's secrets: workers never see the database.

use trace_delivery::{DeliveryConfig, DeliveryService};
use trace_protocol::buffered::Buffer;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{watch, Notify};
use trace_api::{internal_router, public_router, InternalState, PublicState};
use trace_worker::remote::HttpControlPlane;
use trace_control::dispatcher::{self, DispatcherConfig};
use trace_control::queue::TaskQueue;
use trace_control::worker::{self, OperatorDir, Outputs, WorkerContext};
use trace_queue_sqs::{SqsBuffer, SqsConfig, SqsQueue, DEFAULT_MAX_DEPTH};
use trace_sandbox::{Runtime, RuntimeConfig};
use trace_store::Db;

/// Where the task queue is.
#[derive(Debug, Clone, clap::Args)]
pub struct SqsArgs {
    /// SQS queue name (created if missing).
    #[arg(long, env = "TRACE_SQS_QUEUE", default_value = "trace-tasks")]
    pub sqs_queue: String,
    /// SQS endpoint for a compatible server [default: AWS].
    #[arg(long, env = "TRACE_SQS_ENDPOINT")]
    pub sqs_endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub sqs_region: String,
    /// A message not acknowledged within this long is delivered again.
    #[arg(long, default_value = "5m", value_parser = trace_core::units::parse_duration)]
    pub visibility: Duration,
}

impl SqsArgs {
    fn config(&self) -> anyhow::Result<SqsConfig> {
        Ok(SqsConfig {
            endpoint: self.sqs_endpoint.clone(),
            region: self.sqs_region.clone(),
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID is not set (the SQS credentials)")?,
            secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY").context("AWS_SECRET_ACCESS_KEY is not set (the SQS credentials)")?,
        })
    }

    /// Buffered datasets' queues, `{queue}-buf-{dataset}`, beside the task queue.
    fn buffer(&self) -> anyhow::Result<SqsBuffer> {
        Ok(SqsBuffer::new(SqsQueue::client(&self.config()?), &self.sqs_queue, self.visibility, DEFAULT_MAX_DEPTH))
    }

    async fn open(&self) -> anyhow::Result<SqsQueue> {
        let config = self.config()?;
        SqsQueue::open(SqsQueue::client(&config), &self.sqs_queue, self.visibility)
            .await
            .with_context(|| format!("opening the SQS queue {:?}", self.sqs_queue))
    }
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// System database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "TRACE_DB", default_value = "sqlite:trace.db")]
    pub db: String,
    /// Address the APIs listen on.
    #[arg(long, env = "TRACE_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// The token workers present to fetch tasks (at least 32 characters).
    #[arg(long, env = "TRACE_WORKER_TOKEN", hide_env_values = true)]
    pub worker_token: String,
    #[command(flatten)]
    pub sqs: SqsArgs,
    #[command(flatten)]
    pub query: ServerQueryArgs,
    /// Do not send alert webhooks from this server (run `trace delivery`
    /// processes instead).
    #[arg(long)]
    pub no_delivery: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (a listener of its
    /// own, apart from the APIs) [default: none].
    #[arg(long, env = "TRACE_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

/// The Query Service of a server.
#[derive(Debug, clap::Args)]
pub struct ServerQueryArgs {
    /// Where the datasets' files are (`file:///DIR` or `s3://BUCKET`, as the
    /// workers write them). Without it the query routes answer 503.
    #[arg(long, env = "TRACE_STORAGE", value_name = "URL")]
    pub storage: Option<String>,
    /// Directory for dataset files fetched from S3 and batch results
    /// [default: a fresh temporary directory].
    #[arg(long, env = "TRACE_QUERY_CACHE", value_name = "DIR")]
    pub query_cache: Option<PathBuf>,
    /// Bytes of fetched dataset files kept in the cache.
    #[arg(long, default_value = "16GiB", value_parser = trace_core::units::parse_bytes)]
    pub query_cache_bytes: u64,
    /// Queries (interactive and batch) one org may run at once; more get 429.
    #[arg(long, default_value_t = 4)]
    pub queries_per_org: usize,
    /// Queries of all orgs at once; more get 503. Each runs in a process of
    /// its own that may use up to 1.5 × its memory limit + 1 GiB of address
    /// space (2.5 GiB by default), so this bounds the server's memory.
    #[arg(long, default_value_t = 8)]
    pub queries_per_server: usize,
    /// Most rows an interactive query returns.
    #[arg(long, default_value_t = 10_000)]
    pub query_max_rows: usize,
    /// An interactive query's wall-time limit.
    #[arg(long, default_value = "30s", value_parser = trace_core::units::parse_duration)]
    pub query_timeout: Duration,
    /// A batch query's wall-time limit.
    #[arg(long, default_value = "10m", value_parser = trace_core::units::parse_duration)]
    pub batch_timeout: Duration,
    /// How often the storage janitor deletes files staged by attempts that
    /// died before committing (and promotes committed ones left at their
    /// staging key); needs `--storage`.
    #[arg(long, default_value = "1m", value_parser = trace_core::units::parse_duration)]
    pub sweep_every: Duration,
}

impl ServerQueryArgs {
    /// The service, if the server was given storage; the cache directory
    /// lives as long as the returned guard.
    fn open(&self, db: Arc<Db>) -> anyhow::Result<(Option<Arc<trace_query::QueryService>>, Option<trace_storage::Storage>, Option<tempfile::TempDir>)> {
        let Some(url) = &self.storage else { return Ok((None, None, None)) };
        if self.queries_per_org == 0 {
            anyhow::bail!("--queries-per-org must be at least 1");
        }
        if self.queries_per_server == 0 {
            anyhow::bail!("--queries-per-server must be at least 1");
        }
        let storage = open_storage(url, &std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()))?;
        let (dir, guard) = match &self.query_cache {
            Some(dir) => (dir.clone(), None),
            None => {
                let t = tempfile::tempdir().context("creating the query cache directory")?;
                (t.path().to_owned(), Some(t))
            }
        };
        let mut limits = trace_query::ServiceLimits { queries_per_org: self.queries_per_org, queries_per_server: self.queries_per_server, cache_bytes: self.query_cache_bytes, ..Default::default() };
        limits.interactive.max_rows = self.query_max_rows;
        limits.interactive.timeout = self.query_timeout;
        limits.batch.timeout = self.batch_timeout;
        let service = trace_query::QueryService::new(db, storage.clone(), dir, limits).context("starting the query service")?.with_runner(crate::query_runner::runner());
        Ok((Some(Arc::new(service)), Some(storage), guard))
    }
}

/// Shortest worker token accepted: it guards every task's payload.
pub const MIN_WORKER_TOKEN_CHARS: usize = 32;

fn check_worker_token(token: &str) -> anyhow::Result<()> {
    if token.len() < MIN_WORKER_TOKEN_CHARS {
        anyhow::bail!("the worker token must have at least {MIN_WORKER_TOKEN_CHARS} characters, got {}", token.len());
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    check_worker_token(&args.worker_token)?;
    runtime()?.block_on(async move {
        let db = Arc::new(crate::system_db::open_and_migrate(&args.db).await?);
        let queue: Arc<dyn TaskQueue> = Arc::new(args.sqs.open().await?);
        let (query, storage, _cache) = args.query.open(db.clone())?;
        // Buffered datasets' rows go through SQS, so a server that dies
        // before its sink commits them loses nothing: any server's sink does.
        let buffer: Arc<dyn Buffer> = Arc::new(args.sqs.buffer()?);
        let secret_key = match trace_secrets::SecretKey::from_env() {
            Ok(key) => Some(Arc::new(key)),
            Err(trace_secrets::SecretError::NoKey) => {
                eprintln!("warning: no {} is set: this server cannot store org secrets or hand RPC keys to source tasks", trace_secrets::KEY_ENV);
                None
            }
            Err(e) => return Err(e).context("loading the secret key"),
        };
        let janitor_storage = storage.clone();
        let public = Arc::new(PublicState::new(db.clone()).with_query(query).with_secret_key(secret_key.clone()).with_storage(storage));
        let app = public_router(public.clone())
            .merge(trace_console::console_router(public))
            .merge(internal_router(Arc::new(InternalState { db: db.clone(), buffer: buffer.clone(), worker_token: args.worker_token.clone(), secret_key: secret_key.clone() })));
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
        // Tests and scripts read this line to learn the port (`--listen 127.0.0.1:0`).
        announce(&format!("trace server listening on http://{}", listener.local_addr()?));
        announce(&format!("console at http://{}/console", listener.local_addr()?));
        if let Some(addr) = args.metrics {
            let at = trace_control::metrics::serve(addr).await.with_context(|| format!("serving metrics on {addr}"))?;
            announce(&format!("metrics at http://{at}/metrics"));
        }

        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let dispatcher = tokio::spawn(dispatcher::run(db.clone(), queue.clone(), wake.clone(), DispatcherConfig::default(), stopped.clone()));
        let sink = tokio::spawn(trace_control::sink::run(db.clone(), buffer.clone(), wake, stopped.clone()));
        let janitor = janitor_storage.map(|storage| tokio::spawn(trace_control::janitor::run(db.clone(), storage, args.query.sweep_every, stopped.clone())));
        let delivery = match (args.no_delivery, &secret_key) {
            (true, _) => None,
            (false, None) => {
                eprintln!("warning: no {} is set: this server sends no webhooks (their signing secrets are sealed with it)", trace_secrets::KEY_ENV);
                None
            }
            (false, Some(key)) => {
                let config = DeliveryConfig::new(format!("server-{}", std::process::id()));
                let service = DeliveryService::new(db.clone(), key.clone(), config).context("starting the delivery service")?;
                Some(tokio::spawn(Arc::new(service).run(stopped)))
            }
        };
        let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal());
        let served = serve.await.context("serving the APIs");
        let _ = stop.send(true);
        dispatcher.await.context("the dispatcher panicked")?;
        sink.await.context("the buffer sink panicked")?.context("committing buffered rows")?;
        if let Some(janitor) = janitor {
            janitor.await.context("the storage janitor panicked")?;
        }
        if let Some(delivery) = delivery {
            delivery.await.context("the delivery service panicked")?;
        }
        served?;
        eprintln!("trace server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The control plane's base URL.
    #[arg(long, env = "TRACE_SERVER", default_value = "http://127.0.0.1:7070")]
    pub server: String,
    /// The token the server was started with.
    #[arg(long, env = "TRACE_WORKER_TOKEN", hide_env_values = true)]
    pub worker_token: String,
    /// Directory that operator paths in DAGs are relative to.
    #[arg(long, env = "TRACE_OPERATORS", value_name = "DIR")]
    pub operators: PathBuf,
    /// Tasks run at once.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics [default: none].
    #[arg(long, env = "TRACE_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Meter fuel in every task this worker runs (each attempt's usage
    /// then reports what it burned); costs some speed.
    #[arg(long, env = "TRACE_FUEL")]
    pub fuel: bool,
    /// Where task outputs are written (required): `file:///DIR` or
    /// `s3://BUCKET` (S3: `TRACE_S3_ENDPOINT` for a compatible server, AWS
    /// credentials from the environment).
    #[arg(long, env = "TRACE_STORAGE", value_name = "URL")]
    pub storage: Option<String>,
    /// Compiled-component cache directory [default: compile in memory].
    #[arg(long, env = "TRACE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub sqs: SqsArgs,
}

/// `file:///DIR` or `s3://BUCKET` with S3 settings from the environment.
pub fn open_storage(url: &str, region: &str) -> anyhow::Result<trace_storage::Storage> {
    let s3 = match url.starts_with("s3://") {
        true => Some(trace_storage::S3Config {
            endpoint: std::env::var("TRACE_S3_ENDPOINT").ok(),
            region: region.to_owned(),
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID is not set (the S3 credentials)")?,
            secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY").context("AWS_SECRET_ACCESS_KEY is not set (the S3 credentials)")?,
        }),
        false => None,
    };
    trace_storage::Storage::open(url, s3.as_ref()).with_context(|| format!("opening storage {url}"))
}

/// Most tasks one worker process runs at once.
pub const MAX_WORKER_CONCURRENCY: usize = 256;

pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    if args.concurrency == 0 || args.concurrency > MAX_WORKER_CONCURRENCY {
        anyhow::bail!("--concurrency must be between 1 and {MAX_WORKER_CONCURRENCY}, got {}", args.concurrency);
    }
    // A worker without storage would run tasks and drop what they write.
    let Some(storage) = args.storage.clone() else {
        anyhow::bail!("trace worker needs --storage (file:///DIR or s3://BUCKET, or TRACE_STORAGE): the outputs of the tasks it runs are written there");
    };
    runtime()?.block_on(async move {
        let queue = Arc::new(args.sqs.open().await?);
        let plane = Arc::new(HttpControlPlane::new(&args.server, &args.worker_token)?);
        let mut config = RuntimeConfig { cache_dir: args.cache_dir.clone(), ..RuntimeConfig::default() };
        config.engine = config.engine.with_fuel(args.fuel);
        let sandbox = Arc::new(Runtime::new(config).map_err(|e| anyhow::anyhow!("starting the sandbox: {e}"))?);
        let outputs = Outputs::Stored(open_storage(&storage, &args.sqs.sqs_region)?);
        let ctx = Arc::new(WorkerContext::new(plane, queue.clone(), sandbox, OperatorDir(args.operators.clone()), Arc::new(Notify::new()), outputs));
        let loops: Vec<_> = (0..args.concurrency).map(|_| tokio::spawn(worker::run(ctx.clone()))).collect();
        announce(&format!("trace worker serving {} with {} task slot(s)", args.server, args.concurrency));
        if let Some(addr) = args.metrics {
            let at = trace_control::metrics::serve(addr).await.with_context(|| format!("serving metrics on {addr}"))?;
            announce(&format!("metrics at http://{at}/metrics"));
        }
        // On a signal, stop taking messages; tasks in flight finish and report.
        let closer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                eprintln!("trace worker: finishing tasks in flight");
                queue.close();
            })
        };
        let mut first_error = None;
        for l in loops {
            if let Err(e) = l.await.context("a worker loop panicked")? {
                first_error.get_or_insert(e);
            }
        }
        closer.abort();
        match first_error {
            Some(e) => Err(anyhow::Error::new(e).context("running tasks")),
            None => Ok(ExitCode::SUCCESS),
        }
    })
}

/// A line for whoever started a long-running process. A closed stdout (a
/// supervisor that read the port and went away) must not take the server
/// down, as `println!` would with a panic on the broken pipe.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
