//! `range_splitter`: the inverse of `range_aggregator`. An input range
//! `[start, end)` is split at the multiples of `config.range_size` into
//! consecutive ranges, one event each, in order. Stateless and deterministic:
//! the same input always yields the same manifests.

use trace_guest::prelude::*;

struct RangeSplitter;

impl Operator for RangeSplitter {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let size = config::u64_field(&config, "range_size")?;
        if size == 0 {
            return Err(fatal("config.range_size must be at least 1"));
        }
        let Range { start, end } = event.range.ok_or_else(|| fatal("range_splitter needs input events with a range"))?;
        if start > end {
            return Err(fatal(format!("backwards input range [{start}, {end})")));
        }
        for (lo, hi) in events::aligned_ranges(start, end, size) {
            events::emit(Event::range(0, lo, hi))?;
        }
        Ok(())
    }
}

trace_guest::export_operator!(RangeSplitter);
