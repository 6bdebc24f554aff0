"""The k8s_dispatch benchmark's parts run end to end on the test apiserver, tiny.

Shape only: no timing is asserted (the machine running the tests may be busy).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import trio

from kruntimes.testing.kube_cluster import Cluster, builtin_runtime
from kruntimes.testing.kube_env import KubeTestEnv

pytestmark = pytest.mark.e2e

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "k8s_dispatch.py"
KEYS = {
    "schedule_p50_ms",
    "schedule_p95_ms",
    "running_p50_ms",
    "complete_p50_ms",
    "complete_p95_ms",
    "runs_per_s",
    "api_writes_per_run",
}


def load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("k8s_dispatch_bench", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_have_the_documented_keys(krt_kube_env: KubeTestEnv, tmp_path: Path) -> None:
    bench = load()

    async def main() -> list[dict[str, object]]:
        ns = krt_kube_env.new_namespace("bench")
        runtime = builtin_runtime("bash", ns, replicas=2, capacity=4)
        with trio.fail_after(120):
            async with Cluster.start(krt_kube_env, ns, tmp_path, runtimes=[runtime]) as cluster:
                burst = await bench.dispatch(cluster, 8)
                paced = await bench.dispatch(cluster, 6, "paced", rate=50.0)
                floor = await bench.api_floor(cluster, 5)
        return [burst, paced, floor]

    burst, paced, floor = trio.run(main)
    for row in (burst, paced):
        assert set(row) >= KEYS
        assert row["api_writes_per_run"] == 3
        assert 0 < row["schedule_p50_ms"] <= row["complete_p50_ms"]
    assert paced["arrivals"] == "paced 50/s"
    assert floor["runs_per_s"] > 0
