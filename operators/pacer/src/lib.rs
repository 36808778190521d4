//! `pacer`: a slow source for tests of what happens while a task runs and
//! of what a task writes. For an input range `[start, end)` it emits one
//! event per unit, `[i, i + 1)`, sleeping `config.pause_ms` before each
//! (through WASI clocks, the only timer a guest has), and writes the units
//! to output 0 as one column `unit` (UInt64).

use std::sync::Arc;
use std::time::Duration;

use trace_guest::arrow_array::{RecordBatch, UInt64Array};
use trace_guest::arrow_schema::{DataType, Field, Schema};
use trace_guest::prelude::*;

struct Pacer;

impl Operator for Pacer {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let pause = Duration::from_millis(config::u64_field(&config, "pause_ms")?);
        let Range { start, end } = event.range.ok_or_else(|| fatal("pacer needs an input range"))?;
        for i in start..end {
            std::thread::sleep(pause);
            events::emit(Event::range(0, i, i + 1))?;
        }
        let schema = Arc::new(Schema::new(vec![Field::new("unit", DataType::UInt64, false)]));
        let units = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from_iter_values(start..end))])
            .map_err(|e| fatal(format!("building the output batch: {e}")))?;
        output::write(0, &units)
    }
}

trace_guest::export_operator!(Pacer);
