"""Terse builders for the objects policy tests need: Pods, Runs, selectors, affinity, retry.

Every argument has a sensible default so a test states only what matters to
it: `make_pod("p1", capacity={"runs": 4}, heartbeat=now)`,
`make_run("r1", labels={"app": "web"}, affinity=affinity(anti_required=[{"app": "web"}]))`.
They build plain model objects; nothing here talks to a scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from attrs import evolve

from kruntimes.model import (
    DEFAULT_STARVATION_LIMIT_SECONDS,
    Affinity,
    Condition,
    ConditionStatus,
    GangSpec,
    LabelSelector,
    ObjectMeta,
    Phase,
    QueueingStrategy,
    ResourceRequirements,
    RetryPolicy,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunQueue,
    RunQueueSpec,
    RunSpec,
    RunStatus,
    RuntimePod,
    WeightedRunAffinityTerm,
)

DEFAULT_RUNTIME = "bash"
DEFAULT_NAMESPACE = "default"
EPOCH = 1_700_000_000.0
"""A fixed, realistic start time for virtual clocks (seconds since the epoch)."""

SelectorLike = LabelSelector | Mapping[str, str]
"""A `LabelSelector`, or a plain mapping meaning `matchLabels`."""


def make_pod(
    name: str,
    runtime: str = DEFAULT_RUNTIME,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    uid: str | None = None,
    capacity: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
    ready: bool = True,
    deleting: bool = False,
    deletion_time: float | None = None,
    heartbeat: float | None = None,
) -> RuntimePod:
    """A Runtime Pod; `uid` defaults to `"<name>-uid"`, so a replacement needs a new one.

    `heartbeat=None` means the agent was never heard from: the Pod is not
    available until it heartbeats (pass the current time for a live Pod).
    """
    return RuntimePod(
        name=name,
        runtime=runtime,
        namespace=namespace,
        uid=f"{name}-uid" if uid is None else uid,
        labels=labels or {},
        capacity=capacity,
        ready=ready,
        deleting=deleting,
        deletion_time=deletion_time,
        heartbeat=heartbeat,
    )


def make_run(
    name: str,
    runtime: str = DEFAULT_RUNTIME,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    requests: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
    affinity: Affinity | None = None,
    retry: RetryPolicy | None = None,
    cancel_requested: bool = False,
    priority: int = 0,
    priority_class_name: str | None = None,
    queue: str | None = None,
    gang: GangSpec | tuple[str, int] | None = None,
    created: float | None = None,
    phase: Phase = Phase.PENDING,
    attempt: int = 1,
    pod: str | None = None,
    pod_uid: str | None = None,
    conditions: Iterable[Condition] = (),
) -> Run:
    """A Run as a client submits it (Pending, attempt 1) unless told otherwise.

    `requests` defaults to `{"runs": 1}`; `pod`/`pod_uid` set the assignment
    for Runs that should arrive already bound (e.g. a restarted scheduler).
    When `pod` is given without `pod_uid`, the uid follows `make_pod`'s default.
    `gang` may be `(name, size)`; `created` is the creation time in seconds.
    """
    if pod is not None and pod_uid is None:
        pod_uid = f"{pod}-uid"
    if isinstance(gang, tuple):
        gang = GangSpec(*gang)
    return Run(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            uid=f"{name}-uid",
            resource_version="1",
            labels=labels or {},
            creation_timestamp=None if created is None else timestamp(created),
        ),
        spec=RunSpec(
            runtime=runtime,
            affinity=affinity,
            resources=ResourceRequirements(requests or {}),
            retry_policy=retry if retry is not None else RetryPolicy(),
            cancel_requested=cancel_requested,
            priority=priority,
            priority_class_name=priority_class_name,
            queue=queue,
            gang=gang,
        ),
        status=RunStatus(
            phase=phase,
            attempt=attempt,
            assigned_pod=pod,
            assigned_pod_uid=pod_uid,
            conditions=tuple(conditions),
        ),
    )


def make_queue(
    name: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    quota: Mapping[str, int] | None = None,
    weight: float = 1.0,
    cohort: str | None = None,
    borrowing_limit: Mapping[str, int] | None = None,
    max_pending: int | None = None,
    strict: bool = False,
    starvation_limit_seconds: float = DEFAULT_STARVATION_LIMIT_SECONDS,
) -> RunQueue:
    """A RunQueue; `strict` picks `StrictFIFO` over the default `BestEffortFIFO`."""
    return RunQueue(
        metadata=ObjectMeta(
            name=name, namespace=namespace, uid=f"{name}-uid", resource_version="1"
        ),
        spec=RunQueueSpec(
            quota=quota or {},
            weight=weight,
            cohort=cohort,
            borrowing_limit=borrowing_limit,
            max_pending=max_pending,
            queueing_strategy=(
                QueueingStrategy.STRICT_FIFO if strict else QueueingStrategy.BEST_EFFORT_FIFO
            ),
            starvation_limit_seconds=starvation_limit_seconds,
        ),
    )


def retry_policy(
    max_attempts: int = 3, backoff: float = 1.0, reasons: Iterable[str] = ()
) -> RetryPolicy:
    """`RetryPolicy(max_attempts, backoff_seconds, retryable_reasons)` with short names."""
    return RetryPolicy(
        max_attempts=max_attempts, backoff_seconds=backoff, retryable_reasons=tuple(reasons)
    )


def selector(match_labels: Mapping[str, str] | None = None, /, **labels: str) -> LabelSelector:
    """`selector(app="web")` or `selector({"example.io/tier": "db"})`: a matchLabels selector."""
    return LabelSelector(match_labels={**(match_labels or {}), **labels})


def _selector(value: SelectorLike) -> LabelSelector:
    return value if isinstance(value, LabelSelector) else LabelSelector(match_labels=value)


def term(value: SelectorLike) -> RunAffinityTerm:
    """A required term over the `kruntimes.io/runtime-pod` topology."""
    return RunAffinityTerm(label_selector=_selector(value))


def affinity(
    *,
    required: Iterable[SelectorLike] = (),
    preferred: Iterable[tuple[int, SelectorLike]] = (),
    anti_required: Iterable[SelectorLike] = (),
    anti_preferred: Iterable[tuple[int, SelectorLike]] = (),
) -> Affinity:
    """Run affinity from selectors: `affinity(required=[{"app": "db"}], anti_preferred=[...])`.

    Required terms must hold at bind time (the Run lands next to / away from
    matching Runs); preferred ones carry a weight of 1..100 and only score.
    """

    def rules(
        req: Iterable[SelectorLike], pref: Iterable[tuple[int, SelectorLike]]
    ) -> RunAffinityRules | None:
        required_terms = tuple(term(s) for s in req)
        preferred_terms = tuple(WeightedRunAffinityTerm(w, term(s)) for w, s in pref)
        if not required_terms and not preferred_terms:
            return None
        return RunAffinityRules(required=required_terms, preferred=preferred_terms)

    return Affinity(
        run_affinity=rules(required, preferred),
        run_anti_affinity=rules(anti_required, anti_preferred),
    )


def timestamp(seconds: float) -> datetime:
    """Seconds since the epoch as the aware `datetime` conditions carry."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def with_condition(run: Run, condition: Condition) -> Run:
    """`run` with `condition` replacing any condition of the same type (conditions are keyed)."""
    kept = tuple(c for c in run.status.conditions if c.type != condition.type)
    return evolve(run, status=evolve(run.status, conditions=(*kept, condition)))


def condition(
    type: str, status: ConditionStatus, reason: str, at: float, message: str = ""
) -> Condition:
    """A condition whose `last_transition_time` is `at` (seconds since the epoch)."""
    return Condition(
        type=type, status=status, reason=reason, message=message, last_transition_time=timestamp(at)
    )


__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_RUNTIME",
    "EPOCH",
    "SelectorLike",
    "affinity",
    "condition",
    "make_pod",
    "make_run",
    "retry_policy",
    "selector",
    "term",
    "timestamp",
    "with_condition",
]
