"""core_placement: placement throughput of the scheduling core against a naive scan.

What runs
---------
For 10, 100, 1,000 and 10,000 Runtime Pods (capacity `runs: 2` each, one
runtime, one namespace) a seeded workload is played against two systems in
the same process:

* `kruntimes`: `new_scheduler(SchedulerConfig(), load_entry_points=False)`,
  i.e. the default plugins (availability, affinity, least-loaded,
  most-allocated) through the pluggy facade, fed by events.
* `naive`: the Go reference design, in pure Python in this file. Every cycle
  lists all Pods and all Runs of the namespace, derives each Pod's usage from
  the Runs that hold capacity, reaps Runs of stale Pods, filters the
  candidates (ready, not deleting, heartbeat fresh, request fits), picks the
  least-loaded one and places ONE Run (the oldest pending one).

The workload (identical for both systems, same seed): the store starts with
every Pod 90 % full of Running Runs and at least 10,000 Pending Runs, and the
queue is topped up to 10,000 Pending before every step. A step is 5 ms of
simulated time. In each step, in this order: agents heartbeat (every 5 s per
Pod, spread evenly), agents start the Runs bound in the previous step
(Scheduled -> Running) and finish up to `BATCH` (64) random Running Runs
(Running -> Succeeded, releasing capacity); about 0.2 % of the Pods per
simulated second go silent for 20-50 s (no heartbeats, their agents make no
progress), and half of those come back as a replacement Pod (new UID), the
other half simply resume heartbeating; then the system decides. Stale Pods
lose their Runs (Requeue / Terminate); Runs have `maxAttempts: 2`.

The engine protocol is followed: each `Bind` is written to the store, and
the store's new version of the Run (phase Scheduled, `assigned_pod`,
`assigned_pod_uid`) is fed back with `run_upserted` at the next step, like
every other Run or Pod change.

What is measured (`time.perf_counter_ns`, one thread, after a warm-up)
-----------------------------------------------------------------------
* A *decision* is one bound Run (a `Bind`). Waits, Requeues and Terminates
  are not decisions, but the work that produces them is timed.
* `decisions_per_s`: binds / wall time spent inside the system. For kruntimes
  that is every call into the scheduler: `cycle(now, max_binds=64)` and all
  event feeding (`run_upserted` four times per Run: created, bind landed,
  started, finished; `pod_heartbeat`; `pod_upserted`). For naive it is its
  cycles (it keeps no state, so it has nothing to be fed). Building the Run
  and Pod versions (`attrs.evolve`, the store's and agents' work) is not
  timed, for either system.
* `cycle_decisions_per_s`: the same binds over the time of the `cycle()` calls
  alone (Pod re-evaluation and reaps included, event feeding left out): the
  placement work proper, as opposed to keeping the state up to date.
* `p50_us` / `p99_us`: the latency of one decision, measured directly. In a
  second phase on the same workload, each step first calls
  `cycle(now, max_binds=0)`, which absorbs the step's events (Pods to look at
  again, reaps) and is reported on its own as `event_cycle_p50_us` /
  `event_cycle_p99_us`; then `cycle(now, max_binds=1)` is called until 64 Runs
  are bound, and each call that binds is one decision: its whole duration,
  the cycle's fixed cost included, is that decision's latency. The naive
  system places one Run per cycle: each cycle is one decision.
  `batched_p50_us` / `batched_p99_us` are the other view, from the throughput
  phase: per `cycle(now, max_binds=64)` call, its duration / its binds.
* The naive system costs O(Pods + Runs) per decision, so only a bounded
  number of its decisions is measured (`Sizes.naive_decisions`, in a full run
  3,000 at 10 and 100 Pods, 2,000 at 1,000 and 600 at 10,000); its rate does
  not depend on how many are taken. Its listings are `list(dict.values())`
  of the store's cache, far cheaper than the API-server LIST of the Go
  original: a generous baseline.
* `bytes_per_pending_run`: `tracemalloc` memory retained by the system after
  it is fed the initial 10,000 Pending Runs, divided by their number. The Run
  objects are created before tracing starts: they belong to the caller (the
  store's cache), not to the scheduler; what is counted is what the scheduler
  adds for each (its `RunState`, queue and index entries). The naive system
  keeps nothing per Run: 0. The size of one Run model object (with its own
  metadata, labels, spec and status) is printed in the readable output.
* The garbage collector stays enabled with the interpreter's defaults; the
  collection time that fell inside timed calls is included and reported as
  `gc_in_timed_ms`. `cpu_share_pct` is this thread's CPU time over the wall
  time of the throughput phase: below 100, other processes took the CPU and
  the wall-clock figures are inflated accordingly.
* `ratio_vs_baseline`: kruntimes `decisions_per_s` / naive `decisions_per_s`
  at 10,000 Pods.

Usage: `python benchmarks/core_placement.py [--quick] [--json]`.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from attrs import evolve

from kruntimes.core import Bind, Decision, Requeue, Scheduler, SchedulerConfig, Terminate
from kruntimes.core.resources import load_ratios
from kruntimes.model import (
    CAPACITY_PHASES,
    Condition,
    ConditionReason,
    ConditionStatus,
    ConditionType,
    FailureReason,
    ObjectMeta,
    Phase,
    RetryPolicy,
    Run,
    RunMode,
    RunSpec,
    RunStatus,
    RuntimePod,
    TaskMode,
)
from kruntimes.plugin_manager import new_scheduler

NAMESPACE = "bench"
RUNTIME = "python"
T0 = 1_750_000_000.0
"""Simulated epoch of the first step."""
STEP_SECONDS = 0.005
BATCH = 64
"""Binds per `cycle()` in the throughput phase, and completions per step."""
PENDING_TARGET = 10_000
OCCUPANCY = 0.9
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_FRESH_SECONDS = 15.0
STALE_AFTER_SECONDS = 30.0
SILENCE_RATE = 0.002
"""Fraction of the Pods that go silent per simulated second."""
SILENCE_SECONDS = (20.0, 50.0)
RETRY = RetryPolicy(max_attempts=2, backoff_seconds=1.0)
SEED = 20250601
POD_COUNTS = (10, 100, 1_000, 10_000)


@dataclass(frozen=True)
class Sizes:
    """How much of each phase to run (steps of `STEP_SECONDS`)."""

    warmup_steps: int
    throughput_steps: int
    latency_steps: int
    naive_decisions: dict[int, int]
    """Decisions measured for the naive system, by Pod count (it is O(Pods + Runs) each)."""
    pending_target: int = PENDING_TARGET


FULL = Sizes(
    warmup_steps=400,
    throughput_steps=8_000,
    latency_steps=2_000,
    naive_decisions={10: 3_000, 100: 3_000, 1_000: 2_000, 10_000: 600},
)
QUICK = Sizes(
    warmup_steps=30,
    throughput_steps=150,
    latency_steps=60,
    naive_decisions={10: 100, 100: 100, 1_000: 60, 10_000: 20},
)


# --------------------------------------------------------------------------- the two systems


class System(Protocol):
    name: str

    def feed_runs(self, runs: Sequence[Run]) -> None: ...

    def feed_pods(self, pods: Sequence[RuntimePod]) -> None: ...

    def feed_heartbeats(self, beats: Sequence[tuple[tuple[str, str], float]]) -> None: ...

    def decide(self, now: float, max_binds: int) -> Sequence[Decision]: ...


class KruntimesSystem:
    name = "kruntimes"

    def __init__(self) -> None:
        self.scheduler: Scheduler = new_scheduler(SchedulerConfig(), load_entry_points=False)

    def feed_runs(self, runs: Sequence[Run]) -> None:
        upserted = self.scheduler.run_upserted
        for run in runs:
            upserted(run)

    def feed_pods(self, pods: Sequence[RuntimePod]) -> None:
        upserted = self.scheduler.pod_upserted
        for pod in pods:
            upserted(pod)

    def feed_heartbeats(self, beats: Sequence[tuple[tuple[str, str], float]]) -> None:
        heartbeat = self.scheduler.pod_heartbeat
        for key, at in beats:
            heartbeat(key, at)

    def decide(self, now: float, max_binds: int) -> Sequence[Decision]:
        return self.scheduler.cycle(now, max_binds=max_binds).decisions


class NaiveSystem:
    """The reference design: list everything, place one Run per cycle. Keeps no state."""

    name = "naive"

    def __init__(self, store: Store) -> None:
        self.store = store

    def feed_runs(self, runs: Sequence[Run]) -> None:
        pass

    def feed_pods(self, pods: Sequence[RuntimePod]) -> None:
        pass

    def feed_heartbeats(self, beats: Sequence[tuple[tuple[str, str], float]]) -> None:
        pass

    def decide(self, now: float, max_binds: int) -> Sequence[Decision]:
        return naive_cycle(self.store.list_pods(), self.store.list_runs(), now)


def naive_cycle(pods: list[RuntimePod], runs: list[Run], now: float) -> list[Decision]:
    """One cycle of the reference scheduler over full listings: reaps, then at most one Bind."""
    by_name: dict[str, RuntimePod] = {}
    for pod in pods:
        by_name[pod.name] = pod
    usage: dict[str, dict[str, int]] = {}
    out: list[Decision] = []
    head: Run | None = None
    for run in runs:
        status = run.status
        phase = status.phase
        if phase in CAPACITY_PHASES:
            name = status.assigned_pod
            if not name:
                continue
            reason = _naive_stale(run, by_name.get(name), now)
            if reason is not None:
                out.append(_naive_reap(run, reason, now))
                continue
            used = usage.get(name)
            if used is None:
                used = usage[name] = {}
            for resource, qty in run.spec.resources.requests.items():
                used[resource] = used.get(resource, 0) + qty
        elif (
            phase is Phase.PENDING
            and head is None
            and not run.spec.cancel_requested
            and _naive_not_before(run) <= now
        ):
            head = run
    if head is None:
        return out
    request = head.spec.resources.requests
    best: RuntimePod | None = None
    best_key: tuple[float, float, str] | None = None
    for pod in pods:
        if pod.runtime != head.spec.runtime or not pod.ready or pod.deleting:
            continue
        if pod.heartbeat is None or now - pod.heartbeat > HEARTBEAT_FRESH_SECONDS:
            continue
        used = usage.get(pod.name, {})
        capacity = pod.capacity
        if any(
            qty and used.get(resource, 0) + qty > capacity.get(resource, 0)
            for resource, qty in request.items()
        ):
            continue
        top, total = load_ratios(used, capacity)
        key = (top, total, pod.name)
        if best_key is None or key < best_key:
            best, best_key = pod, key
    if best is not None:
        out.append(Bind(head.key, best.name, best.uid, head.status.attempt))
    return out


def _naive_stale(run: Run, pod: RuntimePod | None, now: float) -> FailureReason | None:
    if pod is None or (run.status.assigned_pod_uid and pod.uid != run.status.assigned_pod_uid):
        return FailureReason.POD_GONE
    if pod.deleting:
        return FailureReason.POD_TERMINATING
    if pod.heartbeat is not None and now - pod.heartbeat > STALE_AFTER_SECONDS:
        return FailureReason.POD_UNHEALTHY
    return None


def _naive_reap(run: Run, reason: FailureReason, now: float) -> Decision:
    attempt = run.status.attempt
    if run.status.phase is Phase.SCHEDULED:
        return Requeue(run.key, attempt, now, reason, "stale Pod")
    policy = run.spec.retry_policy
    if attempt < policy.max_attempts:
        delay = min(policy.backoff_seconds * 2.0 ** (attempt - 1), 60.0)
        return Requeue(run.key, attempt + 1, now + delay, reason, "stale Pod")
    return Terminate(run.key, Phase.FAILED, reason, "stale Pod, not retried")


def _naive_not_before(run: Run) -> float:
    status = run.status
    if status.attempt < 2:
        return 0.0
    cond = status.condition(ConditionType.RUNNING)
    if cond is None or cond.reason != ConditionReason.RETRYING or cond.last_transition_time is None:
        return 0.0
    delay = min(run.spec.retry_policy.backoff_seconds * 2.0 ** (status.attempt - 2), 60.0)
    return cond.last_transition_time.timestamp() + delay


# --------------------------------------------------------------------------- the workload


def make_run(index: int, spec: RunSpec) -> Run:
    return Run(
        metadata=ObjectMeta(
            name=f"run-{index:08d}",
            namespace=NAMESPACE,
            uid=f"00000000-run-{index:012d}",
            resource_version="1",
            labels={"app": "bench", "tenant": f"t{index % 8}"},
        ),
        spec=spec,
    )


def make_spec() -> RunSpec:
    return RunSpec(
        runtime=RUNTIME,
        mode=RunMode(task=TaskMode(entrypoint="main.py", args=("--fast",))),
        retry_policy=RETRY,
    )


def make_pod(index: int, generation: int, heartbeat: float) -> RuntimePod:
    return RuntimePod(
        name=f"{RUNTIME}-pod-{index:05d}",
        runtime=RUNTIME,
        namespace=NAMESPACE,
        uid=f"pod-uid-{index:05d}-{generation}",
        labels={"runtime": RUNTIME},
        capacity={"runs": 2},
        heartbeat=heartbeat,
    )


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Store:
    """The store's cache plus the simulated agents; shared logic for both systems."""

    def __init__(self, pods: int, seed: int, pending_target: int = PENDING_TARGET) -> None:
        self.rng = random.Random(seed)
        self.pending_target = pending_target
        self.spec = make_spec()
        self.runs: dict[tuple[str, str], Run] = {}
        self.pods: dict[str, RuntimePod] = {}
        self.pod_index: dict[str, int] = {}
        self.generation: dict[str, int] = {}
        self.silent_until: dict[str, float] = {}
        self.silence_heap: list[tuple[float, str]] = []
        self.next_run = 0
        self.pending = 0
        self.now = T0
        self.step_no = 0
        self.silence_credit = 0.0
        self.heartbeat_slots = round(HEARTBEAT_SECONDS / STEP_SECONDS)
        self.heartbeat_buckets: list[list[str]] = [[] for _ in range(self.heartbeat_slots)]
        self.just_scheduled: list[tuple[str, str]] = []
        self.running: list[tuple[str, str]] = []
        # changes the system has not been fed yet
        self.changed_runs: list[Run] = []
        self.changed_pods: list[RuntimePod] = []
        self.beats: list[tuple[tuple[str, str], float]] = []
        for i in range(pods):
            pod = make_pod(i, 0, T0 - self.rng.uniform(0.0, HEARTBEAT_SECONDS))
            self.pods[pod.name] = pod
            self.pod_index[pod.name] = i
            self.generation[pod.name] = 0
            slot = round((T0 - (pod.heartbeat or T0)) / STEP_SECONDS)
            self.heartbeat_buckets[(self.heartbeat_slots - slot) % self.heartbeat_slots].append(
                pod.name
            )
        self.pod_names = list(self.pods)

    # ---------------------------------------------------------------- initial state

    def initial_running(self) -> list[Run]:
        """Fill every Pod to `OCCUPANCY` with Running Runs."""
        out: list[Run] = []
        slots = [name for name in self.pod_names for _ in range(2)]
        self.rng.shuffle(slots)
        for name in slots[: round(len(slots) * OCCUPANCY)]:
            pod = self.pods[name]
            run = self._new_run()
            run = evolve(
                run,
                status=RunStatus(
                    phase=Phase.RUNNING, assigned_pod=name, assigned_pod_uid=pod.uid, attempt=1
                ),
            )
            self.runs[run.key] = run
            self.running.append(run.key)
            out.append(run)
        return out

    def top_up(self) -> list[Run]:
        """Submit Pending Runs until `PENDING_TARGET` are Pending."""
        out: list[Run] = []
        while self.pending < self.pending_target:
            run = self._new_run()
            self.runs[run.key] = run
            self.pending += 1
            out.append(run)
        return out

    def _new_run(self) -> Run:
        run = make_run(self.next_run, self.spec)
        self.next_run += 1
        return run

    # ---------------------------------------------------------------- one step of churn

    def advance(self) -> None:
        """Move time on one step and simulate agents, Pods and users (not timed)."""
        self.step_no += 1
        self.now = now = T0 + self.step_no * STEP_SECONDS
        rng = self.rng
        # Pods that come back
        while self.silence_heap and self.silence_heap[0][0] <= now:
            _, name = heapq.heappop(self.silence_heap)
            del self.silent_until[name]
            if rng.random() < 0.5:
                gen = self.generation[name] = self.generation[name] + 1
                pod = make_pod(self.pod_index[name], gen, now)
                self.pods[name] = pod
                self.changed_pods.append(pod)
            else:
                self._beat(name, now)
        # Pods that go silent
        self.silence_credit += len(self.pod_names) * SILENCE_RATE * STEP_SECONDS
        while self.silence_credit >= 1.0:
            self.silence_credit -= 1.0
            name = rng.choice(self.pod_names)
            if name not in self.silent_until:
                until = now + rng.uniform(*SILENCE_SECONDS)
                self.silent_until[name] = until
                heapq.heappush(self.silence_heap, (until, name))
        # heartbeats
        for name in self.heartbeat_buckets[self.step_no % self.heartbeat_slots]:
            if name not in self.silent_until:
                self._beat(name, now)
        # agents claim the Runs bound in the previous step
        claimed = self.just_scheduled
        self.just_scheduled = []
        for key in claimed:
            run = self.runs.get(key)
            if run is None or run.status.phase is not Phase.SCHEDULED:
                continue
            pod_name = run.status.assigned_pod or ""
            pod = self.pods[pod_name]
            if pod_name in self.silent_until:
                self.just_scheduled.append(key)  # the agent is down: try again later
                continue
            if pod.uid != run.status.assigned_pod_uid:
                continue  # replaced Pod: the scheduler will unbind it
            self._write(evolve(run, status=evolve(run.status, phase=Phase.RUNNING)))
            self.running.append(key)
        # agents finish Runs
        finished = 0
        running = self.running
        tries = 0
        while running and finished < BATCH and tries < 4 * BATCH:
            tries += 1
            i = rng.randrange(len(running))
            key = running[i]
            run = self.runs.get(key)
            if run is None or run.status.phase is not Phase.RUNNING:
                running[i] = running[-1]
                running.pop()
                continue
            pod_name = run.status.assigned_pod or ""
            if pod_name in self.silent_until:
                continue
            running[i] = running[-1]
            running.pop()
            if self.pods[pod_name].uid != run.status.assigned_pod_uid:
                continue  # its Pod was replaced: the scheduler reaps it
            done = evolve(run, status=evolve(run.status, phase=Phase.SUCCEEDED))
            del self.runs[key]
            self.changed_runs.append(done)
            finished += 1
        self.changed_runs.extend(self.top_up())

    def _beat(self, name: str, now: float) -> None:
        pod = self.pods[name] = evolve(self.pods[name], heartbeat=now)
        self.beats.append((pod.key, now))

    def _write(self, run: Run) -> None:
        self.runs[run.key] = run
        self.changed_runs.append(run)

    # ---------------------------------------------------------------- applying a plan

    def apply(self, decisions: Iterable[Decision]) -> int:
        """Write the system's decisions to the store; returns the number of binds."""
        binds = 0
        now = self.now
        for d in decisions:
            if isinstance(d, Bind):
                run = self.runs[d.run]
                assert run.status.phase is Phase.PENDING, (d, run.status)
                self._write(
                    evolve(
                        run,
                        status=evolve(
                            run.status,
                            phase=Phase.SCHEDULED,
                            assigned_pod=d.pod,
                            assigned_pod_uid=d.pod_uid,
                        ),
                    )
                )
                self.pending -= 1
                self.just_scheduled.append(d.run)
                binds += 1
            elif isinstance(d, Requeue):
                run = self.runs[d.run]
                conditions = run.status.conditions
                if d.attempt > run.status.attempt:
                    conditions = (
                        Condition(
                            type=ConditionType.RUNNING,
                            status=ConditionStatus.FALSE,
                            reason=ConditionReason.RETRYING,
                            message=d.message,
                            last_transition_time=_utc(now),
                        ),
                    )
                self._write(
                    evolve(
                        run,
                        status=evolve(
                            run.status,
                            phase=Phase.PENDING,
                            assigned_pod=None,
                            assigned_pod_uid=None,
                            attempt=d.attempt,
                            conditions=conditions,
                        ),
                    )
                )
                self.pending += 1
            elif isinstance(d, Terminate):
                run = self.runs.pop(d.run)
                self.changed_runs.append(
                    evolve(run, status=evolve(run.status, phase=d.phase, message=d.message))
                )
        return binds

    def take_changes(
        self,
    ) -> tuple[list[Run], list[RuntimePod], list[tuple[tuple[str, str], float]]]:
        out = (self.changed_runs, self.changed_pods, self.beats)
        self.changed_runs, self.changed_pods, self.beats = [], [], []
        return out

    def list_pods(self) -> list[RuntimePod]:
        return list(self.pods.values())

    def list_runs(self) -> list[Run]:
        return list(self.runs.values())


# --------------------------------------------------------------------------- the driver


class GcMeter:
    """Time the cyclic garbage collector spends inside the timed sections.

    The collector stays enabled, with the interpreter's default thresholds, as
    in any process that embeds the core; a collection runs in whatever code
    allocates when a threshold is crossed, so it lands in timed and untimed
    code alike. This records the part that landed in timed code.
    """

    def __init__(self) -> None:
        self.timed = False
        self.in_timed_ns = 0
        self.collections = 0
        self._start = 0
        self._start_timed = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
            self._start_timed = self.timed
        else:
            if self._start_timed:
                self.in_timed_ns += time.perf_counter_ns() - self._start
                self.collections += 1


GC = GcMeter()


@dataclass
class Measurement:
    binds: int = 0
    system_ns: int = 0
    cycles: int = 0
    per_decision_ns: list[int] = field(default_factory=list)
    """Per call that bound something: its duration / its binds."""
    events_ns: list[int] = field(default_factory=list)
    """Per step, the `max_binds=0` call that absorbs the step's events (latency phase)."""
    cycle_ns: int = 0
    """The part of `system_ns` spent in decision calls (`cycle()`), without event feeding."""
    gc_ns: int = 0
    """Collector time inside the timed sections (included in `system_ns`)."""


def _feed(system: System, store: Store) -> int:
    runs, pods, beats = store.take_changes()
    GC.timed = True
    start = time.perf_counter_ns()
    if pods:
        system.feed_pods(pods)
    if runs:
        system.feed_runs(runs)
    if beats:
        system.feed_heartbeats(beats)
    elapsed = time.perf_counter_ns() - start
    GC.timed = False
    return elapsed


def run_steps(
    system: System,
    store: Store,
    *,
    steps: int,
    per_call: int,
    max_decisions: int | None = None,
    events_first: bool = False,
) -> Measurement:
    """`steps` steps of churn; each then decides with calls of `max_binds=per_call` until
    `BATCH` Runs are bound or a call binds none. With `events_first`, a `max_binds=0` call
    first absorbs the step's events (Pod re-evaluation, reaps), timed on its own."""
    m = Measurement()
    clock = time.perf_counter_ns
    gc_before = GC.in_timed_ns
    for _ in range(steps):
        store.advance()
        m.system_ns += _feed(system, store)
        if events_first:
            GC.timed = True
            start = clock()
            decisions = system.decide(store.now, 0)
            elapsed = clock() - start
            GC.timed = False
            m.system_ns += elapsed
            m.cycle_ns += elapsed
            m.events_ns.append(elapsed)
            m.binds += store.apply(decisions)
        bound_this_step = 0
        while bound_this_step < BATCH:
            GC.timed = True
            start = clock()
            decisions = system.decide(store.now, per_call)
            elapsed = clock() - start
            GC.timed = False
            m.system_ns += elapsed
            m.cycle_ns += elapsed
            m.cycles += 1
            binds = store.apply(decisions)
            if binds:
                m.per_decision_ns.append(elapsed // binds)
            bound_this_step += binds
            m.binds += binds
            if not binds or (max_decisions is not None and m.binds >= max_decisions):
                break
        if max_decisions is not None and m.binds >= max_decisions:
            break
    m.gc_ns = GC.in_timed_ns - gc_before
    return m


def measure_system(kind: str, pods: int, sizes: Sizes) -> dict[str, Any]:
    gc.collect()
    store = Store(pods, SEED, sizes.pending_target)
    system: System
    system = KruntimesSystem() if kind == "kruntimes" else NaiveSystem(store)
    # initial state: Pods, Running Runs, then the Pending queue (traced)
    system.feed_pods(store.list_pods())
    system.feed_runs(store.initial_running())
    pending = store.top_up()
    store.take_changes()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    system.feed_runs(pending)
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    bytes_per_pending = max(0, retained) / len(pending)
    del pending
    gc.collect()

    events: list[int] = []
    if kind == "kruntimes":
        run_steps(system, store, steps=sizes.warmup_steps, per_call=BATCH)
        cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
        thr = run_steps(system, store, steps=sizes.throughput_steps, per_call=BATCH)
        cpu1, wall1 = time.thread_time_ns(), time.perf_counter_ns()
        lat = run_steps(system, store, steps=sizes.latency_steps, per_call=1, events_first=True)
        events = lat.events_ns
    else:
        limit = sizes.naive_decisions[pods]
        run_steps(system, store, steps=10**9, per_call=1, max_decisions=max(5, limit // 20))
        cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
        thr = run_steps(system, store, steps=10**9, per_call=1, max_decisions=limit)
        cpu1, wall1 = time.thread_time_ns(), time.perf_counter_ns()
        lat = thr  # one Run per cycle: each cycle is one decision
    single = sorted(ns / 1000 for ns in lat.per_decision_ns)
    batched = sorted(ns / 1000 for ns in thr.per_decision_ns)
    steps_us = sorted(ns / 1000 for ns in events)
    return {
        "system": kind,
        "pods": pods,
        "decisions_per_s": round(thr.binds / (thr.system_ns / 1e9), 1),
        "cycle_decisions_per_s": round(thr.binds / (thr.cycle_ns / 1e9), 1),
        "p50_us": round(_percentile(single, 50), 2),
        "p99_us": round(_percentile(single, 99), 2),
        "bytes_per_pending_run": round(bytes_per_pending, 1),
        "batched_p50_us": round(_percentile(batched, 50), 2),
        "batched_p99_us": round(_percentile(batched, 99), 2),
        "event_cycle_p50_us": round(_percentile(steps_us, 50), 2) if events else None,
        "event_cycle_p99_us": round(_percentile(steps_us, 99), 2) if events else None,
        "gc_in_timed_ms": round(thr.gc_ns / 1e6, 1),
        "cpu_share_pct": round(100 * (cpu1 - cpu0) / max(1, wall1 - wall0), 1),
        "decisions_measured": thr.binds,
        "latency_decisions_measured": len(single),
        "system_time_s": round(thr.system_ns / 1e9, 4),
        "simulated_time_s": round(store.now - T0, 3),
    }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(q) - 1]


def run_object_bytes(count: int = 5_000) -> float:
    """Traced bytes of one fresh Run model object (own metadata, labels, spec, status)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    runs = [make_run(i, make_spec()) for i in range(count)]
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del runs
    return size / count


def main(
    argv: Sequence[str] | None = None,
    *,
    pod_counts: Sequence[int] = POD_COUNTS,
    sizes: Sizes | None = None,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    chosen = sizes if sizes is not None else (QUICK if args.quick else FULL)
    results: list[dict[str, Any]] = []
    gc.callbacks.append(GC)
    try:
        for pods in pod_counts:
            for kind in ("kruntimes", "naive"):
                results.append(measure_system(kind, pods, chosen))
    finally:
        gc.callbacks.remove(GC)
    top = max(pod_counts)
    ours = next(r for r in results if r["system"] == "kruntimes" and r["pods"] == top)
    base = next(r for r in results if r["system"] == "naive" and r["pods"] == top)
    ratio = round(ours["decisions_per_s"] / base["decisions_per_s"], 1)
    report = {"benchmark": "core_placement", "results": results, "ratio_vs_baseline": ratio}
    if args.json:
        out(json.dumps(report))
    else:
        _print_table(report, run_object_bytes(), out)
    return report


def _print_table(report: dict[str, Any], run_bytes: float, out: Callable[[str], None]) -> None:
    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    header = (
        f"{'system':<10} {'pods':>6} {'decisions/s':>12} {'p50 us':>8} {'p99 us':>8} "
        f"{'batch p99':>9} {'events p99':>10} {'B/pending':>9} {'measured':>9} {'cpu %':>6}"
    )
    out(
        f"core_placement (Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs)"
    )
    out(header)
    out("-" * len(header))
    for r in report["results"]:
        out(
            f"{r['system']:<10} {r['pods']:>6} {r['decisions_per_s']:>12,.0f} "
            f"{r['p50_us']:>8.1f} {r['p99_us']:>8.1f} {r['batched_p99_us']:>9.1f} "
            f"{num(r['event_cycle_p99_us'], '.0f'):>10} {r['bytes_per_pending_run']:>9.0f} "
            f"{r['decisions_measured']:>9} {r['cpu_share_pct']:>6.0f}"
        )
    out(f"ratio vs naive at the largest pod count: {report['ratio_vs_baseline']}x")
    out(f"one Run model object (caller-owned, not counted above): {run_bytes:.0f} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
