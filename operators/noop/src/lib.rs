//! The smallest operator: does nothing and succeeds. Benchmarks use it to
//! measure the sandbox's per-task cost.

use trace_guest::prelude::*;

struct Noop;

impl Operator for Noop {
    fn run(_ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        Ok(())
    }
}

trace_guest::export_operator!(Noop);
