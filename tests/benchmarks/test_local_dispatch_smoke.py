"""The local_dispatch benchmark's parts run end to end in a tiny configuration.

Shape only: no timing is asserted (the machine running the tests may be busy).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import trio

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "local_dispatch.py"
KEYS = {"system", "workload", "start_p50_ms", "complete_p50_ms", "complete_p99_ms", "runs_per_s"}


def load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("local_dispatch_bench", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engine_and_baseline_rows_have_the_documented_shape() -> None:
    bench = load()
    rows = trio.run(bench.kruntimes_results, ["bash", "python"], 3, 10)
    rows += bench.cold_process_results(["python"], 2)
    assert [(r["system"], r["workload"]) for r in rows] == [
        ("kruntimes", "bash"),
        ("kruntimes", "python"),
        ("cold-process", "python"),
    ]
    for row in rows:
        assert set(row) == KEYS
        assert row["runs_per_s"] > 0
        assert 0 < row["start_p50_ms"] <= row["complete_p50_ms"] <= row["complete_p99_ms"]
