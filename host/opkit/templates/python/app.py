"""{{name}}: keeps the rows of input 0 whose `config.column` (default
`value`) is at least `config.min` (default 0), writes them to output 0 and
announces it downstream. Build with `trace op build`, try it with
`trace op run build/{{name}}.wasm --input some.parquet --config '{"min": 10}'`."""

import trace_sdk as trace

from logic import rows_at_least


def run(ctx: trace.Context, event) -> None:
    column = ctx.config.get("column", "value")
    minimum = ctx.config.get("min", 0)
    rows_in = rows_out = 0
    for batch in trace.batches(0):
        rows_in += batch.num_rows
        rows = rows_at_least(batch.values(column), minimum)
        rows_out += len(rows)
        if rows:
            trace.write(0, batch.take(rows))
    trace.log.info(f"kept {rows_out} of {rows_in} rows")
    trace.emit_like(event, 0)


WitWorld = trace.export(run)
