"""Dispatch latency and throughput on a real kube-apiserver, with the API floor measured beside it.

Setup (the Go project's published one): one bash Runtime of 2 Pods x 64
slots, no-op Runs (`true`), 25 concurrent creators, 500 Runs (`--quick`: 100).
The apiserver (v1.20, etcd on loopback, watch cache on as in clusters) runs
here, the controller in a process of its own (as in its own Pod), started
with the image's command line; the `KubeletSimulator` runs each Pod's Runtime
Server and agent as local processes that talk to the apiserver, exactly as
in the end-to-end tests.

- create -> Scheduled / Running / Succeeded: from just before the create
  request to the Run's version seen on a watch, as a client sees it;
- Runs/s: all Runs created by the 25 creators until the last is Succeeded;
- API writes per Run: status writes seen on the watch per Run (the create
  is the user's and not counted); heartbeats are per Pod, not per Run.
- arrivals: `burst` (the Go project's setup: creators as fast as they can,
  so latency is mostly queueing behind the backlog) and `paced` at 100/s
  (below the sustained rate: the latency of the pipeline itself);
- baseline, same run: the apiserver's own floor: create a ConfigMap and see
  it on a watch (no scheduling, no execution).

The Go project's published figures (kind cluster, same Pods/slots, 50 Runs):
create -> Scheduled p50 207 ms / p95 302 ms; -> Succeeded p50 580 ms /
p95 628 ms; 11.3 Runs/s.

    python benchmarks/k8s_dispatch.py [--quick] [--json] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import trio

from kruntimes.adapters.kubernetes.crds import crd_manifests
from kruntimes.adapters.kubernetes.informer import list_raw, watch_raw
from kruntimes.logs_config import configure_logging
from kruntimes.model import ObjectMeta, Phase, Run, RunMode, RunSpec, TaskMode
from kruntimes.store import EventType
from kruntimes.testing.kube_cluster import Cluster, builtin_runtime
from kruntimes.testing.kube_env import KubeTestEnv

CREATORS = 25
PODS = 2
SLOTS = 64
PACED_RATE = 100.0
"""Arrivals below what this 2-core machine sustains: latency without a queue."""
GO_PUBLISHED = {
    "schedule_p50_ms": 207.0,
    "schedule_p95_ms": 302.0,
    "complete_p50_ms": 580.0,
    "complete_p95_ms": 628.0,
    "runs_per_s": 11.3,
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def noop_run(name: str, namespace: str) -> Run:
    spec = RunSpec(runtime="bash", mode=RunMode(task=TaskMode(args=("true",))))
    return Run(metadata=ObjectMeta(name=name, namespace=namespace), spec=spec)


async def dispatch(
    cluster: Cluster, runs: int, prefix: str = "bench", rate: float | None = None
) -> dict[str, Any]:
    """`runs` Runs from 25 creators: as fast as they can (`rate=None`) or paced at `rate`/s."""
    ns = cluster.namespace
    created_at: dict[str, float] = {}
    seen: dict[str, dict[Phase, float]] = defaultdict(dict)
    writes: dict[str, int] = defaultdict(int)
    done = trio.Event()
    names = [f"{prefix}-{i}" for i in range(runs)]
    wanted = set(names)

    async def watch(task_status: Any) -> None:
        listing = await cluster.store.list_runs(ns)
        async with cluster.store.watch_runs(listing.resource_version, ns) as events:
            task_status.started()
            finished = 0
            async for event in events:
                run = event.object
                if run is None:
                    continue
                name = run.metadata.name
                if name not in wanted:
                    continue
                if event.type is EventType.MODIFIED:
                    writes[name] += 1
                phase = run.status.phase
                if phase not in seen[name]:
                    seen[name][phase] = time.perf_counter()
                    if phase.is_terminal:
                        finished += 1
                        if finished == runs:
                            done.set()
                            return

    async def creator(first: int) -> None:
        for index in range(first, runs, CREATORS):
            if rate is not None:
                await trio.sleep_until(start_at + index / rate)
            name = names[index]
            created_at[name] = time.perf_counter()
            await cluster.store.create(noop_run(name, ns))

    async with trio.open_nursery() as nursery:
        await nursery.start(watch)
        started, start_at = time.perf_counter(), trio.current_time()
        for i in range(CREATORS):
            nursery.start_soon(creator, i)
        await done.wait()
        elapsed = time.perf_counter() - started

    def latencies(phase: Phase) -> list[float]:
        return [(seen[n][phase] - created_at[n]) * 1000 for n in names if phase in seen[n]]

    failed = [n for n in names if Phase.SUCCEEDED not in seen[n]]
    if failed:
        raise RuntimeError(f"{len(failed)} Runs did not succeed, e.g. {failed[:3]}")
    schedule, running, complete = (
        latencies(p) for p in (Phase.SCHEDULED, Phase.RUNNING, Phase.SUCCEEDED)
    )
    return {
        "system": "kruntimes",
        "arrivals": "burst" if rate is None else f"paced {rate:g}/s",
        "runs": runs,
        "schedule_p50_ms": round(pct(schedule, 0.5), 1),
        "schedule_p95_ms": round(pct(schedule, 0.95), 1),
        "running_p50_ms": round(pct(running, 0.5), 1),
        "complete_p50_ms": round(pct(complete, 0.5), 1),
        "complete_p95_ms": round(pct(complete, 0.95), 1),
        "runs_per_s": round(runs / elapsed, 1),
        "api_writes_per_run": round(statistics.mean(writes[n] for n in names), 2),
    }


async def api_floor(cluster: Cluster, count: int) -> dict[str, Any]:
    """Create a ConfigMap and see it on a watch: what any controller pays per object."""
    api, ns = cluster.api, cluster.namespace
    path = f"/api/v1/namespaces/{ns}/configmaps"
    listing = await list_raw(api, path)
    seen: dict[str, float] = {}
    created_at: dict[str, float] = {}
    names = [f"floor-{i}" for i in range(count)]
    done = trio.Event()

    async def watch(task_status: Any) -> None:
        async with watch_raw(api, path, listing.resource_version) as events:
            task_status.started()
            async for event in events:
                if event.type == "ADDED":
                    seen.setdefault(event.object["metadata"]["name"], time.perf_counter())
                    if all(n in seen for n in names):
                        done.set()
                        return

    async def creator(mine: list[str]) -> None:
        for name in mine:
            created_at[name] = time.perf_counter()
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
            await api.request("POST", path, body=body)

    async with trio.open_nursery() as nursery:
        await nursery.start(watch)
        started = time.perf_counter()
        for i in range(CREATORS):
            nursery.start_soon(creator, names[i::CREATORS])
        await done.wait()
        elapsed = time.perf_counter() - started
    latencies = [(seen[n] - created_at[n]) * 1000 for n in names]
    return {
        "system": "apiserver-floor (ConfigMap create -> watch)",
        "arrivals": "burst",
        "runs": count,
        "schedule_p50_ms": round(pct(latencies, 0.5), 1),
        "schedule_p95_ms": round(pct(latencies, 0.95), 1),
        "runs_per_s": round(count / elapsed, 1),
    }


async def measure(runs: int, root: Path) -> list[dict[str, Any]]:
    env = await trio.to_thread.run_sync(lambda: KubeTestEnv.start(root / "apiserver"))
    try:
        await trio.to_thread.run_sync(env.install_crds, crd_manifests())
        namespace = await trio.to_thread.run_sync(env.new_namespace, "bench")
        runtime = builtin_runtime("bash", namespace, replicas=PODS, capacity=SLOTS)
        async with Cluster.start(
            env, namespace, root / "pods", runtimes=[runtime], controller_process=True
        ) as cluster:
            await dispatch(cluster, min(runs, 50), "warm-up")  # connections, workers, caches
            floor = await api_floor(cluster, runs)
            burst = await dispatch(cluster, runs)
            paced = await dispatch(cluster, runs, "paced", rate=PACED_RATE)
        return [burst, paced, floor]
    finally:
        await trio.to_thread.run_sync(env.stop)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="kruntimes on a kube-apiserver vs the API floor")
    parser.add_argument("--quick", action="store_true", help="100 Runs instead of 500")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    os.environ.setdefault("KRUNTIMES_TEST_CACHE", str(Path(__file__).parents[1] / ".cache/testenv"))
    runs = args.runs or (100 if args.quick else 500)
    with tempfile.TemporaryDirectory(prefix="k8s-dispatch-") as tmp:
        rows = trio.run(measure, runs, Path(tmp))
    ours, _paced, floor = rows
    report = {
        "setup": f"{PODS} Pods x {SLOTS} slots, {CREATORS} creators, {runs} no-op Runs",
        "results": rows,
        "go_published": GO_PUBLISHED,
        "schedule_vs_api_floor": round(ours["schedule_p50_ms"] / floor["schedule_p50_ms"], 1),
        "vs_go": {
            key: round(GO_PUBLISHED[key] / ours[key], 1)
            if "ms" in key
            else round(ours[key] / GO_PUBLISHED[key], 1)
            for key in GO_PUBLISHED
        },
    }
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    print("vs Go (published, x better):", report["vs_go"])
    print("create -> Scheduled p50 / API floor p50:", report["schedule_vs_api_floor"])
    if args.json:
        print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
