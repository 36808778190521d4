//! Stage one of an attempt: everything the operator needs, gathered before
//! it starts. The operator (one loader for files and digests), its world
//! from the task's kind, its config (which must be JSON), its inputs and,
//! for `append` outputs, the files it adds to.

use std::time::Duration;

use trace_core::{InputEvent, Range, TaskContext, VecSource};
use trace_protocol::contract::{TaskKind, TaskPayload};
use trace_sandbox::{Limits, MemoryState, Operator, Task, World};

use crate::context::WorkerContext;
use crate::failure::{error_chain, Failure};
use trace_batches::{batch_of, encode_ipc, parquet_bytes};
use trace_protocol::buffered::{ColumnType, TableSchema};
use crate::{inputs, outputs};

/// An attempt ready to run.
pub struct Prepared {
    pub operator: Operator,
    pub task: Task,
    /// Input partitions read from storage (`None`: nothing to read).
    pub inputs: Option<inputs::Fetched>,
    /// The committed files `append` outputs add to.
    pub existing: outputs::Existing,
    /// Outputs written to buffered datasets, with their tables' columns.
    pub buffered: Vec<(usize, TableSchema)>,
    /// The RPC client's counts, for the attempt's usage.
    pub rpc_stats: Option<std::sync::Arc<trace_rpc::RpcStats>>,
}

pub fn world(kind: TaskKind) -> World {
    match kind {
        TaskKind::Source => World::Source,
        TaskKind::Transform => World::Transform,
    }
}

pub async fn prepare(ctx: &WorkerContext, payload: &TaskPayload) -> Result<Prepared, Failure> {
    let operator = ctx.operator(&payload.operator, world(payload.kind), payload.fuel.is_some()).await?;
    let mut task = sandbox_task(payload)?;
    let mut rpc_stats = None;
    if let Some(client) = crate::rpc::client(ctx, payload).await? {
        rpc_stats = Some(client.rpc.stats());
        task = task.with_rpc(client);
    }
    // Inputs are read before the operator starts, and so are the files
    // `append` outputs add to.
    let (inputs, existing) = match ctx.outputs.storage() {
        Some(storage) => {
            let reads = payload.inputs_from.iter().any(|f| !f.partitions.is_empty());
            let inputs = if reads { Some(inputs::fetch(storage, payload).await?) } else { None };
            (inputs, outputs::fetch_existing(storage, payload).await?)
        }
        None => (None, Vec::new()),
    };
    let inputs = read_buffered(ctx, payload, inputs).await?;
    let buffered = payload.outputs_to.iter().filter_map(|t| t.buffered.as_ref().map(|b| (t.output as usize, b.schema.clone()))).collect();
    Ok(Prepared { operator, task, inputs, existing, buffered, rpc_stats })
}

/// Add each buffered input's rows (read through the control plane, as one
/// in-memory Parquet file) to what the task reads.
async fn read_buffered(ctx: &WorkerContext, payload: &TaskPayload, inputs: Option<inputs::Fetched>) -> Result<Option<inputs::Fetched>, Failure> {
    let feeds: Vec<u32> = payload.inputs_from.iter().filter(|f| f.buffered).map(|f| f.input).collect();
    let Some(auth) = payload.attempt.as_ref().filter(|_| !feeds.is_empty()) else { return Ok(inputs) };
    let mut fetched = inputs.unwrap_or_else(|| vec![Vec::new(); payload.inputs.max(0) as usize]);
    for input in feeds {
        let read = ctx.plane.buffered_rows(auth, input).await.map_err(|e| Failure {
            retryable: !matches!(e, trace_protocol::plane::PlaneError::Refused { .. }),
            message: format!("reading buffered input {input}: {}", error_chain(&e)),
        })?;
        if read.rows.is_empty() {
            continue;
        }
        let mut types: Vec<ColumnType> = read.schema.columns.iter().map(|c| c.ty).collect();
        types.extend([ColumnType::Text, ColumnType::Int64]);
        let file = batch_of(&read.columns, &types, &read.rows)
            .map_err(|e| e.to_string())
            .and_then(|batch| encode_ipc(&[batch]).map_err(|e| e.0.to_string()))
            .and_then(|ipc| parquet_bytes("buffered input", &[ipc]).map_err(|e| e.to_string()))
            .map_err(|m| Failure::fatal(format!("buffered input {input}: {m}")))?;
        if let (Some(slot), Some(file)) = (fetched.get_mut(input as usize), file) {
            slot.push((format!("buffered input {input}"), bytes::Bytes::from(file.bytes)));
        }
    }
    Ok(Some(fetched))
}

fn sandbox_task(p: &TaskPayload) -> Result<Task, Failure> {
    let config = match p.config.trim() {
        "" => serde_json::Value::Null,
        text => serde_json::from_str(text).map_err(|e| Failure::fatal(format!("the job's config is not valid JSON: {e}")))?,
    };
    let attempt = p.attempt.as_ref().map_or(0, |a| a.attempt) as u32;
    let context = TaskContext { task_id: p.task.to_string(), attempt, job: p.job_name.clone(), org: p.org.to_string(), config };
    let event = InputEvent {
        input: 0,
        partition_key: p.partition_key.clone(),
        range: p.range.map(|(start, end)| Range { start, end }),
        cursor: p.cursor.clone(),
    };
    let state = MemoryState(p.state.iter().cloned().collect());
    let mut limits = Limits::default().with_timeout(Duration::from_millis(p.timeout_ms.max(1) as u64));
    if let Some(fuel) = p.fuel {
        limits = limits.with_fuel(fuel);
    }
    let mut task = Task::new(context, event).with_outputs(p.outputs.max(1) as usize).with_state(state).with_limits(limits);
    // Every wired input is present (empty unless its partitions are read
    // from storage), so operators see their real input count.
    for _ in 0..p.inputs {
        task = task.with_input(VecSource::default());
    }
    Ok(task)
}

#[cfg(test)]
mod tests {
    use trace_protocol::contract::{TaskKind, TaskPayload, TaskStatus};

    use super::*;

    fn payload(config: &str) -> TaskPayload {
        TaskPayload {
            task: 1,
            job: 1,
            job_name: "j".into(),
            kind: TaskKind::Transform,
            operator: "op.wasm".into(),
            config: config.into(),
            outputs: 1,
            inputs: 0,
            status: TaskStatus::Running,
            cancel_requested: false,
            attempt: None,
            deadline: None,
            timeout_ms: 1000,
            partition_key: String::new(),
            range: None,
            cursor: None,
            org: 1,
            dag: 1,
            state: vec![],
            outputs_to: vec![],
            inputs_from: vec![],
            refusal: None,
            trace_parent: None,
            fuel: None,
            rpc: None,
        }
    }

    #[test]
    fn a_config_that_does_not_parse_fails_the_task_and_says_why() {
        let failure = sandbox_task(&payload("{min: 1")).err().expect("refused");
        assert!(!failure.retryable);
        assert!(failure.message.starts_with("the job's config is not valid JSON: "), "{}", failure.message);
        assert_eq!(sandbox_task(&payload(r#"{"min": 1}"#)).unwrap().context.config["min"], 1);
        assert!(sandbox_task(&payload("")).unwrap().context.config.is_null());
    }

    #[test]
    fn the_task_kind_picks_the_world() {
        assert_eq!(world(TaskKind::Source), World::Source);
        assert_eq!(world(TaskKind::Transform), World::Transform);
    }
}
