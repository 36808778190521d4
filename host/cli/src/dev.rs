//! `trace dev`: run a DAG end to end in this process and show it flowing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use trace_control::dev::{self, DevRun, Progress};
use trace_core::units::{parse_duration, parse_nonempty_range};

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// The DAG file.
    pub dag: PathBuf,
    /// Directory that operator paths in the DAG are relative to
    /// [default: the DAG file's directory].
    #[arg(long, value_name = "DIR")]
    pub operators: Option<PathBuf>,
    /// Range every source job is triggered over, START..END.
    #[arg(long, default_value = "0..100000", value_name = "START..END", value_parser = parse_nonempty_range)]
    pub range: (u64, u64),
    /// The SQLite database file [default: a fresh temporary one].
    #[arg(long, value_name = "FILE")]
    pub database: Option<PathBuf>,
    /// Directory task outputs are written to [default: next to the
    /// database, `<database>.objects`].
    #[arg(long, value_name = "DIR")]
    pub storage: Option<PathBuf>,
    /// Worker tasks running operators concurrently.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Give up if tasks are still open after this long.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// An alert destination for the DAG's routing jobs, NAME=URL
    /// (repeatable). Webhooks are signed with TRACE_WEBHOOK_SECRET (`whsec_…`)
    /// or, without it, a new secret printed at the start.
    #[arg(long = "destination", value_name = "NAME=URL", value_parser = parse_destination)]
    pub destinations: Vec<(String, String)>,
    /// An org secret for the DAG's worker slots, NAME=ENV: the value is read
    /// from environment variable ENV (never from the command line, which
    /// other users of the machine can see). Repeatable.
    #[arg(long = "secret", value_name = "NAME=ENV", value_parser = parse_secret)]
    pub secrets: Vec<(String, String)>,
    /// Trigger each source in runs of N units (one task each, run at once
    /// within the job's scaling and pool), as `trace backfill --chunk` does
    /// [default: one run over the whole range].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics while the run lasts
    /// (`off` for none).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub metrics: String,
    /// Serve the web console (and the public API) at http://ADDR/console
    /// while the run lasts, with an admin token printed to sign in with
    /// (`off` for none).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub console: String,
    /// Keep serving the console after the run, until Ctrl-C.
    #[arg(long)]
    pub stay: bool,
    /// Meter fuel in every task (`trace usage` and `trace task` then show
    /// what each burned); costs some speed (see docs/performance.md).
    #[arg(long)]
    pub fuel: bool,
}

fn parse_secret(text: &str) -> Result<(String, String), String> {
    let (name, var) = text.split_once('=').ok_or_else(|| format!("expected NAME=ENV (the environment variable holding the value), got {text:?}"))?;
    trace_secrets::check_name(name).map_err(|e| e.to_string())?;
    if var.is_empty() {
        return Err(format!("expected NAME=ENV, got {text:?}"));
    }
    Ok((name.to_owned(), var.to_owned()))
}

fn parse_destination(text: &str) -> Result<(String, String), String> {
    let (name, url) = text.split_once('=').ok_or_else(|| format!("expected NAME=URL, got {text:?}"))?;
    trace_delivery::destination::check(name, url, 4, 6000).map_err(|e| e.to_string())?;
    Ok((name.to_owned(), url.to_owned()))
}

fn line(p: &Progress) -> String {
    let counts: Vec<String> = p.counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!("[{:>6.1}s] tasks: {} | events: {}", p.elapsed.as_secs_f64(), counts.join(", "), p.events)
}

pub fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let yaml = std::fs::read_to_string(&args.dag).with_context(|| format!("reading {}", args.dag.display()))?;
    let dag = match trace_dag::parse(&args.dag.display().to_string(), &yaml) {
        Ok(dag) => dag,
        Err(e) => {
            eprintln!("invalid DAG: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let range = args.range;
    let operators = args
        .operators
        .clone()
        .unwrap_or_else(|| args.dag.parent().map(PathBuf::from).unwrap_or_default());
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let database = args.database.clone().unwrap_or_else(|| temp.path().join("trace-dev.db"));
    let objects = args.storage.clone().unwrap_or_else(|| database.with_extension("objects"));
    let storage = trace_storage::Storage::local(&objects).context("opening the object storage directory")?;
    println!("trace dev: DAG `{}` ({} jobs), sources over {}..{}, SQLite at {}", dag.name, dag.jobs.len(), range.0, range.1, database.display());
    println!("outputs under {}", objects.display());

    let webhook_secret = match (args.destinations.is_empty(), std::env::var("TRACE_WEBHOOK_SECRET")) {
        (true, _) => None,
        (false, Ok(text)) => Some(trace_delivery::WebhookSecret::parse(text.trim()).context("TRACE_WEBHOOK_SECRET")?),
        (false, Err(_)) => {
            let secret = trace_delivery::WebhookSecret::generate();
            println!("webhooks are signed with {} (set TRACE_WEBHOOK_SECRET to choose one)", secret.expose());
            Some(secret)
        }
    };
    for (name, url) in &args.destinations {
        println!("alerts routed to `{name}` are sent to {url}");
    }
    let mut secrets = Vec::new();
    for (name, var) in &args.secrets {
        let value = std::env::var(var).with_context(|| format!("--secret {name}={var}: environment variable {var} is not set"))?;
        secrets.push((name.clone(), value));
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if args.metrics != "off" {
        let addr: std::net::SocketAddr = args.metrics.parse().with_context(|| format!("--metrics {:?} is not ADDR:PORT or `off`", args.metrics))?;
        let at = runtime.block_on(trace_control::metrics::serve(addr)).with_context(|| format!("serving metrics on {addr}"))?;
        println!("metrics at http://{at}/metrics");
    }
    let org = format!("dev_{}", trace_store::now_millis());
    let console = match args.console.as_str() {
        "off" => None,
        text => {
            let addr: std::net::SocketAddr = text.parse().with_context(|| format!("--console {text:?} is not ADDR:PORT or `off`"))?;
            let console = runtime.block_on(crate::console::serve(&database, &objects, &org, addr))?;
            println!("console at {} (sign in with the token {})", console.url, console.token);
            Some(console)
        }
    };
    // Print a progress line only when the counts move, not every poll.
    let mut last = None;
    let outcome = runtime.block_on(dev::run(
        DevRun {
            dag: &dag,
            yaml: &yaml,
            operators: &operators,
            database: &database,
            range,
            workers: args.workers,
            timeout: args.timeout,
            cache_dir: crate::op::run::default_cache_dir(),
            poll: Duration::from_millis(100),
            storage: Some(storage),
            destinations: args.destinations.clone(),
            webhook_secret,
            secrets,
            chunk: args.chunk,
            fuel: args.fuel,
            org: Some(org.clone()),
        },
        |p| {
            let seen = Some((p.counts.clone(), p.events));
            if seen != last {
                println!("{}", line(p));
                last = seen;
            }
        },
    ));
    let finished = outcome.context("running the DAG")?;
    let code = report(&args, &runtime, &finished, &dag, &database, &objects)?;
    if let (true, Some(console)) = (args.stay, &console) {
        println!("the console stays up at {}; Ctrl-C to stop", console.url);
        runtime.block_on(async { tokio::signal::ctrl_c().await }).context("waiting for Ctrl-C")?;
    }
    Ok(code)
}

/// What the run did, printed; the exit code says whether it all succeeded.
fn report(args: &DevArgs, runtime: &tokio::runtime::Runtime, finished: &dev::Finished, dag: &trace_dag::Dag, database: &std::path::Path, objects: &std::path::Path) -> anyhow::Result<ExitCode> {
    let done = &finished.progress;
    println!("done: DAG `{}` v{} in {:.1}s — {}", dag.name, finished.deployed.version, done.elapsed.as_secs_f64(), line(done));
    if !finished.deliveries.is_empty() {
        let counts: Vec<String> = finished.deliveries.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!("alert deliveries: {}", counts.join(", "));
        if args.database.is_some() {
            println!("see them: trace deliveries list --db sqlite:{} --org {}", database.display(), finished.org);
        }
    }
    if finished.failed() == 0 {
        if dag.publish.iter().any(|p| !p.is_buffered()) {
            let shown = runtime.block_on(published(database, objects, &finished.org, dag))?;
            print!("{shown}");
            if args.database.is_some() && shown.contains("published (queried") {
                let first = &dag.publish.iter().rfind(|p| !p.is_buffered()).expect("one is published").dataset;
                println!("query it: trace query \"SELECT * FROM {first} LIMIT 10\" --db sqlite:{} --org {}", database.display(), finished.org);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprint!("{}", failures(finished));
    if args.database.is_some() {
        let first = finished.failures.first().map_or(0, |t| t.id);
        eprintln!("inspect: trace task {first} --db sqlite:{} --org {}", database.display(), finished.org);
    }
    // The last line says it: what those tasks would have written is missing.
    eprintln!("trace dev FAILED: {} task(s) failed; their outputs and everything downstream of them are missing", finished.failed());
    Ok(ExitCode::from(1))
}

/// What the run published, read back through the Query Service: rows per
/// dataset.
async fn published(database: &std::path::Path, objects: &std::path::Path, org: &str, dag: &trace_dag::Dag) -> anyhow::Result<String> {
    use trace_store::Store as _;
    let db = trace_store::Db::open(&format!("sqlite:{}", database.display())).await.context("reopening the dev database")?;
    let org = db.org_id(org).await?.context("the dev run's org is gone")?;
    let storage = trace_storage::Storage::local(objects).context("opening the objects directory")?;
    let cache = tempfile::tempdir().context("creating the query's file cache")?;
    let db = std::sync::Arc::new(db);
    let service = trace_query::QueryService::new(db.clone(), storage, cache.path().to_owned(), trace_query::ServiceLimits::default())?.with_runner(crate::query_runner::runner());
    let caller = trace_query::Caller { org, user: None };
    // Datasets still without a file (nothing written yet) have no columns
    // to query; they are listed as such.
    let mut empty = Vec::new();
    let mut selects = Vec::new();
    for p in dag.publish.iter().filter(|p| !p.is_buffered()) {
        if trace_store::Registry::partitions(db.as_ref(), org, &p.dataset).await?.is_empty() {
            empty.push(p.dataset.clone());
        } else {
            selects.push(format!("SELECT '{0}' AS dataset, count(*) AS \"rows\" FROM {0}", p.dataset));
        }
    }
    let none = if empty.is_empty() { String::new() } else { format!("published, no files yet: {}\n", empty.join(", ")) };
    if selects.is_empty() {
        return Ok(none);
    }
    let sql = selects.join(" UNION ALL ") + " ORDER BY dataset";
    let request = trace_query::QueryRequest { sql: sql.clone(), ..Default::default() };
    let result = service.query(&caller, request).await.with_context(|| format!("querying what the run published: {sql}"))?;
    let table = trace_query::render(&result, trace_query::Format::Table).context("formatting the query result")?;
    Ok(format!("{none}published (queried: {sql}):\n{}", String::from_utf8_lossy(&table)))
}

/// Why tasks failed: the newest few, one line each.
fn failures(finished: &dev::Finished) -> String {
    let (failed, shown) = (finished.failed(), finished.failures.len());
    let mut out = if failed as usize > shown { format!("{failed} tasks failed; the newest {shown}:\n") } else { format!("{failed} task(s) failed:\n") };
    for t in &finished.failures {
        let range = t.event_range.map(|(s, e)| format!(" [{s}, {e})")).unwrap_or_default();
        let error = t.last_error.as_deref().unwrap_or("no error recorded");
        out.push_str(&format!("  task {} ({}{range}, {} attempt(s)): {error}\n", t.id, t.job_name, t.attempts));
    }
    out
}
