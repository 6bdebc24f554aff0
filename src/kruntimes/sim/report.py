"""Summary tables (rich) and JSON for simulation results."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from rich.table import Table

from kruntimes.sim.results import SimResult

__all__ = [
    "compare_table",
    "format_count",
    "format_percent",
    "format_seconds",
    "from_json",
    "summary_table",
    "to_json",
]


def format_seconds(seconds: float) -> str:
    """3 significant digits in µs, ms, s, min or h: 0.00042 -> "420 µs"."""
    if math.isnan(seconds):
        return "—"
    if seconds == 0:
        return "0 s"
    size = abs(seconds)
    if size < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if size < 1:
        return f"{seconds * 1e3:.3g} ms"
    if size < 120:
        return f"{seconds:.3g} s"
    if size < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def format_percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def format_count(n: float) -> str:
    """Thousands separators; non-integers keep 3 significant digits past the point."""
    if float(n).is_integer():
        return f"{int(n):,}"
    return f"{n:,.1f}" if abs(n) >= 100 else f"{n:.3g}"


# (row label, value, formatter, whether a ratio of two values means something);
# a value of None shows as "—".
_Row = tuple[str, Callable[[SimResult], float | None], Callable[[float], str], bool]


def _latency(kind: str, stat: str) -> Callable[[SimResult], float | None]:
    def get(r: SimResult) -> float | None:
        summary = getattr(r.latency, kind)
        return getattr(summary, stat) if summary.count else None

    return get


ROWS: tuple[_Row, ...] = (
    ("Runs arrived", lambda r: r.arrived, format_count, True),
    ("completed (Succeeded)", lambda r: r.succeeded, format_count, True),
    ("ended otherwise", lambda r: r.failed, format_count, True),
    ("unfinished at end", lambda r: r.unfinished_total, format_count, True),
    ("queueing p50", _latency("queueing", "p50"), format_seconds, True),
    ("queueing p99", _latency("queueing", "p99"), format_seconds, True),
    ("dispatch p50", _latency("dispatch", "p50"), format_seconds, True),
    ("dispatch p99", _latency("dispatch", "p99"), format_seconds, True),
    ("end-to-end p50", _latency("end_to_end", "p50"), format_seconds, True),
    ("end-to-end p99", _latency("end_to_end", "p99"), format_seconds, True),
    ("end-to-end p99.9", _latency("end_to_end", "p999"), format_seconds, True),
    ("warm-hit rate", lambda r: r.warm_hit_rate if r.binds else None, format_percent, True),
    ("utilisation", lambda r: r.utilisation, format_percent, True),
    ("Pod-seconds", lambda r: r.pod_seconds, format_count, True),
    # the cost to compare: a Pod of 8 slots is about 8 one-Run Pods' worth of resources
    (
        "slot-seconds (cost)",
        lambda r: sum(s.slot_seconds for s in r.runtimes.values()),
        format_count,
        True,
    ),
    ("throughput (Runs/s)", lambda r: r.throughput, format_count, True),
    ("Little's law error", lambda r: r.littles_law.relative_error, format_percent, False),
)


def _cell(value: float | None, fmt: Callable[[float], str]) -> str:
    return "—" if value is None else fmt(value)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.3g}x"


def summary_table(result: SimResult, *, baseline: SimResult | None = None) -> Table:
    """One row per metric; with a baseline, its column and result/baseline as a ratio."""
    title = f"{result.scenario or 'simulation'}: {result.system}"
    if baseline is not None:
        title += f" vs {baseline.system}"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column(result.system, justify="right")
    if baseline is not None:
        table.add_column(baseline.system, justify="right")
        table.add_column(f"{result.system} / {baseline.system}", justify="right")
    for label, get, fmt, comparable in ROWS:
        value = get(result)
        cells = [label, _cell(value, fmt)]
        if baseline is not None:
            base = get(baseline)
            cells += [_cell(base, fmt), _ratio(value, base) if comparable else "—"]
        table.add_row(*cells)
    return table


def compare_table(results: Mapping[str, SimResult]) -> Table:
    """Policies side by side, one column each; with exactly two, a ratio column (B / A)."""
    names = list(results)
    scenarios = sorted({r.scenario for r in results.values() if r.scenario})
    table = Table(title=" / ".join(scenarios) or "comparison")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    if len(names) == 2:
        table.add_column(f"{names[1]} / {names[0]}", justify="right")
    for label, get, fmt, comparable in ROWS:
        values = [get(results[name]) for name in names]
        cells = [label, *(_cell(v, fmt) for v in values)]
        if len(names) == 2:
            cells.append(_ratio(values[1], values[0]) if comparable else "—")
        table.add_row(*cells)
    return table


def to_json(results: SimResult | Mapping[str, SimResult], *, indent: int | None = 2) -> str:
    """A result as a JSON object, or several as {name: result}."""
    data: Any
    if isinstance(results, SimResult):
        data = results.to_json()
    else:
        data = {name: r.to_json() for name, r in results.items()}
    return json.dumps(data, indent=indent)


def from_json(text: str) -> SimResult | dict[str, SimResult]:
    """The inverse of `to_json`."""
    data = json.loads(text)
    if isinstance(data.get("scenario"), str) and "system" in data:
        return SimResult.from_json(data)
    return {name: SimResult.from_json(value) for name, value in data.items()}
