"""Example detector in Python: an alert for every ERC-20 transfer of input 0
(the `erc20_transfers` rows) whose value is at least `config.min_value`,
written with `write_alerts` to output 0 (published `storage: buffered,
schema: alert_events`). Same alerts as the Rust and JavaScript versions (a
test compares them)."""

import trace_sdk as trace


def settings(config):
    v = config.get("min_value")
    if isinstance(v, str) and v.isdigit() and v.isascii():
        minimum = int(v)
    elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        minimum = v
    else:
        raise trace.FatalError("config.min_value must be a non-negative integer or decimal string")
    severity = config.get("severity", "warning")
    if severity not in ("info", "warning", "critical"):
        raise trace.FatalError(f"config.severity must be info, warning or critical, got {severity!r}")
    return minimum, severity, int(config.get("genesis_ms", 1700000000000)), int(config.get("block_ms", 12000))


def run(ctx: trace.Context, event) -> None:
    minimum, severity, genesis, block_ms = settings(ctx.config)
    alerts = []
    for batch in trace.batches(0):
        block = batch.values("block_number", trace.Uint64)
        log_index = batch.values("log_index", trace.Uint64)
        # Decimals arrive as their decimal text.
        value = batch.values("value", trace.Utf8)
        for row in range(batch.num_rows):
            if int(value[row]) < minimum:
                continue
            alerts.append({
                "key": f"transfer:{block[row]}:{log_index[row]}",
                "severity": severity,
                "event_time_ms": genesis + block[row] * block_ms,
                "payload": {"block_number": block[row], "log_index": log_index[row], "value": value[row]},
            })
    trace.log.info(f"{len(alerts)} transfer(s) at or above {minimum}")
    trace.write_alerts(0, alerts)


WitWorld = trace.export(run)
