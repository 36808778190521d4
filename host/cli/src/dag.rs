//! `trace dag …`: DAG files.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use trace_dag::{materialization_hash, InputSource};

/// `trace dag check FILE`: exit 0 and a summary, or the error with its line
/// and exit 1.
pub fn check(file: &Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let dag = match trace_dag::parse(&file.display().to_string(), &text) {
        Ok(dag) => dag,
        Err(e) => {
            eprintln!("invalid DAG: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    println!("DAG `{}`: {} job(s), {} worker pool(s)", dag.name, dag.jobs.len(), dag.worker_pools.len());
    for job in &dag.jobs {
        let inputs: Vec<String> = job
            .inputs
            .iter()
            .map(|i| match &i.from {
                InputSource::Job { job, output } => format!("{job}[{output}]"),
                InputSource::Dataset { dataset } => format!("dataset {dataset}"),
            })
            .collect();
        let from = if inputs.is_empty() { String::new() } else { format!(" <- {}", inputs.join(", ")) };
        println!(
            "  {} ({:?}, concurrency {}){from}  {}",
            job.name,
            job.kind,
            job.effective_concurrency(&dag),
            materialization_hash(job)
        );
    }
    for p in &dag.publish {
        println!("  publish {}[{}] as {}", p.job, p.output_index, p.dataset);
    }
    Ok(ExitCode::SUCCESS)
}
