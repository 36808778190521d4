//! Example UDF: keep the ERC-20 `Transfer` logs of input 0 whose value is at
//! least `config.min_value` (a decimal string or integer) and whose block is
//! in the input event's range (when it has one), write them to output 0, and
//! announce the output with the input event's key and range.

use trace_guest::prelude::*;

struct Erc20Transfers;

fn min_value(ctx: &TaskContext) -> Result<u128, OperatorError> {
    let config = config::parse(ctx)?;
    match config.get("min_value") {
        None => Ok(0),
        Some(v) => v
            .as_str()
            .map(str::to_owned)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
            .and_then(|s| s.parse::<u128>().ok())
            .ok_or_else(|| fatal("config.min_value must be a non-negative integer or decimal string")),
    }
}

impl Operator for Erc20Transfers {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let min_value = min_value(ctx)?;
        let (mut rows_in, mut rows_out) = (0usize, 0usize);
        for batch in input::batches(0) {
            // The synthetic source's logs, or cryo's (evm_source's).
            let logs = erc20_logic::normalize_logs(&batch?).map_err(fatal)?;
            rows_in += logs.num_rows();
            let window = event.range.map(|r| (r.start, r.end));
            let transfers = erc20_logic::filter_transfers_in(&logs, min_value, window).map_err(fatal)?;
            rows_out += transfers.num_rows();
            if transfers.num_rows() > 0 {
                output::write(0, &transfers)?;
            }
        }
        log::info(&format!("kept {rows_out} of {rows_in} logs (min_value={min_value})"));
        events::emit(Event::like(event, 0))
    }
}

trace_guest::export_operator!(Erc20Transfers);
