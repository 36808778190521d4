//! `trace:operator/columns`: the input and output capabilities again, as
//! typed columns for guests without an Arrow library. Reads take the same
//! bounded batches as `input`; writes are encoded to Arrow IPC here and then
//! charged and collected exactly like `output.write-batch`.

use arrow_select::concat::concat_batches;

use crate::bindings::trace::operator::columns::{Column, Host};
use crate::bindings::trace::operator::input::Host as _;
use crate::bindings::trace::operator::output::Host as _;
use crate::columnar::{from_columns, to_columns};
use crate::task_state::TaskState;

impl Host for TaskState {
    fn read(&mut self, index: u32) -> wasmtime::Result<Result<Option<Vec<Column>>, String>> {
        loop {
            let bytes = match self.read_batch(index)? {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(Ok(None)),
                Err(e) => return Ok(Err(e)),
            };
            let batch = trace_batches::decode_ipc_owned(bytes)
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
        let batch = match from_columns(columns) {
            Ok(batch) => batch,
            Err(e) => return Ok(Err(format!("output {index}: {e}"))),
        };
        let bytes = match trace_batches::encode_ipc(&[batch]) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Err(format!("output {index}: {e}"))),
        };
        self.write_batch(index, bytes)
    }
}
