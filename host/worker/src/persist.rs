//! Stage three: the encoded outputs are written to storage under the
//! attempt's staging keys. They become the dataset's only if the completion
//! is accepted (see `report`).

use trace_batches::ParquetFile;
use trace_protocol::contract::{TaskPayload, WrittenPartition};

use crate::context::{Outputs, WorkerContext};
use crate::failure::Failure;
use crate::outputs;

pub async fn persist(ctx: &WorkerContext, payload: &TaskPayload, files: Option<Vec<Option<ParquetFile>>>) -> Result<Vec<WrittenPartition>, Failure> {
    match (&ctx.outputs, files) {
        (Outputs::Stored(storage), Some(files)) => Ok(outputs::stage(storage, payload, files).await?),
        _ => Ok(Vec::new()),
    }
}
