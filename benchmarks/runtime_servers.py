"""runtime_servers: execute -> finished round trips through the built-in Runtime Servers.

What runs
---------
Two built-in servers are started as real processes on Unix sockets, exactly
as the engine starts them, and driven by one `NativeRuntimeClient` each
(one connection per server, as one agent per Pod holds):

* `bash_server`, workload `bash -c true`: an inline source `true`, so the
  server posix_spawns `bash -c true kruntimes` in a new session with
  stdout/stderr pipes and watches its exit with a pidfd.
* `python_server`, workload `python snippet`: the inline snippet `x = 1`,
  exec'd in fresh globals by a warm pre-forked worker.

Against the cold way of doing the same, in the same run:

* `subprocess`, `bash -c true`: `subprocess.run([bash, "-c", "true"])`.
* `subprocess`, `python -c pass`: `subprocess.run([python, "-c", "pass"])` with
  the real interpreter behind this virtual environment
  (`os.path.realpath(sys.executable)`), not a shell shim.

What is measured (`time.perf_counter`)
---------------------------------------
* `p50_ms` / `p99_ms`: one Run at a time; from just before `execute()` to
  `wait()` returning the final status (pushed by the server). The
  `forget()` that follows is not timed. For the baselines: one
  `subprocess.run` call.
* `runs_per_s`: `concurrency` tasks (servers) or threads (baselines) each
  run Runs back to back, `execute + wait + forget` per Run, for
  `throughput_runs` Runs in total; Runs / wall-clock seconds. The servers
  run with `capacity` = `concurrency`, as the scheduler never places more
  Runs on a Pod than its capacity.
* `ratio_vs_baseline`: python server `runs_per_s` / cold python `runs_per_s`.

The machine is shared with the client, the server and its workers (2 cores
here), so these are whole-system numbers; sub-millisecond figures move
about +-30% between runs.

Usage: `python benchmarks/runtime_servers.py [--quick] [--json]`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from kruntimes.runtimes.api import ExecuteRequest
from kruntimes.runtimes.native import NativeRuntimeClient

BASH = shutil.which("bash") or "/bin/bash"
PYTHON = os.path.realpath(sys.executable)
BASH_CONCURRENCY = 8
PYTHON_CONCURRENCY = 4


@dataclass(frozen=True)
class Sizes:
    warmup_runs: int
    latency_runs: int
    throughput_runs: int
    cold_bash_runs: int
    cold_python_runs: int


FULL = Sizes(
    warmup_runs=200,
    latency_runs=3_000,
    throughput_runs=10_000,
    cold_bash_runs=1_500,
    cold_python_runs=300,
)
QUICK = Sizes(
    warmup_runs=50, latency_runs=400, throughput_runs=1_500, cold_bash_runs=200, cold_python_runs=40
)


@contextmanager
def running_server(kind: str, capacity: int) -> Iterator[str]:
    """Start a built-in server and yield its socket once it accepts connections."""
    root = tempfile.mkdtemp(prefix="krt-bench-", dir="/tmp")
    socket = os.path.join(root, "s.sock")
    ready_r, ready_w = os.pipe()
    module = f"kruntimes.runtimes.{kind}_server"
    options = ["--socket", socket, "--capacity", str(capacity), "--ready-fd", str(ready_w)]
    process = subprocess.Popen([sys.executable, "-m", module, *options], pass_fds=[ready_w])
    os.close(ready_w)
    try:
        readable, _, _ = select.select([ready_r], [], [], 30)
        if not readable or os.read(ready_r, 16) != b"ready\n":
            raise RuntimeError(f"{kind} server did not start")
        yield socket
    finally:
        os.close(ready_r)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def measure_server(
    kind: str,
    workload: str,
    request: Callable[[str], ExecuteRequest],
    concurrency: int,
    sizes: Sizes,
) -> dict[str, Any]:
    ids = (f"bench-{n}" for n in itertools.count())

    async def one(client: NativeRuntimeClient) -> float:
        execution = request(next(ids))
        began = time.perf_counter()
        await client.execute(execution)
        await client.wait(execution.id)
        elapsed = time.perf_counter() - began
        await client.forget(execution.id)
        return elapsed

    async def measure(socket: str) -> tuple[list[float], float]:
        async with NativeRuntimeClient(socket) as client:
            for _ in range(sizes.warmup_runs):
                await one(client)
            latencies = [await one(client) for _ in range(sizes.latency_runs)]
            per_task = sizes.throughput_runs // concurrency

            async def loop() -> None:
                for _ in range(per_task):
                    await one(client)

            began = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(concurrency):
                    nursery.start_soon(loop)
            return latencies, per_task * concurrency / (time.perf_counter() - began)

    with running_server(kind, concurrency) as socket:
        latencies, rate = trio.run(measure, socket)
    return result(f"{kind}_server", workload, latencies, rate, concurrency, sizes.throughput_runs)


def measure_cold(workload: str, argv: list[str], runs: int, concurrency: int) -> dict[str, Any]:
    def one() -> float:
        began = time.perf_counter()
        subprocess.run(argv, check=True)
        return time.perf_counter() - began

    for _ in range(max(5, runs // 20)):
        one()
    latencies = [one() for _ in range(runs)]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: one(), range(runs)))
    rate = runs / (time.perf_counter() - began)
    return result("subprocess", workload, latencies, rate, concurrency, runs)


def result(
    system: str, workload: str, latencies: list[float], rate: float, concurrency: int, runs: int
) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    quantiles = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "system": system,
        "workload": workload,
        "p50_ms": round(quantiles[49], 3),
        "p99_ms": round(quantiles[98], 3),
        "runs_per_s": round(rate, 1),
        "latency_runs": len(ms),
        "throughput_runs": runs,
        "concurrency": concurrency,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    results = [
        measure_server(
            "bash",
            "bash -c true",
            lambda id: ExecuteRequest(id=id, source="true"),
            BASH_CONCURRENCY,
            sizes,
        ),
        measure_cold("bash -c true", [BASH, "-c", "true"], sizes.cold_bash_runs, 2),
        measure_server(
            "python",
            "python snippet",
            lambda id: ExecuteRequest(id=id, source="x = 1"),
            PYTHON_CONCURRENCY,
            sizes,
        ),
        measure_cold("python -c pass", [PYTHON, "-c", "pass"], sizes.cold_python_runs, 2),
    ]
    ratio = round(results[2]["runs_per_s"] / results[3]["runs_per_s"], 1)
    report = {"benchmark": "runtime_servers", "results": results, "ratio_vs_baseline": ratio}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"runtime_servers (Python {platform.python_version()}, {os.cpu_count()} CPUs)")
        header = (
            f"{'system':<15} {'workload':<16} {'p50 ms':>8} {'p99 ms':>8} {'runs/s':>9} {'conc':>5}"
        )
        print(header)
        print("-" * len(header))
        for r in results:
            print(
                f"{r['system']:<15} {r['workload']:<16} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                f"{r['runs_per_s']:>9,.0f} {r['concurrency']:>5}"
            )
        print(f"ratio_vs_baseline (python runs/s, warm / cold): {ratio}")
    return report


if __name__ == "__main__":
    main()
