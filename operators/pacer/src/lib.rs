//! `pacer`: a slow source for tests of what happens while a task runs. For
//! an input range `[start, end)` it emits one event per unit, `[i, i + 1)`,
//! sleeping `config.pause_ms` before each (through WASI clocks, the only
//! timer a guest has).

use std::time::Duration;

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
        Ok(())
    }
}

trace_guest::export_operator!(Pacer);
