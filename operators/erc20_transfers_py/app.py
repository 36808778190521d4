"""Example UDF in Python: keep the ERC-20 `Transfer` logs of input 0 whose
value is at least `config.min_value` and whose block is in the input event's
range (a file may span more than this task's window), write them to output 0
and announce it with the input event's key and range. Same rows out as the Rust and
JavaScript versions (a test compares them)."""

import trace_sdk as trace

# keccak256("Transfer(address,address,uint256)")
TRANSFER = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
MAX_U128 = (1 << 128) - 1
# Decimal256(76, 0) holds values below 10^76; a uint256 at or above 2^255
# reads as negative there. Either cannot be stored and is dropped.
MAX_VALUE = (10**76).to_bytes(32, "big")


def min_value(config) -> int:
    v = config.get("min_value")
    if v is None:
        return 0
    if isinstance(v, str) and v.isdigit() and v.isascii():
        n = int(v)
    elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        n = v
    else:
        n = -1
    if 0 <= n <= MAX_U128:
        return n
    raise trace.FatalError("config.min_value must be a non-negative integer or decimal string")


def run(ctx: trace.Context, event) -> None:
    minimum = min_value(ctx.config)
    # Big-endian words compare as bytes: no integers per row.
    min_word = minimum.to_bytes(32, "big")
    lo, hi = (event.range.start, event.range.end) if event.range is not None else (0, 1 << 64)
    rows_in = rows_out = 0
    for batch in trace.batches(0):
        rows_in += batch.num_rows
        block = batch.values("block_number", trace.Uint64)
        log_index = batch.values("log_index", trace.Uint64)
        address = batch.values("address", trace.FixedBinary).bytes
        topic0 = batch.values("topic0", trace.FixedBinary).bytes
        topic1 = batch.values("topic1", trace.FixedBinary).bytes
        topic2 = batch.values("topic2", trace.FixedBinary).bytes
        data = batch.values("data", trace.Binary)
        offsets, raw = data.offsets, data.bytes
        nulls = [n for n in (batch.nulls("topic0"), batch.nulls("topic1"), batch.nulls("topic2")) if n is not None]

        out_block, out_index = [], []
        token, sender, receiver, value = bytearray(), bytearray(), bytearray(), bytearray()
        for row in range(batch.num_rows):
            at = row * 32
            if topic0[at:at + 32] != TRANSFER:
                continue
            if not lo <= block[row] < hi:
                continue
            if any(n[row] for n in nulls):
                continue
            start = offsets[row]
            if offsets[row + 1] - start != 32:
                continue
            word = raw[start:start + 32]
            if word < min_word or word >= MAX_VALUE:
                continue
            out_block.append(block[row])
            out_index.append(log_index[row])
            value += word
            token += address[row * 20:row * 20 + 20]
            sender += topic1[at + 12:at + 32]
            receiver += topic2[at + 12:at + 32]
        rows_out += len(out_block)
        if out_block:
            trace.write(0, [
                trace.column_uint64("block_number", out_block),
                trace.column_uint64("log_index", out_index, "UInt32"),
                trace.column_fixed_binary("token", 20, token),
                trace.column_fixed_binary("from", 20, sender),
                trace.column_fixed_binary("to", 20, receiver),
                trace.column_fixed_binary("value", 32, value, "Decimal256(76, 0)"),
            ])
    trace.log.info(f"kept {rows_out} of {rows_in} logs (min_value={minimum})")
    trace.emit_like(event, 0)


WitWorld = trace.export(run)
