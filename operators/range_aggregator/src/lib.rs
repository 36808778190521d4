//! `range_aggregator`: turns a stream of small, ordered ranges (say one event
//! per block) into deterministic manifests of fixed-size windows (say one per
//! 10,000 blocks). A window `[w, w + size)` with `w` a multiple of
//! `config.range_size` is emitted once the input has covered all of it.
//!
//! Durable state: `origin`, where aggregation began (windows before it were
//! only partly seen and are never emitted), and `next`, where the next input
//! range must start. Inputs are
//! assumed ordered (seed 004); a gap or overlap fails the task with an error
//! naming both ranges. A range that ends at or before `next` was already
//! counted (at-least-once delivery) and is ignored.

use trace_guest::prelude::*;

const NEXT: &str = "next";
const ORIGIN: &str = "origin";

struct RangeAggregator;

impl Operator for RangeAggregator {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let size = config::u64_field(&config, "range_size")?;
        if size == 0 {
            return Err(fatal("config.range_size must be at least 1"));
        }
        let Range { start, end } = event.range.ok_or_else(|| fatal("range_aggregator needs input events with a range"))?;
        if start >= end {
            return Err(fatal(format!("empty or backwards input range [{start}, {end})")));
        }
        let (origin, next) = match (state::get_u64(ORIGIN)?, state::get_u64(NEXT)?) {
            (Some(origin), Some(next)) => (origin, next),
            _ => {
                state::put_u64(ORIGIN, start)?;
                (start, start)
            }
        };
        if end <= next {
            log::info(&format!("range [{start}, {end}) already aggregated (next={next}); ignoring duplicate"));
            return Ok(());
        }
        if start != next {
            return Err(fatal(format!(
                "out-of-order input: expected a range starting at {next}, got [{start}, {end}); range_aggregator assumes ordered inputs"
            )));
        }
        // The first window not yet complete before this range; windows before
        // the origin were only partly seen and are never emitted.
        let mut w = (next / size * size).max(origin.div_ceil(size) * size);
        while w + size <= end {
            events::emit(Event::range(0, w, w + size))?;
            w += size;
        }
        state::put_u64(NEXT, end)
    }
}

trace_guest::export_operator!(RangeAggregator);
