"""The sim_validation benchmark's parts run end to end in a tiny configuration.

Shape only: no timing is asserted (the machine running the tests may be busy), only that
every Run yields a consistent timeline on both sides and the report has its keys.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import trio

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "sim_validation.py"
ROW_KEYS = {"system", "metric", "runs", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"}


def load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sim_validation_bench", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engine_and_simulator_timelines_compare_with_the_documented_keys() -> None:
    bench = load()
    arrivals = bench.workload(8, 40.0, seed=3)
    assert len(arrivals) == 8
    assert [a.at for a in arrivals] == sorted(a.at for a in arrivals)

    async def measure():  # type: ignore[no-untyped-def]
        with trio.fail_after(60):  # a hung engine fails the test instead of blocking the suite
            return await bench.measure_engine(arrivals, 3, pods=1, capacity=2)

    measured = trio.run(measure)
    assert len(measured.calibration) == 3
    assert len(measured.runs) == len(measured.submit_lag) == 8
    for t, a in zip(measured.runs, arrivals, strict=True):
        assert t.submitted <= t.bound <= t.started <= t.completed
        assert t.sleep == a.duration
        assert t.execution >= t.sleep  # the Run slept at least that long

    cal = bench.calibrate(measured.calibration)
    simulated = bench.simulate(measured.runs, cal, pods=1, capacity=2)
    assert len(simulated) == 8
    first = measured.runs[0].submitted
    for sim, real in zip(simulated, measured.runs, strict=True):
        assert math.isclose(sim.submitted, real.submitted - first, abs_tol=1e-9)
        assert sim.sleep == real.sleep
        assert sim.bound <= sim.started <= sim.completed
        overhead = sim.execution - sim.sleep  # one of the calibration's samples
        assert any(math.isclose(overhead, o, abs_tol=1e-9) for o in cal.overheads)
    median = bench.simulate(measured.runs, cal, pods=1, capacity=2, overhead="median")
    for sim, real in zip(median, measured.runs, strict=True):
        assert math.isclose(sim.execution, real.sleep + cal.overhead, abs_tol=1e-9)

    report = bench.compare(measured.runs, simulated)
    rows = report["results"]
    assert [(r["system"], r["metric"]) for r in rows] == [
        (system, metric) for system in ("embedded", "simulated") for metric in bench.METRICS
    ]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["runs"] == 8
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert [d["metric"] for d in report["differences"]] == list(bench.METRICS)
    assert 0.0 <= report["ks_end_to_end"] <= 1.0
    assert report["p99_relative_error"] is not None


def test_ks_distance_and_percentiles_by_hand() -> None:
    bench = load()
    assert bench.ks_distance([1, 2, 3], [1, 2, 3]) == 0.0
    assert bench.ks_distance([1, 2], [3, 4]) == 1.0
    assert bench.ks_distance([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert bench.ks_distance([1, 1, 2], [1, 2, 2]) == 1 / 3  # ties: both sides step together
    values = list(range(1, 101))
    assert [bench.percentile(values, q) for q in (0.5, 0.9, 0.99, 1.0)] == [50, 90, 99, 100]
