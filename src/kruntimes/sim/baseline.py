"""The "one Pod per Run" baseline: what the same workload costs without warm pools.

Every Run gets a fresh Pod: it waits for the Pod to start (a `startup`
sample), is dispatched, runs, and the Pod goes away. With `max_pods` the
cluster runs at most that many such Pods and Runs wait their turn, first come
first served. Pod-seconds count each Pod from its creation to the Run's end.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable

from kruntimes.sim.arrivals import Arrival
from kruntimes.sim.distributions import POD_STARTUP_DEFAULT, Distribution
from kruntimes.sim.metrics import Metrics
from kruntimes.sim.results import SimResult

SYSTEM = "one-pod-per-run"
_CREATE, _START, _END = range(3)


def one_pod_per_run(
    arrivals: Iterable[Arrival],
    *,
    horizon: float,
    dispatch: Distribution,
    startup: Distribution = POD_STARTUP_DEFAULT,
    max_pods: int | None = None,
    seed: int = 0,
    metrics: Metrics | None = None,
    scenario: str = "",
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """Simulate the arrivals before `horizon` with a Pod created per Run."""
    if metrics is None:
        metrics = Metrics(bucket_seconds=max(horizon / 500.0, 1e-3))
    model = _PodPerRun(metrics, dispatch, startup, max_pods, random.Random(f"baseline:{seed}"))
    for arrival in arrivals:
        if arrival.at >= horizon:
            break
        model.settle(arrival.at)
        if progress is not None:
            progress(arrival.at)
        model.arrive(arrival)
    model.settle(math.inf)
    model.sample(model.now)
    metrics.arrived(model.arrived)
    return metrics.result(
        horizon=horizon, end=model.now, scenario=scenario, system=SYSTEM, pod_seconds=model.paid
    )


class _PodPerRun:
    """Counts in flight, and a heap of Pod creations, starts and ends still to come."""

    def __init__(
        self,
        metrics: Metrics,
        dispatch: Distribution,
        startup: Distribution,
        max_pods: int | None,
        rng: random.Random,
    ) -> None:
        self.metrics = metrics
        self.dispatch = dispatch
        self.startup = startup
        self.max_pods = max_pods
        self.rng = rng
        self.events: list[tuple[float, int, int, tuple[str, float, float, float]]] = []
        self.pod_free: list[float] = []
        """When each of the `max_pods` Pods frees, if capped."""
        self.in_system = self.arrived = self.seq = 0
        self.pods: Counter[str] = Counter()
        """Pods up (started or starting) per runtime."""
        self.running: Counter[str] = Counter()
        self.paid = 0.0
        self.now = 0.0
        self.next_sample = 0.0

    def arrive(self, arrival: Arrival) -> None:
        self.now = at = arrival.at
        created = at
        if self.max_pods is not None and len(self.pod_free) >= self.max_pods:
            created = max(at, heapq.heappop(self.pod_free))
        ready = created + self.startup.sample(self.rng)
        started = ready + self.dispatch.sample(self.rng)
        end = started + arrival.duration
        if self.max_pods is not None:
            heapq.heappush(self.pod_free, end)
        self.paid += end - created
        self.in_system += 1
        self.arrived += 1
        run = (arrival.runtime, at, ready, started)
        self._push(created, _CREATE, run)
        self._push(started, _START, run)
        self._push(end, _END, run)

    def _push(self, at: float, kind: int, run: tuple[str, float, float, float]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, run))

    def settle(self, until: float) -> None:
        """Process the Pod creations, starts and ends up to `until`, sampling on the way."""
        events = self.events
        while events and events[0][0] <= until:
            at, _, kind, run = heapq.heappop(events)
            self._sample_until(at)
            self.now = at
            runtime, arrived, ready, started = run
            if kind == _CREATE:
                self.pods[runtime] += 1
            elif kind == _START:
                self.running[runtime] += 1
            else:
                self.running[runtime] -= 1
                self.pods[runtime] -= 1
                self.in_system -= 1
                self.metrics.run_done(runtime, arrived, ready, started, at, "Succeeded", False, 1)
        if until != math.inf:
            self._sample_until(until)

    def _sample_until(self, at: float) -> None:
        bucket = self.metrics.bucket_seconds
        while self.next_sample <= at:
            self.sample(self.next_sample)
            self.next_sample += bucket

    def sample(self, at: float) -> None:
        waiting = self.in_system - sum(self.running.values())
        self.metrics.sample(
            at,
            in_system=self.in_system,
            waiting={"PodStarting": waiting} if waiting else {},
            busy={rt: float(n) for rt, n in self.running.items()},
            slots={rt: float(n) for rt, n in self.pods.items()},
            pods=dict(self.pods),
        )
