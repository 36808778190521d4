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

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
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
    let done = &finished.progress;
    println!("done: DAG `{}` v{} in {:.1}s — {}", dag.name, finished.deployed.version, done.elapsed.as_secs_f64(), line(done));
    if finished.failed() == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    eprint!("{}", failures(&finished));
    if args.database.is_some() {
        let first = finished.failures.first().map_or(0, |t| t.id);
        eprintln!("inspect: trace task {first} --db sqlite:{} --org {}", database.display(), finished.org);
    }
    Ok(ExitCode::from(1))
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
