//! `trace query "SQL"`: SQL over the org's published datasets, on the
//! system database directly (an operator of the deployment, trusted like an
//! admin), each dataset pinned to its current version or `--as-of` one.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use trace_query::{render, Caller, Files, Format, QueryLimits, QueryRequest};

use crate::admin::{block_on, open, org, Target};

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// One read-only statement; datasets are tables by name
    /// (`SELECT count(*) FROM erc20_transfers`).
    pub sql: String,
    /// table (on a terminal), json, csv or arrow (an Arrow IPC stream).
    #[arg(long, value_parser = ["table", "json", "csv", "arrow"])]
    pub format: Option<String>,
    /// Write the result here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read a dataset at a past version: NAME=VERSION_UUID (repeatable;
    /// `trace datasets` shows the current ones).
    #[arg(long = "as-of", value_name = "NAME=VERSION")]
    pub as_of: Vec<String>,
    /// Most rows returned; the rest are cut off and a note says so.
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: usize,
    /// Wall-time limit (e.g. 30s).
    #[arg(long, default_value = "30s", value_parser = trace_core::units::parse_duration)]
    pub timeout: Duration,
    /// Where the datasets' files are: file:///PATH or s3://BUCKET
    /// [default: the objects directory beside a SQLite system database,
    /// as `trace dev` makes it].
    #[arg(long, env = "TRACE_STORAGE")]
    pub storage: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format.as_deref() {
        Some(f) => f.parse::<Format>().map_err(anyhow::Error::msg)?,
        None if args.output.is_none() && std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    let mut as_of = BTreeMap::new();
    for pin in &args.as_of {
        let Some((name, version)) = pin.split_once('=') else { bail!("--as-of takes NAME=VERSION, got {pin:?}") };
        as_of.insert(name.to_owned(), version.to_owned());
    }
    let storage = storage(&args)?;
    let cache = tempfile::tempdir().context("creating the query's file cache")?;
    let files = Files { storage, cache_dir: cache.path().to_owned(), max_fetch_bytes: 8 << 30 };
    let limits = QueryLimits { max_rows: args.max_rows, timeout: args.timeout, ..QueryLimits::default() };
    let request = QueryRequest { sql: args.sql.clone(), as_of, limits };
    let result = block_on(async {
        let db = open(&args.target).await?;
        let caller = Caller { org: org(&db, &args.target).await?, user: None };
        Ok(trace_query::query(&db, &files, &caller, request).await)
    })?;
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let bytes = render(&result, format).context("formatting the result")?;
    match &args.output {
        Some(path) => std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().write_all(&bytes).context("writing the result")?,
    }
    let note = if result.truncated { format!(" (cut at --max-rows {}; more rows matched)", args.max_rows) } else { String::new() };
    eprintln!("{} row(s) in {:.1} ms{note}", result.rows, result.elapsed.as_secs_f64() * 1e3);
    Ok(ExitCode::SUCCESS)
}

fn storage(args: &QueryArgs) -> anyhow::Result<trace_storage::Storage> {
    if let Some(url) = &args.storage {
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
        return crate::distributed::open_storage(url, &region);
    }
    let Some(path) = args.target.db.strip_prefix("sqlite:") else {
        bail!("--storage is needed with a PostgreSQL system database (file:///PATH or s3://BUCKET)");
    };
    let objects = PathBuf::from(path).with_extension("objects");
    if !objects.is_dir() {
        bail!("no objects directory {} beside the database; say where the files are with --storage", objects.display());
    }
    trace_storage::Storage::local(&objects).context("opening the objects directory")
}
