"""Admission state: RunQueues with quota and weight, cohorts that lend quota, gangs.

Pure bookkeeping and verdicts; the scheduler (`kruntimes.core.scheduler`) owns
the objects and updates usage as Runs take and release capacity. Every verdict
that keeps a Run waiting is a `WaitReason`, so the Run's status says why.

Quota is checked per resource the Run requests. A queue within its own quota
may still wait when its cohort lent that quota out (it is returned as the
borrowing Runs finish: nothing is preempted); while it waits, no other queue of
the cohort borrows more. Nor does any while a queue keeps its quota for a
starving Run (`QueueState.starving`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from kruntimes.core.decisions import WaitReason
from kruntimes.core.resources import Request, add, subtract
from kruntimes.model import (
    DEFAULT_QUEUE,
    DEFAULT_STARVATION_LIMIT_SECONDS,
    QueueingStrategy,
    RunQueue,
    WaitCode,
)

if TYPE_CHECKING:
    from kruntimes.core.state import RunState

QueueKey = tuple[str, str]
"""`(namespace, name)` of a RunQueue."""
GangKey = tuple[str, str]
"""`(namespace, gang name)`."""


class QueueState:
    """A RunQueue as the core tracks it: its spec (None until it exists) and what it uses.

    Read-only for plugins (`kruntimes_admit`, `kruntimes_queue_share` receive it). The
    spec's fields the hot path reads are copied onto plain attributes by `refresh`.
    """

    __slots__ = (
        "cohort",
        "exists",
        "holding",
        "key",
        "owed",
        "owed_cleared",
        "queue",
        "quota",
        "starvation_limit",
        "starving",
        "strict",
        "tracked",
        "unlimited",
        "usage",
        "weight",
    )

    def __init__(self, key: QueueKey) -> None:
        self.key = key
        self.queue: RunQueue | None = None
        self.usage: dict[str, int] = {}
        """Resources held by the queue's Runs (bound or reserved), on every runtime."""
        self.tracked = 0
        """The queue's Runs the core tracks (not finished): pending, backing off or holding."""
        self.holding = 0
        self.cohort: CohortState | None = None
        self.owed: set[tuple[str, str]] = set()
        """Runs of this queue that wait within the queue's own quota because the cohort lent
        it out: the cohort's other queues may not borrow until these are admitted or go."""
        self.owed_cleared = False
        """`owed` just became empty: the cohort's other queues may borrow again."""
        self.starving: RunState | None = None
        """A Run of this queue passed over for longer than the starvation limit while it waited
        for quota: nothing else of the queue is admitted before it, and no other queue of the
        cohort borrows, so the quota the queue's Runs free goes to it."""
        self.refresh(None)

    def refresh(self, queue: RunQueue | None) -> None:
        """Take a new version of the RunQueue (None: it was deleted, or never existed)."""
        self.queue = queue
        self.exists = queue is not None or self.key[1] == DEFAULT_QUEUE
        """Whether Runs may be admitted: the RunQueue exists, or it is the implicit default."""
        spec = queue.spec if queue is not None else None
        self.weight = spec.weight if spec is not None else 1.0
        self.quota: Mapping[str, int] = spec.quota if spec is not None else {}
        self.strict = spec is not None and spec.queueing_strategy is QueueingStrategy.STRICT_FIFO
        self.starvation_limit = (
            spec.starvation_limit_seconds if spec is not None else DEFAULT_STARVATION_LIMIT_SECONDS
        )
        self.unlimited = spec is None or (not spec.quota and spec.cohort is None)
        """No quota and no cohort: admission never refuses for quota."""

    @property
    def name(self) -> str:
        return self.key[1]

    def forgive(self, runs: Iterable[tuple[str, str]]) -> None:
        """These Runs are owed nothing any more (judged afresh, admitted, or gone)."""
        owed = self.owed
        if owed:
            owed.difference_update(runs)
            if not owed:
                self.owed_cleared = True

    @property
    def pending(self) -> int:
        return self.tracked - self.holding

    def __repr__(self) -> str:
        return f"QueueState({self.key!r}, usage={self.usage!r}, pending={self.pending})"


class CohortState:
    """Queues of one namespace that lend each other the quota they leave idle."""

    __slots__ = ("key", "members", "quota", "usage")

    def __init__(self, key: QueueKey) -> None:
        self.key = key
        self.members: dict[str, QueueState] = {}
        self.quota: dict[str, int] = {}
        """Sum of the members' quota, per resource."""
        self.usage: dict[str, int] = {}
        """Sum of the members' usage, per resource, counted only for members with a quota on
        it (a member without one uses that resource unlimited and lends none)."""

    def recount(self) -> None:
        quota: dict[str, int] = {}
        usage: dict[str, int] = {}
        for member in self.members.values():
            for name, amount in member.quota.items():
                quota[name] = quota.get(name, 0) + amount
                usage[name] = usage.get(name, 0) + member.usage.get(name, 0)
        self.quota = quota
        self.usage = usage


LENT_OUT = "lent it out"
"""In the message of a `QuotaExceeded` wait within the queue's own quota."""


def quota_verdict(
    qs: QueueState, request: Request, run: tuple[str, str] | None = None
) -> WaitReason | None:
    """Why `request` (of `run`) may not start in queue `qs` now, or None if quota allows it.

    A Run refused within its queue's own quota is recorded in `qs.owed`.
    """
    quota = qs.quota  # `qs.queue.spec.quota`, or nothing while the RunQueue does not exist
    if not quota:
        return None
    cohort = qs.cohort
    usage = qs.usage
    for name, amount in request:
        if not amount:
            continue
        limit = quota.get(name)
        if limit is None:
            continue
        after = usage.get(name, 0) + amount
        if after <= limit and (
            cohort is None or cohort.usage.get(name, 0) + amount <= cohort.quota.get(name, 0)
        ):
            continue  # within its own quota, which the cohort has not lent out: every bind
        reason = _quota_refusal(qs, name, amount, limit, run)
        if reason is not None:
            return reason
    return None


def _quota_refusal(
    qs: QueueState, name: str, amount: int, limit: int, run: tuple[str, str] | None
) -> WaitReason | None:
    """`quota_verdict` for one resource that is over the queue's quota, or that its cohort
    lent out: None if the queue may borrow it."""
    after = qs.usage.get(name, 0) + amount
    cohort = qs.cohort
    if cohort is None:
        return _over(qs, name, amount, limit)
    if cohort.usage.get(name, 0) + amount > cohort.quota.get(name, 0):
        if after <= limit:
            if run is not None:
                qs.owed.add(run)
            return WaitReason(
                WaitCode.QUOTA_EXCEEDED,
                f"queue {qs.name} is within its quota of {name} ({limit}) but cohort "
                f"{cohort.key[1]} {LENT_OUT}; it returns as the borrowing Runs finish",
            )
        return _none_to_lend(qs, name, limit)
    assert qs.queue is not None  # it has a quota
    borrowing_limit = qs.queue.spec.borrowing_limit
    cap = None if borrowing_limit is None else borrowing_limit.get(name)
    if cap is not None and after - limit > cap:
        return _over(qs, name, amount, limit, borrowing=cap)
    members = cohort.members.values()
    owed = [m.name for m in members if (m.owed or m.starving is not None) and m is not qs]
    return _none_to_lend(qs, name, limit) if owed else None


def _none_to_lend(qs: QueueState, name: str, limit: int) -> WaitReason:
    """One reason whether the cohort's quota is all in use or its idle quota is kept for
    queues owed their own: which one holds flips with every bind and end in a busy cohort,
    and a reason that flips is a status write each time."""
    assert qs.cohort is not None
    return WaitReason(
        WaitCode.QUOTA_EXCEEDED,
        f"queue {qs.name} is at its quota of {name} ({limit}) and cohort {qs.cohort.key[1]} "
        "has none to lend it: all in use, or kept for its queues waiting for their own quota",
    )


def _over(
    qs: QueueState, name: str, amount: int, limit: int, *, borrowing: int | None = None
) -> WaitReason:
    extra = "" if borrowing is None else f" plus at most {borrowing} borrowed"
    # No usage figures: a reason that changes with every bind would be rewritten every time.
    return WaitReason(
        WaitCode.QUOTA_EXCEEDED,
        f"queue {qs.name} has no room left in its quota of {name} ({limit}{extra}) "
        f"for the Run's {amount}",
    )


def charge(qs: QueueState, request: Request, sign: int) -> None:
    """Add (`sign` 1) or remove (-1) `request` from the queue's and its cohort's usage."""
    if sign > 0:
        add(qs.usage, request)
    else:
        subtract(qs.usage, request)
    cohort = qs.cohort
    if cohort is not None:
        quota = qs.quota
        for name, amount in request:
            if name in quota:
                cohort.usage[name] = cohort.usage.get(name, 0) + sign * amount


def dominant_share(usage: Mapping[str, int] | None, capacity: Mapping[str, int]) -> float:
    """The largest fraction of the pool's capacity of any resource that `usage` holds."""
    if not usage:
        return 0.0
    top = 0.0
    for name, amount in usage.items():
        cap = capacity.get(name, 0)
        if cap > 0:
            share = amount / cap
            if share > top:  # noqa: PLR1730 - max() without the call, per bind
                top = share
    return top


class GangState:
    """The Runs of one gang the core tracks, and whether the gang was placed once."""

    __slots__ = ("deadline", "formed", "key", "members", "queue", "size", "timed_out")

    def __init__(self, key: GangKey, size: int, queue: str) -> None:
        self.key = key
        self.size = size
        self.queue = queue
        self.members: dict[tuple[str, str], RunState] = {}
        self.formed = False
        """All `size` Runs were bound together once: a member retried later (its Pod was
        lost) is placed on its own, since its peers already run."""
        self.deadline: float | None = None
        self.timed_out = False

    def __repr__(self) -> str:
        return f"GangState({self.key!r}, {len(self.members)}/{self.size}, formed={self.formed})"


def gang_problem(gang: GangState, size: int, queue: str) -> str | None:
    """Why a Run may not join `gang` (its size or queue disagree, or the gang is full)."""
    name = gang.key[1]
    if size != gang.size:
        return f"gang {name} has size {gang.size}; this Run says {size}"
    if queue != gang.queue:
        return f"gang {name} is admitted by queue {gang.queue}; this Run names queue {queue}"
    if len(gang.members) >= gang.size:
        return f"gang {name} already has its {gang.size} Runs"
    return None


__all__ = [
    "CohortState",
    "GangKey",
    "LENT_OUT",
    "GangState",
    "QueueKey",
    "QueueState",
    "charge",
    "dominant_share",
    "gang_problem",
    "quota_verdict",
]
