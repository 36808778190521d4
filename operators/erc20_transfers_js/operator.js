// Example UDF in JavaScript: keep the ERC-20 `Transfer` logs of input 0 whose
// value is at least `config.min_value`, write them to output 0 and announce it
// with the input event's key and range. Same rows out as the Rust and Python
// versions (a test compares them).

import { operator, batches, write, column, emitLike, log, FatalError } from "./trace_sdk.js";

// keccak256("Transfer(address,address,uint256)")
const TRANSFER = hex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
const MAX_U128 = (1n << 128n) - 1n;
// Decimal256(76, 0) holds values below 10^76; a uint256 at or above 2^255
// reads as negative there. Either cannot be stored and is dropped.
const MAX_VALUE = 10n ** 76n;

function hex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
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

function isTransfer(topics, row) {
  const at = row * 32;
  for (let i = 0; i < 32; i++) if (topics[at + i] !== TRANSFER[i]) return false;
  return true;
}

function value(bytes, at) {
  let hexDigits = "0x";
  for (let i = 0; i < 32; i++) hexDigits += (bytes[at + i] < 16 ? "0" : "") + bytes[at + i].toString(16);
  return BigInt(hexDigits);
}

export const run = operator((ctx, event) => {
  const min = minValue(ctx.config);
  let rowsIn = 0;
  let rowsOut = 0;
  for (const batch of batches(0)) {
    rowsIn += batch.numRows;
    const block = batch.values("block_number", "uint64");
    const logIndex = batch.values("log_index", "uint64");
    const address = batch.values("address", "fixed-binary").bytes;
    const topic0 = batch.values("topic0", "fixed-binary").bytes;
    const topic1 = batch.values("topic1", "fixed-binary").bytes;
    const topic2 = batch.values("topic2", "fixed-binary").bytes;
    const data = batch.values("data", "binary");
    const nulls = [batch.nulls("topic0"), batch.nulls("topic1"), batch.nulls("topic2")].filter((n) => n !== null);

    const outBlock = [];
    const outIndex = [];
    const outValue = [];
    const token = [];
    const from = [];
    const to = [];
    for (let row = 0; row < batch.numRows; row++) {
      if (!isTransfer(topic0, row)) continue;
      if (nulls.some((n) => n[row])) continue;
      const start = data.offsets[row];
      if (data.offsets[row + 1] - start !== 32) continue;
      const v = value(data.bytes, start);
      if (v < min || v >= MAX_VALUE) continue;
      outBlock.push(block[row]);
      outIndex.push(logIndex[row]);
      outValue.push(v.toString());
      token.push(address.subarray(row * 20, row * 20 + 20));
      from.push(topic1.subarray(row * 32 + 12, row * 32 + 32));
      to.push(topic2.subarray(row * 32 + 12, row * 32 + 32));
    }
    rowsOut += outBlock.length;
    if (outBlock.length > 0) {
      write(0, [
        column.uint64("block_number", outBlock),
        column.uint64("log_index", outIndex, "UInt32"),
        column.fixedBinary("token", 20, concat(token, 20)),
        column.fixedBinary("from", 20, concat(from, 20)),
        column.fixedBinary("to", 20, concat(to, 20)),
        column.utf8("value", outValue, "Decimal256(76, 0)"),
      ]);
    }
  }
  log.info(`kept ${rowsOut} of ${rowsIn} logs (min_value=${min})`);
  emitLike(event, 0);
});

function concat(rows, width) {
  const out = new Uint8Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
}
