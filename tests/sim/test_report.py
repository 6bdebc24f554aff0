"""kruntimes.sim.report: the summary and comparison tables, and JSON."""

from __future__ import annotations

import math
import random

import pytest
from rich.console import Console
from rich.table import Table

from kruntimes.sim.metrics import Metrics
from kruntimes.sim.report import (
    compare_table,
    format_count,
    format_percent,
    format_seconds,
    from_json,
    summary_table,
    to_json,
)
from kruntimes.sim.results import SimResult


def simulated(system: str, *, seed: int, queue_mean: float, pod_seconds: float) -> SimResult:
    """A small deterministic result: Runs with exponential queueing, some warm."""
    rng = random.Random(seed)
    metrics = Metrics(bucket_seconds=1.0)
    t = 0.0
    for i in range(500):
        t += rng.expovariate(10.0)
        bound = t + rng.expovariate(1 / queue_mean)
        started = bound + 0.002
        outcome = "Failed" if i % 25 == 0 else "Succeeded"
        metrics.run_done(
            "py", t, bound, started, started + rng.expovariate(5), outcome, i % 4 != 0, 1
        )
    metrics.run_unfinished("py", t, math.nan, math.nan, "waiting")
    for k in range(60):
        metrics.sample(
            float(k), in_system=3, waiting={}, busy={"py": 2.0}, slots={"py": 4.0}, pods={"py": 2}
        )
    return metrics.result(
        horizon=50.0, end=60.0, scenario="demo", system=system, pod_seconds=pod_seconds
    )


def render(table: Table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0 s"),
        (0.00042, "420 µs"),
        (3e-6, "3 µs"),
        (0.0123, "12.3 ms"),
        (1.5, "1.5 s"),
        (59.0, "59 s"),
        (600.0, "10 min"),
        (7200.0, "2 h"),
        (math.nan, "—"),
    ],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_format_count_and_percent() -> None:
    assert format_count(1234567) == "1,234,567"
    assert format_count(1234.56) == "1,234.6"
    assert format_count(0.25) == "0.25"
    assert format_percent(0.8634) == "86.3%"


def test_summary_table_shows_the_figures() -> None:
    result = simulated("kruntimes", seed=1, queue_mean=0.01, pod_seconds=1200.0)
    text = render(summary_table(result))
    lat = result.latency
    for figure in (
        format_seconds(lat.queueing.p50),
        format_seconds(lat.queueing.p99),
        format_seconds(lat.dispatch.p50),
        format_seconds(lat.end_to_end.p50),
        format_seconds(lat.end_to_end.p99),
        format_percent(result.warm_hit_rate),
        format_percent(result.utilisation),
        format_count(result.pod_seconds),
        format_count(result.succeeded),
        format_count(result.arrived),
    ):
        assert figure in text, figure
    assert "kruntimes" in text
    assert "warm-hit rate" in text
    assert result.utilisation == pytest.approx(0.5)
    assert "50.0%" in text


def test_summary_table_with_a_baseline_has_ratios() -> None:
    ours = simulated("kruntimes", seed=1, queue_mean=0.01, pod_seconds=1000.0)
    base = simulated("one-pod-per-run", seed=2, queue_mean=2.0, pod_seconds=8000.0)
    text = render(summary_table(ours, baseline=base))
    assert "one-pod-per-run" in text
    assert format_seconds(base.latency.end_to_end.p99) in text
    assert f"{1000.0 / 8000.0:.3g}x" in text  # Pod-seconds ratio
    ratio = ours.latency.queueing.p50 / base.latency.queueing.p50
    assert f"{ratio:.3g}x" in text


def test_compare_table_has_a_column_per_policy() -> None:
    a = simulated("kruntimes", seed=1, queue_mean=0.01, pod_seconds=1000.0)
    b = simulated("kruntimes", seed=1, queue_mean=0.5, pod_seconds=500.0)
    text = render(compare_table({"fifo": a, "fair": b}))
    assert "fifo" in text
    assert "fair" in text
    assert "fair / fifo" in text
    assert format_seconds(b.latency.end_to_end.p99) in text
    assert "0.5x" in text  # Pod-seconds: 500 / 1000
    three = render(compare_table({"a": a, "b": b, "c": a}))
    assert " / " not in three.splitlines()[2]  # no ratio column for three


def test_empty_result_renders_dashes() -> None:
    empty = Metrics(bucket_seconds=1.0).result(
        horizon=1.0, end=0.0, scenario="", system="kruntimes", pod_seconds=0.0
    )
    text = render(summary_table(empty))
    assert "—" in text


def test_json_helpers_round_trip() -> None:
    a = simulated("kruntimes", seed=1, queue_mean=0.01, pod_seconds=1000.0)
    b = simulated("one-pod-per-run", seed=2, queue_mean=2.0, pod_seconds=8000.0)
    assert from_json(to_json(a)) == a
    assert from_json(to_json({"kruntimes": a, "baseline": b})) == {"kruntimes": a, "baseline": b}
    assert from_json(to_json(a, indent=None)) == a
