"""Trace replay: arrivals read from recorded invocations, streamed (no full load into memory).

Three layouts (`TraceWorkload.format`):

- `csv`: a header naming a time column (`at`, `time` or `timestamp`, or `time_column`)
  and optionally `runtime`, `duration`, `function`, `queue`, `priority` and `requests.<name>`
  columns. Times are seconds, or ISO-8601 timestamps made relative to the first row.
  Durations are seconds or Go durations ("250ms"); an empty or missing one is drawn from
  the fallback distribution (`duration`).
- `azure-functions-2019`: the Azure Functions trace of "Serverless in the Wild" (Shahrad et
  al., USENIX ATC'20): `invocations_per_function_md.anon.dNN.csv` with columns `HashOwner,
  HashApp, HashFunction, Trigger, 1 .. 1440` (invocations per minute of one day) and
  `function_durations_percentiles.anon.dNN.csv` whose `percentile_Average_{0,1,25,50,75,99,100}`
  columns (milliseconds) become each function's `Percentiles` duration distribution. A
  minute's invocations are spread uniformly at random over the minute.
- `azure-functions-2021`: `AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt`, columns
  `app, func, end_timestamp, duration` (seconds), ordered by end time: an invocation
  arrives at end_timestamp - duration, so rows come a little out of order and are put
  back in order within `reorder_window` seconds.

Rows out of time order are sorted within a bounded window (`reorder_window` trace
seconds, held in a heap); a row further out of order is an error naming its line (or
is dropped with `late: drop`). Memory: the csv layouts hold the rows of one window; the
2019 layout holds each function's distribution and its nonzero per-minute counts (8 bytes
per nonzero (function, minute) cell within the replayed minutes) and one minute's
invocations at a time: it does not grow with the number of invocations replayed.

Trace time maps to virtual time as at = (t - start) / speedup: `start` skips the
beginning of the trace, `speedup` compresses it (durations are kept as recorded).
Errors in a file name the file, the line (the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import itertools
import math
import random
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from attrs import field, frozen

from kruntimes.codec.durations import parse_duration
from kruntimes.codec.quantities import parse_quantity
from kruntimes.sim.arrivals import Arrival, parse_requests
from kruntimes.sim.distributions import (
    Distribution,
    Percentiles,
    bind,
    check_keys,
    expect_name,
    parse_distribution,
    parse_seconds,
)

__all__ = [
    "AZURE_2019_PERCENTILES",
    "TRACE_FORMATS",
    "TraceWorkload",
    "parse_trace",
]

TRACE_FORMATS = ("csv", "azure-functions-2019", "azure-functions-2021")
AZURE_2019_PERCENTILES = (0, 1, 25, 50, 75, 99, 100)
"""The percentiles of the 2019 durations file (`percentile_Average_<p>`, milliseconds)."""

_TIME_COLUMNS = ("at", "time", "timestamp")
_RUNTIME_BY = {
    "csv": (),
    "azure-functions-2019": ("app", "function", "owner", "trigger"),
    "azure-functions-2021": ("app", "function"),
}
_DEFAULT_WINDOW = {"csv": 0.0, "azure-functions-2019": 0.0, "azure-functions-2021": 3600.0}
_ID_CHARS = 12
"""Runtime names made from a hashed id keep its first 12 characters."""
_MINUTE_COLUMNS_2019 = ("HashOwner", "HashApp", "HashFunction", "Trigger")
_DURATION_COLUMNS_2019 = (
    "HashOwner",
    "HashApp",
    "HashFunction",
    *(f"percentile_Average_{p}" for p in AZURE_2019_PERCENTILES),
)
_COLUMNS_2021 = ("app", "func", "end_timestamp", "duration")


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


class _Cells:
    """Error messages that name the workload, the file, the line and the column."""

    __slots__ = ("label", "path")

    def __init__(self, path: Path, label: str = "") -> None:
        self.path, self.label = path, label

    def error(self, line: int, column: str | None, message: str) -> ValueError:
        where = f"{self.label}: {self.path}" if self.label else str(self.path)
        where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        return ValueError(f"{where}: {message}")

    def seconds(self, cell: str, line: int, column: str, *, negative: bool = False) -> float:
        """Seconds from a number, or from a Go duration when not a number."""
        try:
            value = float(cell)
        except ValueError:
            try:
                value = parse_duration(cell.strip())
            except ValueError:
                raise self.error(
                    line, column, f"expected seconds or a duration like 250ms, got {cell!r}"
                ) from None
        if not math.isfinite(value) or (value < 0 and not negative):
            raise self.error(line, column, f"expected a finite number >= 0, got {cell!r}")
        return value

    def integer(self, cell: str, line: int, column: str) -> int:
        try:
            return int(cell)
        except ValueError:
            raise self.error(line, column, f"expected an integer, got {cell!r}") from None


def _header(path: Path, reader: Iterator[list[str]], cells: _Cells) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise cells.error(1, None, "the file is empty (expected a header row)") from None
    except csv.Error as err:
        raise cells.error(1, None, f"unreadable CSV: {err}") from None
    return [h.strip() for h in header]


def _require(header: Sequence[str], columns: Sequence[str], cells: _Cells) -> dict[str, int]:
    index = {name: i for i, name in enumerate(header)}
    missing = [c for c in columns if c not in index]
    if missing:
        raise cells.error(
            1,
            None,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
            f"the header has {', '.join(header) or 'nothing'}",
        )
    return index


def _runtime_name(prefix: str, value: str) -> str:
    return f"{prefix}-{value[:_ID_CHARS].lower()}"


def _rows(reader: Any, cells: _Cells, width: int) -> Iterator[list[str]]:
    """Data rows, blank lines skipped, each checked to have at least `width` cells."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise cells.error(reader.line_num, None, f"unreadable CSV: {err}") from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            raise cells.error(reader.line_num, None, f"expected {width} cells, found {len(row)}")
        yield row


@frozen
class TraceWorkload:
    """Replays a trace file as arrivals; `stream` reads the file lazily on each call."""

    path: Path
    format: str = "csv"
    runtime: str | None = None
    """The runtime of every arrival or, with `runtime_by`, the prefix of runtime names.
    A csv `runtime` column takes precedence."""
    runtime_by: str | None = None
    """Azure layouts: one runtime per `app`, `function`, `owner` or `trigger` (2019), named
    `<runtime>-<value>` (hashed ids cut to 12 characters)."""
    durations: Path | None = None
    """azure-functions-2019: the durations percentiles file."""
    duration: Distribution | None = None
    """Durations missing from the trace (empty cell, no column, a function without a row
    in the durations file) are drawn from this."""
    speedup: float = 1.0
    start: float = 0.0
    limit: int | None = None
    """At most this many arrivals."""
    reorder_window: float | None = None
    """Trace seconds of out-of-order rows put back in order; None: 0 (csv, 2019), 1 h (2021)."""
    late: str = "error"
    """A row further out of order than the window: `error` or `drop`."""
    time_column: str | None = None
    requests: Mapping[str, int] | None = field(default=None, hash=False)
    queue: str | None = None
    priority: int = 0
    label: str = field(default="", eq=False)
    """Where the trace is in the scenario (e.g. `workloads[2].trace`), to prefix errors with."""
    _window: float = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.format not in TRACE_FORMATS:
            raise ValueError(f"format must be one of {', '.join(TRACE_FORMATS)}: {self.format!r}")
        if not math.isfinite(self.speedup) or self.speedup <= 0:
            raise ValueError(f"speedup must be a finite number > 0, got {self.speedup!r}")
        if not math.isfinite(self.start) or self.start < 0:
            raise ValueError(f"start must be a finite number >= 0, got {self.start!r}")
        if self.late not in ("error", "drop"):
            raise ValueError(f"late must be 'error' or 'drop', got {self.late!r}")
        if self.runtime_by is not None:
            choices = _RUNTIME_BY[self.format]
            if self.runtime_by not in choices:
                allowed = ", ".join(choices) or "nothing (use a runtime column)"
                raise ValueError(
                    f"runtime_by {self.runtime_by!r} is not available for {self.format}; "
                    f"use {allowed}"
                )
        if self.format != "csv" and self.runtime is None:
            raise ValueError(f"runtime is required for {self.format}")
        if (
            self.format == "azure-functions-2019"
            and self.durations is None
            and self.duration is None
        ):
            raise ValueError(
                "azure-functions-2019 needs trace.durations (the durations percentiles file) "
                "or trace.duration (a distribution for every function)"
            )
        window = self.reorder_window
        if window is None:
            window = _DEFAULT_WINDOW[self.format]
        if not math.isfinite(window) or window < 0:
            raise ValueError(f"reorder_window must be a finite number >= 0, got {window!r}")
        object.__setattr__(self, "_window", window)

    def check(self) -> None:
        """Fail early: the files exist and their headers have the columns needed."""
        if self.format == "azure-functions-2019":
            self._check_2019()
        elif self.format == "azure-functions-2021":
            with _open(self.path) as f:
                cells = _Cells(self.path, self.label)
                _require(_header(self.path, csv.reader(f), cells), _COLUMNS_2021, cells)
        else:
            with _open(self.path) as f:
                cells = _Cells(self.path, self.label)
                self._csv_layout(_header(self.path, csv.reader(f), cells))

    def stream(self, rng: random.Random, *, until: float) -> Iterator[Arrival]:
        """The trace's arrivals with `at < until` (at most `limit`), in nondecreasing `at`."""
        durations_rng = random.Random(rng.getrandbits(64))
        spread_rng = random.Random(rng.getrandbits(64))
        if self.format == "azure-functions-2019":
            ordered = self._azure_2019(durations_rng, spread_rng, until)
        else:
            if self.format == "azure-functions-2021":
                rows = self._azure_2021()
            else:
                rows = self._csv(durations_rng)
            ordered = self._reorder(rows)
        return self._cut(ordered, until)

    # -- common stages --------------------------------------------------------------------

    def _cut(self, arrivals: Iterator[Arrival], until: float) -> Iterator[Arrival]:
        limit = self.limit
        if limit is not None and limit <= 0:
            return
        for n, arrival in enumerate(arrivals, 1):
            if arrival.at >= until:
                return
            yield arrival
            if n == limit:
                return

    def _reorder(self, rows: Iterator[tuple[Arrival, int, str]]) -> Iterator[Arrival]:
        """Rows (arrival, line, time cell) within the window of order, sorted by `at`."""
        window = self._window / self.speedup
        drop = self.late == "drop"
        column = self._time_label()
        cells = _Cells(self.path, self.label)
        if window == 0.0:
            last = -math.inf
            for arrival, line, cell in rows:
                at = arrival.at
                if at < last:
                    if drop:
                        continue
                    raise cells.error(line, column, self._late_message(arrival, cell, last - at))
                last = at
                yield arrival
            return
        heap: list[tuple[float, int, Arrival]] = []
        push, pop = heapq.heappush, heapq.heappop
        emitted = newest = -math.inf
        for seq, (arrival, line, cell) in enumerate(rows):
            at = arrival.at
            if at < emitted:
                if drop:
                    continue
                raise cells.error(line, column, self._late_message(arrival, cell, emitted - at))
            push(heap, (at, seq, arrival))
            newest = max(newest, at)
            horizon = newest - window
            while heap[0][0] <= horizon:
                emitted = heap[0][0]
                yield pop(heap)[2]
        while heap:
            yield pop(heap)[2]

    def _late_message(self, arrival: Arrival, cell: str, behind: float) -> str:
        shown = repr(cell)
        if self.format == "azure-functions-2021":
            start = arrival.at * self.speedup + self.start
            shown = f"the invocation starting at {start:g} (end_timestamp {cell} - duration)"
        return (
            f"{shown} is {behind * self.speedup:g} s earlier than a row already replayed: "
            f"rows must be in time order within trace.reorderWindow ({self._window:g} s); "
            f"sort the file, raise reorderWindow, or set late: drop"
        )

    def _time_label(self) -> str:
        if self.format == "azure-functions-2021":
            return "end_timestamp"
        if self.time_column is not None:
            return self.time_column
        with _open(self.path) as f:
            header = _header(self.path, csv.reader(f), _Cells(self.path, self.label))
        return next((c for c in _TIME_COLUMNS if c in header), "time")

    def _fixed_runtime(self) -> str | None:
        return self.runtime if self.runtime_by is None else None

    # -- csv ------------------------------------------------------------------------------

    def _csv_layout(self, header: list[str]) -> _CsvLayout:
        cells = _Cells(self.path, self.label)
        index = {name: i for i, name in enumerate(header)}
        if self.time_column is not None:
            _require(header, (self.time_column,), cells)
            time_name = self.time_column
        else:
            found = [c for c in _TIME_COLUMNS if c in index]
            if not found:
                raise cells.error(
                    1,
                    None,
                    f"no time column: expected one of {', '.join(_TIME_COLUMNS)} "
                    f"(or set trace.time_column); the header has {', '.join(header)}",
                )
            time_name = found[0]
        if "runtime" not in index and self.runtime is None:
            raise cells.error(1, None, "no 'runtime' column: add one or set trace.runtime")
        if "duration" not in index and self.duration is None:
            raise cells.error(
                1, None, "no 'duration' column: add one or set trace.duration (a distribution)"
            )
        return _CsvLayout(self, header, index, time_name)

    def _csv(self, durations_rng: random.Random) -> Iterator[tuple[Arrival, int, str]]:
        cells = _Cells(self.path, self.label)
        fallback = None if self.duration is None else bind(self.duration, durations_rng)
        start, speedup = self.start, self.speedup
        with _open(self.path) as f:
            reader = csv.reader(f)
            layout = self._csv_layout(_header(self.path, reader, cells))
            time_name, time_i, width = layout.time_name, layout.time_i, layout.width
            origin: float | None = None
            iso = False
            for cells_of_row in _rows(reader, cells, 1):
                line = reader.line_num
                row = cells_of_row
                if len(row) < width:
                    row = row + [""] * (width - len(row))
                cell = row[time_i]
                if origin is None:
                    iso = _is_iso(cell)
                    origin = _iso_seconds(cell, line, time_name, cells) if iso else 0.0
                if iso:
                    t = _iso_seconds(cell, line, time_name, cells) - origin
                else:
                    t = _float_seconds(cell, line, time_name, cells)
                at = (t - start) / speedup
                if at >= 0.0:
                    yield layout.arrival(row, line, at, fallback), line, cell

    # -- Azure Functions 2021 -------------------------------------------------------------

    def _azure_2021(self) -> Iterator[tuple[Arrival, int, str]]:
        cells = _Cells(self.path, self.label)
        start, speedup = self.start, self.speedup
        prefix = self.runtime or ""
        fixed = self._fixed_runtime()
        by_app = self.runtime_by == "app"
        requests, queue, priority = self.requests, self.queue, self.priority
        names: dict[tuple[str, str], tuple[str, str]] = {}
        with _open(self.path) as f:
            reader = csv.reader(f)
            index = _require(_header(self.path, reader, cells), _COLUMNS_2021, cells)
            app_i, func_i = index["app"], index["func"]
            end_i, dur_i = index["end_timestamp"], index["duration"]
            width = max(index.values()) + 1
            for row in _rows(reader, cells, width):
                line = reader.line_num
                end_cell = row[end_i]
                try:
                    end = float(end_cell)
                except ValueError:
                    raise cells.error(
                        line, "end_timestamp", f"expected seconds, got {end_cell!r}"
                    ) from None
                if not math.isfinite(end):
                    raise cells.error(line, "end_timestamp", f"expected seconds, got {end_cell!r}")
                duration = cells.seconds(row[dur_i], line, "duration")
                at = (end - duration - start) / speedup
                if at < 0.0:
                    continue
                key = (row[app_i], row[func_i])
                known = names.get(key)
                if known is None:
                    app, func = key
                    if fixed is not None:
                        runtime = fixed
                    else:
                        runtime = _runtime_name(prefix, app if by_app else func)
                    known = names[key] = (runtime, f"{app}/{func}")
                arrival = Arrival(at, duration, known[0], requests, queue, priority, known[1])
                yield arrival, line, end_cell

    # -- Azure Functions 2019 -------------------------------------------------------------

    def _check_2019(self) -> None:
        cells = _Cells(self.path, self.label)
        with _open(self.path) as f:
            header = _header(self.path, csv.reader(f), cells)
        _require(header, _MINUTE_COLUMNS_2019, cells)
        _minute_columns(header, cells)
        if self.durations is not None:
            with _open(self.durations) as f:
                durations_cells = _Cells(self.durations, self.label)
                header = _header(self.durations, csv.reader(f), durations_cells)
                _require(header, _DURATION_COLUMNS_2019, durations_cells)

    def _load_durations_2019(self) -> dict[tuple[str, str, str], Percentiles]:
        if self.durations is None:
            return {}
        cells = _Cells(self.durations, self.label)
        table: dict[tuple[str, str, str], Percentiles] = {}
        with _open(self.durations) as f:
            reader = csv.reader(f)
            index = _require(_header(self.durations, reader, cells), _DURATION_COLUMNS_2019, cells)
            key_i = [index[c] for c in _DURATION_COLUMNS_2019[:3]]
            pct = [(p, f"percentile_Average_{p}") for p in AZURE_2019_PERCENTILES]
            pct_i = [(p, name, index[name]) for p, name in pct]
            width = max(index.values()) + 1
            for row in _rows(reader, cells, width):
                line = reader.line_num
                key = (row[key_i[0]], row[key_i[1]], row[key_i[2]])
                if key in table:
                    continue  # the first row of a function wins
                values = []
                for _, name, i in pct_i:
                    try:
                        ms = float(row[i])
                    except ValueError:
                        raise cells.error(
                            line, name, f"expected milliseconds, got {row[i]!r}"
                        ) from None
                    if not math.isfinite(ms) or ms < 0:
                        raise cells.error(line, name, f"expected milliseconds >= 0, got {row[i]!r}")
                    values.append(ms / 1000.0)
                # Percentiles of averages may cross slightly; sorting restores an inverse CDF.
                values.sort()
                table[key] = Percentiles(tuple(zip(AZURE_2019_PERCENTILES, values, strict=True)))
        return table

    def _azure_2019(
        self, durations_rng: random.Random, spread_rng: random.Random, until: float
    ) -> Iterator[Arrival]:
        self._check_2019()
        table = self._load_durations_2019()
        loaded = _Invocations2019(self, table, durations_rng)
        with _open(self.path) as f:
            loaded.read(f, until)
        yield from loaded.emit(spread_rng)


class _Invocations2019:
    """The 2019 per-minute counts of the replayed minutes, and each function's particulars."""

    def __init__(
        self,
        trace: TraceWorkload,
        table: Mapping[tuple[str, str, str], Distribution],
        durations_rng: random.Random,
    ) -> None:
        self.trace, self.table, self.durations_rng = trace, table, durations_rng
        self.cells = _Cells(trace.path, trace.label)
        self.samplers: list[Callable[[], float]] = []
        self.runtimes: list[str] = []
        self.functions: list[str] = []
        self.runtime_names: dict[str, str] = {}
        self.lo = 0
        self.by_minute: list[tuple[array[int], array[int]]] = []
        """Minute-major sparse counts: the functions invoked in each replayed minute."""

    def read(self, f: TextIO, until: float) -> None:
        trace, cells = self.trace, self.cells
        reader = csv.reader(f)
        header = _header(trace.path, reader, cells)
        index = _require(header, _MINUTE_COLUMNS_2019, cells)
        first, minutes = _minute_columns(header, cells)
        lo = self.lo = min(minutes, int(trace.start // 60.0))
        last_t = trace.start + until * trace.speedup
        hi = minutes if math.isinf(last_t) else min(minutes, math.ceil(last_t / 60.0))
        hi = max(hi, lo)
        by_minute = self.by_minute = [(array("I"), array("Q")) for _ in range(hi - lo)]
        ids = (index["HashOwner"], index["HashApp"], index["HashFunction"], index["Trigger"])
        for row in _rows(reader, cells, first + minutes):
            line = reader.line_num
            segment = row[first + lo : first + hi]
            if segment.count("0") == len(segment):
                continue
            fi = len(self.samplers)
            for offset, cell in enumerate(segment):
                if cell == "0":
                    continue
                try:
                    count = int(cell)
                except ValueError:
                    count = -1
                if count < 0:
                    column = header[first + lo + offset]
                    raise cells.error(line, column, f"expected a count >= 0, got {cell!r}")
                if count:
                    funcs, counts = by_minute[offset]
                    funcs.append(fi)
                    counts.append(count)
            owner, app, func, trigger = (row[i] for i in ids)
            self._add_function(owner, app, func, trigger, line=line)

    def _add_function(self, owner: str, app: str, func: str, trigger: str, *, line: int) -> None:
        trace = self.trace
        dist = self.table.get((owner, app, func), trace.duration)
        if dist is None:
            raise self.cells.error(
                line,
                "HashFunction",
                f"function {func[:_ID_CHARS]}... of app {app[:_ID_CHARS]}... has no row "
                f"in {trace.durations}; set trace.duration to a fallback distribution",
            )
        self.samplers.append(bind(dist, self.durations_rng))
        if trace.runtime_by is None:
            runtime = trace.runtime or ""
        else:
            ids = {"app": app, "function": func, "owner": owner, "trigger": trigger}
            key = ids[trace.runtime_by]
            runtime = self.runtime_names.get(key) or self.runtime_names.setdefault(
                key, _runtime_name(trace.runtime or "", key)
            )
        self.runtimes.append(runtime)
        self.functions.append(f"{app}/{func}")

    def emit(self, rng: random.Random) -> Iterator[Arrival]:
        """Each minute's invocations at uniformly random times within it, in time order.

        A minute's n invocations are n independent uniform times, each function's share at
        random: n sorted uniforms labelled by a shuffled list of the invocations' functions.
        """
        trace = self.trace
        start, speedup = trace.start, trace.speedup
        requests, queue, priority = trace.requests, trace.queue, trace.priority
        samplers, runtimes, functions = self.samplers, self.runtimes, self.functions
        rand, shuffle, repeat = rng.random, rng.shuffle, itertools.repeat
        by_minute = self.by_minute
        for offset, (funcs, counts) in enumerate(by_minute):
            if not funcs:
                continue
            labels: list[int] = []
            for fi, count in zip(funcs, counts, strict=True):
                labels.extend(repeat(fi, count))
            shuffle(labels)
            base = 60.0 * (self.lo + offset)
            times = [base + 60.0 * rand() for _ in labels]
            times.sort()
            by_minute[offset] = (array("I"), array("Q"))  # free the minute's counts
            for t, fi in zip(times, labels, strict=True):
                at = (t - start) / speedup
                if at >= 0.0:
                    yield Arrival(
                        at, samplers[fi](), runtimes[fi], requests, queue, priority, functions[fi]
                    )


class _CsvLayout:
    """Where a csv trace's columns are, and how a row becomes an `Arrival`."""

    def __init__(
        self, trace: TraceWorkload, header: list[str], index: dict[str, int], time_name: str
    ) -> None:
        self.cells = _Cells(trace.path, trace.label)
        self.runtime, self.requests = trace.runtime, trace.requests
        self.queue, self.priority = trace.queue, trace.priority
        self.time_name, self.time_i, self.width = time_name, index[time_name], len(header)
        self.runtime_i = index.get("runtime")
        self.duration_i = index.get("duration")
        self.function_i = index.get("function")
        self.queue_i = index.get("queue")
        self.priority_i = index.get("priority")
        self.request_cols = [
            (name.removeprefix("requests."), i)
            for i, name in enumerate(header)
            if name.startswith("requests.") and name != "requests."
        ]

    def arrival(
        self, row: list[str], line: int, at: float, fallback: Callable[[], float] | None
    ) -> Arrival:
        cells = self.cells
        runtime = self.runtime
        if self.runtime_i is not None and row[self.runtime_i].strip():
            runtime = row[self.runtime_i].strip()
        if runtime is None:
            raise cells.error(line, "runtime", "empty, and trace.runtime is not set")
        text = "" if self.duration_i is None else row[self.duration_i].strip()
        if text:
            duration = cells.seconds(text, line, "duration")
        elif fallback is not None:
            duration = fallback()
        else:
            raise cells.error(line, "duration", "empty, and trace.duration is not set")
        requests = self.requests
        if self.request_cols:
            parsed = {}
            for name, i in self.request_cols:
                value = row[i].strip()
                if value:
                    try:
                        parsed[name] = parse_quantity(value)
                    except ValueError as err:
                        raise cells.error(line, f"requests.{name}", str(err)) from None
            if parsed:
                requests = parsed
        queue = self.queue
        if self.queue_i is not None and row[self.queue_i].strip():
            queue = row[self.queue_i].strip()
        priority = self.priority
        if self.priority_i is not None and row[self.priority_i].strip():
            priority = cells.integer(row[self.priority_i].strip(), line, "priority")
        function = "" if self.function_i is None else row[self.function_i].strip()
        return Arrival(at, duration, runtime, requests, queue, priority, function)


def _float_seconds(cell: str, line: int, column: str, cells: _Cells) -> float:
    try:
        t = float(cell)
    except ValueError:
        raise cells.error(
            line, column, f"expected seconds (as in the first row), got {cell!r}"
        ) from None
    if not math.isfinite(t):
        raise cells.error(line, column, f"expected a finite time, got {cell!r}")
    return t


def _minute_columns(header: Sequence[str], cells: _Cells) -> tuple[int, int]:
    """Index of column "1" and the number of minute columns "1", "2", ... after it."""
    try:
        first = header.index("1")
    except ValueError:
        raise cells.error(
            1, None, "missing the per-minute columns '1', '2', ... '1440' after 'Trigger'"
        ) from None
    minutes = 0
    for name in header[first:]:
        if name != str(minutes + 1):
            raise cells.error(
                1, name, f"expected minute column {str(minutes + 1)!r} after {str(minutes)!r}"
            )
        minutes += 1
    return first, minutes


def _is_iso(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _iso_seconds(cell: str, line: int, column: str, cells: _Cells) -> float:
    try:
        moment = datetime.fromisoformat(cell.strip())
    except ValueError:
        raise cells.error(
            line,
            column,
            f"expected seconds or an ISO-8601 timestamp (as in the first row), got {cell!r}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# -- scenario syntax ------------------------------------------------------------------------

_TRACE_KEYS = (
    "path",
    "format",
    "durations",
    "runtime",
    "runtimeBy",
    "duration",
    "speedup",
    "start",
    "limit",
    "reorderWindow",
    "late",
    "timeColumn",
    "requests",
    "queue",
    "priority",
)


def _path(value: object, *, what: str, base_dir: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what}: expected a file path, got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ValueError(f"{what}: no such file: {path}")
    return path


def _choice(value: object, *, what: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _positive_number(value: object, *, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}: expected a number > 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what}: expected a number > 0, got {value!r}")
    return float(value)


def _int(value: object, *, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what}: expected an integer >= {minimum}, got {value!r}")
    return value


def parse_trace(spec: object, *, what: str, base_dir: Path) -> TraceWorkload:
    """A `TraceWorkload` from `{trace: {path: x.csv, format: csv, ...}}`; paths are relative
    to `base_dir`. The files' headers are checked now, their rows when streamed."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{what}: expected a mapping like {{trace: {{path: calls.csv}}}}")
    check_keys(spec, what=what, known=("trace",), required=("trace",))
    what = f"{what}.trace"
    t = spec["trace"]
    if not isinstance(t, Mapping):
        raise ValueError(f"{what}: expected a mapping like {{path: calls.csv, format: csv}}")
    check_keys(t, what=what, known=_TRACE_KEYS, required=("path",))
    fmt = _choice(t.get("format", "csv"), what=f"{what}.format", choices=TRACE_FORMATS)
    kwargs: dict[str, Any] = {
        "path": _path(t["path"], what=f"{what}.path", base_dir=base_dir),
        "format": fmt,
        "label": what,
    }
    if "durations" in t:
        if fmt != "azure-functions-2019":
            raise ValueError(f"{what}.durations: only for format azure-functions-2019")
        kwargs["durations"] = _path(t["durations"], what=f"{what}.durations", base_dir=base_dir)
    if "runtime" in t:
        kwargs["runtime"] = expect_name(t["runtime"], what=f"{what}.runtime")
    elif fmt != "csv":
        raise ValueError(f"{what}: missing 'runtime' (the runtime, or runtime-name prefix)")
    if "runtimeBy" in t:
        if fmt == "csv":
            raise ValueError(
                f"{what}.runtimeBy: only for the Azure formats; a csv trace can have a "
                f"'runtime' column"
            )
        kwargs["runtime_by"] = _choice(
            t["runtimeBy"], what=f"{what}.runtimeBy", choices=_RUNTIME_BY[fmt]
        )
    if "duration" in t:
        kwargs["duration"] = parse_distribution(t["duration"], what=f"{what}.duration")
    if "speedup" in t:
        kwargs["speedup"] = _positive_number(t["speedup"], what=f"{what}.speedup")
    for key, attr in (("start", "start"), ("reorderWindow", "reorder_window")):
        if key in t:
            kwargs[attr] = parse_seconds(t[key], what=f"{what}.{key}")
    if "limit" in t:
        kwargs["limit"] = _int(t["limit"], what=f"{what}.limit", minimum=0)
    if "late" in t:
        kwargs["late"] = _choice(t["late"], what=f"{what}.late", choices=("error", "drop"))
    if "timeColumn" in t:
        kwargs["time_column"] = expect_name(t["timeColumn"], what=f"{what}.timeColumn")
    if "requests" in t:
        kwargs["requests"] = parse_requests(t["requests"], what=f"{what}.requests")
    if t.get("queue") is not None:
        kwargs["queue"] = expect_name(t["queue"], what=f"{what}.queue")
    if "priority" in t:
        kwargs["priority"] = _int(t["priority"], what=f"{what}.priority", minimum=-(2**31))
    try:
        workload = TraceWorkload(**kwargs)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    workload.check()
    return workload
