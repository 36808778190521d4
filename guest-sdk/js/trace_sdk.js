// Trace's operator kit for JavaScript: the `trace:operator` world as a few
// plain functions. `trace op build` bundles this file next to the operator's
// module and turns both into a component with componentize-qjs.
//
//   import { operator, batches, write, column, emit, log } from "./trace_sdk.js";
//   export const run = operator((ctx, event) => { ... });
//
// Columns come and go as typed values, converted to and from Arrow by the
// host: integers and floats as arrays of numbers (64-bit integers are exact
// up to 2^53), strings as arrays, binary as one byte buffer with offsets.

import columns from "trace:operator/columns@0.1.0";
import events from "trace:operator/events@0.1.0";
import stateApi from "trace:operator/state@0.1.0";
import logApi from "trace:operator/log@0.1.0";

/** A failure the platform retries (up to the job's `max_attempts`). */
export class RetryableError extends Error {}

/** A failure that fails the task at once. */
export class FatalError extends Error {}

/**
 * Wrap the operator's function as the component's `run` export: `ctx.config`
 * arrives parsed, and a thrown error becomes the task's error (retryable
 * only if it is a `RetryableError`).
 */
export function operator(fn) {
  return function run(ctx, event) {
    let config;
    try {
      config = JSON.parse(ctx.config);
    } catch (e) {
      throw { tag: "fatal", val: `config is not JSON: ${e}` };
    }
    try {
      fn({ ...ctx, config }, event);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw { tag: e instanceof RetryableError ? "retryable" : "fatal", val: message };
    }
  };
}

/** One input batch: its columns by name and its row count. */
export class Batch {
  constructor(cols) {
    this.columns = cols;
    this.byName = new Map(cols.map((c) => [c.name, c]));
    this.numRows = cols.length === 0 ? 0 : rowCount(cols[0].values);
  }

  /** The column called `name`, or a FatalError naming what there is. */
  column(name) {
    const c = this.byName.get(name);
    if (c === undefined) {
      const names = this.columns.map((c) => c.name).join(", ");
      throw new FatalError(`input has no column \`${name}\` (it has: ${names})`);
    }
    return c;
  }

  /** The values of column `name`, checked to be of kind `tag`. */
  values(name, tag) {
    const c = this.column(name);
    if (tag !== undefined && c.values.tag !== tag) {
      throw new FatalError(`column \`${name}\` is ${c.arrowType} (${c.values.tag}), not ${tag}`);
    }
    return c.values.val;
  }

  /** Per row, whether column `name` is null (`null` when no row is). */
  nulls(name) {
    return this.column(name).nulls;
  }

  /**
   * The given rows (indexes, in the order given) of every column, ready for
   * `write`: same names, same Arrow types.
   */
  take(rows) {
    return this.columns.map((c) => ({
      name: c.name,
      arrowType: c.arrowType,
      values: { tag: c.values.tag, val: takeValues(c.values, rows) },
      nulls: c.nulls === null ? null : rows.map((i) => c.nulls[i]),
    }));
  }
}

function takeValues(values, rows) {
  const v = values.val;
  switch (values.tag) {
    case "fixed-binary": {
      const bytes = new Uint8Array(rows.length * v.width);
      rows.forEach((r, i) => bytes.set(v.bytes.subarray(r * v.width, (r + 1) * v.width), i * v.width));
      return { width: v.width, bytes };
    }
    case "binary": {
      const offsets = [0];
      for (const r of rows) offsets.push(offsets[offsets.length - 1] + v.offsets[r + 1] - v.offsets[r]);
      const bytes = new Uint8Array(offsets[offsets.length - 1]);
      rows.forEach((r, i) => bytes.set(v.bytes.subarray(v.offsets[r], v.offsets[r + 1]), offsets[i]));
      return { offsets, bytes };
    }
    default:
      return rows.map((r) => v[r]);
  }
}

function rowCount(values) {
  switch (values.tag) {
    case "binary":
      return values.val.offsets.length - 1;
    case "fixed-binary":
      return values.val.bytes.length / values.val.width;
    default:
      return values.val.length;
  }
}

/** The batches of input `index`, one at a time. */
export function* batches(index = 0) {
  for (;;) {
    const cols = columns.read(index);
    if (cols === null) return;
    yield new Batch(cols);
  }
}

/** Append one batch (a list of `column.*` values) to output `index`. */
export function write(index, cols) {
  columns.write(index, cols);
}

/**
 * Column builders. `arrowType` (optional) is the Arrow type the host stores
 * the values as, e.g. "UInt32" or "Decimal256(76, 0)"; a value that does
 * not fit fails the write.
 */
export const column = {
  int64: (name, values, arrowType = "", nulls = null) => ({ name, arrowType, values: { tag: "int64", val: values }, nulls }),
  uint64: (name, values, arrowType = "", nulls = null) => ({ name, arrowType, values: { tag: "uint64", val: values }, nulls }),
  float64: (name, values, arrowType = "", nulls = null) => ({ name, arrowType, values: { tag: "float64", val: values }, nulls }),
  boolean: (name, values, nulls = null) => ({ name, arrowType: "", values: { tag: "boolean", val: values }, nulls }),
  utf8: (name, values, arrowType = "", nulls = null) => ({ name, arrowType, values: { tag: "utf8", val: values }, nulls }),
  /**
   * `bytes` holds every row back to back, `width` bytes each. With an
   * `arrowType` of Decimal128 (16 bytes) or Decimal256 (32 bytes) the rows
   * are big-endian two's-complement integers.
   */
  fixedBinary: (name, width, bytes, arrowType = "", nulls = null) => ({ name, arrowType, values: { tag: "fixed-binary", val: { width, bytes } }, nulls }),
  /** One Uint8Array per row. */
  binary: (name, rows, nulls = null) => {
    const offsets = new Array(rows.length + 1);
    let total = 0;
    offsets[0] = 0;
    rows.forEach((r, i) => {
      total += r.length;
      offsets[i + 1] = total;
    });
    const bytes = new Uint8Array(total);
    rows.forEach((r, i) => bytes.set(r, offsets[i]));
    return { name, arrowType: "", values: { tag: "binary", val: { offsets, bytes } }, nulls };
  },
};

/**
 * Write alerts to output `index` (published as `storage: buffered, schema:
 * alert_events`). Each alert is `{ key, severity, eventTimeMs, payload }`:
 * `key` names the finding for good (the same on every run), `severity` is
 * "info", "warning" or "critical", `eventTimeMs` comes from the data (a
 * block's timestamp), `payload` is any JSON value or null.
 */
export function writeAlerts(index, alerts) {
  if (alerts.length === 0) return;
  write(index, [
    column.utf8("alert_key", alerts.map((a) => String(a.key))),
    column.utf8("severity", alerts.map((a) => a.severity)),
    column.int64("event_time", alerts.map((a) => Number(a.eventTimeMs))),
    column.utf8("payload", alerts.map((a) => (a.payload == null ? "" : JSON.stringify(a.payload))), "", alerts.map((a) => a.payload == null)),
  ]);
}

/** Announce output `output` to downstream jobs. */
export function emit(output, { partitionKey = "", range = null, cursor = null } = {}) {
  events.emit({ output, partitionKey, range, cursor });
}

/** An event for `output` with the same key, range and cursor as `event`. */
export function emitLike(event, output) {
  emit(output, event);
}

/** Durable operator state, scoped to this job. Values are bytes. */
export const state = {
  get: (key) => stateApi.get(key),
  put: (key, value) => stateApi.put(key, value),
  delete: (key) => stateApi.delete(key),
  getString: (key) => {
    const v = stateApi.get(key);
    return v === null ? null : new TextDecoder().decode(v);
  },
  putString: (key, value) => stateApi.put(key, new TextEncoder().encode(value)),
};

/** Log lines, kept with the task and bounded by the host. */
export const log = {
  trace: (m) => logApi.log("trace", String(m)),
  debug: (m) => logApi.log("debug", String(m)),
  info: (m) => logApi.log("info", String(m)),
  warn: (m) => logApi.log("warn", String(m)),
  error: (m) => logApi.log("error", String(m)),
};
