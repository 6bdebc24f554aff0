"""kruntimes.sim.plots: PNG files that exist, are PNGs and show something."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from kruntimes.sim import plots
from kruntimes.sim.metrics import Metrics
from kruntimes.sim.results import SimResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def simulated(system: str, *, seed: int, queue_mean: float) -> SimResult:
    rng = random.Random(seed)
    metrics = Metrics(bucket_seconds=1.0)
    t = 0.0
    for _ in range(2000):
        t += rng.expovariate(20.0)
        runtime = rng.choice(["python", "node"])
        bound = t + (0.0 if rng.random() < 0.5 else rng.expovariate(1 / queue_mean))
        started = bound + 0.002
        metrics.run_done(
            runtime, t, bound, started, started + rng.expovariate(4), "Succeeded", bound == t, 1
        )
    metrics.run_done("python", 1.0, math.nan, math.nan, 1.0, "Failed", False, 0)
    for k in range(110):
        metrics.sample(
            float(k),
            in_system=10 + k % 7,
            waiting={"NoCapacity": k % 5, "QuotaExceeded": k % 3},
            busy={"python": float(k % 4), "node": 1.0},
            slots={"python": 4.0, "node": 2.0},
            pods={"python": 2 + k // 50, "node": 1},
        )
    return metrics.result(
        horizon=100.0, end=110.0, scenario="demo", system=system, pod_seconds=1000.0 + seed
    )


@pytest.fixture(scope="module")
def results() -> dict[str, SimResult]:
    return {
        "kruntimes": simulated("kruntimes", seed=1, queue_mean=0.05),
        "one-pod-per-run": simulated("one-pod-per-run", seed=2, queue_mean=2.0),
    }


def assert_png(path: Path) -> None:
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000  # axes, lines and text, not a blank canvas


def test_write_all(results: dict[str, SimResult], tmp_path: Path) -> None:
    paths = plots.write_all(results, tmp_path / "out")
    names = [p.name for p in paths]
    assert names == [
        "latency_cdf.png",
        "over_time_kruntimes.png",
        "over_time_one-pod-per-run.png",
        "compare.png",
    ]
    for path in paths:
        assert path.parent == tmp_path / "out"
        assert_png(path)


def test_each_plot_to_a_file_or_a_directory(results: dict[str, SimResult], tmp_path: Path) -> None:
    cdf = plots.latency_cdf(results, tmp_path / "mine.png")
    assert cdf == tmp_path / "mine.png"
    assert_png(cdf)
    assert_png(plots.over_time(results["kruntimes"], tmp_path))
    assert (tmp_path / "over_time_kruntimes.png").is_file()
    assert plots.compare(results, tmp_path / "sub") == tmp_path / "sub" / "compare.png"
    assert_png(tmp_path / "sub" / "compare.png")


def test_output_is_deterministic(results: dict[str, SimResult], tmp_path: Path) -> None:
    first = plots.compare(results, tmp_path / "a.png").read_bytes()
    second = plots.compare(results, tmp_path / "b.png").read_bytes()
    assert first == second


def test_single_result_and_same_names(tmp_path: Path) -> None:
    one = simulated("kruntimes", seed=3, queue_mean=0.1)
    paths = plots.write_all(one, tmp_path)
    assert [p.name for p in paths] == ["latency_cdf.png", "over_time_kruntimes.png", "compare.png"]
    clash = plots.write_all({"a b": one, "a-b": one}, tmp_path / "clash")
    assert len({p.name for p in clash}) == 4


def test_empty_result_still_plots(tmp_path: Path) -> None:
    empty = Metrics(bucket_seconds=1.0).result(
        horizon=1.0, end=0.0, scenario="", system="kruntimes", pod_seconds=0.0
    )
    for path in plots.write_all({"empty": empty}, tmp_path):
        assert path.read_bytes()[:8] == PNG_MAGIC
