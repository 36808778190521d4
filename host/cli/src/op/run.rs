//! `trace op run`: run one component on local files, exactly as a worker
//! would (same runtime, same limits), and report what happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use trace_batches::{write_parquet, ParquetSource};
use trace_core::{InputEvent, Range, TaskContext};
use trace_sandbox::{EngineConfig, Limits, MemoryState, Runtime, RuntimeConfig, Task, TaskFailure, TaskReport, Usage, World};

use trace_core::units::{human_bytes, parse_bytes, parse_duration, parse_range};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum WorldArg {
    Transform,
    Source,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The operator component (.wasm).
    pub component: PathBuf,
    /// A Parquet file for the next input index (repeat for several inputs).
    #[arg(long = "input", value_name = "PARQUET")]
    pub inputs: Vec<PathBuf>,
    /// The triggering event as JSON, e.g. '{"partition_key":"0_100","range":{"start":0,"end":100}}'.
    #[arg(long, value_name = "JSON", conflicts_with = "range")]
    pub event: Option<String>,
    /// Shorthand for an event covering START..END (partition key `START_END`).
    #[arg(long, value_name = "START..END")]
    pub range: Option<String>,
    /// The job's config as JSON, or @path to read it from a file.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub config: String,
    /// Where outputs are written, as output-<index>.parquet.
    #[arg(long, default_value = "trace-out")]
    pub out_dir: PathBuf,
    /// Number of outputs the job has.
    #[arg(long, default_value_t = 1)]
    pub outputs: usize,
    /// A JSON file of operator state (key → hex bytes), read before the run
    /// and updated only if it succeeds; lets stateful operators run in series.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The world to link: `source` also grants the rpc capability.
    #[arg(long, value_enum, default_value = "transform")]
    pub world: WorldArg,
    /// Wall-time limit (e.g. 500ms, 30s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Deterministic CPU budget in fuel units (turns on fuel metering).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Linear-memory limit (e.g. 64MiB).
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    pub max_memory: u64,
    /// Output-bytes limit across all outputs.
    #[arg(long, default_value = "512MiB", value_parser = parse_bytes)]
    pub max_output: u64,
    /// Output-rows limit across all outputs (a batch may hold at most
    /// 1,048,576 rows).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_output_rows: u64,
    /// Maximum number of events.
    #[arg(long, default_value_t = 10_000)]
    pub max_events: u32,
    /// Bytes (keys plus values) the state file may hold after the run.
    #[arg(long, default_value = "128MiB", value_parser = parse_bytes)]
    pub max_state: u64,
    /// Rows per input batch handed to the guest.
    #[arg(long, default_value_t = 8192)]
    pub batch_rows: usize,
    /// Where compiled components are cached between runs
    /// [default: $XDG_CACHE_HOME/trace/components or ~/.cache/trace/components].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the component afresh and keep nothing on disk.
    #[arg(long)]
    pub no_cache: bool,
}

/// The compiled-component cache directory for this run, if any.
fn cache_dir(args: &RunArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    if let Some(dir) = &args.cache_dir {
        return Some(dir.clone());
    }
    default_cache_dir()
}

/// `$XDG_CACHE_HOME/trace/components`, else `~/.cache/trace/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("trace").join("components"))
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(&args.config)?;
    let event = build_event(args.event.as_deref(), args.range.as_deref())?;
    let state = read_state(args.state.as_deref())?;
    let runtime = Runtime::new(RuntimeConfig {
        engine: EngineConfig::default().with_fuel(args.fuel.is_some()),
        cache_dir: cache_dir(&args),
        ..RuntimeConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:?}"))
    .context("starting the sandbox")?;
    let world = match args.world {
        WorldArg::Transform => World::Transform,
        WorldArg::Source => World::Source,
    };
    let operator = runtime.load_file(&args.component, world).context("loading the component")?;

    let mut limits = Limits::default()
        .with_timeout(args.timeout)
        .with_max_memory_bytes(usize::try_from(args.max_memory).unwrap_or(usize::MAX))
        .with_max_output_bytes(args.max_output)
        .with_max_output_rows(args.max_output_rows)
        .with_max_events(args.max_events)
        .with_max_job_state_bytes(args.max_state);
    limits.fuel = args.fuel;
    let job = args.component.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut task = Task::new(TaskContext::local(&job, config), event)
        .with_outputs(args.outputs)
        .with_state(state.clone())
        .with_limits(limits);
    for path in &args.inputs {
        task = task.with_input(ParquetSource::open(path, args.batch_rows).context("opening an input")?);
    }

    println!("running {} ({})", args.component.display(), operator.digest());
    match operator.run(task) {
        Ok(report) => {
            commit(&args, report, state)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            print_failure(&failure);
            Ok(ExitCode::from(1))
        }
    }
}

fn commit(args: &RunArgs, report: TaskReport, mut state: MemoryState) -> anyhow::Result<()> {
    println!("events ({}):", report.events.len());
    for e in &report.events {
        let range = e.range.map(|r| format!(" range=[{}, {})", r.start, r.end)).unwrap_or_default();
        let cursor = e.cursor.as_ref().map(|c| format!(" cursor={c}")).unwrap_or_default();
        println!("  output={} partition_key={}{range}{cursor}", e.output, e.partition_key);
    }
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating {}", args.out_dir.display()))?;
    println!("outputs:");
    for (index, batches) in report.outputs.iter().enumerate() {
        let path = args.out_dir.join(format!("output-{index}.parquet"));
        let rows = write_parquet(&path, batches).with_context(|| format!("writing output {index}"))?;
        if rows == 0 {
            println!("  output {index}: no rows");
        } else {
            println!("  output {index}: {rows} rows -> {}", path.display());
        }
    }
    if let Some(path) = &args.state {
        state.apply(report.state_writes);
        write_state(path, &state)?;
        println!("state: {} key(s) -> {}", state.0.len(), path.display());
    }
    print_usage(&report.usage);
    print_log(&report.log);
    Ok(())
}

fn print_failure(f: &TaskFailure) {
    println!("task failed: {}", f.error);
    let retry = if f.error.is_retryable() { "would be retried" } else { "would not be retried" };
    println!("  ({retry}; no outputs, events or state were kept)");
    print_usage(&f.usage);
    print_log(&f.log);
}

fn print_usage(u: &Usage) {
    let fuel = u.fuel_consumed.map_or("off".to_owned(), |f| f.to_string());
    println!(
        "usage: time {:.2?}, fuel {fuel}, peak memory {}, output {}, events {}, log {}",
        u.elapsed,
        human_bytes(u.peak_memory_bytes as u64),
        human_bytes(u.output_bytes),
        u.events,
        human_bytes(u.log_bytes),
    );
}

fn print_log(log: &str) {
    if !log.is_empty() {
        println!("log:");
        for line in log.lines() {
            println!("  {line}");
        }
    }
}

fn read_config(arg: &str) -> anyhow::Result<serde_json::Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).context("--config is not valid JSON")
}

fn build_event(json: Option<&str>, range: Option<&str>) -> anyhow::Result<InputEvent> {
    if let Some(json) = json {
        return serde_json::from_str(json).context("--event is not a valid event (fields: input, partition_key, range {start, end}, cursor)");
    }
    let Some(range) = range else { return Ok(InputEvent::default()) };
    let (start, end) = parse_range(range).map_err(|e| anyhow::anyhow!("--range: {e}"))?;
    Ok(InputEvent { input: 0, partition_key: format!("{start}_{end}"), range: Some(Range { start, end }), cursor: None })
}

fn read_state(path: Option<&Path>) -> anyhow::Result<MemoryState> {
    let Some(path) = path else { return Ok(MemoryState::default()) };
    if !path.exists() {
        return Ok(MemoryState::default());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading state file {}", path.display()))?;
    let map: BTreeMap<String, String> = serde_json::from_str(&text).with_context(|| format!("{} is not a state file", path.display()))?;
    let mut state = MemoryState::default();
    for (k, v) in map {
        let bytes = hex::decode(&v).with_context(|| format!("state key {k:?} is not hex"))?;
        state.0.insert(k, bytes);
    }
    Ok(state)
}

fn write_state(path: &Path, state: &MemoryState) -> anyhow::Result<()> {
    let map: BTreeMap<&String, String> = state.0.iter().map(|(k, v)| (k, hex::encode(v))).collect();
    let text = serde_json::to_string_pretty(&map)?;
    std::fs::write(path, text).with_context(|| format!("writing state file {}", path.display()))
}
