"""`Harness`: a Scheduler, a fake store and a virtual clock, playing the engine's protocol.

Tests drive it like a tiny cluster: `h.add_pod("p1")`, `h.submit(make_run("r1"))`,
`plan = h.cycle()`, `h.apply(plan)`, `h.start("r1")`, `h.finish("r1")`,
`h.kill_pod("p1")`, `h.advance(30)`. Every call the scheduler receives is
recorded, so `h.replay()` can feed the same log into a fresh scheduler and
`h.assert_deterministic()` can check that it decides the same plans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from attrs import evolve, frozen

from kruntimes import status
from kruntimes.core import (
    Bind,
    Decision,
    Event,
    Plan,
    PodDeleted,
    PodHeartbeat,
    PodUpserted,
    QueueDeleted,
    QueueUpserted,
    RunDeleted,
    RunKey,
    RunUpserted,
    Scheduler,
    SchedulerConfig,
    Wait,
    WaitReason,
    decide_retry,
)
from kruntimes.core.state import PodKey
from kruntimes.model import (
    CAPACITY_PHASES,
    FailureReason,
    Phase,
    Run,
    RunEvent,
    RunQueue,
    RuntimePod,
    transition,
)
from kruntimes.testing.builders import DEFAULT_NAMESPACE, DEFAULT_RUNTIME, EPOCH, make_pod, make_run
from kruntimes.testing.clock import VirtualClock
from kruntimes.testing.recording import CycleCall, LogEntry, Unreserve, replay
from kruntimes.testing.store import FakeStore, landed

_END_REASONS = {
    Phase.FAILED: FailureReason.RUNTIME_ERROR,
    Phase.TIMEOUT: FailureReason.TIMEOUT,
    Phase.CANCELLED: FailureReason.CANCELLED,
}

RunRef = str | RunKey | Run | Decision
"""A Run by name (in the harness namespace), key, object, or a decision about it."""
PluginsLike = Iterable[object] | Callable[[], Iterable[object]]
"""Plugin objects, or a factory returning fresh ones (needed if plugins keep state)."""


@frozen
class ApplyResult:
    """What happened to the decisions of a plan: written, or refused by a conflict."""

    landed: tuple[Decision, ...] = ()
    conflicted: tuple[Decision, ...] = ()


@frozen
class _Outstanding:
    decision: Decision
    version: str
    at: float


def default_scheduler_factory(
    plugins: PluginsLike = (),
    config: SchedulerConfig | None = None,
    *,
    load_entry_points: bool = False,
) -> Callable[[], Scheduler]:
    """A factory of schedulers with the built-ins plus `plugins`, hermetic by default.

    Installed entry-point plugins are left out unless `load_entry_points`, so a
    test's outcome does not depend on what else is installed.
    """
    from kruntimes.plugin_manager import new_scheduler

    def build() -> Scheduler:
        chosen = plugins() if callable(plugins) else plugins
        return new_scheduler(config, plugins=list(chosen), load_entry_points=load_entry_points)

    return build


class Harness:
    """A scheduler fed from a fake store, with the engine's write protocol and virtual time."""

    def __init__(
        self,
        plugins: PluginsLike = (),
        config: SchedulerConfig | None = None,
        *,
        clock: VirtualClock | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        runtime: str = DEFAULT_RUNTIME,
        load_entry_points: bool = False,
        record_waits: bool = True,
        scheduler_factory: Callable[[], Scheduler] | None = None,
    ) -> None:
        self.clock = clock if clock is not None else VirtualClock(EPOCH)
        self.namespace = namespace
        self.runtime = runtime
        self.record_waits = record_waits
        """Write `Wait` decisions to the store too (a condition), as the engine does."""
        self.scheduler_factory = scheduler_factory or default_scheduler_factory(
            plugins, config, load_entry_points=load_entry_points
        )
        self.scheduler = self.scheduler_factory()
        self.store = FakeStore()
        self.queues: dict[tuple[str, str], RunQueue] = {}
        self.log: list[LogEntry] = []
        self.plans: list[Plan] = []
        self.outstanding: list[_Outstanding] = []
        """Decisions of the last plans not yet written (`apply`) or failed (`fail_write`)."""

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        return self.clock.now

    def advance(self, seconds: float) -> float:
        """Move virtual time forward; returns the new now. Nothing runs by itself."""
        return self.clock.advance(seconds)

    # ------------------------------------------------------------------ plumbing

    def key(self, ref: RunRef) -> RunKey:
        if isinstance(ref, str):
            return (self.namespace, ref)
        if isinstance(ref, Run):
            return ref.key
        if isinstance(ref, tuple):
            return ref
        return ref.run

    def pod_key(self, name: str | PodKey | RuntimePod) -> PodKey:
        if isinstance(name, RuntimePod):
            return name.key
        return (self.namespace, name) if isinstance(name, str) else name

    def feed(self, event: Event) -> None:
        """Record `event` and hand it to the scheduler."""
        self.log.append(event)
        self.scheduler.handle(event)

    def _unreserve(self, key: RunKey, times: int = 1) -> None:
        self.log.append(Unreserve(key, times))
        for _ in range(times):
            self.scheduler.unreserve(key)

    def _write(self, run: Run) -> Run:
        stored = self.store.put_run(run)
        self.feed(RunUpserted(stored))
        return stored

    # ------------------------------------------------------------------ queues

    def put_queue(self, queue: RunQueue) -> RunQueue:
        """Create or change a RunQueue (the core sees `QueueUpserted`)."""
        self.queues[queue.key] = queue
        self.feed(QueueUpserted(queue))
        return queue

    def delete_queue(self, name: str | tuple[str, str]) -> None:
        key = (self.namespace, name) if isinstance(name, str) else name
        self.queues.pop(key, None)
        self.feed(QueueDeleted(key))

    # ------------------------------------------------------------------ pods

    def add_pods(self, *pods: RuntimePod) -> None:
        """Pods appear (or change): stored and fed with `pod_upserted`."""
        for pod in pods:
            self.store.put_pod(pod)
            self.feed(PodUpserted(pod))

    def add_pod(self, name: str, runtime: str | None = None, **kwargs: Any) -> RuntimePod:
        """A live Pod (heartbeat now unless given) of the harness namespace; see `make_pod`."""
        kwargs.setdefault("heartbeat", self.now)
        kwargs.setdefault("namespace", self.namespace)
        pod = make_pod(name, runtime or self.runtime, **kwargs)
        self.add_pods(pod)
        return pod

    def pod(self, name: str | PodKey) -> RuntimePod:
        return self.store.pods[self.pod_key(name)]

    def update_pod(self, name: str | PodKey, **changes: Any) -> RuntimePod:
        """`attrs.evolve` the stored Pod (`ready=False`, `capacity=...`) and feed it."""
        pod = evolve(self.pod(name), **changes)
        self.add_pods(pod)
        return pod

    def heartbeat(self, name: str | PodKey, at: float | None = None) -> None:
        """The Pod's agent reports alive (a `pod_heartbeat` event, at now by default)."""
        key = self.pod_key(name)
        at = self.now if at is None else at
        pod = self.store.pods.get(key)
        if pod is not None and (pod.heartbeat is None or at > pod.heartbeat):
            self.store.put_pod(evolve(pod, heartbeat=at))
        self.feed(PodHeartbeat(key, at))

    def heartbeat_all(self) -> None:
        """Every Pod that is not deleting heartbeats now."""
        for key in sorted(self.store.pods):
            if not self.store.pods[key].deleting:
                self.heartbeat(key)

    def terminate_pod(self, name: str | PodKey) -> RuntimePod:
        """The Pod starts terminating now (its Runs get the grace period)."""
        return self.update_pod(name, deleting=True, deletion_time=self.now)

    def kill_pod(self, name: str | PodKey) -> None:
        """The Pod is gone (deleted from the store): its Runs are stale at once."""
        key = self.pod_key(name)
        self.store.delete_pod(key)
        self.feed(PodDeleted(key))

    def replace_pod(self, name: str | PodKey, uid: str | None = None) -> RuntimePod:
        """Same name, new UID (a restarted Pod): Runs bound to the old one are lost."""
        old = self.pod(name)
        new_uid = uid if uid is not None else _next_uid(old.uid)
        return self.update_pod(
            name, uid=new_uid, heartbeat=self.now, ready=True, deleting=False, deletion_time=None
        )

    # ------------------------------------------------------------------ runs

    def submit(self, *runs: Run | str, **kwargs: Any) -> list[Run]:
        """Clients create Runs; a bare name means `make_run(name, **kwargs)` in this namespace."""
        kwargs.setdefault("namespace", self.namespace)
        kwargs.setdefault("runtime", self.runtime)
        built = [make_run(r, **kwargs) if isinstance(r, str) else r for r in runs]
        return [self._write(run) for run in built]

    def run(self, ref: RunRef) -> Run:
        """The newest stored version of a Run."""
        return self.store.runs[self.key(ref)]

    def phase(self, ref: RunRef) -> Phase | None:
        found = self.store.runs.get(self.key(ref))
        return None if found is None else found.status.phase

    def update_run(self, ref: RunRef, **spec_or_meta: Any) -> Run:
        """Another writer changes the Run: `labels=` goes to metadata, the rest to the spec."""
        run = self.run(ref)
        labels = spec_or_meta.pop("labels", None)
        if labels is not None:
            run = evolve(run, metadata=evolve(run.metadata, labels=labels))
        if spec_or_meta:
            run = evolve(run, spec=evolve(run.spec, **spec_or_meta))
        return self._write(run)

    def cancel(self, ref: RunRef) -> Run:
        """A client requests cancellation (`spec.cancelRequested`)."""
        return self.update_run(ref, cancel_requested=True)

    def delete_run(self, ref: RunRef) -> None:
        key = self.key(ref)
        if self.store.delete_run(key):
            self.feed(RunDeleted(key))

    def transition(self, ref: RunRef, event: RunEvent, **changes: Any) -> Run:
        """An agent moves the Run along the lifecycle table (raises on an illegal move)."""
        run = self.run(ref)
        phase = transition(run.status.phase, event)
        return self._write(evolve(run, status=evolve(run.status, phase=phase, **changes)))

    def start(self, ref: RunRef) -> Run:
        """The Pod's agent claims a Scheduled Run: Running."""
        return self._write(status.claimed(self.run(ref), self.now))

    def finish(self, ref: RunRef, phase: Phase = Phase.SUCCEEDED, reason: str = "") -> Run:
        """The attempt ends in terminal `phase`, without any retry (as the agent writes it)."""
        run = self.run(ref)
        if phase is Phase.SUCCEEDED:
            return self._write(status.succeeded(run, self.now))
        reason = reason or _END_REASONS.get(phase, FailureReason.RUNTIME_ERROR)
        return self._write(status.finished_unsuccessfully(run, phase, reason, "", self.now))

    def fail(self, ref: RunRef, reason: str = FailureReason.RUNTIME_ERROR) -> Run:
        """The attempt fails with `reason`; the agent retries per policy (Pending, attempt + 1,
        backing off) or fails the Run, as `decide_retry` says."""
        run = self.run(ref)
        retryable = self.scheduler.policy.is_retryable(run, reason)
        verdict = decide_retry(
            run.spec.retry_policy, run.status.attempt, reason, self.now, retryable=retryable
        )
        if verdict.retry:
            return self._write(status.requeued(run, verdict.attempt, reason, "", self.now))
        return self._write(status.finished_unsuccessfully(run, Phase.FAILED, reason, "", self.now))

    # ------------------------------------------------------------------ cycles

    def cycle(self, now: float | None = None, *, max_binds: int | None = None) -> Plan:
        """One scheduling cycle at `now` (default: the clock; a later `now` moves the clock)."""
        if now is not None:
            self.clock.set(now)
        now = self.now
        self.log.append(CycleCall(now, max_binds))
        plan = self.scheduler.cycle(now, max_binds=max_binds)
        self.plans.append(plan)
        for decision in plan.decisions:
            current = self.store.runs.get(decision.run)
            version = "" if current is None else current.metadata.resource_version
            self.outstanding.append(_Outstanding(decision, version, now))
        return plan

    def apply(
        self, plan: Plan | None = None, *, fail: Iterable[Decision | RunRef] = ()
    ) -> ApplyResult:
        """Write the outstanding decisions (of `plan`, or all) as conditional status writes.

        A decision in `fail`, or whose Run changed since the cycle, conflicts:
        the engine then calls `unreserve`. Landed writes are fed back as new
        Run versions.
        """
        failing = {self.key(f) for f in fail}
        chosen = set(plan.decisions) if plan is not None else None
        landed_: list[Decision] = []
        conflicted: list[Decision] = []
        keep: list[_Outstanding] = []
        for item in self.outstanding:
            decision = item.decision
            if chosen is not None and decision not in chosen:
                keep.append(item)
                continue
            if isinstance(decision, Wait) and not self.record_waits:
                continue
            current = self.store.runs.get(decision.run)
            written = None
            if (
                decision.run not in failing
                and current is not None
                and current.metadata.resource_version == item.version
            ):
                written = self.store.write_if(
                    decision.run, item.version, landed(current, decision, item.at)
                )
            if written is None:
                conflicted.append(decision)
                if not isinstance(decision, Wait):
                    self._unreserve(decision.run)
            else:
                landed_.append(decision)
                self.feed(RunUpserted(written))
        self.outstanding = keep
        return ApplyResult(tuple(landed_), tuple(conflicted))

    def fail_write(self, decision: Decision, *, unreserve_times: int = 1) -> None:
        """The write of `decision` conflicts: drop it and `unreserve` (more than once, if asked,
        to exercise idempotence)."""
        before = len(self.outstanding)
        self.outstanding = [o for o in self.outstanding if o.decision != decision]
        if len(self.outstanding) == before:
            raise ValueError(f"{decision!r} is not outstanding")
        if not isinstance(decision, Wait):
            self._unreserve(decision.run, unreserve_times)

    def step(self, now: float | None = None) -> Plan:
        """`cycle` then `apply` everything: the engine's steady state."""
        plan = self.cycle(now)
        self.apply(plan)
        return plan

    def settle(self, max_cycles: int = 100) -> list[Plan]:
        """Step at the current time until a plan changes nothing (only waits, or empty)."""
        plans = []
        for _ in range(max_cycles):
            plan = self.step()
            plans.append(plan)
            if all(isinstance(d, Wait) for d in plan.decisions):
                return plans
        raise AssertionError(f"no quiescence after {max_cycles} cycles")

    def run_until(
        self, deadline: float, *, heartbeat: bool = False, max_cycles: int = 1000
    ) -> None:
        """Step through every wake-up the scheduler asks for until `deadline`, like the engine.

        With `heartbeat`, live Pods heartbeat before each cycle (healthy agents).
        """
        for _ in range(max_cycles):
            if heartbeat:
                self.heartbeat_all()
            self.settle()
            wakeup = self.scheduler.next_wakeup()
            if wakeup is None or wakeup > deadline:
                break
            self.clock.set(max(wakeup, self.now))
        else:
            raise AssertionError(f"more than {max_cycles} wake-ups before {deadline}")
        self.clock.set(max(deadline, self.now))
        if heartbeat:
            self.heartbeat_all()
        self.settle()

    # ------------------------------------------------------------------ queries

    def why_waiting(self, ref: RunRef) -> WaitReason | None:
        return self.scheduler.why_waiting(self.key(ref))

    def runs_on(self, pod: str | PodKey) -> list[str]:
        """Names of stored Runs holding capacity on `pod` (Scheduled, Running, Ready)."""
        key = self.pod_key(pod)
        return sorted(
            r.metadata.name
            for r in self.store.runs.values()
            if r.metadata.namespace == key[0]
            and r.status.assigned_pod == key[1]
            and r.status.phase in CAPACITY_PHASES
        )

    def usage(self, pod: str | PodKey) -> dict[str, int]:
        """Resources used on `pod` by stored holders plus outstanding binds (reservations)."""
        key = self.pod_key(pod)
        used: dict[str, int] = {}
        holders = [self.store.runs[(key[0], name)] for name in self.runs_on(key)]
        reserved = [
            self.store.runs[o.decision.run]
            for o in self.outstanding
            if isinstance(o.decision, Bind)
            and o.decision.pod == key[1]
            and o.decision.run[0] == key[0]
            and o.decision.run in self.store.runs
        ]
        for run in holders + reserved:
            for name, qty in run.spec.resources.requests.items():
                used[name] = used.get(name, 0) + qty
        return {k: v for k, v in used.items() if v}

    # ------------------------------------------------------------------ replay

    def replay(
        self,
        log: Sequence[LogEntry] | None = None,
        *,
        scheduler: Scheduler | None = None,
        unreserve_once: bool = False,
    ) -> list[Plan]:
        """Feed `log` (default: everything so far) into a fresh scheduler; return its plans.

        With `unreserve_once`, repeated unreserve calls are replayed once, so
        equal plans also show that `unreserve` is idempotent.
        """
        return replay(
            self.log if log is None else log,
            scheduler if scheduler is not None else self.scheduler_factory(),
            unreserve_once=unreserve_once,
        )

    def assert_deterministic(self) -> None:
        """A fresh scheduler fed the same log decides the same plans (unreserve once)."""
        again = self.replay(unreserve_once=True)
        assert len(again) == len(self.plans), (len(again), len(self.plans))
        for i, (first, second) in enumerate(zip(self.plans, again, strict=True)):
            assert first == second, f"plan {i} differs on replay:\n{first}\n!=\n{second}"


def _next_uid(uid: str) -> str:
    stem, sep, n = uid.rpartition("~")
    return f"{stem}~{int(n) + 1}" if sep and n.isdigit() else f"{uid}~2"


def decisions_for(plan: Plan, ref: RunKey) -> list[Decision]:
    """The decisions of `plan` about one Run."""
    return [d for d in plan.decisions if d.run == ref]


Cluster = Harness
"""Alias: some tests read better as `Cluster(...)`."""

__all__ = [
    "ApplyResult",
    "Cluster",
    "CycleCall",
    "Harness",
    "LogEntry",
    "PluginsLike",
    "RunRef",
    "Unreserve",
    "decisions_for",
    "default_scheduler_factory",
    "replay",
]
