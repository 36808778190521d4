// Each `config.attack` tries one way of exhausting the sandbox from JS.
import { operator, write, column, emit, log } from "./trace_sdk.js";

// Module state: a task that finds it changed is running on what an earlier
// task left.
let runs = 0;
const marks = new Map();

export const run = operator((ctx) => {
  switch (ctx.config.attack) {
    case "remember": {
      runs += 1;
      const seen = marks.size;
      for (let i = 0; i < 4096; i++) marks.set(i, "x".repeat(i % 64));
      throw new Error(`runs_before=${runs - 1} marks_before=${seen}`);
    }
    case "loop":
      for (;;) {}
    case "memory": {
      const hoard = [];
      for (;;) hoard.push(new Array(1 << 20).fill(hoard.length));
    }
    case "output_flood":
      for (let i = 0; ; i++) write(0, [column.utf8("junk", new Array(4096).fill("x".repeat(256)))]);
    case "event_flood":
      for (let i = 0; ; i++) emit(0, { partitionKey: `k${i}` });
    case "log_flood":
      for (;;) log.info("y".repeat(4096));
    case "none":
      return;
    default:
      throw new Error(`unknown attack ${ctx.config.attack}`);
  }
});
