"""Each `config.attack` tries one way of exhausting the sandbox from Python."""

import trace_sdk as trace

# Part of the heap snapshot the component starts from: a task that finds it
# changed is running on what an earlier task left.
_runs = 0
_marks = {}


def run(ctx: trace.Context, event) -> None:
    global _runs
    attack = ctx.config.get("attack")
    if attack == "remember":
        _runs += 1
        seen = len(_marks)
        # Many objects spread over the heap, each written on every task.
        _marks.update((i, "x" * (i % 64)) for i in range(4096))
        raise ValueError(f"runs_before={_runs - 1} marks_before={seen}")
    if attack == "loop":
        while True:
            pass
    if attack == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    if attack == "output_flood":
        while True:
            trace.write(0, [trace.column_utf8("junk", ["x" * 256] * 4096)])
    if attack == "event_flood":
        i = 0
        while True:
            trace.emit(0, f"k{i}")
            i += 1
    if attack == "log_flood":
        while True:
            trace.log.info("y" * 4096)
    if attack == "none":
        return
    raise ValueError(f"unknown attack {attack}")


WitWorld = trace.export(run)
