"""Place 2,000 Runs on two warm pools with the real scheduling core, in virtual time.

This is what the kruntimes scheduler does between a store and the Runtime
Pods' agents, without a cluster: Runs arrive, the core binds them to warm Pods
with free capacity, Runs finish and free their slot, a Pod dies mid-way and
its Runs are retried elsewhere. Everything runs in virtual time (a seeded
random stream), so the output is the same on every machine; only the
"core time" line is measured.

    python examples/placement_demo.py [--runs N] [--seed S]
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections import Counter
from datetime import UTC, datetime

from attrs import evolve
from rich.console import Console
from rich.table import Table

from kruntimes import new_scheduler
from kruntimes.core import Bind, Requeue, Terminate, Wait
from kruntimes.model import (
    Affinity,
    Condition,
    ConditionReason,
    ConditionStatus,
    ConditionType,
    LabelSelector,
    ObjectMeta,
    Phase,
    RetryPolicy,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunSpec,
    RuntimePod,
)

POOLS = {"bash": (4, 8), "python": (2, 16)}  # runtime -> (pods, capacity each)
COLOCATE = Affinity(
    run_affinity=RunAffinityRules(required=[RunAffinityTerm(LabelSelector({"app": "cache"}))])
)


def make_runs(n: int, rng: random.Random) -> list[Run]:
    runs = []
    for i in range(n):
        cache = i % 50 == 0  # long-lived cache Runs; co-located Runs wait until one holds a Pod
        runtime = "python" if cache or rng.random() >= 0.6 else "bash"
        labels = {"app": "cache"} if cache else {}
        affinity = COLOCATE if runtime == "python" and i % 7 == 0 else None
        spec = RunSpec(runtime=runtime, affinity=affinity, retry_policy=RetryPolicy(max_attempts=3))
        runs.append(Run(ObjectMeta(name=f"run-{i:05d}", labels=labels), spec))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    console = Console()
    scheduler = new_scheduler()
    now = 0.0
    pods: dict[str, RuntimePod] = {}
    for runtime, (count, capacity) in POOLS.items():
        for i in range(count):
            pod = RuntimePod(
                f"{runtime}-{i}",
                runtime,
                uid=f"{runtime}-{i}-v1",
                capacity={"runs": capacity},
                heartbeat=now,
            )
            pods[pod.name] = pod
            scheduler.pod_upserted(pod)

    store = {r.key: r for r in make_runs(args.runs, rng)}
    arrivals = sorted((rng.uniform(0, 20), key) for key in store)  # 20 s of arrivals
    finishes: list[tuple[float, tuple[str, str]]] = []
    placed: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    waits: Counter[str] = Counter()
    requeues: list[Requeue] = []
    outcome: Counter[str] = Counter()
    core_ns = decisions = cycles = 0
    killed = False

    def write(key: tuple[str, str], **status: object) -> None:
        run = store[key]
        store[key] = evolve(run, status=evolve(run.status, **status))
        scheduler.run_upserted(store[key])

    step = 0.05
    while (arrivals or finishes or scheduler.statistics().runs) and now < 600:
        while arrivals and arrivals[0][0] <= now:
            scheduler.run_upserted(store[arrivals.pop(0)[1]])
        while finishes and finishes[0][0] <= now:
            _, key = heapq.heappop(finishes)
            if store[key].status.phase is Phase.RUNNING:
                write(key, phase=Phase.SUCCEEDED)
                outcome["Succeeded"] += 1
        if not killed and now >= 8.0:  # a Pod dies with Runs on it; a replacement starts
            killed = True
            scheduler.pod_deleted(("default", "bash-1"))
            pods["bash-1"] = evolve(pods["bash-1"], uid="bash-1-v2", heartbeat=now)
            scheduler.pod_upserted(pods["bash-1"])
        for name, pod in pods.items():  # agents heartbeat every 5 s
            if now - (pod.heartbeat or 0) >= 5:
                pods[name] = evolve(pod, heartbeat=now)
                scheduler.pod_heartbeat(("default", name), now)
        t0 = time.perf_counter_ns()
        plan = scheduler.cycle(now)
        core_ns += time.perf_counter_ns() - t0
        cycles += 1
        for d in plan.decisions:
            if isinstance(d, Bind):
                decisions += 1
                placed[d.pod] += 1
                write(d.run, phase=Phase.SCHEDULED, assigned_pod=d.pod, assigned_pod_uid=d.pod_uid)
                write(d.run, phase=Phase.RUNNING)  # the agent claims it
                long_lived = store[d.run].metadata.labels.get("app") == "cache"
                duration = 25.0 if long_lived else rng.expovariate(1 / 0.8)
                heapq.heappush(finishes, (now + duration, d.run))
            elif isinstance(d, Wait):
                waits[d.reason.code.value] += 1
            elif isinstance(d, Requeue):
                requeues.append(d)
                retrying = Condition(
                    ConditionType.RUNNING,
                    ConditionStatus.FALSE,
                    ConditionReason.RETRYING,
                    d.message,
                    datetime.fromtimestamp(now, UTC),
                )
                write(
                    d.run,
                    phase=Phase.PENDING,
                    assigned_pod=None,
                    assigned_pod_uid=None,
                    attempt=d.attempt,
                    conditions=(retrying,),
                )
            elif isinstance(d, Terminate):
                write(d.run, phase=d.phase, message=d.message)
                outcome[d.phase.value] += 1
        for name in pods:
            state = scheduler.pod("default", name)
            if state is not None:
                peak[name] = max(peak[name], state.used.get("runs", 0))
        now = round(now + step, 3)

    table = Table(title=f"{args.runs} Runs on {len(pods)} warm Pods (virtual time {now:.1f} s)")
    for column in ("Pod", "capacity", "Runs placed", "peak in use"):
        table.add_column(column, justify="right" if column != "Pod" else "left")
    for name, pod in pods.items():
        table.add_row(name, str(pod.capacity["runs"]), str(placed[name]), str(peak[name]))
    console.print(table)
    console.print(f"outcomes: {dict(sorted(outcome.items()))}")
    console.print(f"wait reasons reported: {dict(sorted(waits.items()))}")
    console.print(
        f"Runs requeued when bash-1 died: {len(requeues)} "
        f"({', '.join(sorted({r.reason.value for r in requeues}))}), each retried to success"
    )
    console.print(
        f"core time: {core_ns / 1e6:.1f} ms in {cycles} cycles for {decisions} placements"
    )
    if outcome["Succeeded"] != args.runs:
        raise SystemExit(f"only {outcome['Succeeded']} of {args.runs} Runs finished")


if __name__ == "__main__":
    main()
