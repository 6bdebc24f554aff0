"""The discrete-event loop: arrivals, the real core's cycles, dispatch, executions, Pod churn.

Virtual time only. The core is the production `Scheduler` with the same
plugins, fed the same events an engine feeds it; what surrounds it (the store,
agents, Pods starting) is modelled by sampled delays. Nothing is kept per Run
once it ends, so memory follows the Runs in flight, not the trace length.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from attrs import evolve

from kruntimes import status
from kruntimes.core import Bind, Requeue, RunKey, Scheduler, Terminate, decide_retry
from kruntimes.model import (
    FailureReason,
    ObjectMeta,
    Phase,
    ResourceRequirements,
    Run,
    RunSpec,
    RunStatus,
    RuntimePod,
)
from kruntimes.plugin_manager import new_scheduler
from kruntimes.sim.arrivals import Arrival
from kruntimes.sim.distributions import Constant
from kruntimes.sim.metrics import Metrics
from kruntimes.sim.results import SimResult
from kruntimes.sim.setup import PoolSpec, SimSetup

SYSTEM = "kruntimes"
"""The name of a simulation's result (a scenario's policies name theirs)."""

ALWAYS_FRESH = math.inf
"""A heartbeat that never goes stale: the simulator does not send heartbeat events
(10,000 Pods beating every few seconds would dominate the run); a crashed agent's
Pod gets its last heartbeat back, so the core sees the silence as it would."""

_START, _FINISH, _POD_READY, _POD_LOSS, _AGENT_CRASH, _AGENT_BACK, _AUTOSCALE = range(7)
_PENDING = RunStatus()
WAIT_SAMPLE = 2_000
"""At most this many waiting Runs are asked why they wait per sample; more are estimated."""


class _Flight:
    """A Run in the system: its latest version and its timeline."""

    __slots__ = ("arrived", "bound", "duration", "pod", "run", "started", "token", "warm")

    def __init__(self, run: Run, arrived: float, duration: float) -> None:
        self.run = run
        self.arrived = arrived
        self.bound = math.nan
        self.started = math.nan
        self.pod = ""
        self.duration = duration
        self.warm = False
        self.token = 0
        """Bumped whenever the current execution is lost, so its finish event is ignored."""


class _PodSim:
    """A Pod as the simulator sees it: its object, load and agent."""

    __slots__ = ("agent_up", "idle_since", "load", "pod", "ready_at", "spec", "unclaimed")

    def __init__(self, pod: RuntimePod, spec: PoolSpec, ready_at: float) -> None:
        self.pod = pod
        self.spec = spec
        self.ready_at = ready_at
        self.load = 0
        self.idle_since = ready_at
        self.agent_up = True
        self.unclaimed: list[RunKey] = []


class Simulation:
    """One simulated system: feed it arrivals with `run`, read the `SimResult`."""

    def __init__(
        self,
        setup: SimSetup,
        *,
        seed: int = 0,
        scheduler_factory: Callable[[SimSetup], Scheduler] | None = None,
    ) -> None:
        self.setup = setup
        # one generator per purpose: policies compared on one seed see the same Pod losses
        # and the same failed attempts, whatever they decide
        rngs = {
            name: random.Random(f"kruntimes-sim:{seed}:{name}")
            for name in ("reaction", "dispatch", "startup", "failures", "outcomes")
        }
        self._rng_reaction, self._rng_dispatch = rngs["reaction"], rngs["dispatch"]
        self._rng_startup, self._rng_failures = rngs["startup"], rngs["failures"]
        self._rng_outcomes = rngs["outcomes"]
        self.scheduler = (
            scheduler_factory(setup)
            if scheduler_factory is not None
            else new_scheduler(setup.scheduler, setup.plugins, load_entry_points=setup.entry_points)
        )
        self.now = 0.0
        self._events: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._flights: dict[RunKey, _Flight] = {}
        self._pods: dict[str, _PodSim] = {}
        self._pools = {p.runtime: p for p in setup.pools}
        self._ready: Counter[str] = Counter()
        self._starting: Counter[str] = Counter()
        self._busy: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()
        self._waiting: dict[RunKey, None] = {}
        """Pending Runs, in arrival order."""
        self._specs: dict[tuple[object, ...], tuple[object, RunSpec]] = {}
        self._names = 0
        self._pod_names = 0
        self._pod_seconds = 0.0
        self._pod_clock = 0.0
        self._paid_pods = 0
        """Pods ready or starting: what the cluster pays for."""
        self._arrived = 0
        self._wake = math.inf
        """The core's next timer (`Plan.next_wakeup`)."""
        self._cycle_at = math.inf
        """When the next cycle for news runs (inf: no news since the last cycle)."""
        self._last_cycle = -math.inf
        self._reaction = None if setup.reaction == Constant(0.0) else setup.reaction
        self._statistics: Counter[str] = Counter()

    # ------------------------------------------------------------------ entry point

    def run(
        self,
        arrivals: Iterable[Arrival],
        *,
        horizon: float,
        metrics: Metrics | None = None,
        drain: float | None = None,
        scenario: str = "",
        progress: Callable[[float], None] | None = None,
    ) -> SimResult:
        """Simulate the arrivals before `horizon`, then let the Runs in flight end.

        `drain` bounds how long after the horizon the simulation goes on
        while Runs are in flight (default: the horizon again, at least an
        hour); Runs still in flight then are reported as unfinished.
        """
        if metrics is None:
            metrics = Metrics(bucket_seconds=max(horizon / 500.0, 1e-3))
        self.metrics = metrics
        stop = horizon + (max(horizon, 3600.0) if drain is None else drain)
        self._prepare()
        self._loop(iter(arrivals), horizon, stop, progress)
        end = min(max(self.now, horizon), stop)  # observed until the horizon at least
        metrics.arrived(self._arrived)
        self._pay(end)
        self._sample(end)
        for flight in self._flights.values():
            state = "waiting" if math.isnan(flight.started) else "running"
            metrics.run_unfinished(
                flight.run.spec.runtime, flight.arrived, flight.bound, flight.started, state
            )
        return metrics.result(
            horizon=horizon,
            end=end,
            scenario=scenario,
            system=SYSTEM,
            pod_seconds=self._pod_seconds,
            extra={"decisions": dict(self.scheduler.statistics().decisions), **self.statistics()},
        )

    def _prepare(self) -> None:
        for queue in self.setup.queues:
            self.scheduler.queue_upserted(queue)
        for spec in self.setup.pools:
            for _ in range(spec.replicas):
                self._add_pod(spec)
        self._schedule_failures()
        if any(p.grows for p in self.setup.pools):
            self._push(self.setup.autoscale_every, _AUTOSCALE, None)

    def _loop(
        self,
        stream: Iterator[Arrival],
        horizon: float,
        stop: float,
        progress: Callable[[float], None] | None,
    ) -> None:
        """Take the next instant with news; arrivals, then events, then a cycle if one is due."""
        bucket = self.metrics.bucket_seconds
        nxt = next(stream, None)
        if nxt is not None and nxt.at >= horizon:
            nxt = None
        next_sample = 0.0
        next_progress = 0.0
        events = self._events
        inf = math.inf
        while True:
            t = inf if nxt is None else nxt.at
            if events and events[0][0] < t:
                t = events[0][0]
            t = min(t, self._wake, self._cycle_at)
            if t == inf or t > stop or (nxt is None and not self._flights and t >= horizon):
                return
            while next_sample <= t:
                self._sample(next_sample)
                next_sample += bucket
            if progress is not None and t >= next_progress:
                progress(min(t, horizon))
                next_progress = t + bucket
            self.now = t
            while nxt is not None and nxt.at <= t:
                self._arrive(nxt)
                nxt = next(stream, None)
                if nxt is not None and nxt.at >= horizon:
                    nxt = None
            while events and events[0][0] <= t:
                _, _, kind, payload = heapq.heappop(events)
                self._handle(kind, payload)
            if self._wake <= t or self._cycle_at <= t:
                self._cycle(t)

    # ------------------------------------------------------------------ events

    def _push(self, at: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, kind, payload))

    def _handle(self, kind: int, payload: Any) -> None:
        if kind == _START:
            self._start(*payload)
        elif kind == _FINISH:
            self._finish(*payload)
        elif kind == _POD_READY:
            self._starting[payload] -= 1
            self._paid_pods -= 1  # it was paid for as starting; `_add_pod` counts it again
            self._add_pod(self._pools[payload])
        elif kind == _POD_LOSS:
            self._lose_pod()
        elif kind == _AGENT_CRASH:
            self._crash_agent()
        elif kind == _AGENT_BACK:
            self._agent_back(payload)
        elif kind == _AUTOSCALE:
            self._autoscale()
            self._push(self.now + self.setup.autoscale_every, _AUTOSCALE, None)

    def _run_object(self, arrival: Arrival) -> Run:
        self._names += 1
        # a workload's arrivals share one `requests` object: its id keys the cache (the
        # object is kept in the value, so the id is not reused while cached)
        fields = (arrival.runtime, arrival.queue, arrival.priority, id(arrival.requests))
        cached = self._specs.get(fields)
        if cached is None:
            requests = dict(arrival.requests) if arrival.requests else {"runs": 1}
            spec = RunSpec(
                runtime=arrival.runtime,
                resources=ResourceRequirements(requests=requests),
                queue=arrival.queue,
                priority=arrival.priority,
                retry_policy=self.setup.retry,
            )
            cached = self._specs[fields] = (arrival.requests, spec)
        meta = ObjectMeta(name=f"r{self._names}", namespace=self.setup.namespace)
        return Run(metadata=meta, spec=cached[1], status=_PENDING)

    def _arrive(self, arrival: Arrival) -> None:
        run = self._run_object(arrival)
        key = (run.metadata.namespace, run.metadata.name)
        self._flights[key] = _Flight(run, self.now, arrival.duration)
        self._arrived += 1
        self._pending[arrival.runtime] += 1
        self._waiting[key] = None
        self.scheduler.run_upserted(run)
        self._news()

    # ------------------------------------------------------------------ the core

    def _news(self) -> None:
        """Something changed that a cycle must see: the first change since the last cycle
        sets when (after the `reaction` delay, no sooner than `cycle_interval` after the
        last cycle); later ones join that cycle."""
        if self._cycle_at == math.inf:
            at = (
                self.now
                if self._reaction is None
                else self.now + self._reaction.sample(self._rng_reaction)
            )
            self._cycle_at = max(at, self._last_cycle + self.setup.cycle_interval)

    def _cycle(self, now: float) -> None:
        self._cycle_at = math.inf
        self._last_cycle = now
        plan = self.scheduler.cycle(now)
        self._wake = math.inf if plan.next_wakeup is None else plan.next_wakeup
        for decision in plan.decisions:
            if type(decision) is Bind:
                self._bind(decision)
            elif type(decision) is Requeue:
                self._requeue(decision)
            elif type(decision) is Terminate:
                self._terminate(decision)
        if self._wake <= now:
            self._wake = math.nextafter(now, math.inf)

    def _bind(self, decision: Bind) -> None:
        flight = self._flights[decision.run]
        pod = self._pods[decision.pod]
        del self._waiting[decision.run]
        runtime = flight.run.spec.runtime
        self._pending[runtime] -= 1
        self._busy[runtime] += 1
        pod.load += 1
        if math.isnan(flight.bound):
            flight.bound = self.now
            flight.warm = pod.ready_at <= flight.arrived
        flight.pod = decision.pod
        start = self.now + self.setup.dispatch.sample(self._rng_dispatch)
        self._push(start, _START, (decision, flight.token))

    def _start(self, decision: Bind, token: int) -> None:
        flight = self._flights.get(decision.run)
        if flight is None or flight.token != token:
            return  # requeued or ended meanwhile
        pod = self._pods.get(decision.pod)
        live = pod is not None and pod.pod.uid == decision.pod_uid
        if not live or pod is None or not pod.agent_up:
            # the bind lands, but no agent claims it: the core unbinds it, or the agent does
            flight.run = status.bound(flight.run, decision.pod, decision.pod_uid, self.now)
            self.scheduler.run_upserted(flight.run)
            if live and pod is not None:
                pod.unclaimed.append(decision.run)
            self._news()
            return
        self._claim(flight, decision.pod, decision.pod_uid)

    def _claim(self, flight: _Flight, pod: str, uid: str) -> None:
        old = flight.run.status
        flight.run = Run(
            metadata=flight.run.metadata,
            spec=flight.run.spec,
            status=RunStatus(
                phase=Phase.RUNNING,
                assigned_pod=pod,
                assigned_pod_uid=uid,
                attempt=old.attempt,
                conditions=old.conditions,
            ),
        )
        if math.isnan(flight.started):
            flight.started = self.now
        self.scheduler.run_upserted(flight.run)
        key = (flight.run.metadata.namespace, flight.run.metadata.name)
        self._push(self.now + flight.duration, _FINISH, (key, flight.token))

    def _finish(self, key: RunKey, token: int) -> None:
        flight = self._flights.get(key)
        if flight is None or flight.token != token:
            return  # the execution was lost
        failures = self.setup.failures
        if failures.run_failure and self._rng_outcomes.random() < failures.run_failure:
            self._attempt_failed(flight, FailureReason.RUNTIME_ERROR)
            return
        self._end(flight, Phase.SUCCEEDED)

    def _attempt_failed(self, flight: _Flight, reason: FailureReason) -> None:
        """The agent reports a failed attempt and retries per policy, or fails the Run."""
        run = flight.run
        self._release(flight)
        verdict = decide_retry(run.spec.retry_policy, run.status.attempt, reason, self.now)
        if not verdict.retry:
            self._end(flight, Phase.FAILED, released=True)
            return
        flight.run = status.requeued(run, verdict.attempt, reason, "", self.now)
        self._requeued(flight)

    def _requeue(self, decision: Requeue) -> None:
        flight = self._flights[decision.run]
        self._release(flight)
        flight.run = status.requeued(
            flight.run, decision.attempt, decision.reason, decision.message, self.now
        )
        self._requeued(flight)

    def _requeued(self, flight: _Flight) -> None:
        key = (flight.run.metadata.namespace, flight.run.metadata.name)
        self._pending[flight.run.spec.runtime] += 1
        self._waiting[key] = None
        self.scheduler.run_upserted(flight.run)
        self._news()

    def _terminate(self, decision: Terminate) -> None:
        flight = self._flights[decision.run]
        if flight.pod:
            self._release(flight)
        else:
            self._pending[flight.run.spec.runtime] -= 1
        self._end(flight, decision.phase, released=True)

    def _release(self, flight: _Flight) -> None:
        """The Run's execution (or reservation) ends or is lost: its slot frees."""
        flight.token += 1
        pod = self._pods.get(flight.pod)
        if pod is not None:
            pod.load -= 1
            if pod.load == 0:
                pod.idle_since = self.now
        self._busy[flight.run.spec.runtime] -= 1
        flight.pod = ""

    def _end(self, flight: _Flight, phase: Phase, *, released: bool = False) -> None:
        if not released:
            self._release(flight)
        key = (flight.run.metadata.namespace, flight.run.metadata.name)
        del self._flights[key]
        self._waiting.pop(key, None)
        self.scheduler.run_deleted(key)
        if self._waiting:  # freed room matters only to Runs waiting; else the next news will do
            self._news()
        self.metrics.run_done(
            flight.run.spec.runtime,
            flight.arrived,
            flight.bound,
            flight.started,
            self.now,
            phase.value,
            flight.warm,
            flight.run.status.attempt,
        )

    # ------------------------------------------------------------------ Pods

    def _add_pod(self, spec: PoolSpec) -> None:
        self._pay(self.now)
        self._paid_pods += 1
        self._pod_names += 1
        name = f"{spec.runtime}-{self._pod_names}"
        pod = RuntimePod(
            name=name,
            runtime=spec.runtime,
            namespace=self.setup.namespace,
            uid=f"{name}-uid",
            labels=spec.labels,
            capacity=spec.capacity,
            heartbeat=ALWAYS_FRESH,
        )
        self._pods[name] = _PodSim(pod, spec, self.now)
        self._ready[spec.runtime] += 1
        self.scheduler.pod_upserted(pod)
        self._news()

    def _remove_pod(self, name: str) -> _PodSim:
        self._pay(self.now)
        self._paid_pods -= 1
        pod = self._pods.pop(name)
        self._ready[pod.spec.runtime] -= 1
        self.scheduler.pod_deleted(pod.pod.key)
        self._news()
        return pod

    def _start_pod(self, spec: PoolSpec) -> None:
        self._pay(self.now)
        self._paid_pods += 1
        self._starting[spec.runtime] += 1
        self._push(self.now + spec.startup.sample(self._rng_startup), _POD_READY, spec.runtime)

    def _pay(self, t: float) -> None:
        """Count Pod-seconds up to `t`; called before the number of Pods changes."""
        if t > self._pod_clock:
            self._pod_seconds += (t - self._pod_clock) * self._paid_pods
            self._pod_clock = t

    def _schedule_failures(self) -> None:
        failures = self.setup.failures
        for rate, kind in (
            (failures.pod_loss_per_hour, _POD_LOSS),
            (failures.agent_crash_per_hour, _AGENT_CRASH),
        ):
            if rate > 0:
                self._next_failure(rate, kind)

    def _next_failure(self, rate_per_pod_hour: float, kind: int) -> None:
        pods = max(len(self._pods), 1)
        self._push(
            self.now + self._rng_failures.expovariate(rate_per_pod_hour * pods / 3600.0), kind, None
        )

    def _victim(self) -> _PodSim | None:
        if not self._pods:
            return None
        names = sorted(self._pods)  # sorted: the same seed picks the same Pod
        return self._pods[names[self._rng_failures.randrange(len(names))]]

    def _lose_pod(self) -> None:
        self._next_failure(self.setup.failures.pod_loss_per_hour, _POD_LOSS)
        victim = self._victim()
        if victim is None:
            return
        self._statistics["pods_lost"] += 1
        self._lose_executions(victim)
        self._remove_pod(victim.pod.name)
        self._start_pod(victim.spec)  # the ReplicaSet replaces it

    def _lose_executions(self, pod: _PodSim) -> None:
        """The executions on `pod` stop: their finish events are void. Runs bound there but
        not started yet are left alone: their bind still lands, and nobody claims them."""
        name = pod.pod.name
        for flight in self._flights.values():
            if flight.pod == name and flight.run.status.phase is Phase.RUNNING:
                flight.token += 1

    def _crash_agent(self) -> None:
        self._next_failure(self.setup.failures.agent_crash_per_hour, _AGENT_CRASH)
        victim = self._victim()
        if victim is None or not victim.agent_up:
            return
        self._statistics["agent_crashes"] += 1
        victim.agent_up = False
        self._lose_executions(victim)
        victim.pod = evolve(victim.pod, heartbeat=self.now)
        self.scheduler.pod_upserted(victim.pod)
        back = self.now + self.setup.failures.agent_restart.sample(self._rng_failures)
        self._push(back, _AGENT_BACK, victim.pod.name)

    def _agent_back(self, name: str) -> None:
        pod = self._pods.get(name)
        if pod is None:
            return
        pod.agent_up = True
        pod.pod = evolve(pod.pod, heartbeat=ALWAYS_FRESH)
        self.scheduler.pod_upserted(pod.pod)
        # the restarted agent reports the executions it lost, and claims what was bound meanwhile
        for flight in [f for f in self._flights.values() if f.pod == name]:
            if flight.run.status.phase is Phase.RUNNING:
                self._attempt_failed(flight, FailureReason.EXECUTION_LOST)
        unclaimed, pod.unclaimed = pod.unclaimed, []
        for key in unclaimed:
            waiting = self._flights.get(key)
            if waiting is not None and waiting.pod == name:
                self._claim(waiting, name, pod.pod.uid)
        self._news()

    def _autoscale(self) -> None:
        for spec in self.setup.pools:
            if not spec.grows:
                continue
            runtime = spec.runtime
            demand = self._busy[runtime] + self._pending[runtime]
            desired = math.ceil(demand / (spec.slots * spec.target_utilisation))
            assert spec.max_replicas is not None
            desired = max(spec.replicas, min(spec.max_replicas, desired))
            have = self._ready[runtime] + self._starting[runtime]
            for _ in range(desired - have):
                self._start_pod(spec)
            if desired < self._ready[runtime]:
                self._scale_down(spec, self._ready[runtime] - desired)

    def _scale_down(self, spec: PoolSpec, surplus: int) -> None:
        idle = sorted(
            (p.idle_since, name)
            for name, p in self._pods.items()
            if p.spec is spec and p.load == 0 and p.idle_since + spec.scale_down_after <= self.now
        )
        for _, name in idle[:surplus]:
            self._remove_pod(name)

    # ------------------------------------------------------------------ observing

    def _sample(self, at: float) -> None:
        busy: dict[str, float] = {}
        slots: dict[str, float] = {}
        pods: dict[str, int] = {}
        for spec in self.setup.pools:
            ready = self._ready[spec.runtime]
            pods[spec.runtime] = ready
            slots[spec.runtime] = float(ready * spec.slots)
            busy[spec.runtime] = float(self._busy[spec.runtime])
        self.metrics.sample(
            at,
            in_system=len(self._flights),
            waiting=self._waiting_by_reason(),
            busy=busy,
            slots=slots,
            pods=pods,
        )

    def _waiting_by_reason(self) -> dict[str, int]:
        """Pending Runs by the core's own answer (`why_waiting`); estimated from an evenly
        spaced sample of `WAIT_SAMPLE` Runs when more wait (asking each costs a few µs)."""
        waiting = len(self._waiting)
        if not waiting:
            return {}
        step = max(1, waiting // WAIT_SAMPLE)
        asked: Counter[str] = Counter()
        why = self.scheduler.why_waiting
        for key in itertools.islice(self._waiting, 0, None, step):
            reason = why(key)
            asked[str(reason.code) if reason is not None else "Unjudged"] += 1
        if step == 1:
            return dict(asked)
        total = sum(asked.values())
        counts = {code: n * waiting // total for code, n in asked.items()}
        top = max(counts, key=lambda code: (counts[code], code))
        counts[top] += waiting - sum(counts.values())  # rounding: the totals match
        return counts

    def statistics(self) -> dict[str, int]:
        """Counters of what the simulation did (Pods lost, agents crashed)."""
        return dict(self._statistics)
