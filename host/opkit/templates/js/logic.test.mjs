import { test } from "node:test";
import assert from "node:assert/strict";
import { rowsAtLeast } from "./logic.js";

test("keeps the rows at or above the minimum", () => {
  assert.deepEqual(rowsAtLeast([5, 10, 15, 10], 10), [1, 2, 3]);
  assert.deepEqual(rowsAtLeast([1, 2], 3), []);
});
