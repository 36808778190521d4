// Each `config.attack` tries one way of exhausting the sandbox from JS.
import { operator, write, column, emit, log } from "./trace_sdk.js";

export const run = operator((ctx) => {
  switch (ctx.config.attack) {
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
