"""Dispatch latency and throughput on the embedded engine, side by side with baselines.

Setup (the issue's): 2 pools (bash, python) x 4 Pods x capacity 8, SQLite-backed
store (the default), engine and client in one process; after a warm-up.

- latency: Runs submitted one at a time; `start` is submit -> the Run is seen
  `Running` (claimed by its agent), `complete` is submit -> seen terminal, both
  on the store's watch, as a client would see them.
- throughput: N Runs submitted as fast as the store takes them, timed until
  the last is terminal.

Workloads: bash `true` (argv) and a python snippet (`x = 1 + 1`). Baselines in
the same run: a cold process per Run (`bash -c true`, `<venv python> -c pass`
with the real interpreter), `concurrent.futures.ProcessPoolExecutor(2)`, and
Ray / Dask when installed (`pip install kruntimes[bench]`; skipped otherwise).

    python benchmarks/local_dispatch.py [--quick] [--json] [--runs N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from kruntimes.engine.embedded import EmbeddedEngine, EngineConfig
from kruntimes.logs_config import configure_logging
from kruntimes.model import (
    ObjectMeta,
    Phase,
    Run,
    RunMode,
    RunSource,
    RunSpec,
    Runtime,
    RuntimeSpec,
    TaskMode,
)
from kruntimes.store import Store

PYTHON = sys.executable  # the venv interpreter itself: a resolved path would lose the venv


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def make_run(name: str, workload: str) -> Run:
    if workload == "bash":
        spec = RunSpec(runtime="bash", mode=RunMode(task=TaskMode(args=("true",))))
    else:
        spec = RunSpec(runtime="python", source=RunSource(inline="x = 1 + 1"))
    return Run(ObjectMeta(name=name), spec)


class Observer:
    """Records when each Run is first seen Running and terminal, from one watch."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.failed: list[str] = []
        self.events: dict[str, trio.Event] = {}

    async def watch(self, store: Store, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listing = await store.list_runs()
        async with store.watch_runs(listing.resource_version) as events:
            task_status.started()
            async for event in events:
                run = event.object
                if run is None:
                    continue
                name = run.metadata.name
                now = time.perf_counter()
                phase = run.status.phase
                if phase is Phase.RUNNING:
                    self.started.setdefault(name, now)
                elif phase.is_terminal and name not in self.finished:
                    self.finished[name] = now
                    if phase is not Phase.SUCCEEDED:
                        self.failed.append(f"{name}: {run.status.message}")
                    waiter = self.events.pop(name, None)
                    if waiter is not None:
                        waiter.set()


async def kruntimes_results(
    workloads: list[str], latency_runs: int, throughput_runs: int
) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = tuple(
            Runtime(ObjectMeta(name=name), RuntimeSpec(replicas=4, capacity={"runs": 8}))
            for name in ("bash", "python")
        )
        config = EngineConfig(
            state_dir=Path(tmp), runtimes=runtimes, serve=False, load_entry_points=False
        )
        engine = EmbeddedEngine(config)
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            await engine.wait_until_ready()
            store = engine.store
            assert store is not None
            observer = Observer()
            await nursery.start(observer.watch, store)
            for workload in workloads:
                for i in range(50):  # warm-up: every worker has run something
                    await store.create(make_run(f"warm-{workload}-{i}", workload))
                await _wait_finished(observer, [f"warm-{workload}-{i}" for i in range(50)])
                starts, completes = [], []
                for i in range(latency_runs):
                    name = f"lat-{workload}-{i}"
                    done = observer.events[name] = trio.Event()
                    t0 = time.perf_counter()
                    await store.create(make_run(name, workload))
                    await done.wait()
                    starts.append((observer.started.get(name, observer.finished[name]) - t0) * 1e3)
                    completes.append((observer.finished[name] - t0) * 1e3)
                names = [f"tp-{workload}-{i}" for i in range(throughput_runs)]
                t0 = time.perf_counter()
                for name in names:
                    await store.create(make_run(name, workload))
                await _wait_finished(observer, names)
                elapsed = max(observer.finished[n] for n in names) - t0
                results.append(
                    {
                        "system": "kruntimes",
                        "workload": workload,
                        "start_p50_ms": round(statistics.median(starts), 3),
                        "complete_p50_ms": round(statistics.median(completes), 3),
                        "complete_p99_ms": round(pct(completes, 0.99), 3),
                        "runs_per_s": round(throughput_runs / elapsed, 1),
                    }
                )
            if observer.failed:
                raise SystemExit(
                    f"{len(observer.failed)} Runs did not succeed, e.g. {observer.failed[0]}"
                )
            nursery.cancel_scope.cancel()
    return results


async def _wait_finished(observer: Observer, names: list[str]) -> None:
    for name in names:
        if name not in observer.finished:
            done = observer.events[name] = trio.Event()
            await done.wait()


def _cold(workload: str) -> list[str]:
    return ["bash", "-c", "true"] if workload == "bash" else [PYTHON, "-c", "x = 1 + 1"]


def cold_process_results(workloads: list[str], runs: int) -> list[dict[str, Any]]:
    results = []
    for workload in workloads:
        argv = _cold(workload)
        latencies = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True)
            latencies.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(subprocess.run, [argv] * runs))
        rate = runs / (time.perf_counter() - t0)
        results.append(_baseline("cold-process", workload, latencies, rate))
    return results


def _noop_bash() -> int:
    return subprocess.run(["bash", "-c", "true"], check=True).returncode


def _noop_python() -> int:
    x = 1 + 1
    return x


def process_pool_results(workloads: list[str], runs: int, throughput: int) -> list[dict[str, Any]]:
    results = []
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        for workload in workloads:
            fn = _noop_bash if workload == "bash" else _noop_python
            for _ in range(20):
                pool.submit(fn).result()
            latencies = []
            for _ in range(runs):
                t0 = time.perf_counter()
                pool.submit(fn).result()
                latencies.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            for future in [pool.submit(fn) for _ in range(throughput)]:
                future.result()
            rate = throughput / (time.perf_counter() - t0)
            results.append(_baseline("process-pool", workload, latencies, rate))
    return results


def ray_results(workloads: list[str], runs: int, throughput: int) -> list[dict[str, Any]]:
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError:
        return []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = []
        for workload in workloads:
            fn = ray.remote(_noop_bash if workload == "bash" else _noop_python)
            ray.get([fn.remote() for _ in range(50)])
            latencies = []
            for _ in range(runs):
                t0 = time.perf_counter()
                ray.get(fn.remote())
                latencies.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            ray.get([fn.remote() for _ in range(throughput)])
            results.append(
                _baseline("ray", workload, latencies, throughput / (time.perf_counter() - t0))
            )
        return results
    finally:
        ray.shutdown()


def dask_results(workloads: list[str], runs: int, throughput: int) -> list[dict[str, Any]]:
    try:
        from dask.distributed import Client, LocalCluster  # type: ignore[import-not-found]
    except ImportError:
        return []
    results = []
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        for workload in workloads:
            fn = _noop_bash if workload == "bash" else _noop_python
            latencies = []
            for _ in range(runs):
                t0 = time.perf_counter()
                client.submit(fn, pure=False).result()
                latencies.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            client.gather([client.submit(fn, pure=False) for _ in range(throughput)])
            results.append(
                _baseline("dask", workload, latencies, throughput / (time.perf_counter() - t0))
            )
    return results


def _baseline(system: str, workload: str, latencies: list[float], rate: float) -> dict[str, Any]:
    p50 = round(statistics.median(latencies), 3)
    return {
        "system": system,
        "workload": workload,
        "start_p50_ms": p50,  # a cold process or pool task starts and completes in one step
        "complete_p50_ms": p50,
        "complete_p99_ms": round(pct(latencies, 0.99), 3),
        "runs_per_s": round(rate, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Embedded-engine dispatch vs baselines")
    parser.add_argument("--quick", action="store_true", help="a few seconds: fewer Runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--runs", type=int, default=None, help="throughput Runs per workload")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    workloads = ["bash", "python"]
    latency_runs = 100 if args.quick else 500
    throughput = args.runs or (1000 if args.quick else 10_000)
    baseline_runs = 50 if args.quick else 300
    results = trio.run(kruntimes_results, workloads, latency_runs, throughput)
    results += cold_process_results(workloads, baseline_runs)
    results += process_pool_results(workloads, baseline_runs, throughput)
    results += ray_results(workloads, baseline_runs, throughput)
    results += dask_results(workloads, baseline_runs, min(throughput, 2000))
    ours = {r["workload"]: r for r in results if r["system"] == "kruntimes"}
    cold = {r["workload"]: r for r in results if r["system"] == "cold-process"}
    ratio = round(cold["python"]["complete_p50_ms"] / ours["python"]["complete_p50_ms"], 1)
    report = {"benchmark": "local_dispatch", "results": results, "ratio_vs_baseline": ratio}
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return report


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="local_dispatch (ms; Runs/s)")
    keys = [
        "system",
        "workload",
        "start_p50_ms",
        "complete_p50_ms",
        "complete_p99_ms",
        "runs_per_s",
    ]
    for key in keys:
        table.add_column(key, justify="left" if key in ("system", "workload") else "right")
    for row in report["results"]:
        table.add_row(*(str(row[k]) for k in keys))
    Console().print(table)
    print(f"python p50: cold process / kruntimes = {report['ratio_vs_baseline']}x")


if __name__ == "__main__":
    main()
