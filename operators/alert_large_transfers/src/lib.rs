//! Example detector: an alert for every ERC-20 transfer (input 0, the
//! `erc20_transfers` rows) whose value is at least `config.min_value`,
//! written to output 0 (published `storage: buffered, schema: alert_events`).
//!
//! - `alert_key`: `transfer:{block}:{log_index}`, the same on every run.
//! - `event_time`: the block's time, from a `block_timestamp` column (Unix
//!   seconds) when the input has one, else `genesis_ms + block * block_ms`
//!   (config; the synthetic chain has no timestamps).
//! - `severity`: `config.severity` (`info`, `warning`, `critical`).

use trace_guest::arrow_array::{Array, Decimal256Array, FixedSizeBinaryArray, UInt32Array, UInt64Array};
use trace_guest::arrow_buffer::i256;
use trace_guest::prelude::*;

struct AlertLargeTransfers;

struct Config {
    min_value: i256,
    severity: Severity,
    genesis_ms: i64,
    block_ms: i64,
}

fn parse(ctx: &TaskContext) -> Result<Config, OperatorError> {
    let config = config::parse(ctx)?;
    let min_value = match config.get("min_value") {
        Some(v) => v
            .as_str()
            .map(str::to_owned)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
            .and_then(|s| i256::from_string(&s))
            .filter(|v| *v >= i256::ZERO)
            .ok_or_else(|| fatal("config.min_value must be a non-negative integer or decimal string"))?,
        None => return Err(fatal("config.min_value is required")),
    };
    let severity = match config::str_field(&config, "severity").unwrap_or("warning") {
        "info" => Severity::Info,
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        other => return Err(fatal(format!("config.severity must be info, warning or critical, got {other:?}"))),
    };
    let int = |key: &str, default: i64| config.get(key).map_or(Some(default), |v| v.as_i64()).ok_or_else(|| fatal(format!("config.{key} must be an integer")));
    Ok(Config { min_value, severity, genesis_ms: int("genesis_ms", 1_700_000_000_000)?, block_ms: int("block_ms", 12_000)? })
}

fn column<'a, T: 'static>(batch: &'a trace_guest::arrow_array::RecordBatch, name: &str) -> Result<&'a T, OperatorError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| fatal(format!("input 0 needs a column `{name}` of the erc20_transfers type")))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Operator for AlertLargeTransfers {
    fn run(ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        let config = parse(ctx)?;
        let mut alerts = Vec::new();
        for batch in input::batches(0) {
            let batch = batch?;
            let block = column::<UInt64Array>(&batch, "block_number")?;
            let log_index = column::<UInt32Array>(&batch, "log_index")?;
            let value = column::<Decimal256Array>(&batch, "value")?;
            let token = column::<FixedSizeBinaryArray>(&batch, "token")?;
            let from = column::<FixedSizeBinaryArray>(&batch, "from")?;
            let to = column::<FixedSizeBinaryArray>(&batch, "to")?;
            let timestamp = batch.column_by_name("block_timestamp").and_then(|c| c.as_any().downcast_ref::<UInt64Array>());
            for row in 0..batch.num_rows() {
                if value.value(row) < config.min_value {
                    continue;
                }
                let number = block.value(row);
                let event_time = match timestamp {
                    Some(ts) if !ts.is_null(row) => ts.value(row) as i64 * 1000,
                    _ => config.genesis_ms + number as i64 * config.block_ms,
                };
                let payload = serde_json::json!({
                    "block_number": number,
                    "log_index": log_index.value(row),
                    "token": hex(token.value(row)),
                    "from": hex(from.value(row)),
                    "to": hex(to.value(row)),
                    "value": value.value(row).to_string(),
                });
                alerts.push(Alert::new(format!("transfer:{number}:{}", log_index.value(row)), config.severity, event_time).with_payload(payload));
            }
        }
        log::info(&format!("{} transfer(s) at or above {}", alerts.len(), config.min_value));
        // No event: the platform emits this output's event once its rows commit.
        alerts::write(0, &alerts)
    }
}

trace_guest::export_operator!(AlertLargeTransfers);
