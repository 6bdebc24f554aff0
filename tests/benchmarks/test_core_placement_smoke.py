"""The core_placement benchmark runs end to end in a tiny configuration and prints its JSON.

Shape only: no timing is asserted (the machine running the tests may be busy).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "core_placement.py"
REQUIRED = {
    "system": str,
    "pods": int,
    "decisions_per_s": float,
    "p50_us": float,
    "p99_us": float,
    "bytes_per_pending_run": float,
}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("core_placement_bench", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def _tiny(bench: ModuleType) -> object:
    return bench.Sizes(
        warmup_steps=3,
        throughput_steps=12,
        latency_steps=6,
        naive_decisions={8: 6, 40: 6},
        pending_target=300,
    )


def test_json_report_has_the_documented_shape(bench: ModuleType) -> None:
    lines: list[str] = []
    bench.main(["--json"], pod_counts=(8, 40), sizes=_tiny(bench), out=lines.append)
    report = json.loads(lines[-1])
    assert set(report) == {"benchmark", "results", "ratio_vs_baseline"}
    assert report["benchmark"] == "core_placement"
    assert report["ratio_vs_baseline"] > 0
    results = report["results"]
    assert {(r["system"], r["pods"]) for r in results} == {
        (system, pods) for system in ("kruntimes", "naive") for pods in (8, 40)
    }
    for result in results:
        for key, kind in REQUIRED.items():
            assert isinstance(result[key], kind), (key, result)
        for key, value in result.items():
            assert key == key.lower()
            assert " " not in key
            assert not isinstance(value, dict | list), f"{key} is not flat"
        assert result["decisions_per_s"] > 0
        assert result["p50_us"] > 0
        assert result["p99_us"] >= result["p50_us"]
        assert result["decisions_measured"] > 0
        if result["system"] == "kruntimes":
            assert result["bytes_per_pending_run"] > 0
        else:
            assert result["bytes_per_pending_run"] >= 0


def test_readable_table_without_json(bench: ModuleType) -> None:
    lines: list[str] = []
    bench.main([], pod_counts=(8,), sizes=_tiny(bench), out=lines.append)
    text = "\n".join(lines)
    assert "kruntimes" in text
    assert "naive" in text
    assert "ratio vs naive" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[-1])


def test_the_naive_baseline_places_on_the_least_loaded_fresh_pod(bench: ModuleType) -> None:
    now = bench.T0
    pods = [bench.make_pod(i, 0, now) for i in range(3)]
    stale = pods[0] = bench.make_pod(0, 0, now - 20.0)  # heartbeat older than 15 s
    spec = bench.make_spec()
    holder = bench.make_run(1, spec)
    holder = bench.evolve(
        holder,
        status=bench.RunStatus(
            phase=bench.Phase.RUNNING, assigned_pod=pods[1].name, assigned_pod_uid=pods[1].uid
        ),
    )
    waiting = bench.make_run(2, spec)
    decisions = bench.naive_cycle(pods, [holder, waiting], now)
    assert decisions == [bench.Bind(waiting.key, pods[2].name, pods[2].uid, 1)]
    assert stale.name != pods[2].name
