"""simulate: simulated Runs per wall-second, 1,000,000 Runs over 10,000 Pods, flat memory.

Workload (seeded): one runtime, `pods` Pods of capacity `runs: 4`; Poisson arrivals at 70 %
of the pool's throughput (durations exponential, mean 1 s), until `runs` Runs arrived;
dispatch 2 ms. Every Run goes through the real core (the built-in plugins): arrival, a
cycle that binds it, the agent's claim, its end.

- **kruntimes**: `kruntimes.sim.Simulation` (the core in virtual time).
- **one-pod-per-run**: `kruntimes.sim.one_pod_per_run` on the same arrivals: the baseline
  model of the same workload, with no core (what the event loop and the metrics cost alone).
- `simulated_runs_per_s`: Runs / wall seconds of the whole simulation (arrival generation,
  the core, metrics and the result included; setup of the Pods too).
- `peak_rss_mb`: the peak resident set of a fresh process that ran only that simulation
  (each row runs in its own child process). Memory must not grow with the trace: the
  `runs_small` row (a tenth of the Runs, same Pods) shows the flat line.
- `speedup_vs_real_time`: simulated seconds per wall second.
- `ratio_vs_baseline`: kruntimes simulated_runs_per_s over one-pod-per-run's.
- Target: 1,000,000 Runs over 10,000 Pods in <= 60 s on one core.

    python benchmarks/simulate.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

from kruntimes.sim.arrivals import Poisson, Workload, scenario_arrivals
from kruntimes.sim.baseline import one_pod_per_run
from kruntimes.sim.distributions import Constant, Exponential
from kruntimes.sim.engine import Simulation
from kruntimes.sim.setup import PoolSpec, SimSetup

SLOTS = 4
LOAD = 0.7
MEAN_SECONDS = 1.0
DISPATCH = Constant(0.002)


def measure(system: str, runs: int, pods: int) -> dict[str, Any]:
    rate = LOAD * pods * SLOTS / MEAN_SECONDS
    horizon = runs / rate * 1.2  # the `runs` cap ends the arrivals before
    work = Workload(
        runtime="python", process=Poisson(rate), duration=Exponential(MEAN_SECONDS), runs=runs
    )
    arrivals = scenario_arrivals([work], seed=1, until=horizon)
    began = time.perf_counter()
    if system == "kruntimes":
        setup = SimSetup(
            pools=(PoolSpec("python", pods, capacity={"runs": SLOTS}),), dispatch=DISPATCH
        )
        result = Simulation(setup, seed=1).run(arrivals, horizon=horizon)
    else:
        result = one_pod_per_run(arrivals, horizon=horizon, dispatch=DISPATCH, seed=1)
    wall = time.perf_counter() - began
    if not (result.conserved and result.arrived == runs):
        raise RuntimeError(f"lost Runs: {result.arrived} arrived of {runs}")
    return {
        "system": system,
        "runs": result.arrived,
        "pods": pods,
        "wall_s": round(wall, 2),
        "simulated_runs_per_s": round(result.arrived / wall),
        "speedup_vs_real_time": round(result.end / wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "p99_end_to_end_s": round(result.latency.end_to_end.p99, 4),
        "utilisation": round(result.utilisation, 3),
        "littles_law_error": round(result.littles_law.relative_error, 5),
    }


def in_child(system: str, runs: int, pods: int) -> dict[str, Any]:
    """`measure` in a fresh interpreter, so its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", system, str(runs), str(pods)],
        check=True,
        capture_output=True,
        text=True,
    )
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def run(runs: int, pods: int) -> list[dict[str, Any]]:
    rows = []
    for system in ("kruntimes", "one-pod-per-run"):
        row = in_child(system, runs, pods)
        small = in_child(system, runs // 10, pods)
        row["runs_small"] = small["runs"]
        row["peak_rss_mb_small"] = small["peak_rss_mb"]
        rows.append(row)
        print(f"  {system}: {row['wall_s']} s", file=sys.stderr, flush=True)
    ours, base = rows
    ours["ratio_vs_baseline"] = round(
        ours["simulated_runs_per_s"] / base["simulated_runs_per_s"], 3
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 Runs over 1,000 Pods")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.add_argument(
        "--child", nargs=3, metavar=("SYSTEM", "RUNS", "PODS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        system, runs, pods = args.child
        print(json.dumps(measure(system, int(runs), int(pods))))
        return
    runs, pods = (100_000, 1_000) if args.quick else (1_000_000, 10_000)
    results = run(runs, pods)
    if args.json:
        print(json.dumps({"benchmark": "simulate", "results": results}))
        return
    for row in results:
        ratio = f" ratio={row['ratio_vs_baseline']}" if "ratio_vs_baseline" in row else ""
        print(
            f"{row['system']:>16} runs={row['runs']:>8} pods={row['pods']:>6} "
            f"wall={row['wall_s']:>6}s runs/s={row['simulated_runs_per_s']:>8} "
            f"speedup={row['speedup_vs_real_time']:>6}x rss={row['peak_rss_mb']}MB "
            f"(at {row['runs_small']} runs: {row['peak_rss_mb_small']}MB){ratio}"
        )


if __name__ == "__main__":
    main()
