"""Trace's operator kit for Python: the `trace:operator` world as a few plain
functions. `trace op build` puts this package beside the operator's module
and turns both into a component with componentize-py.

    import trace_sdk as trace

    def run(ctx, event):
        for batch in trace.batches(0):
            ...

    WitWorld = trace.export(run)

Columns come and go as typed values, converted to and from Arrow by the host:
integers, floats, booleans and strings as lists, binary as one `bytes` with
offsets, fixed-width binary as one `bytes`.
"""

import json
from typing import Callable, Iterator, List, Optional, Sequence

import wit_world
from componentize_py_types import Err
from wit_world.imports import columns as _columns
from wit_world.imports import events as _events
from wit_world.imports import log as _log
from wit_world.imports import state as _state
from wit_world.imports import types as _types


class RetryableError(Exception):
    """A failure the platform retries (up to the job's `max_attempts`)."""


class FatalError(Exception):
    """A failure that fails the task at once."""


class Context:
    """What the task runs for; `config` is the job's `config:` block, parsed."""

    def __init__(self, ctx: _types.TaskContext):
        self.task_id = ctx.task_id
        self.attempt = ctx.attempt
        self.job = ctx.job
        self.org = ctx.org
        try:
            self.config = json.loads(ctx.config)
        except ValueError as e:
            raise FatalError(f"config is not JSON: {e}") from None


def export(fn: Callable[[Context, _types.InputEvent], None]):
    """The component's entry point: `WitWorld = trace.export(run)`. A raised
    exception becomes the task's error (retryable only for RetryableError)."""

    class Operator(wit_world.WitWorld):
        def run(self, ctx, event):
            try:
                fn(Context(ctx), event)
            except RetryableError as e:
                raise Err(_types.OperatorError_Retryable(str(e)))
            except Err:
                raise
            except Exception as e:  # noqa: BLE001 - every failure is reported
                raise Err(_types.OperatorError_Fatal(f"{type(e).__name__}: {e}"))

    return Operator


class Batch:
    """One input batch: its columns by name and its row count."""

    def __init__(self, cols: List[_columns.Column]):
        self.columns = cols
        self._by_name = {c.name: c for c in cols}
        self.num_rows = _row_count(cols[0].values) if cols else 0

    def column(self, name: str) -> _columns.Column:
        c = self._by_name.get(name)
        if c is None:
            names = ", ".join(c.name for c in self.columns)
            raise FatalError(f"input has no column `{name}` (it has: {names})")
        return c

    def values(self, name: str, kind: Optional[type] = None):
        """The values of column `name`, checked to be of `kind` (e.g. `Uint64`)."""
        c = self.column(name)
        if kind is not None and not isinstance(c.values, kind):
            raise FatalError(f"column `{name}` is {c.arrow_type} ({type(c.values).__name__}), not {kind.__name__}")
        return c.values.value

    def nulls(self, name: str) -> Optional[List[bool]]:
        return self.column(name).nulls

    def take(self, rows: Sequence[int]) -> List[_columns.Column]:
        """The given rows (indexes, in the order given) of every column, ready
        for `write`: same names, same Arrow types."""
        return [
            _columns.Column(
                c.name,
                c.arrow_type,
                _take_values(c.values, rows),
                None if c.nulls is None else [c.nulls[i] for i in rows],
            )
            for c in self.columns
        ]


Int64 = _columns.Values_Int64
Uint64 = _columns.Values_Uint64
Float64 = _columns.Values_Float64
Boolean = _columns.Values_Boolean
Utf8 = _columns.Values_Utf8
Binary = _columns.Values_Binary
FixedBinary = _columns.Values_FixedBinary


def _row_count(values) -> int:
    if isinstance(values, Binary):
        return len(values.value.offsets) - 1
    if isinstance(values, FixedBinary):
        return len(values.value.bytes) // values.value.width
    return len(values.value)


def _take_values(values, rows):
    v = values.value
    if isinstance(values, FixedBinary):
        w = v.width
        return FixedBinary(_columns.FixedBinaryValues(w, b"".join(v.bytes[r * w:(r + 1) * w] for r in rows)))
    if isinstance(values, Binary):
        parts = [v.bytes[v.offsets[r]:v.offsets[r + 1]] for r in rows]
        offsets = [0]
        for p in parts:
            offsets.append(offsets[-1] + len(p))
        return Binary(_columns.BinaryValues(offsets, b"".join(parts)))
    return type(values)([v[r] for r in rows])


def batches(index: int = 0) -> Iterator[Batch]:
    """The batches of input `index`, one at a time."""
    while True:
        cols = _columns.read(index)
        if cols is None:
            return
        yield Batch(cols)


def write(index: int, cols: Sequence[_columns.Column]) -> None:
    """Append one batch (a list of `column_*` values) to output `index`."""
    _columns.write(index, list(cols))


# Column builders. `arrow_type` (optional) is the Arrow type the host stores
# the values as, e.g. "UInt32" or "Decimal256(76, 0)"; a value that does not
# fit fails the write.

def column_int64(name: str, values: List[int], arrow_type: str = "", nulls=None) -> _columns.Column:
    return _columns.Column(name, arrow_type, Int64(values), nulls)


def column_uint64(name: str, values: List[int], arrow_type: str = "", nulls=None) -> _columns.Column:
    return _columns.Column(name, arrow_type, Uint64(values), nulls)


def column_float64(name: str, values: List[float], arrow_type: str = "", nulls=None) -> _columns.Column:
    return _columns.Column(name, arrow_type, Float64(values), nulls)


def column_boolean(name: str, values: List[bool], nulls=None) -> _columns.Column:
    return _columns.Column(name, "", Boolean(values), nulls)


def column_utf8(name: str, values: List[str], arrow_type: str = "", nulls=None) -> _columns.Column:
    return _columns.Column(name, arrow_type, Utf8(values), nulls)


def column_fixed_binary(name: str, width: int, data: bytes, arrow_type: str = "", nulls=None) -> _columns.Column:
    """`data` holds every row back to back, `width` bytes each. With an
    `arrow_type` of Decimal128 (16 bytes) or Decimal256 (32 bytes) the rows are
    big-endian two's-complement integers."""
    return _columns.Column(name, arrow_type, FixedBinary(_columns.FixedBinaryValues(width, bytes(data))), nulls)


def column_binary(name: str, rows: Sequence[bytes], nulls=None) -> _columns.Column:
    offsets = [0]
    for r in rows:
        offsets.append(offsets[-1] + len(r))
    return _columns.Column(name, "", Binary(_columns.BinaryValues(offsets, b"".join(rows))), nulls)


def write_alerts(index: int, alerts) -> None:
    """Write alerts to output `index` (published as `storage: buffered,
    schema: alert_events`). Each alert is a dict with `key` (names the
    finding for good: the same on every run), `severity` ("info", "warning"
    or "critical"), `event_time_ms` (from the data, e.g. a block's timestamp)
    and an optional JSON-serializable `payload`."""
    if not alerts:
        return
    import json
    write(index, [
        column_utf8("alert_key", [str(a["key"]) for a in alerts]),
        column_utf8("severity", [a["severity"] for a in alerts]),
        column_int64("event_time", [int(a["event_time_ms"]) for a in alerts]),
        column_utf8("payload", ["" if a.get("payload") is None else json.dumps(a["payload"]) for a in alerts], "",
                    [a.get("payload") is None for a in alerts]),
    ])


def emit(output: int, partition_key: str = "", range=None, cursor: Optional[str] = None) -> None:
    """Announce output `output` to downstream jobs."""
    _events.emit(_types.Event(output, partition_key, range, cursor))


def emit_like(event: _types.InputEvent, output: int) -> None:
    """An event for `output` with the same key, range and cursor as `event`."""
    emit(output, event.partition_key, event.range, event.cursor)


Range = _types.Range


class state:
    """Durable operator state, scoped to this job. Values are bytes."""

    get = staticmethod(_state.get)
    put = staticmethod(_state.put)
    delete = staticmethod(_state.delete)


def _logger(level):
    return staticmethod(lambda message: _log.log(level, str(message)))


class log:
    """Log lines, kept with the task and bounded by the host."""

    trace = _logger(_log.Level.TRACE)
    debug = _logger(_log.Level.DEBUG)
    info = _logger(_log.Level.INFO)
    warn = _logger(_log.Level.WARN)
    error = _logger(_log.Level.ERROR)
