//! Stage three: the encoded outputs are written to storage under the
//! attempt's staging keys. They become the dataset's only if the completion
//! is accepted (see `report`).

use trace_batches::ParquetFile;
use trace_protocol::contract::{TaskPayload, WrittenPartition};

use crate::context::{Outputs, WorkerContext};
use crate::failure::{error_chain, Failure};
use trace_protocol::buffered::{split_messages, BufferedRows, Value};
use trace_protocol::contract::AttemptAuth;
use trace_protocol::plane::{PlaneError, Refusal};
use crate::outputs;

pub async fn persist(ctx: &WorkerContext, payload: &TaskPayload, files: Option<Vec<Option<ParquetFile>>>) -> Result<Vec<WrittenPartition>, Failure> {
    match (&ctx.outputs, files) {
        (Outputs::Stored(storage), Some(files)) => Ok(outputs::stage(storage, payload, files).await?),
        _ => Ok(Vec::new()),
    }
}

/// Hand each buffered output's rows to the control plane, in messages the
/// buffer takes (it waits while the dataset's buffer is full).
pub async fn buffer(ctx: &WorkerContext, auth: &AttemptAuth, outputs: Vec<(u32, Vec<Vec<Value>>)>) -> Result<(), Failure> {
    for (output, rows) in outputs {
        if rows.is_empty() {
            continue;
        }
        let template = BufferedRows { org: 0, dataset_uuid: String::new(), job: 0, task: auth.task, output, columns: Vec::new(), rows: Vec::new() };
        let chunks = split_messages(&template, rows).map_err(|e| Failure::fatal(format!("output {output} (a buffered dataset): {e}")))?;
        for chunk in chunks {
            ctx.plane.buffer_rows(auth, output, chunk.rows).await.map_err(|e| Failure {
                retryable: !matches!(e, PlaneError::Refused { reason: Refusal::Invalid, .. }),
                message: format!("handing output {output}'s rows to its buffer: {}", error_chain(&e)),
            })?;
        }
    }
    Ok(())
}
