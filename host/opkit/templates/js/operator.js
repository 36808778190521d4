// {{name}}: keeps the rows of input 0 whose `config.column` (default
// `value`) is at least `config.min` (default 0), writes them to output 0 and
// announces it downstream. Build with `trace op build`, try it with
// `trace op run build/{{name}}.wasm --input some.parquet --config '{"min": 10}'`.

import { operator, batches, write, emitLike, log } from "./trace_sdk.js";
import { rowsAtLeast } from "./logic.js";

export const run = operator((ctx, event) => {
  const { column = "value", min = 0 } = ctx.config;
  let rowsIn = 0;
  let rowsOut = 0;
  for (const batch of batches(0)) {
    rowsIn += batch.numRows;
    const rows = rowsAtLeast(batch.values(column), min);
    rowsOut += rows.length;
    if (rows.length > 0) write(0, batch.take(rows));
  }
  log.info(`kept ${rowsOut} of ${rowsIn} rows`);
  emitLike(event, 0);
});
