"""A deliberately simple reference model of what the scheduler must guarantee.

Plain dicts: which Runs hold (or reserve) which Pod, what phase each Run is
in, when each Pod was first seen unhealthy, when a Run's backoff ends. The
stateful test updates it from the actions it performs, then checks every
plan and the scheduler's answers against it. It states the rules the way
the docs do (`docs/writing-a-policy.md`, `kruntimes.core.stale`,
`kruntimes.core.retry`), without the core's indexes, heaps or timers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from attrs import define, evolve, field

from kruntimes import status
from kruntimes.core import (
    Bind,
    Decision,
    Plan,
    Requeue,
    RunKey,
    SchedulerConfig,
    Terminate,
    Wait,
)
from kruntimes.core.state import PodKey
from kruntimes.model import (
    CAPACITY_PHASES,
    DEFAULT_QUEUE,
    FailureReason,
    Phase,
    Run,
    RunQueue,
    RuntimePod,
)
from kruntimes.testing.invariants import InvariantChecks, InvariantViolation

MAX_BACKOFF = 60.0
Retryable = Callable[[Run, str], "bool | None"]


def expected_backoff(backoff_seconds: float, attempt: int) -> float:
    """`backoff * 2**(attempt - 2)`, capped at 60 s; 0 before attempt 2 (the documented formula)."""
    if attempt < 2:
        return 0.0
    return min(backoff_seconds * 2.0 ** min(attempt - 2, 64), MAX_BACKOFF)


def stored_time(at: float) -> float:
    """`at` as it comes back from a condition's timestamp (microsecond resolution)."""
    return status.timestamp(at).timestamp()


def backoff_end(ref: RefRun, at: float) -> float:
    """When a Run requeued at `at` may be placed: from the condition's stored time, 0 for
    a first attempt (nothing to wait for)."""
    if ref.attempt < 2:
        return 0.0
    return stored_time(at) + expected_backoff(
        ref.run.spec.retry_policy.backoff_seconds, ref.attempt
    )


@define
class RefRun:
    run: Run
    """The newest spec and labels (the phase below is the model's own)."""
    phase: Phase = Phase.PENDING
    attempt: int = 1
    pod: str | None = None
    pod_uid: str | None = None
    reserved: bool = False
    """A `Bind` was decided and its write has not landed or failed yet."""
    ending: dict[Decision, int] = field(factory=dict)
    """Outstanding `Requeue`/`Terminate` decisions, with the version count they were made on."""
    changes: int = 0
    """How many times the Run was written; a decision made on an older count will conflict."""
    not_before: float = 0.0

    @property
    def inflight(self) -> bool:
        """A `Requeue`/`Terminate` that can still land is outstanding."""
        return any(v == self.changes for v in self.ending.values())

    @property
    def key(self) -> RunKey:
        return self.run.key

    @property
    def holds(self) -> bool:
        return self.reserved or self.phase in CAPACITY_PHASES

    @property
    def requests(self) -> Mapping[str, int]:
        return self.run.spec.resources.requests

    @property
    def invalid(self) -> bool:
        return any(type(q) is not int or q < 0 for q in self.requests.values())


@define
class RefPod:
    pod: RuntimePod | None
    """None once the Pod is gone."""
    unready_since: float | None = None
    """When a cycle first saw it not ready (or never heartbeated); cleared when seen healthy."""
    deleting_since: float | None = None
    """When a cycle first saw it deleting, for Pods that carry no deletion time."""


@define
class ReferenceModel(InvariantChecks):
    """What the scheduler must respect, as plain data. Feed it what happens, ask it to check."""

    config: SchedulerConfig = field(factory=SchedulerConfig)
    retryable: Retryable | None = None
    """The policy's `is_retryable` override (plugins may classify reasons)."""

    runs: dict[RunKey, RefRun] = field(factory=dict)
    pods: dict[PodKey, RefPod] = field(factory=dict)
    finished: dict[RunKey, Phase] = field(factory=dict)
    """Runs that reached a terminal phase (and were not deleted)."""
    queues: dict[tuple[str, str], RunQueue] = field(factory=dict)
    formed_gangs: set[tuple[str, str]] = field(factory=set)
    """Gangs bound once (all together): a retried member may be bound alone."""
    submitted_at: dict[RunKey, float] = field(factory=dict)
    may_be_full: set[RunKey] = field(factory=set)
    """Runs that arrived while their queue had a `maxPending` (they may be refused)."""
    last_wait: dict[RunKey, Wait] = field(factory=dict)
    """The newest `Wait` decided for each Run (the core emits one when the reason changes)."""

    def __attrs_post_init__(self) -> None:
        if self.config.stale_after_seconds <= self.config.heartbeat_fresh_seconds:
            raise ValueError("the reference model assumes stale_after > heartbeat_fresh")

    # ------------------------------------------------------------------ what happens

    def pod_upserted(self, pod: RuntimePod) -> None:
        ref = self.pods.get(pod.key)
        if ref is None:
            self.pods[pod.key] = RefPod(pod)
        else:
            ref.pod = pod

    def pod_heartbeat(self, key: PodKey, at: float) -> None:
        ref = self.pods.get(key)
        if ref is not None and ref.pod is not None:
            hb = ref.pod.heartbeat
            if hb is None or at > hb:
                ref.pod = evolve(ref.pod, heartbeat=at)

    def pod_deleted(self, key: PodKey) -> None:
        ref = self.pods.get(key)
        if ref is not None:
            ref.pod = None

    def run_submitted(self, run: Run, at: float | None = None) -> None:
        self.runs[run.key] = RefRun(run, phase=run.status.phase, attempt=run.status.attempt)
        if at is not None:
            self.submitted_at[run.key] = at
        queue = self.queues.get((run.key[0], run.spec.queue or DEFAULT_QUEUE))
        if queue is not None and queue.spec.max_pending is not None:
            self.may_be_full.add(run.key)

    def run_changed(self, run: Run) -> None:
        """A spec or label change by another writer (the phase is unchanged)."""
        ref = self.runs[run.key]
        ref.run = run
        ref.changes += 1

    def run_deleted(self, key: RunKey) -> None:
        self.runs.pop(key, None)
        self.finished.pop(key, None)
        self.last_wait.pop(key, None)

    def run_phase(self, key: RunKey, phase: Phase, *, attempt: int | None = None) -> None:
        """An agent (or a landed write) moved the Run."""
        ref = self.runs[key]
        ref.changes += 1
        if phase.is_terminal:
            del self.runs[key]
            self.finished[key] = phase
            self.last_wait.pop(key, None)
            return
        ref.phase = phase
        if attempt is not None:
            ref.attempt = attempt
        if phase is Phase.PENDING:
            ref.pod = ref.pod_uid = None

    def retried(self, key: RunKey, attempt: int, at: float) -> None:
        """An attempt failed and is retried: Pending at `attempt`, backing off from `at`."""
        self.run_phase(key, Phase.PENDING, attempt=attempt)
        self.runs[key].not_before = backoff_end(self.runs[key], at)

    def observe_pods(self, now: float) -> None:
        """A cycle looks at the Pods: date the start of unhealthiness and of deletion."""
        for ref in self.pods.values():
            pod = ref.pod
            if pod is None:
                continue
            if pod.ready and pod.heartbeat is not None:
                ref.unready_since = None
            elif ref.unready_since is None:
                ref.unready_since = now
            if not pod.deleting:
                ref.deleting_since = None
            elif ref.deleting_since is None:
                ref.deleting_since = pod.deletion_time if pod.deletion_time is not None else now

    def decided(self, plan: Plan) -> None:
        """Mark a plan's decisions outstanding (reservations hold capacity from now on)."""
        self.note_plan(plan)
        for d in plan.decisions:
            ref = self.runs.get(d.run)
            if ref is None:
                continue
            if isinstance(d, Bind):
                ref.reserved = True
                ref.pod, ref.pod_uid = d.pod, d.pod_uid
            elif isinstance(d, Requeue | Terminate):
                ref.ending[d] = ref.changes

    def landed(self, decision: Decision, at: float) -> None:
        ref = self.runs.get(decision.run)
        if ref is None:
            return
        ref.ending.pop(decision, None)
        if isinstance(decision, Bind):
            ref.reserved = False
            self.run_phase(decision.run, Phase.SCHEDULED)
        elif isinstance(decision, Wait):
            ref.changes += 1
        elif isinstance(decision, Requeue):
            unbind = decision.attempt == ref.attempt
            self.run_phase(decision.run, Phase.PENDING, attempt=decision.attempt)
            if not unbind:  # an unbind keeps the attempt and its (past) backoff
                ref.not_before = backoff_end(ref, at)
        elif isinstance(decision, Terminate):
            self.run_phase(decision.run, decision.phase)

    def conflicted(self, decision: Decision) -> None:
        ref = self.runs.get(decision.run)
        if ref is None:
            return
        ref.ending.pop(decision, None)
        if isinstance(decision, Bind):
            ref.reserved = False
            ref.pod = ref.pod_uid = None

    # ------------------------------------------------------------------ derived

    def holders(self, namespace: str) -> list[RefRun]:
        return [r for r in self.runs.values() if r.key[0] == namespace and r.holds]

    def usage(self, key: PodKey) -> dict[str, int]:
        used: dict[str, int] = {}
        for ref in self.holders(key[0]):
            if ref.pod == key[1]:
                for name, qty in ref.requests.items():
                    if qty:
                        used[name] = used.get(name, 0) + qty
        return {k: v for k, v in used.items() if v}

    def available(self, key: PodKey, now: float) -> str | None:
        """Why the Pod may not receive Runs at `now`, or None if it may."""
        ref = self.pods.get(key)
        pod = ref.pod if ref is not None else None
        if pod is None:
            return "the Pod is gone"
        if pod.deleting:
            return "the Pod is deleting"
        if not pod.ready:
            return "the Pod is not ready"
        if pod.heartbeat is None:
            return "the Pod never heartbeated"
        if now - pod.heartbeat > self.config.heartbeat_fresh_seconds:
            return f"the heartbeat is {now - pod.heartbeat}s old"
        return None

    def hosts(self, ref: RefRun, now: float) -> int:
        """Available Pods of the Run's runtime whose whole capacity fits its request."""
        spec = ref.run.spec
        count = 0
        for key, pod_ref in self.pods.items():
            pod = pod_ref.pod
            if (
                pod is not None
                and key[0] == ref.key[0]
                and pod.runtime == spec.runtime
                and self.available(key, now) is None
                and all(pod.capacity.get(n, 0) >= q for n, q in ref.requests.items() if q)
            ):
                count += 1
        return count

    def stale_due(self, ref: RefRun) -> tuple[FailureReason, float] | None:
        """When the Run holding its Pod becomes stale, and why; None while it is fine."""
        assert ref.pod is not None
        pod_ref = self.pods.get((ref.key[0], ref.pod))
        pod = pod_ref.pod if pod_ref is not None else None
        if pod is None:
            return (FailureReason.POD_GONE, float("-inf"))
        if ref.pod_uid and pod.uid and ref.pod_uid != pod.uid:
            return (FailureReason.POD_GONE, float("-inf"))
        assert pod_ref is not None
        if pod.deleting:
            since = pod.deletion_time if pod.deletion_time is not None else pod_ref.deleting_since
            if since is None:
                return None  # not observed yet
            grace = 0.0 if ref.phase is Phase.SCHEDULED else self.config.terminating_grace_seconds
            return (FailureReason.POD_TERMINATING, since + grace)
        candidates = []
        if pod.heartbeat is not None:
            # agent silence is dated from the last heartbeat
            candidates.append(pod.heartbeat + self.config.stale_after_seconds)
        if (not pod.ready or pod.heartbeat is None) and pod_ref.unready_since is not None:
            candidates.append(pod_ref.unready_since + self.config.stale_after_seconds)
        if not candidates:
            return None
        return (FailureReason.POD_UNHEALTHY, min(candidates))

    def is_stale(self, ref: RefRun, now: float) -> FailureReason | None:
        due = self.stale_due(ref)
        return due[0] if due is not None and now >= due[1] else None

    def next_deadline(self, ref: RefRun, now: float) -> float | None:
        """The future time at which this holder turns stale by itself, if any."""
        due = self.stale_due(ref)
        if due is None or due[1] <= now:
            return None
        return due[1]

    def expected_reap(self, ref: RefRun, reason: FailureReason, now: float) -> Decision:
        """What the docs say happens to a stale Run: unbind, retry with backoff, or fail."""
        policy = ref.run.spec.retry_policy
        if ref.phase is Phase.SCHEDULED:  # never started: same attempt, at once
            return Requeue(ref.key, ref.attempt, now, reason, "")
        verdict = self.retryable(ref.run, reason) if self.retryable is not None else None
        allowed = (
            verdict
            if verdict is not None
            else (not policy.retryable_reasons or reason in policy.retryable_reasons)
        )
        if reason != FailureReason.CANCELLED and allowed and ref.attempt < policy.max_attempts:
            nxt = ref.attempt + 1
            return Requeue(
                ref.key, nxt, now + expected_backoff(policy.backoff_seconds, nxt), reason, ""
            )
        return Terminate(ref.key, Phase.FAILED, reason, "")


def pods_in(model: ReferenceModel, namespace: str | None = None) -> Iterable[RuntimePod]:
    """The Pods the model knows to exist (optionally of one namespace)."""
    for key, ref in sorted(model.pods.items()):
        if ref.pod is not None and (namespace is None or key[0] == namespace):
            yield ref.pod


__all__ = [
    "InvariantViolation",
    "RefPod",
    "RefRun",
    "ReferenceModel",
    "expected_backoff",
    "pods_in",
]
