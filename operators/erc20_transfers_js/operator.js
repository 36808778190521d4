// Example UDF in JavaScript: keep the ERC-20 `Transfer` logs of input 0 whose
// value is at least `config.min_value` and whose block is in the input event's
// range (a file may span more than this task's window), write them to output 0
// and announce it with the input event's key and range. Same rows out as the Rust and Python
// versions (a test compares them).

import { operator, batches, write, column, emitLike, log, FatalError } from "./trace_sdk.js";

// keccak256("Transfer(address,address,uint256)")
const TRANSFER = hex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
const MAX_U128 = (1n << 128n) - 1n;
// Decimal256(76, 0) holds values below 10^76; a uint256 at or above 2^255
// reads as negative there. Either cannot be stored and is dropped.
const MAX_VALUE = word(10n ** 76n);

function hex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

/** `n` as a 32-byte big-endian word. */
function word(n) {
  return hex(n.toString(16).padStart(64, "0"));
}

function minValue(config) {
  const v = config.min_value;
  if (v === undefined) return 0n;
  if ((typeof v === "string" && /^[0-9]+$/.test(v)) || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) {
    const n = BigInt(v);
    if (n <= MAX_U128) return n;
  }
  throw new FatalError("config.min_value must be a non-negative integer or decimal string");
}

/** Compare the 32-byte words at `a[at..]` and `b`: big-endian, so bytewise. */
function compareWord(a, at, b) {
  for (let i = 0; i < 32; i++) {
    const d = a[at + i] - b[i];
    if (d !== 0) return d;
  }
  return 0;
}

export const run = operator((ctx, event) => {
  const min = minValue(ctx.config);
  const minWord = word(min);
  const range = event.range ?? null;
  let rowsIn = 0;
  let rowsOut = 0;
  for (const batch of batches(0)) {
    const n = batch.numRows;
    rowsIn += n;
    const block = batch.values("block_number", "uint64");
    const logIndex = batch.values("log_index", "uint64");
    const address = batch.values("address", "fixed-binary").bytes;
    const topic0 = batch.values("topic0", "fixed-binary").bytes;
    const topic1 = batch.values("topic1", "fixed-binary").bytes;
    const topic2 = batch.values("topic2", "fixed-binary").bytes;
    const data = batch.values("data", "binary");
    const offsets = data.offsets;
    const raw = data.bytes;
    const nulls = [batch.nulls("topic0"), batch.nulls("topic1"), batch.nulls("topic2")].filter((x) => x !== null);

    const outBlock = [];
    const outIndex = [];
    const token = new Uint8Array(n * 20);
    const from = new Uint8Array(n * 20);
    const to = new Uint8Array(n * 20);
    const value = new Uint8Array(n * 32);
    let k = 0;
    for (let row = 0; row < n; row++) {
      if (compareWord(topic0, row * 32, TRANSFER) !== 0) continue;
      if (range !== null && (block[row] < range.start || block[row] >= range.end)) continue;
      if (nulls.length > 0 && nulls.some((x) => x[row])) continue;
      const start = offsets[row];
      if (offsets[row + 1] - start !== 32) continue;
      if (compareWord(raw, start, minWord) < 0 || compareWord(raw, start, MAX_VALUE) >= 0) continue;
      outBlock.push(block[row]);
      outIndex.push(logIndex[row]);
      token.set(address.subarray(row * 20, row * 20 + 20), k * 20);
      from.set(topic1.subarray(row * 32 + 12, row * 32 + 32), k * 20);
      to.set(topic2.subarray(row * 32 + 12, row * 32 + 32), k * 20);
      value.set(raw.subarray(start, start + 32), k * 32);
      k++;
    }
    rowsOut += k;
    if (k > 0) {
      write(0, [
        column.uint64("block_number", outBlock),
        column.uint64("log_index", outIndex, "UInt32"),
        column.fixedBinary("token", 20, token.subarray(0, k * 20)),
        column.fixedBinary("from", 20, from.subarray(0, k * 20)),
        column.fixedBinary("to", 20, to.subarray(0, k * 20)),
        // Big-endian words straight into Decimal256: no per-row strings.
        column.fixedBinary("value", 32, value.subarray(0, k * 32), "Decimal256(76, 0)"),
      ]);
    }
  }
  log.info(`kept ${rowsOut} of ${rowsIn} logs (min_value=${min})`);
  emitLike(event, 0);
});
