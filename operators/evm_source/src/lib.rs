//! `evm_source`: ingest an EVM chain. For its task's block range `[start,
//! end)` it reads blocks, transactions and logs through the host-held `rpc`
//! capability (`eth_getBlockByNumber`, `eth_getLogs`, optionally
//! `eth_getBlockReceipts`, as JSON-RPC batches) and writes them with cryo's
//! column names and types, one output per table in `config.tables` order,
//! then announces each output for the whole range.
//!
//! Reorg safety: a range is ingested only once its last block is at least
//! `config.confirmations` below the head (a retryable error until then), and
//! every block's parent hash and every log's block hash must agree with the
//! blocks read, or the task fails retryably and reads them again.
//!
//! The endpoint and its key are the host's: this code never sees them.

mod node;
mod settings;
mod tables;

use settings::{Settings, Table, MAX_RANGE_BLOCKS};
use trace_guest::prelude::*;

struct EvmSource;

impl Operator for EvmSource {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let settings = Settings::parse(ctx)?;
        let Range { start, end } = event.range.ok_or_else(|| fatal("evm_source needs a block range (trigger it with --range, or with trace backfill)"))?;
        if end <= start {
            return Err(fatal(format!("the block range {start}..{end} is empty")));
        }
        if end - start > MAX_RANGE_BLOCKS {
            return Err(fatal(format!("the block range is too long: got={} blocks, limit={MAX_RANGE_BLOCKS}; backfill it in chunks", end - start)));
        }
        let head = node::head()?;
        let deepest = head.checked_sub(settings.confirmations);
        if deepest.is_none_or(|d| end - 1 > d) {
            return Err(retryable(format!(
                "blocks {start}..{end} are not yet {} block(s) deep: the head is {head}; ingest ranges ending at or below {} now",
                settings.confirmations,
                deepest.map_or("none".to_owned(), |d| (d + 1).to_string())
            )));
        }
        let chain_id = node::chain_id()?;
        let wants = |t| settings.output_of(t).is_some();
        let (mut rows, mut last_hash): ([u64; 3], Option<String>) = ([0; 3], None);
        let mut lo = start;
        while lo < end {
            let hi = (lo + settings.window).min(end);
            let replies = match wants(Table::Blocks) || wants(Table::Transactions) {
                true => node::blocks(lo, hi, wants(Table::Transactions))?,
                false => Vec::new(),
            };
            let blocks: Vec<node::Block> = replies.iter().zip(lo..).map(|(r, n)| node::block(n, r)).collect::<Result<_, _>>()?;
            check_chain(&blocks, lo, &mut last_hash)?;
            if let Some(out) = settings.output_of(Table::Blocks) {
                rows[0] += write(out, tables::blocks(&blocks, chain_id)?)?;
            }
            if let Some(out) = settings.output_of(Table::Transactions) {
                let texts = if settings.receipts { node::receipts(lo, hi)? } else { Vec::new() };
                let receipts: Vec<Vec<node::Receipt>> = texts.iter().zip(lo..).map(|(r, n)| node::receipts_of(n, r)).collect::<Result<_, _>>()?;
                let receipts = settings.receipts.then_some(receipts.as_slice());
                rows[1] += write(out, tables::transactions(&blocks, receipts, chain_id)?)?;
            }
            if let Some(out) = settings.output_of(Table::Logs) {
                let reply = node::logs(lo, hi, &settings.contracts)?;
                let logs = node::logs_of(&reply)?;
                if let Some(stale) = logs.iter().find(|l| !blocks.is_empty() && !same_block(l, &blocks, lo)) {
                    return Err(retryable(format!("the chain reorganized while blocks {lo}..{hi} were read (log in block {} has another hash); reading them again", stale.block_number)));
                }
                rows[2] += write(out, tables::logs(&logs, chain_id)?)?;
            }
            lo = hi;
        }
        for (i, _) in settings.tables.iter().enumerate() {
            events::emit(Event::range(i as u32, start, end))?;
        }
        log::info(&format!("blocks {start}..{end} (head {head}, chain {chain_id}): {} blocks, {} transactions, {} logs", rows[0], rows[1], rows[2]));
        Ok(())
    }
}

/// Write `batch` if it has rows; its row count.
fn write(output: u32, batch: trace_guest::arrow_array::RecordBatch) -> Result<u64, OperatorError> {
    let n = batch.num_rows() as u64;
    if n > 0 {
        output::write(output, &batch)?;
    }
    Ok(n)
}

/// The blocks are `lo, lo+1, …` and each one's parent is the one before
/// (across windows too): otherwise the chain moved under the reads.
fn check_chain(blocks: &[node::Block], lo: u64, last_hash: &mut Option<String>) -> Result<(), OperatorError> {
    for (i, b) in blocks.iter().enumerate() {
        let number = node::quantity("block.number", b.number)?;
        if number != lo + i as u64 {
            return Err(retryable(format!("asked for block {} and the node returned block {number}", lo + i as u64)));
        }
        if last_hash.as_ref().is_some_and(|h| !h.eq_ignore_ascii_case(b.parent_hash)) {
            return Err(retryable(format!("the chain reorganized while it was read (block {number}'s parent is not the block read before it); reading it again")));
        }
        *last_hash = Some(b.hash.to_owned());
    }
    Ok(())
}

fn same_block(log: &node::Log, blocks: &[node::Block], lo: u64) -> bool {
    node::quantity("log.blockNumber", log.block_number)
        .ok()
        .and_then(|n| n.checked_sub(lo))
        .and_then(|i| blocks.get(i as usize))
        .is_some_and(|b| b.hash.eq_ignore_ascii_case(log.block_hash))
}

trace_guest::export_operator!(EvmSource);
