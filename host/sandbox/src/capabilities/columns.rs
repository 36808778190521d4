//! `trace:operator/columns`: the input and output capabilities again, as
//! typed columns for guests without an Arrow library. Reads take the same
//! bounded batches as `input`; writes are encoded to Arrow IPC here and then
//! charged and collected exactly like `output.write-batch`.

use arrow_select::concat::concat_batches;

use crate::bindings::trace::operator::columns::{Column, Host, Values};
use crate::bindings::trace::operator::input::Host as _;
use crate::bindings::trace::operator::output::Host as _;
use crate::columnar::{from_columns, to_columns};
use crate::limits::LimitExceeded;
use crate::task_state::TaskState;

/// Longest `arrow-type` string accepted (`Timestamp(Nanosecond, Some("UTC"))`
/// is 34 bytes); parsing one is recursive, so it is bounded before it starts.
const MAX_ARROW_TYPE_BYTES: usize = 256;

/// Whether an `arrow-type` is short and shallow enough to parse safely.
pub(crate) fn arrow_type_is_plain(arrow_type: &str, max_depth: usize) -> bool {
    let opened = arrow_type.bytes().filter(|b| matches!(b, b'(' | b'<' | b'[' | b'{')).count();
    // One level for the type's own parameters (`Decimal256(76, 0)`), one
    // for a time zone's `Some(…)`, then the nesting the limit allows.
    arrow_type.len() <= MAX_ARROW_TYPE_BYTES && opened <= max_depth + 2
}

impl TaskState {
    fn check_columns(&self, columns: &[Column]) -> Result<(), LimitExceeded> {
        let limit = self.limits.max_output_columns;
        if columns.len() > limit {
            return Err(LimitExceeded::OutputColumns { got: columns.len(), limit });
        }
        let limit = self.limits.max_batch_rows;
        for c in columns {
            let rows = rows_of(&c.values) as u64;
            if rows > limit {
                return Err(LimitExceeded::BatchRows { got: rows, limit });
            }
        }
        Ok(())
    }
}

/// Rows a column's values stand for (before any nulls are applied).
fn rows_of(values: &Values) -> usize {
    match values {
        Values::Int64(v) => v.len(),
        Values::Uint64(v) => v.len(),
        Values::Float64(v) => v.len(),
        Values::Boolean(v) => v.len(),
        Values::Utf8(v) => v.len(),
        Values::Binary(b) => b.offsets.len().saturating_sub(1),
        Values::FixedBinary(f) => f.bytes.len().checked_div(f.width as usize).unwrap_or(0),
    }
}

impl Host for TaskState {
    fn read(&mut self, index: u32) -> wasmtime::Result<Result<Option<Vec<Column>>, String>> {
        loop {
            let bytes = match self.read_batch(index)? {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(Ok(None)),
                Err(e) => return Ok(Err(e)),
            };
            let batch = trace_ipc::decode_ipc_owned(bytes)
                .map_err(|e| e.to_string())
                .and_then(|batches| match batches.as_slice() {
                    [] => Ok(None),
                    [one] => Ok(Some(one.clone())),
                    // A source hands over one record batch per read; should
                    // one carry several, they are joined so no row is lost.
                    [first, ..] => concat_batches(&first.schema(), &batches).map(Some).map_err(|e| e.to_string()),
                });
            match batch.and_then(|b| b.map(|b| to_columns(&b)).transpose()) {
                // A stream with a schema and no rows: go on to the next one.
                Ok(None) => continue,
                Ok(Some(columns)) => return Ok(Ok(Some(columns))),
                Err(e) => return Ok(Err(format!("input {index}: {e}"))),
            }
        }
    }

    fn write(&mut self, index: u32, columns: Vec<Column>) -> wasmtime::Result<Result<(), String>> {
        // Bound the work of building the batch before doing it; what it
        // expands to is charged by `write_batch` like any other stream.
        if let Err(e) = self.check_columns(&columns) {
            return Err(self.fail(e));
        }
        if let Some(bad) = columns.iter().find(|c| !arrow_type_is_plain(&c.arrow_type, self.limits.max_type_depth)) {
            let (name, got) = (&bad.name, bad.arrow_type.len());
            return Ok(Err(format!("output {index}: column `{name}`: arrow-type is longer than {MAX_ARROW_TYPE_BYTES} bytes (got {got}) or nested deeper than the type-depth limit")));
        }
        let batch = match from_columns(columns) {
            Ok(batch) => batch,
            Err(e) => return Ok(Err(format!("output {index}: {e}"))),
        };
        let bytes = match trace_ipc::encode_ipc(&[batch]) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Err(format!("output {index}: {e}"))),
        };
        self.write_batch(index, bytes)
    }
}
