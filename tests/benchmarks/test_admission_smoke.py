"""The admission benchmark runs end to end in a tiny configuration.

Shape only: no timing is asserted (the machine running the tests may be busy).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "admission.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("admission_bench", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_both_systems_place_every_run_and_report_the_keys(bench: ModuleType) -> None:
    results = bench.run(400, 4, 50, (1, 10))
    assert [(r["system"], r["queues"]) for r in results] == [
        ("no-admission", 1),
        ("kruntimes", 1),
        ("no-admission", 10),
        ("kruntimes", 10),
    ]
    for row in results:
        assert row["bound"] == 400  # 4 Pods x 100 slots: everything fits
        assert row["decisions_per_s"] > 0
        assert row["p99_us"] >= row["p50_us"] > 0
    assert all("ratio_vs_baseline" in r for r in results if r["system"] == "kruntimes")


def test_the_workload_has_gangs_of_eight_and_mixed_priorities(bench: ModuleType) -> None:
    queues, runs = bench.workload(10, 800, 8)
    assert len(queues) == 10
    gangs: dict[str, int] = {}
    for run in runs:
        if run.spec.gang is not None:
            gangs[run.spec.gang.name] = gangs.get(run.spec.gang.name, 0) + 1
    assert gangs
    assert set(gangs.values()) == {8}
    assert {run.spec.priority for run in runs} == {0, 1, 2, 3}
