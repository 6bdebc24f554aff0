"""PNG plots of simulation results (needs matplotlib: ``pip install 'kruntimes[sim]'``).

Every function takes a file path, or a directory to write its default file
name into, and returns the path written. matplotlib is imported only when a
plot is drawn, and only its Agg canvas is used: no pyplot, no global state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kruntimes.sim.report import format_count, format_seconds
from kruntimes.sim.results import LatencySummary, SimResult

__all__ = [
    "CDF_FILE",
    "COMPARE_FILE",
    "compare",
    "latency_cdf",
    "over_time",
    "over_time_file",
    "write_all",
]

CDF_FILE = "latency_cdf.png"
COMPARE_FILE = "compare.png"
DPI = 110
_FLOOR = 1e-6  # seconds: the histograms' resolution; zero latencies are drawn here on log axes


def over_time_file(name: str) -> str:
    """Default file name of `over_time` for the result called `name`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "result"
    return f"over_time_{slug}.png"


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'kruntimes[sim]'") from exc
    return Figure, FigureCanvasAgg


def _target(path: str | Path, default: str) -> Path:
    p = Path(path)
    if p.is_dir() or not p.suffix:
        p.mkdir(parents=True, exist_ok=True)
        p = p / default
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _save(fig: Any, canvas_cls: Any, path: Path) -> Path:
    canvas_cls(fig)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return path


def _time_unit(max_t: float) -> tuple[float, str]:
    if max_t >= 3 * 3600:
        return 3600.0, "h"
    if max_t >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"


def _label(name: str, result: SimResult) -> str:
    return name if name == result.system else f"{name} ({result.system})"


def _cdf_xy(summary: LatencySummary) -> tuple[list[float], list[float]]:
    xs = [max(x, _FLOOR) for x, _ in summary.cdf]
    fs = [f for _, f in summary.cdf]
    return xs, fs


def latency_cdf(results: Mapping[str, SimResult], path: str | Path) -> Path:
    """End-to-end and queueing latency: CDFs (top) and tails as 1 - CDF (bottom), log x."""
    figure_cls, canvas_cls = _matplotlib()
    target = _target(path, CDF_FILE)
    fig = figure_cls(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    kinds = (
        ("end_to_end", "end-to-end (finished - arrived)"),
        ("queueing", "queueing (bound - arrived)"),
    )
    for col, (kind, title) in enumerate(kinds):
        top, bottom = axes[0][col], axes[1][col]
        for name, result in results.items():
            summary: LatencySummary = getattr(result.latency, kind)
            if not summary.count:
                continue
            xs, fs = _cdf_xy(summary)
            label = (
                f"{_label(name, result)}: p50 {format_seconds(summary.p50)}, "
                f"p99 {format_seconds(summary.p99)}"
            )
            (line,) = top.step(xs, fs, where="post", label=label)
            tail = [max(1.0 - f, 1e-7) for f in fs]
            bottom.step(xs, tail, where="post", color=line.get_color(), label=_label(name, result))
        top.set_title(f"{title} latency, CDF")
        top.set_ylabel("fraction of Runs ≤ x")
        top.set_ylim(0, 1.02)
        bottom.set_title(f"{title} latency, tail")
        bottom.set_ylabel("fraction of Runs > x")
        bottom.set_yscale("log")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_xlabel("latency (s, log scale)")
            ax.grid(True, which="both", alpha=0.3)
        if top.lines:
            top.legend(loc="lower right", fontsize="small")
        else:
            top.text(0.5, 0.5, "no Runs", ha="center", va="center", transform=top.transAxes)
    fig.suptitle("Run latency by system / policy")
    return _save(fig, canvas_cls, target)


def over_time(result: SimResult, path: str | Path) -> Path:
    """Queue by wait reason (stacked), utilisation and ready Pods per runtime, throughput."""
    figure_cls, canvas_cls = _matplotlib()
    target = _target(path, over_time_file(result.system))
    series = result.series
    fig = figure_cls(figsize=(12, 10), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    unit, unit_label = _time_unit(series.t[-1] if series.t else 0.0)
    t = [x / unit for x in series.t]

    ax = axes[0]
    reasons = [r for r, v in series.waiting.items() if any(v)]
    if reasons and t:
        stacks = [series.waiting[r] for r in reasons]
        ax.stackplot(t, *stacks, labels=reasons, step="post", alpha=0.8)
    if t:
        ax.step(t, series.in_system, where="post", color="black", lw=1, label="in system (all)")
    ax.set_ylabel("Runs")
    ax.set_title("Pending Runs by wait reason (stacked), and all Runs in the system")

    ax = axes[1]
    for name, values in series.utilisation.items():
        ax.step(t, [v * 100 for v in values], where="post", label=name)
    ax.set_ylabel("busy slots (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Utilisation per runtime (busy / total `runs` slots)")

    ax = axes[2]
    for name, values in series.pods.items():
        ax.step(t, values, where="post", label=name)
    ax.set_ylabel("ready Pods")
    ax.set_title("Ready Pods per runtime")

    ax = axes[3]
    width = series.bucket_seconds or 1.0
    ax.step(t, [n / width for n in series.arrivals], where="post", label="arrivals")
    ax.step(t, [n / width for n in series.completions], where="post", label="completions")
    ax.set_ylabel("Runs / s")
    ax.set_title("Arrivals and completions")
    ax.set_xlabel(f"virtual time ({unit_label})")

    for ax in axes:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize="small", ncols=2)
    fig.suptitle(f"{result.scenario or 'simulation'}: {result.system} over time")
    return _save(fig, canvas_cls, target)


def _bars(
    ax: Any,
    names: Sequence[str],
    groups: Sequence[tuple[str, Sequence[float]]],
    fmt: Callable[[float], str],
) -> None:
    """Grouped bars: one group per metric, one bar per name, each labelled with `fmt`."""
    n = len(names)
    width = 0.8 / max(n, 1)
    for i, name in enumerate(names):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        heights = [values[i] for _, values in groups]
        bars = ax.bar(xs, heights, width=width, label=name)
        ax.bar_label(bars, labels=[fmt(h) for h in heights], fontsize="x-small", padding=2)
    ax.set_xticks(range(len(groups)), [label for label, _ in groups])


def compare(results: Mapping[str, SimResult], path: str | Path) -> Path:
    """Bars per policy: end-to-end p50 / p99, utilisation, cost (slot-seconds: a Pod of 8
    slots is about 8 one-Run Pods' worth of resources, so Pod-seconds alone flatter it)."""
    figure_cls, canvas_cls = _matplotlib()
    target = _target(path, COMPARE_FILE)
    names = list(results)
    rs = [results[n] for n in names]
    fig = figure_cls(figsize=(13, 5), layout="constrained")
    ax_lat, ax_util, ax_cost = fig.subplots(1, 3)

    _bars(
        ax_lat,
        names,
        [
            ("p50", [r.latency.end_to_end.p50 for r in rs]),
            ("p99", [r.latency.end_to_end.p99 for r in rs]),
            ("p99.9", [r.latency.end_to_end.p999 for r in rs]),
        ],
        format_seconds,
    )
    ax_lat.set_title("end-to-end latency")
    ax_lat.set_ylabel("seconds")

    _bars(
        ax_util,
        names,
        [
            ("utilisation", [r.utilisation * 100 for r in rs]),
            ("warm hits", [r.warm_hit_rate * 100 for r in rs]),
        ],
        lambda v: f"{v:.1f}%",
    )
    ax_util.set_title("slots busy / binds to warm Pods")
    ax_util.set_ylabel("%")
    ax_util.set_ylim(0, 110)

    slot_seconds = [sum(s.slot_seconds for s in r.runtimes.values()) for r in rs]
    _bars(ax_cost, names, [("slot-seconds", slot_seconds)], format_count)
    ax_cost.set_title("cost")
    ax_cost.set_ylabel("slot-seconds (busy or idle)")

    for ax in (ax_lat, ax_util, ax_cost):
        ax.grid(True, axis="y", alpha=0.3)
    ax_lat.legend(fontsize="small")
    scenarios = sorted({r.scenario for r in rs if r.scenario})
    fig.suptitle(f"{' / '.join(scenarios) or 'comparison'}: {' vs '.join(names)}")
    return _save(fig, canvas_cls, target)


def write_all(results: SimResult | Mapping[str, SimResult], out_dir: str | Path) -> list[Path]:
    """All plots into `out_dir`: latency_cdf.png, over_time_<name>.png each, compare.png."""
    if isinstance(results, SimResult):
        results = {results.system: results}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [latency_cdf(results, out / CDF_FILE)]
    used: set[str] = set()
    for name, r in results.items():
        file, n = over_time_file(name), 1
        while file in used:
            n += 1
            file = over_time_file(f"{name}-{n}")
        used.add(file)
        paths.append(over_time(r, out / file))
    paths.append(compare(results, out / COMPARE_FILE))
    return paths
