//! `trace:operator/output`: collect output batches, charged against the
//! output limits. Each stream's headers are read first (no array decoded) and
//! what it would expand to (rows, nested elements, batches, columns, fields,
//! depth) is charged before it is kept; encodings that let a few bytes stand
//! for many rows are refused. Nothing is visible outside the task until it
//! succeeds.

use trace_ipc::{ipc_shape, IpcShape};

use crate::bindings::trace::operator::output::Host;
use crate::limits::LimitExceeded;
use crate::task_state::TaskState;

impl Host for TaskState {
    fn write_batch(&mut self, index: u32, batch: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let count = self.outputs.len();
        if index as usize >= count {
            return Ok(Err(format!("no output {index}: this job has {count} output(s)")));
        }
        let got = self.output_bytes + batch.len() as u64;
        let limit = self.limits.max_output_bytes;
        if got > limit {
            return Err(self.fail(LimitExceeded::OutputBytes { got, limit }));
        }
        // A stream whose headers cannot be read is refused here, so every
        // batch that is kept was counted.
        let shape = match ipc_shape(&batch) {
            Ok(shape) => shape,
            Err(e) => return Ok(Err(format!("output {index}: {e}"))),
        };
        if let Err(e) = self.charge_shape(&shape) {
            return Err(self.fail(e));
        }
        self.output_bytes = got;
        self.outputs[index as usize].push(batch);
        Ok(Ok(()))
    }
}

impl TaskState {
    /// Charge one stream's shape against the output limits, or name the
    /// first limit it would cross (nothing is charged then).
    fn charge_shape(&mut self, shape: &IpcShape) -> Result<(), LimitExceeded> {
        let l = &self.limits;
        if shape.columns > l.max_output_columns {
            return Err(LimitExceeded::OutputColumns { got: shape.columns, limit: l.max_output_columns });
        }
        if shape.fields > l.max_output_fields {
            return Err(LimitExceeded::OutputFields { got: shape.fields, limit: l.max_output_fields });
        }
        if shape.depth > l.max_type_depth {
            return Err(LimitExceeded::TypeDepth { got: shape.depth, limit: l.max_type_depth });
        }
        let batches = self.output_batches.saturating_add(u32::try_from(shape.batches.len()).unwrap_or(u32::MAX));
        if batches > l.max_output_batches {
            return Err(LimitExceeded::OutputBatches { got: batches, limit: l.max_output_batches });
        }
        let (mut rows, mut values) = (self.output_rows, self.output_values);
        for b in &shape.batches {
            if b.rows > l.max_batch_rows {
                return Err(LimitExceeded::BatchRows { got: b.rows, limit: l.max_batch_rows });
            }
            rows = rows.saturating_add(b.rows);
            if rows > l.max_output_rows {
                return Err(LimitExceeded::OutputRows { got: rows, batch: b.rows, limit: l.max_output_rows });
            }
            values = values.saturating_add(b.values);
            if values > l.max_output_values {
                return Err(LimitExceeded::OutputValues { got: values, batch: b.values, limit: l.max_output_values });
            }
        }
        (self.output_batches, self.output_rows, self.output_values) = (batches, rows, values);
        Ok(())
    }
}
