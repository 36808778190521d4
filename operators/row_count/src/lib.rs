//! `row_count`: reads every batch of every input and writes one row to
//! output 0 — `rows` (UInt64), the total — then passes its event on. The
//! smallest operator that reads a dataset end to end.

use std::sync::Arc;

use trace_guest::arrow_array::{RecordBatch, UInt64Array};
use trace_guest::arrow_schema::{DataType, Field, Schema};
use trace_guest::prelude::*;

struct RowCount;

impl Operator for RowCount {
    fn run(_ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let mut rows = 0u64;
        for index in 0..input::count() {
            for batch in input::batches(index) {
                rows += batch?.num_rows() as u64;
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new("rows", DataType::UInt64, false)]));
        let total = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![rows]))])
            .map_err(|e| fatal(format!("building the output batch: {e}")))?;
        output::write(0, &total)?;
        events::emit(Event::like(event, 0))
    }
}

trace_guest::export_operator!(RowCount);
