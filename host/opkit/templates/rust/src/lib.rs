//! {{name}}: keeps the rows of input 0 whose `config.column` (default
//! `value`) is at least `config.min` (default 0), writes them to output 0 and
//! announces it downstream. Build with `trace op build`, try it with
//! `trace op run build/{{name}}.wasm --input some.parquet --config '{"min": 10}'`.

mod logic;

use trace_guest::arrow_array::cast::AsArray;
use trace_guest::arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use trace_guest::arrow_array::{Array, UInt32Array};
use trace_guest::arrow_schema::DataType;
use trace_guest::prelude::*;

struct Operator_;

impl Operator for Operator_ {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let column = config.get("column").and_then(|c| c.as_str()).unwrap_or("value").to_owned();
        let min = config.get("min").and_then(|m| m.as_f64()).unwrap_or(0.0);
        let (mut rows_in, mut rows_out) = (0, 0);
        for batch in input::batches(0) {
            let batch = batch?;
            rows_in += batch.num_rows();
            let values = batch
                .column_by_name(&column)
                .ok_or_else(|| fatal(format!("input has no column `{column}`")))?;
            let values: Vec<f64> = match values.data_type() {
                DataType::Float64 => values.as_primitive::<Float64Type>().values().to_vec(),
                DataType::Int64 => values.as_primitive::<Int64Type>().values().iter().map(|&v| v as f64).collect(),
                DataType::UInt64 => values.as_primitive::<UInt64Type>().values().iter().map(|&v| v as f64).collect(),
                other => return Err(fatal(format!("column `{column}` is {other}; expected Float64, Int64 or UInt64"))),
            };
            let rows = logic::rows_at_least(&values, min);
            rows_out += rows.len();
            if !rows.is_empty() {
                let kept = arrow_select::take::take_record_batch(&batch, &UInt32Array::from(rows))
                    .map_err(|e| fatal(e.to_string()))?;
                output::write(0, &kept)?;
            }
        }
        log::info(&format!("kept {rows_out} of {rows_in} rows"));
        events::emit(Event::like(event, 0))
    }
}

trace_guest::export_operator!(Operator_);
