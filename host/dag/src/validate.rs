//! Whole-DAG checks beyond the YAML shape: names, references, indexes,
//! cycles, single producers, and refused features.

use std::collections::{BTreeMap, BTreeSet};

use trace_core::units::parse_duration;

use crate::error::Problem;
use crate::model::{Capability, Dag, InputSource, Job, JobKind, UpdateStrategy};
use crate::model::TableSchema;
use crate::names::{is_valid_dataset_name, is_valid_job_name};

/// Upper bounds that keep one DAG file from asking for unbounded work.
pub const MAX_JOBS: usize = 1_000;
pub const MAX_OUTPUTS: u32 = 64;
pub const MAX_ATTEMPTS: u32 = 100;
pub const MAX_CONCURRENCY: u32 = 10_000;
pub const MAX_SLOTS: usize = 10_000;
pub const MAX_UNIQUE_KEY_COLUMNS: usize = 16;

pub(crate) fn validate(dag: &Dag) -> Result<(), Problem> {
    if !is_valid_job_name(&dag.name) {
        return Err(Problem::at("name", &dag.name, format!("DAG name {:?} must match ^[a-z][a-z0-9_]{{0,63}}$", dag.name)));
    }
    if dag.jobs.is_empty() {
        return Err(Problem { anchor: None, message: "a DAG needs at least one job".into() });
    }
    if dag.jobs.len() > MAX_JOBS {
        return Err(Problem { anchor: None, message: format!("too many jobs: got={}, limit={MAX_JOBS}", dag.jobs.len()) });
    }
    for (name, pool) in &dag.worker_pools {
        if !is_valid_job_name(name) {
            return Err(Problem::at(name.as_str(), "", format!("worker pool name {name:?} must match ^[a-z][a-z0-9_]{{0,63}}$")));
        }
        if pool.slots.is_empty() || pool.slots.len() > MAX_SLOTS {
            return Err(Problem::at(name.as_str(), "", format!("worker pool `{name}` must have between 1 and {MAX_SLOTS} slots, has {}", pool.slots.len())));
        }
    }
    let mut seen = BTreeSet::new();
    for job in &dag.jobs {
        if !seen.insert(job.name.as_str()) {
            return Err(Problem::at("name", &job.name, format!("job `{}` is defined twice", job.name)));
        }
    }
    for job in &dag.jobs {
        check_job(dag, job)?;
    }
    check_acyclic(dag)?;
    check_publish(dag)
}

/// A job's `rpc:` block: its own bounds, the capability, and every `${NAME}`
/// it uses defined (as env or secret_env) in each slot of the job's pool.
fn check_rpc(dag: &Dag, job: &Job, rpc: &crate::model::RpcSettings) -> Result<(), String> {
    if !job.capabilities.contains(&Capability::Rpc) {
        return Err("an `rpc:` block needs `capabilities: [rpc]`".into());
    }
    rpc.check()?;
    parse_duration(&rpc.timeout).map_err(|e| format!("rpc.timeout: {e}"))?;
    let names = rpc.references()?;
    let Some(pool) = job.pool.as_ref().and_then(|p| dag.worker_pools.get(p)) else {
        return match names.first() {
            Some(n) => Err(format!("rpc refers to ${{{n}}} but the job has no worker pool whose slots define it")),
            None => Ok(()),
        };
    };
    for (index, slot) in pool.slots.iter().enumerate() {
        if let Some(n) = names.iter().find(|n| !slot.env.contains_key(*n) && !slot.secret_env.contains_key(*n)) {
            return Err(format!("rpc refers to ${{{n}}}, which slot {index} of pool `{}` does not define (env or secret_env)", job.pool.as_deref().unwrap_or_default()));
        }
    }
    Ok(())
}

fn check_job(dag: &Dag, job: &Job) -> Result<(), Problem> {
    let at = |message: String| Problem::at("name", &job.name, message);
    let name = &job.name;
    if !is_valid_job_name(name) {
        return Err(at(format!("job name {name:?} must match ^[a-z][a-z0-9_]{{0,63}}$")));
    }
    if let Some(strategy) = &job.execution_strategy {
        let message = if strategy.eq_ignore_ascii_case("bulk") {
            format!("job `{name}`: execution_strategy: Bulk is not supported; model batching explicitly with range_aggregator / range_splitter operators")
        } else {
            format!("job `{name}`: unknown execution_strategy {strategy:?}; the dispatcher runs one task per event")
        };
        return Err(Problem::at("execution_strategy", strategy, message));
    }
    if job.operator.trim().is_empty() {
        return Err(at(format!("job `{name}` has an empty operator")));
    }
    if let Some(hex) = job.operator.strip_prefix("sha256:")
        && (hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(at(format!("job `{name}`: operator {:?} is not sha256: followed by 64 hex characters", job.operator)));
        }
    if job.outputs == 0 || job.outputs > MAX_OUTPUTS {
        return Err(at(format!("job `{name}`: outputs must be between 1 and {MAX_OUTPUTS}, got {}", job.outputs)));
    }
    if job.max_attempts == 0 || job.max_attempts > MAX_ATTEMPTS {
        return Err(at(format!("job `{name}`: max_attempts must be between 1 and {MAX_ATTEMPTS}, got {}", job.max_attempts)));
    }
    if job.scaling.max_concurrency == 0 || job.scaling.max_concurrency > MAX_CONCURRENCY {
        return Err(at(format!("job `{name}`: scaling.max_concurrency must be between 1 and {MAX_CONCURRENCY}, got {}", job.scaling.max_concurrency)));
    }
    if let Err(e) = parse_duration(&job.timeout) {
        return Err(at(format!("job `{name}`: timeout: {e}")));
    }
    if let Some(pool) = &job.pool
        && !dag.worker_pools.contains_key(pool) {
            return Err(at(format!("job `{name}` uses worker pool `{pool}`, which is not defined under worker_pools")));
        }
    if job.capabilities.contains(&Capability::Rpc) && job.kind != JobKind::Source {
        return Err(at(format!("job `{name}`: the rpc capability is granted only to `kind: source` jobs")));
    }
    if let Some(rpc) = &job.rpc {
        check_rpc(dag, job, rpc).map_err(|e| at(format!("job `{name}`: {e}")))?;
    }
    match job.update_strategy {
        UpdateStrategy::Append if job.unique_key.is_empty() => {
            return Err(at(format!("job `{name}`: update_strategy append needs a unique_key to deduplicate by")));
        }
        UpdateStrategy::Replace if !job.unique_key.is_empty() => {
            return Err(at(format!("job `{name}`: unique_key applies only to update_strategy append")));
        }
        _ => {}
    }
    if job.unique_key.len() > MAX_UNIQUE_KEY_COLUMNS {
        return Err(at(format!(
            "job `{name}`: unique_key has too many columns: got={}, limit={MAX_UNIQUE_KEY_COLUMNS}",
            job.unique_key.len()
        )));
    }
    for (i, column) in job.unique_key.iter().enumerate() {
        if column.is_empty() || column.len() > 256 {
            return Err(at(format!("job `{name}`: unique_key column {i} must have 1 to 256 characters, got {}", column.len())));
        }
        if job.unique_key[..i].contains(column) {
            return Err(at(format!("job `{name}`: unique_key names column `{column}` twice")));
        }
    }
    if job.kind == JobKind::Transform && job.inputs.is_empty() {
        return Err(at(format!("job `{name}` is a transform with no inputs; a job without inputs must be `kind: source`")));
    }
    for (index, input) in job.inputs.iter().enumerate() {
        match &input.from {
            InputSource::Job { job: upstream, output } => {
                let Some(up) = dag.job(upstream) else {
                    return Err(at(format!("job `{name}` input {index} reads job `{upstream}`, which does not exist")));
                };
                if *output >= up.outputs {
                    return Err(at(format!(
                        "job `{name}` input {index} reads output {output} of job `{upstream}`, which has {} output(s)",
                        up.outputs
                    )));
                }
            }
            InputSource::Dataset { dataset } => {
                if !is_valid_dataset_name(dataset) {
                    return Err(at(format!("job `{name}` input {index}: dataset name {dataset:?} must match ^[a-z][a-z0-9_]{{0,127}}$")));
                }
            }
        }
    }
    Ok(())
}

/// Jobs wired through `inputs: from: {job}` must form no cycle.
fn check_acyclic(dag: &Dag) -> Result<(), Problem> {
    let edges: BTreeMap<&str, Vec<&str>> = dag
        .jobs
        .iter()
        .map(|j| {
            let ups = j.inputs.iter().filter_map(|i| match &i.from {
                InputSource::Job { job, .. } => Some(job.as_str()),
                InputSource::Dataset { .. } => None,
            });
            (j.name.as_str(), ups.collect())
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        path.push(node);
        for up in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(up, edges, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for job in &dag.jobs {
        let mut path = Vec::new();
        if let Some(mut cycle) = visit(&job.name, &edges, &mut marks, &mut path) {
            // Report in data-flow order: upstream → downstream.
            cycle.reverse();
            let first = cycle[0].to_owned();
            return Err(Problem::at("name", first, format!("jobs form a cycle: {}", cycle.join(" -> "))));
        }
    }
    Ok(())
}

fn check_publish(dag: &Dag) -> Result<(), Problem> {
    let mut producers: BTreeMap<&str, (&str, Option<TableSchema>)> = BTreeMap::new();
    for p in &dag.publish {
        let at = |message: String| Problem::at("dataset", &p.dataset, message);
        if !is_valid_dataset_name(&p.dataset) {
            return Err(at(format!("dataset name {:?} must match ^[a-z][a-z0-9_]{{0,127}}$", p.dataset)));
        }
        let Some(job) = dag.job(&p.job) else {
            return Err(at(format!("publish of `{}` names job `{}`, which does not exist", p.dataset, p.job)));
        };
        if p.output_index >= job.outputs {
            return Err(at(format!(
                "publish of `{}` names output {} of job `{}`, which has {} output(s)",
                p.dataset, p.output_index, p.job, job.outputs
            )));
        }
        let buffered = match p.table_schema() {
            None => {
                if p.schema.is_some() || !p.columns.is_empty() || !p.unique_key.is_empty() {
                    return Err(at(format!("`schema`, `columns` and `unique_key` are for `storage: buffered` datasets; `{}` is Parquet", p.dataset)));
                }
                None
            }
            Some(schema) => {
                let schema = schema.map_err(|m| at(format!("dataset `{}`: {m}", p.dataset)))?;
                check_table_schema(&schema).map_err(|m| at(format!("dataset `{}`: {m}", p.dataset)))?;
                Some(schema)
            }
        };
        // Several jobs may write one buffered dataset (its unique key makes
        // their writes idempotent), if they all declare the same table.
        if let Some((first, first_schema)) = producers.insert(&p.dataset, (&p.job, buffered.clone())) {
            match (first_schema, &buffered) {
                (Some(a), Some(b)) if a == *b => {}
                (Some(_), Some(_)) => {
                    return Err(at(format!("buffered dataset `{}` is declared twice with different schemas (by `{first}` and `{}`)", p.dataset, p.job)));
                }
                _ => {
                    return Err(at(format!(
                        "dataset `{}` is published twice (by `{first}` and `{}`); a Parquet dataset has exactly one producer",
                        p.dataset, p.job
                    )));
                }
            }
        }
        if buffered.is_some() && dag.publish.iter().filter(|q| q.job == p.job && q.output_index == p.output_index).count() > 1 {
            return Err(at(format!("output {} of job `{}` is published more than once", p.output_index, p.job)));
        }
    }
    Ok(())
}

/// A buffered table's declared columns: names the system database can
/// take as they are, no bookkeeping (`_…`) names, a unique key of them.
fn check_table_schema(schema: &TableSchema) -> Result<(), String> {
    use trace_protocol::buffered::MAX_COLUMNS;
    if schema.columns.is_empty() || schema.columns.len() > MAX_COLUMNS {
        return Err(format!("a buffered dataset has 1 to {MAX_COLUMNS} columns, got {}", schema.columns.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &schema.columns {
        if !is_valid_job_name(&c.name) {
            return Err(format!("column name {:?} must match ^[a-z][a-z0-9_]{{0,63}}$", c.name));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(format!("column `{}` is declared twice", c.name));
        }
    }
    if schema.unique_key.is_empty() {
        return Err("a buffered dataset needs a `unique_key` (its writers' retries are dropped by it)".into());
    }
    for k in &schema.unique_key {
        match schema.column(k) {
            None => return Err(format!("unique_key column `{k}` is not one of its columns")),
            Some(c) if !c.required => return Err(format!("unique_key column `{k}` must be `required: true` (a null never matches)")),
            Some(_) => {}
        }
    }
    Ok(())
}
