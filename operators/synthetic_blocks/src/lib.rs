//! `synthetic_blocks`: a deterministic source standing in for a chain node.
//! For an input range of blocks `[start, end)` it writes ten synthetic EVM
//! logs per block to output 0 (the example UDF's input schema) and emits
//! one event per `config.range_size` blocks, like `range_splitter`. The
//! same blocks always give the same logs, so reruns and rematerializations
//! are reproducible.

use trace_guest::prelude::*;

/// Logs written per batch (bounded batches for the host to encode).
const BATCH_BLOCKS: u64 = 1_000;

struct SyntheticBlocks;

impl Operator for SyntheticBlocks {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let size = config::u64_field(&config, "range_size")?;
        if size == 0 {
            return Err(fatal("config.range_size must be at least 1"));
        }
        let Range { start, end } = event.range.ok_or_else(|| fatal("synthetic_blocks needs a block range"))?;
        // Seeded by each batch's first block; batches align to multiples
        // of BATCH_BLOCKS, so the same blocks always get the same logs.
        for (lo, hi) in events::aligned_ranges(start, end, BATCH_BLOCKS) {
            output::write(0, &erc20_logic::synthetic_logs(lo, ((hi - lo) * 10) as usize, lo))?;
        }
        for (lo, hi) in events::aligned_ranges(start, end, size) {
            events::emit(Event::range(0, lo, hi))?;
        }
        Ok(())
    }
}

trace_guest::export_operator!(SyntheticBlocks);
