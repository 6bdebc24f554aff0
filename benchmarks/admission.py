"""admission: decisions/s of the core with RunQueues, fair share and gangs, against none.

Workload (seeded, identical for both systems): `pods` Runtime Pods of one runtime with
capacity `runs: 100` (100,000 slots at 1,000 Pods); `runs` Pending Runs of mixed priority
(0-3), spread over `queues` RunQueues, one in eight of them in gangs of 8. Queues have a
weight of 1-3 and a quota on `runs` worth twice their fair part of the pool; they come in
cohorts of 10 (so quota checks, borrowing and the fair-share heap all run). Everything is fed
to the core first (not timed); then `cycle(now, max_binds=1024)` is called until every Run is
bound, as the engine does.

- **kruntimes**: `SchedulerConfig()` (admission on). **no-admission**: the same Runs with
  `SchedulerConfig(admission=False)`: queue and gang fields are ignored, Runs are placed by
  priority alone (this is the core without this feature).
- `decisions_per_s`: binds / time inside `cycle()` calls.
- `p99_us` (and `p50_us`): the latency of one decision, measured on a second, smaller pass
  (`latency_runs` Runs on a fresh core, the same Pods and queues) as the duration of
  `cycle(now, max_binds=1)` calls that bind, i.e. including what a cycle costs before its
  first bind (the fair-share heap over the pool's queues).
- `ratio_vs_baseline`: kruntimes decisions/s over no-admission decisions/s, same queue count.
- Each pair is measured `repeats` times (3; 1 with `--quick`), alternating the systems, and
  each row is its system's median run: single runs of this Python workload vary by about
  +-15 % on a shared machine.
- The garbage collector stays on. Before each timed phase the heap is collected and what
  survives (the fed Runs, Pods and queues) is frozen (`gc.freeze`), as it would be old in
  a long-running engine; `gc_in_timed_ms` is the collection time inside timed calls.

    python benchmarks/admission.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Iterable

from kruntimes import new_scheduler
from kruntimes.core import QueueUpserted, SchedulerConfig
from kruntimes.core.scheduler import Scheduler
from kruntimes.model import GangSpec, Run, RunQueue
from kruntimes.testing.builders import make_pod, make_queue, make_run

NOW = 1_000_000.0
POD_SLOTS = 100
GANG = 8
COHORT_SIZE = 10


def workload(queues: int, runs: int, pods: int, seed: int = 7) -> tuple[list[RunQueue], list[Run]]:
    rnd = random.Random(seed)
    slots = pods * POD_SLOTS
    weights = [rnd.choice((1.0, 2.0, 3.0)) for _ in range(queues)]
    total = sum(weights)
    queue_objs = [
        make_queue(
            f"q{i:04d}",
            weight=w,
            quota={"runs": max(GANG, int(2 * slots * w / total))},
            cohort=f"c{i // COHORT_SIZE}" if queues > 1 else None,
        )
        for i, w in enumerate(weights)
    ]
    out: list[Run] = []
    gang_runs = runs // GANG // GANG * GANG  # one in eight Runs, in whole gangs
    n = 0
    while len(out) < gang_runs:
        queue = f"q{rnd.randrange(queues):04d}"
        priority = rnd.randrange(4)
        for _ in range(GANG):
            out.append(
                make_run(
                    f"g{n}-{len(out)}", queue=queue, priority=priority, gang=GangSpec(f"g{n}", GANG)
                )
            )
        n += 1
    while len(out) < runs:
        out.append(
            make_run(
                f"r{len(out)}", queue=f"q{rnd.randrange(queues):04d}", priority=rnd.randrange(4)
            )
        )
    rnd.shuffle(out)
    return queue_objs, out


def fed(admission: bool, queues: Iterable[RunQueue], runs: Iterable[Run], pods: int) -> Scheduler:
    scheduler = new_scheduler(SchedulerConfig(admission=admission), load_entry_points=False)
    for i in range(pods):
        scheduler.pod_upserted(make_pod(f"p{i:04d}", capacity={"runs": POD_SLOTS}, heartbeat=NOW))
    for queue in queues:
        scheduler.handle(QueueUpserted(queue))
    for run in runs:
        scheduler.run_upserted(run)
    return scheduler


class GcClock:
    """Seconds the garbage collector ran while `timing` is set."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.timing = False
        self._start = 0.0

    def __call__(self, phase: str, info: object) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self.timing:
            self.spent += time.perf_counter() - self._start


GC = GcClock()
gc.callbacks.append(GC)


def settled_heap() -> None:
    """Collect, then freeze what is left (the Runs and Pods just fed) out of later collections:
    in a long-running engine they are old objects that full collections rarely revisit,
    while here every one is fresh and the first full collection would walk them all."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def throughput(scheduler: Scheduler, expected: int) -> tuple[float, int]:
    """Seconds inside `cycle()` and binds, placing until `expected` are bound."""
    bound = 0
    spent = 0.0
    settled_heap()
    GC.spent, GC.timing = 0.0, True
    while bound < expected:
        t0 = time.perf_counter()
        plan = scheduler.cycle(NOW, max_binds=1024)
        spent += time.perf_counter() - t0
        binds = len(plan.binds)
        if not binds:
            break
        bound += binds
    GC.timing = False
    return spent, bound


def latencies(scheduler: Scheduler, samples: int) -> list[float]:
    out: list[float] = []
    settled_heap()
    while len(out) < samples:
        t0 = time.perf_counter()
        plan = scheduler.cycle(NOW, max_binds=1)
        took = time.perf_counter() - t0
        if not plan.binds:
            break
        out.append(took / len(plan.binds))
    return out


def measure(system: str, queues: int, runs: int, pods: int, latency_runs: int) -> dict[str, object]:
    admission = system == "kruntimes"
    queue_objs, run_objs = workload(queues, runs, pods)
    scheduler = fed(admission, queue_objs, run_objs, pods)
    spent, bound = throughput(scheduler, len(run_objs))
    gc_ms = GC.spent * 1e3
    queue_objs, run_objs = workload(queues, latency_runs, pods, seed=8)
    lat = latencies(fed(admission, queue_objs, run_objs, pods), latency_runs)
    lat.sort()
    return {
        "system": system,
        "queues": queues,
        "pods": pods,
        "pending_runs": runs,
        "bound": bound,
        "decisions_per_s": round(bound / spent, 1) if spent else 0.0,
        "p50_us": round(statistics.median(lat) * 1e6, 2) if lat else 0.0,
        "p99_us": round(lat[int(0.99 * (len(lat) - 1))] * 1e6, 2) if lat else 0.0,
        "gc_in_timed_ms": round(gc_ms, 1),
    }


def run(
    runs: int,
    pods: int,
    latency_runs: int,
    queue_counts: tuple[int, ...] = (1, 10, 1_000),
    repeats: int = 1,
) -> list[dict[str, object]]:
    """Both systems for each queue count, alternating `repeats` times; each row is the
    median run of its system (by decisions/s), kruntimes rows carry the ratio of medians."""
    results: list[dict[str, object]] = []
    for queues in queue_counts:
        rows: dict[str, list[dict[str, object]]] = {"no-admission": [], "kruntimes": []}
        for _ in range(repeats):
            for system, found in rows.items():
                found.append(measure(system, queues, runs, pods, latency_runs))
        base, ours = (
            sorted(found, key=lambda r: float(r["decisions_per_s"]))[len(found) // 2]  # type: ignore[arg-type]
            for found in rows.values()
        )
        base["repeats"] = ours["repeats"] = repeats
        ours["ratio_vs_baseline"] = round(
            float(ours["decisions_per_s"]) / float(base["decisions_per_s"]),  # type: ignore[arg-type]
            3,
        )
        results += [base, ours]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = parser.parse_args()
    runs, pods, latency_runs = (5_000, 50, 1_000) if args.quick else (100_000, 1_000, 5_000)
    results = run(runs, pods, latency_runs, repeats=1 if args.quick else 3)
    if args.json:
        print(json.dumps({"benchmark": "admission", "results": results}))
        return
    for row in results:
        ratio = f" ratio={row['ratio_vs_baseline']}" if "ratio_vs_baseline" in row else ""
        print(
            f"{row['system']:>12} queues={row['queues']:>5} bound={row['bound']:>7} "
            f"decisions/s={row['decisions_per_s']:>10} p50={row['p50_us']:>7}us "
            f"p99={row['p99_us']:>8}us gc={row['gc_in_timed_ms']}ms{ratio}"
        )


if __name__ == "__main__":
    main()
