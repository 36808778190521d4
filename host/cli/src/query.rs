//! `trace query "SQL"` and `trace datasets --schema`: the Query Service from
//! the command line, either on the system database directly (an operator of
//! the deployment, trusted like an admin) or through a `trace server` with
//! an API token (`--server`, `--token`), with the same output either way.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use trace_api::{BatchQuery, PublicClient, QueryBody, TableInfo};
use trace_query::arrow::ipc::reader::StreamReader;
use trace_query::{render, Caller, Format, QueryLimits, QueryResult, QueryService, ServiceLimits};

use crate::target::{block_on, open, org, Target};

/// Where queries go: a server's public API, or the system database directly.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// A `trace server`'s base URL: ask it over the public API (with
    /// --token) instead of opening the system database.
    #[arg(long, env = "TRACE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server (`trace token create`).
    #[arg(long, env = "TRACE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where the datasets' files are, without --server: file:///PATH or
    /// s3://BUCKET [default: the objects directory beside a SQLite system
    /// database, as `trace dev` makes it].
    #[arg(long, env = "TRACE_STORAGE")]
    pub storage: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// One read-only statement; datasets are tables by name
    /// (`SELECT count(*) FROM erc20_transfers`), the registry is
    /// `trace.datasets` and `trace.partitions`, and `EXPLAIN …` shows a plan.
    pub sql: String,
    /// table (on a terminal), json, csv, arrow (an Arrow IPC stream) or
    /// parquet [default: table on a terminal, else json; parquet with --batch].
    #[arg(long, value_parser = Format::NAMES)]
    pub format: Option<String>,
    /// Write the result here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read a dataset at a past version: NAME=VERSION_UUID (repeatable;
    /// `trace datasets` shows the current ones).
    #[arg(long = "as-of", value_name = "NAME=VERSION")]
    pub as_of: Vec<String>,
    /// Most rows returned [default: the service's limit, 10,000]; the rest
    /// are cut off and a note says so.
    #[arg(long)]
    pub max_rows: Option<usize>,
    /// Wall-time limit (e.g. 30s) [default: the service's: 30s, or 10m with --batch].
    #[arg(long, value_parser = trace_core::units::parse_duration)]
    pub timeout: Option<Duration>,
    /// Run as a batch query: every row, written as Parquet to the object
    /// store under the org's prefix, then downloaded to --output. Shows its
    /// progress until it ends.
    #[arg(long)]
    pub batch: bool,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// The Query Service, local or behind a server.
enum Service {
    Local { service: Arc<QueryService>, caller: Caller, _cache: tempfile::TempDir },
    Remote(PublicClient),
}

impl Service {
    async fn open(e: &Endpoint, timeout: Duration, limits: ServiceLimits) -> anyhow::Result<Service> {
        if let Some(server) = &e.server {
            let Some(token) = &e.token else { bail!("--server needs an API token: --token or TRACE_TOKEN (`trace token create`)") };
            return Ok(Service::Remote(PublicClient::new(server, token, timeout + Duration::from_secs(30))?));
        }
        let storage = storage(e)?;
        let cache = tempfile::tempdir().context("creating the query's file cache")?;
        let db = Arc::new(open(&e.target).await?);
        let caller = Caller { org: org(&db, &e.target).await?, user: None };
        let service = QueryService::new(db, storage, cache.path().to_owned(), limits)?.with_runner(crate::query_runner::runner());
        Ok(Service::Local { service: Arc::new(service), caller, _cache: cache })
    }

    async fn query(&self, body: QueryBody) -> anyhow::Result<QueryResult> {
        match self {
            Service::Local { service, caller, .. } => Ok(service.query(caller, body.into()).await?),
            Service::Remote(client) => {
                let started = Instant::now();
                let answer = client.query(&QueryBody { format: Some("arrow".into()), ..body }).await?;
                let reader = StreamReader::try_new(std::io::Cursor::new(answer.body), None).context("reading the server's Arrow answer")?;
                let schema = reader.schema();
                let batches = reader.collect::<Result<Vec<_>, _>>().context("reading the server's Arrow answer")?;
                Ok(QueryResult { schema, batches, rows: answer.rows, truncated: answer.truncated, elapsed: started.elapsed() })
            }
        }
    }

    async fn submit(&self, body: QueryBody) -> anyhow::Result<BatchQuery> {
        match self {
            Service::Local { service, caller, .. } => {
                let id = service.submit(caller, body.into()).await?;
                Ok(service.batch(caller, &id).await?.into())
            }
            Service::Remote(client) => Ok(client.submit(&body).await?),
        }
    }

    async fn batch(&self, id: &str) -> anyhow::Result<BatchQuery> {
        match self {
            Service::Local { service, caller, .. } => Ok(service.batch(caller, id).await?.into()),
            Service::Remote(client) => Ok(client.batch(id).await?),
        }
    }

    async fn batch_result(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Service::Local { service, caller, .. } => Ok(service.batch_result(caller, id).await?.to_vec()),
            Service::Remote(client) => Ok(client.batch_result(id).await?.to_vec()),
        }
    }

    async fn tables(&self) -> anyhow::Result<Vec<TableInfo>> {
        match self {
            Service::Local { service, caller, .. } => Ok(service.tables(caller).await?.into_iter().map(Into::into).collect()),
            Service::Remote(client) => Ok(client.tables().await?),
        }
    }
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format.as_deref() {
        Some(f) => f.parse::<Format>().map_err(anyhow::Error::msg)?,
        None if args.batch => Format::Parquet,
        None if args.output.is_none() && std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    if args.batch && (format != Format::Parquet || args.max_rows.is_some()) {
        bail!("--batch writes every row as Parquet: leave out --format (or say parquet) and --max-rows");
    }
    let mut as_of = BTreeMap::new();
    for pin in &args.as_of {
        let Some((name, version)) = pin.split_once('=') else { bail!("--as-of takes NAME=VERSION, got {pin:?}") };
        as_of.insert(name.to_owned(), version.to_owned());
    }
    // Locally the operator sets the limits; a server keeps its own and
    // takes only lower ones.
    let mut limits = ServiceLimits::default();
    if args.endpoint.server.is_none() {
        let interactive = &mut limits.interactive;
        interactive.max_rows = args.max_rows.unwrap_or(interactive.max_rows);
        interactive.timeout = args.timeout.unwrap_or(interactive.timeout);
        limits.batch.timeout = args.timeout.unwrap_or(limits.batch.timeout);
    }
    let timeout = args.timeout.unwrap_or(if args.batch { limits.batch.timeout } else { limits.interactive.timeout });
    let remote = args.endpoint.server.is_some();
    let body = QueryBody {
        sql: args.sql.clone(),
        as_of,
        format: None,
        max_rows: if remote { args.max_rows } else { None },
        timeout_ms: if remote { args.timeout.map(|t| t.as_millis() as u64) } else { None },
    };
    block_on(async {
        let service = Service::open(&args.endpoint, timeout, limits).await?;
        if args.batch {
            return batch(&service, body, args.output.as_ref()).await;
        }
        let result = match service.query(body).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(1));
            }
        };
        let bytes = render(&result, format).context("formatting the result")?;
        write_out(args.output.as_ref(), &bytes)?;
        let note = if result.truncated { format!(" (cut at {} rows; more rows matched: --max-rows, or --batch for all)", result.rows) } else { String::new() };
        eprintln!("{} row(s) in {:.1} ms{note}", result.rows, result.elapsed.as_secs_f64() * 1e3);
        Ok(ExitCode::SUCCESS)
    })
}

/// Submit, show progress until it ends, download the result.
async fn batch(service: &Service, body: QueryBody, output: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    if output.is_none() && std::io::stdout().is_terminal() {
        bail!("a batch query's result is Parquet: say where with --output FILE");
    }
    let started = Instant::now();
    let submitted = match service.submit(body).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let mut delay = Duration::from_millis(50);
    let done = loop {
        let b = service.batch(&submitted.id).await?;
        if b.status != "running" {
            break b;
        }
        if terminal {
            eprint!("\rbatch query {}: running, {:.1} s", b.id, started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    };
    if terminal {
        eprint!("\r\x1b[K");
    }
    if done.status != "succeeded" {
        eprintln!("batch query {} FAILED: {}", done.id, done.error.as_deref().unwrap_or("no error recorded"));
        return Ok(ExitCode::from(1));
    }
    let bytes = service.batch_result(&done.id).await?;
    write_out(output, &bytes)?;
    let rows = done.rows.unwrap_or(0);
    let place = output.map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    eprintln!("batch query {}: {rows} row(s), {} bytes of Parquet in {:.1} s -> {place}", done.id, bytes.len(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn write_out(output: Option<&PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display())),
        None => std::io::stdout().write_all(bytes).context("writing the result"),
    }
}

/// `trace datasets --schema`: what the caller can query, with columns.
pub fn schema(endpoint: &Endpoint, json: bool) -> anyhow::Result<ExitCode> {
    block_on(async {
        let service = Service::open(endpoint, QueryLimits::default().timeout, ServiceLimits::default()).await?;
        let tables = service.tables().await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&tables)?);
            return Ok(ExitCode::SUCCESS);
        }
        for t in &tables {
            let version = t.version.as_deref().unwrap_or("(no current version)");
            println!("{}  version {version}  {} partition(s), {} row(s), {} bytes", t.name, t.partitions, t.rows, t.bytes);
            if t.columns.is_empty() {
                println!("    (no data yet)");
            }
            for c in &t.columns {
                println!("    {:<32} {}", c.name, c.data_type);
            }
        }
        if tables.is_empty() {
            println!("no datasets to query (a DAG's `publish:` entries make them)");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn storage(e: &Endpoint) -> anyhow::Result<trace_storage::Storage> {
    if let Some(url) = &e.storage {
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
        return crate::distributed::open_storage(url, &region);
    }
    let Some(path) = e.target.db.strip_prefix("sqlite:") else {
        bail!("--storage is needed with a PostgreSQL system database (file:///PATH or s3://BUCKET)");
    };
    let objects = PathBuf::from(path).with_extension("objects");
    if !objects.is_dir() {
        bail!("no objects directory {} beside the database; say where the files are with --storage", objects.display());
    }
    trace_storage::Storage::local(&objects).context("opening the objects directory")
}
