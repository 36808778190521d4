// Example detector in JavaScript: an alert for every ERC-20 transfer of
// input 0 (the `erc20_transfers` rows) whose value is at least
// `config.min_value`, written with `writeAlerts` to output 0 (published
// `storage: buffered, schema: alert_events`). Same alerts as the Rust and
// Python versions (a test compares them).

import { operator, batches, writeAlerts, log, FatalError } from "./trace_sdk.js";

function config(c) {
  const v = c.min_value;
  if (!((typeof v === "string" && /^[0-9]+$/.test(v)) || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0))) {
    throw new FatalError("config.min_value must be a non-negative integer or decimal string");
  }
  const severity = c.severity ?? "warning";
  if (!["info", "warning", "critical"].includes(severity)) {
    throw new FatalError(`config.severity must be info, warning or critical, got ${JSON.stringify(severity)}`);
  }
  return { min: BigInt(v), severity, genesis: BigInt(c.genesis_ms ?? 1700000000000), blockMs: BigInt(c.block_ms ?? 12000) };
}

export const run = operator((ctx) => {
  const { min, severity, genesis, blockMs } = config(ctx.config);
  const alerts = [];
  for (const batch of batches(0)) {
    const block = batch.values("block_number", "uint64");
    const logIndex = batch.values("log_index", "uint64");
    // Decimals arrive as their decimal text.
    const value = batch.values("value", "utf8");
    for (let row = 0; row < batch.numRows; row++) {
      if (BigInt(value[row]) < min) continue;
      alerts.push({
        key: `transfer:${block[row]}:${logIndex[row]}`,
        severity,
        eventTimeMs: genesis + BigInt(block[row]) * blockMs,
        payload: { block_number: Number(block[row]), log_index: Number(logIndex[row]), value: value[row] },
      });
    }
  }
  log.info(`${alerts.length} transfer(s) at or above ${min}`);
  writeAlerts(0, alerts);
});
