"""The admission half of the scheduler: RunQueues, cohorts, gangs, fair share, starvation.

A pool (one runtime of one namespace) keeps one pending queue per RunQueue.
With admission, a cycle walks them by fair share: the queue whose Runs hold
the smallest weighted dominant share of the pool's capacity goes next (a heap,
so 1,000 queues cost a log, not a scan). Each queue offers its Runs in
priority-then-arrival order; quota, gangs and `kruntimes_admit` plugins may
keep one waiting, with a reason. `BestEffortFIFO` lets later Runs pass one that
cannot start; once one has been passed over for its queue's starvation limit,
the pool (capacity) or the queue (quota) keeps the room for it.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import TYPE_CHECKING, cast

from attrs import frozen

from kruntimes.core.admission import (
    CohortState,
    GangKey,
    GangState,
    QueueKey,
    QueueState,
    charge,
    dominant_share,
    gang_problem,
    quota_verdict,
)
from kruntimes.core.decisions import Bind, Decision, Terminate, WaitReason
from kruntimes.core.gangs import GANG_TIMER, Gangs
from kruntimes.core.placement import decide
from kruntimes.core.pool import Pool
from kruntimes.core.resources import add, subtract
from kruntimes.core.state import PodState, RunState
from kruntimes.model import (
    DEFAULT_QUEUE,
    FailureReason,
    Phase,
    RunQueue,
    WaitCode,
)

if TYPE_CHECKING:
    from kruntimes.core.config import SchedulerConfig
    from kruntimes.core.policy import ClusterView, Policy

_STARVE = 3
"""The timer kind of starvation limits (the scheduler's are 0 and 1, gangs' 2)."""
_BOUND, _DONE, _FULL = 0, 1, 2


class CycleWalk:
    """One admitted cycle over one pool: where each queue's walk stands, what it bound."""

    __slots__ = (
        "bound",
        "capacity_skipped",
        "count",
        "mark",
        "now",
        "out",
        "pool",
        "quota_skipped",
    )

    def __init__(self, pool: Pool, now: float, out: list[Decision]) -> None:
        self.pool = pool
        self.now = now
        self.out = out
        self.mark = pool.pending.begin_walk()
        """Where each queue's walk stands is kept by its `PendingQueue` under this mark."""
        self.bound: list[tuple[str, str]] = []
        self.count = 0
        self.capacity_skipped: list[RunState] = []
        """Runs that did not fit while the pool had room: passed over by the next bind."""
        self.quota_skipped: dict[str, list[RunState]] = {}
        """Per queue, Runs its quota refused: passed over by the queue's next admission."""


@frozen
class QueueStatistics:
    """What a RunQueue's status shows: Runs waiting, Runs holding capacity, resources held."""

    pending: int
    admitted: int
    usage: dict[str, int]


class Queues(Gangs):
    """Mixed into `Scheduler`: queue, cohort and gang state, and the admitted cycle."""

    policy: Policy
    config: SchedulerConfig
    _runs: dict[tuple[str, str], RunState]
    _pools: dict[tuple[str, str], Pool]
    _dirty_pools: set[tuple[str, str]]
    _timers: list[tuple[float, int, int, tuple[str, str]]]
    _terminal_next: dict[tuple[str, str], Terminate]

    if TYPE_CHECKING:  # the rest of what it uses of `Scheduler` is declared by `Gangs`

        def _note_wait(self, st: RunState, reason: WaitReason, out: list[Decision]) -> None: ...

    def _init_queues(self) -> None:
        self._queues: dict[QueueKey, QueueState] = {}
        self._cohorts: dict[QueueKey, CohortState] = {}
        self._gangs: dict[GangKey, GangState] = {}
        self._judged_gangs: set[GangKey] = set()
        """Gangs that could not be placed in the current cycle (their Runs were told why)."""
        self._rejected: dict[tuple[str, str], Terminate] = {}
        """Runs refused at arrival (queue full, bad gang, unknown priority class)."""
        self._has_admit = bool(getattr(self.policy, "has_admission", False))
        self._has_share = bool(getattr(self.policy, "has_queue_share", False))
        self._view = cast("ClusterView", self)

    # ------------------------------------------------------------------ queue events

    def queue_upserted(self, queue: RunQueue) -> None:
        qs = self._queue_state(queue.key)
        qs.refresh(queue)
        self._join_cohort(qs, queue.spec.cohort)
        self._wake_queue(qs, reshare=True)

    def queue_deleted(self, key: QueueKey) -> None:
        qs = self._queues.get(key)
        if qs is None:
            return
        qs.refresh(None)
        self._join_cohort(qs, None)
        self._wake_queue(qs, reshare=True)
        self._drop_queue_if_idle(qs)

    def _queue_state(self, key: QueueKey) -> QueueState:
        qs = self._queues.get(key)
        if qs is None:
            qs = self._queues[key] = QueueState(key)
        return qs

    def _drop_queue_if_idle(self, qs: QueueState) -> None:
        if qs.queue is None and not qs.tracked and qs.cohort is None:
            self._queues.pop(qs.key, None)

    def _join_cohort(self, qs: QueueState, name: str | None) -> None:
        old = qs.cohort
        if old is not None and (name is None or old.key[1] != name):
            del old.members[qs.name]
            old.recount()
            if not old.members:
                del self._cohorts[old.key]
            qs.cohort = None
        if name is not None:
            key = (qs.key[0], name)
            cohort = self._cohorts.get(key)
            if cohort is None:
                cohort = self._cohorts[key] = CohortState(key)
            cohort.members[qs.name] = qs
            qs.cohort = cohort
            cohort.recount()  # the quota may have changed
            for member in cohort.members.values():
                if member is not qs:
                    self._wake_queue(member)  # what they may borrow changed

    def _wake_queue(self, qs: QueueState, *, reshare: bool = False) -> None:
        namespace, name = qs.key
        for pool in self._pools.values():
            if pool.key[0] == namespace and name in pool.pending.queues:
                self._dirty_pools.add(pool.key)
                if reshare:
                    pool.shares.stale = True  # its weight may have changed

    # ------------------------------------------------------------------ runs

    def _join(self, st: RunState) -> Terminate | None:
        """Attach a newly tracked Run to its queue (and gang); or why it may not join."""
        run = st.run
        spec = run.spec
        name = spec.queue or DEFAULT_QUEUE
        qs = self._queue_state((st.key[0], name))
        gang_spec = spec.gang
        gang: GangState | None = None
        if gang_spec is not None:
            gang_key = (st.key[0], gang_spec.name)
            gang = self._gangs.get(gang_key)
            if gang is None:
                gang = self._gangs[gang_key] = GangState(gang_key, gang_spec.size, name)
            problem = gang_problem(gang, gang_spec.size, name)
            if problem is not None:
                if not gang.members:
                    del self._gangs[gang_key]
                return self._refuse(st, FailureReason.INVALID_GANG, problem)
        limit = qs.queue.spec.max_pending if qs.queue is not None else None
        if (
            limit is not None
            and st.phase is Phase.PENDING
            and st.attempt == 1
            and not run.status.conditions
            and qs.pending >= limit
        ):
            if gang is not None and not gang.members:
                del self._gangs[gang.key]
            return self._refuse(
                st,
                FailureReason.QUEUE_FULL,
                f"queue {name} already holds its maximum of {limit} waiting Runs "
                "(spec.maxPending); submit again later",
            )
        st.queue = qs
        st.queue_name = name
        qs.tracked += 1
        if gang is not None and gang_spec is not None:
            gang.members[st.key] = st
            st.gang = gang
            if st.attempt > 1:
                gang.formed = True  # it ran before: so did its gang
            if gang_spec.timeout_seconds is not None and gang.deadline is None:
                created = run.metadata.creation_timestamp
                if isinstance(created, datetime):
                    self._set_gang_deadline(gang, created.timestamp() + gang_spec.timeout_seconds)
        return None

    def _refuse(self, st: RunState, reason: FailureReason, message: str) -> Terminate:
        ending = Terminate(st.key, Phase.FAILED, reason, message)
        self._rejected[st.key] = ending
        return ending

    def _leave(self, st: RunState) -> None:
        """The Run is forgotten (finished or deleted)."""
        self._rejected.pop(st.key, None)
        qs = st.queue
        if qs is not None:
            qs.tracked -= 1
            qs.forgive((st.key,))
            if qs.owed_cleared:
                self._quota_moved(qs)  # the cohort's other queues may borrow again
            self._stop_starving(qs, st)
            self._drop_queue_if_idle(qs)
        gang = st.gang
        if gang is not None:
            gang.members.pop(st.key, None)
            if not gang.members:
                self._gangs.pop(gang.key, None)
        pool = self._pools.get(st.pool)
        if pool is not None and st in pool.starving:
            pool.starving.remove(st)

    def _charge(self, st: RunState, pool: Pool | None, sign: int) -> None:
        """Count `st`'s request for (`sign` 1) or against (-1) its queue, its cohort and its
        queue's share of `pool`."""
        qs = st.queue
        if qs is None:
            return
        if sign > 0 and pool is not None:
            self._charge_bind(st, qs, pool)
            return
        charge(qs, st.request, sign)
        qs.holding += sign
        if sign < 0 and not qs.unlimited:
            self._quota_moved(qs)  # quota freed: Runs of the queue (or cohort) may start
        elif qs.owed_cleared:
            self._quota_moved(qs)
        if pool is None:
            return
        name = st.queue_name
        held = pool.usage.get(name)
        if held is None:
            held = pool.usage[name] = {}
        if sign > 0:
            add(held, st.request)
        else:
            subtract(held, st.request)
        if name in pool.shares:
            pool.shares.push(name, self._share(qs, pool))  # its share moved: re-rank it

    def _charge_bind(self, st: RunState, qs: QueueState, pool: Pool) -> None:
        """`_charge(st, pool, 1)`, once per decision: `charge`, `add` and `_share` inlined
        in one pass over the request."""
        request = st.request
        usage = qs.usage
        name = st.queue_name
        held = pool.usage.get(name)
        if held is None:
            held = pool.usage[name] = {}
        cohort = qs.cohort
        if cohort is None:
            for resource, amount in request:
                usage[resource] = usage.get(resource, 0) + amount
                held[resource] = held.get(resource, 0) + amount
        else:
            quota = qs.quota
            lent = cohort.usage
            for resource, amount in request:
                usage[resource] = usage.get(resource, 0) + amount
                held[resource] = held.get(resource, 0) + amount
                if resource in quota:
                    lent[resource] = lent.get(resource, 0) + amount
        qs.holding += 1
        if qs.owed_cleared:
            self._quota_moved(qs)
        if self._has_share:
            if name in pool.shares:
                pool.shares.push(name, self._share(qs, pool))
            return
        top = 0.0  # `dominant_share(held, pool.capacity)`
        capacity = pool.capacity
        for resource, amount in held.items():
            cap = capacity.get(resource, 0)
            if cap > 0:
                share = amount / cap
                if share > top:  # noqa: PLR1730 - max() without the call, per bind
                    top = share
        pool.shares.update(name, top / qs.weight if held else 0.0)  # re-rank it

    def _quota_moved(self, qs: QueueState) -> None:
        """Quota spans runtimes: a Run finishing on one may let the queue start a Run on
        another, whose pool must look again; in a cohort, quota freed or no longer owed
        may be borrowed by the other queues."""
        qs.owed_cleared = False
        members = qs.cohort.members.values() if qs.cohort is not None else (qs,)
        for member in members:
            if member.pending:
                self._wake_queue(member)

    # ------------------------------------------------------------------ timers

    def _fire_queue_timer(self, kind: int, key: tuple[str, str], at: float) -> None:
        if kind == GANG_TIMER:
            gang = self._gangs.get(key)
            if gang is not None and not gang.formed and gang.deadline == at:
                self._gang_timed_out(gang)
        else:
            st = self._runs.get(key)
            if st is not None and st.passed_since is not None and not st.holds:
                self._starving(st)

    def _starving(self, st: RunState) -> None:
        """`st` was passed over for its queue's starvation limit: keep room for it."""
        pool = self._pools.get(st.pool)
        if pool is None or st.key not in pool.pending:
            return
        qs = st.queue
        if qs is not None and quota_verdict(qs, st.request) is not None:
            if qs.starving is None and _within(st, qs) and self._could_ever_fit(st):
                qs.starving = st
                self._quota_moved(qs)  # its queue's Runs, and the cohort's borrowers, wait
            return
        if st not in pool.starving and self._could_ever_fit(st):
            pool.starving.append(st)
            self._dirty_pools.add(pool.key)

    def _stop_starving(self, qs: QueueState, st: RunState) -> None:
        """`st` (or its gang) no longer holds its queue's quota: it was placed, it is gone, or
        the quota would not help it (it can never fit, or waits for something else)."""
        if _holds_quota(qs, st):
            qs.starving = None
            self._quota_moved(qs)  # its queue's Runs, and the cohort's borrowers, go on

    def _starved_of_room(self, st: RunState, qs: QueueState, wait: WaitReason, pool: Pool) -> None:
        """`st` was admitted but not placed. If its queue keeps quota for it and it waits for
        room it can get, the pool keeps the room for it too (the queue keeps the quota
        meanwhile: holding one without the other could pass it over forever); if room would
        not help it, its queue goes on without it."""
        if not _holds_quota(qs, st):
            return
        if waits_for_room(wait) and self._could_ever_fit(st):
            if st not in pool.starving:
                pool.starving.append(st)
                self._dirty_pools.add(pool.key)
        else:
            self._stop_starving(qs, st)

    def _passed_over(self, st: RunState, now: float) -> None:
        if st.passed_since is None and st.queue is not None:
            st.passed_since = now
            at = now + st.queue.starvation_limit
            heapq.heappush(self._timers, (at, self._next_seq(), _STARVE, st.key))

    def _wake_pool_of(self, st: RunState) -> None:
        if st.pool in self._pools:
            self._dirty_pools.add(st.pool)

    # ------------------------------------------------------------------ verdicts

    def _admission_verdict(self, st: RunState, qs: QueueState) -> WaitReason | None:
        if qs.unlimited and qs.exists and qs.starving is None and not self._has_admit:
            return None  # the common case, decided without a call
        if not qs.exists:
            return WaitReason(
                WaitCode.NO_QUEUE,
                f"RunQueue {qs.name} does not exist in namespace {qs.key[0]}; the Run waits "
                "until it is created",
            )
        starving = qs.starving
        if starving is not None and not _within(starving, qs):
            self._stop_starving(qs, starving)  # the quota was lowered below what it needs
            starving = None
        if starving is not None and not _holds_quota(qs, st):
            return WaitReason(
                WaitCode.QUEUE_BLOCKED,
                f"Run {starving.key[1]} of queue {qs.name} waited past the starvation limit "
                f"({qs.starvation_limit:g}s) for quota and goes first",
            )
        if st.gang is None or st.gang.formed:
            qs.forgive((st.key,))  # judged afresh
            reason = quota_verdict(qs, st.request, st.key)
            if reason is not None:
                return reason
        if self._has_admit:
            refusal = self.policy.admit(st.run, qs, self._view)  # type: ignore[attr-defined]
            if refusal is not None:
                return WaitReason(WaitCode.ADMISSION_REJECTED, refusal)
        return None

    def _share(self, qs: QueueState, pool: Pool) -> float:
        usage = pool.usage.get(qs.key[1])
        if self._has_share:
            custom = self.policy.queue_share(qs, pool.capacity, usage or {})  # type: ignore[attr-defined]
            if custom is not None:
                return float(custom)
        if not usage:
            return 0.0
        return dominant_share(usage, pool.capacity) / qs.weight

    # ------------------------------------------------------------------ the admitted cycle

    def _schedule_admitted(
        self, pool: Pool, out: list[Decision], budget: float, now: float
    ) -> tuple[int, list[tuple[str, str]]]:
        """Place Runs of `pool` queue by queue, by fair share. Returns binds and keys bound."""
        namespace = pool.key[0]
        queues = self._queues
        pending = pool.pending
        shares = pool.shares
        pool.blocked.clear()
        if shares.stale:
            shares.clear()
            pending.added.clear()
            for queue in pending.queues:
                shares.push(queue, self._share(queues[(namespace, queue)], pool))
        elif pending.added:
            for queue in pending.added:
                if queue not in shares and queue in pending.queues:
                    shares.push(queue, self._share(queues[(namespace, queue)], pool))
            pending.added.clear()
        walk = CycleWalk(pool, now, out)
        done: list[QueueState] = []
        attempt = self._try
        waiting = pending.queues
        mark = walk.mark
        bound = walk.bound
        while walk.count < budget:
            name = shares.pop()
            if name is None:
                break
            sub = waiting.get(name)
            if sub is None:
                shares.discard(name)  # nothing pending here any more
                continue
            qs = queues[(namespace, name)]
            # The queue's next Run that can start binds (`_BOUND`), or the queue is done for
            # this cycle (`_DONE`), or the pool is (`_FULL`). Runs bound leave the queue at
            # the end of the cycle: the queue's walk goes on where it stopped.
            outcome: int | None = _DONE
            st = sub.walk(mark)
            while st is not None:
                outcome = attempt(st, qs, walk, out)
                if outcome is not None:
                    break
                st = sub.walk(mark)
            if outcome is _BOUND:
                assert st is not None
                bound.append(st.key)  # the bind re-ranked the queue already (`_charge`)
                continue
            done.append(qs)
            if outcome is _FULL:
                break
        else:
            self._dirty_pools.add(pool.key)
        for qs in done:
            shares.push(qs.key[1], self._share(qs, pool))
        return walk.count, bound

    def _try(
        self, st: RunState, qs: QueueState, walk: CycleWalk, out: list[Decision]
    ) -> int | None:
        """Admit and place `st`: `_BOUND`, `_DONE`/`_FULL` (stop the queue/pool), or None to
        go on with the queue's next Run."""
        if st.holds or st.reserved or st.not_before or st.inflight:
            return None  # bound with its gang earlier in this cycle, or ending
        gang = st.gang
        if gang is not None and gang.key in self._judged_gangs:
            return None  # its gang was judged in this cycle, with this Run
        if (
            qs.exists
            and qs.starving is None
            and not self._has_admit
            and (gang is None or gang.formed)
        ):  # `_admission_verdict`'s common case, without the call
            if qs.unlimited:
                reason = None
            else:
                if qs.owed:
                    qs.forgive((st.key,))  # judged afresh
                reason = quota_verdict(qs, st.request, st.key)
        else:
            reason = self._admission_verdict(st, qs)
        if gang is not None and not gang.formed:
            if reason is None:
                placed = self._place_gang(gang, qs, out, walk)
                if isinstance(placed, int):
                    walk.count += placed
                    self._stop_starving(qs, st)
                    self._passed(walk.capacity_skipped, walk.now)
                    return _BOUND
                reason = placed
                if reason.code is not WaitCode.QUOTA_EXCEEDED:
                    self._starved_of_room(st, qs, reason, walk.pool)
            self._judged_gangs.add(gang.key)  # one verdict for all its Runs, this cycle
            for member in self._gang_waiting(gang):
                if member is not st:
                    self._note_wait(member, reason, out)
        pool = walk.pool
        if reason is not None:
            return self._refused(st, qs, reason, walk)
        best, wait, popped = decide(st, pool, self.policy, self._view)
        if best is None:
            assert wait is not None
            return self._unplaced(st, qs, wait, popped, walk)
        self._bind(st, best, pool, popped, out)
        walk.count += 1
        if walk.capacity_skipped:
            self._passed(walk.capacity_skipped, walk.now)
        if walk.quota_skipped:
            self._passed(walk.quota_skipped.pop(qs.key[1], []), walk.now)
        return _BOUND

    def _refused(
        self, st: RunState, qs: QueueState, reason: WaitReason, walk: CycleWalk
    ) -> int | None:
        """Admission keeps `st` waiting: `_DONE` if that stops its queue, else None."""
        self._note_wait(st, reason, walk.out)
        if qs.owed_cleared:
            self._quota_moved(qs)  # it is no longer owed quota: others may borrow again
        if reason.code is WaitCode.QUOTA_EXCEEDED:
            walk.quota_skipped.setdefault(qs.key[1], []).append(st)
        elif reason.code is WaitCode.WAITING_FOR_GANG and walk.pool.has_candidates():
            walk.capacity_skipped.append(st)
        if reason.code is WaitCode.NO_QUEUE:
            return _DONE
        if qs.strict and self._blocks(st, qs, reason):
            walk.pool.blocked[qs.key[1]] = st
            return _DONE
        return None

    def _unplaced(
        self,
        st: RunState,
        qs: QueueState,
        wait: WaitReason,
        popped: tuple[PodState, ...],
        walk: CycleWalk,
    ) -> int | None:
        """No Pod for `st`: `_FULL` if no Pod has room, `_DONE` if it holds its strict queue,
        None to go on with the queue's next Run."""
        pool = walk.pool
        for ps in popped:
            pool.offer(ps)
        self._note_wait(st, wait, walk.out)
        if qs.starving is not None:
            self._starved_of_room(st, qs, wait, pool)
        if st.needs_slot and not pool.has_candidates():
            pool.wait = wait
            return _FULL
        if wait.code is WaitCode.NO_CAPACITY:
            walk.capacity_skipped.append(st)
        if qs.strict and self._blocks(st, qs, wait):
            pool.blocked[qs.key[1]] = st
            return _DONE
        return None

    def _blocks(self, st: RunState, qs: QueueState, reason: WaitReason) -> bool:
        """Whether the head of a strict FIFO queue holds the Runs behind it: when it waits
        for room or quota it can get once Runs finish. A Run that waits for anything else
        (affinity, its gang's other Runs, a plugin) or can never fit is stepped over."""
        code = reason.code
        if code is WaitCode.QUOTA_EXCEEDED:
            return _within(st, qs)
        if code in (WaitCode.NO_CAPACITY, WaitCode.NO_AVAILABLE_POD, WaitCode.WAITING_FOR_GANG):
            if code is WaitCode.WAITING_FOR_GANG and "fit now" not in reason.message:
                return False
            return self._could_ever_fit(st)
        return False

    def _passed(self, skipped: list[RunState], now: float) -> None:
        """Runs were passed over by a bind behind them: their starvation clock starts."""
        for st in skipped:
            self._passed_over(st, now)
        skipped.clear()

    def _bind(
        self,
        st: RunState,
        best: PodState,
        pool: Pool,
        popped: tuple[PodState, ...],
        out: list[Decision],
    ) -> None:
        st.reserved = True
        st.wait = None
        st.passed_since = None
        if st.queue is not None and st.queue.starving is not None:
            self._stop_starving(st.queue, st)  # its Runs on other runtimes were held for it
        self._hold_on(st, best, pool)
        st.pod_uid = best.pod.uid if best.pod is not None else ""
        for ps in popped:
            if ps is not best:
                pool.offer(ps)
        out.append(Bind(st.key, best.key[1], st.pod_uid, st.attempt))

    # ------------------------------------------------------------------ queries

    def queue_statistics(self, namespace: str, name: str) -> QueueStatistics | None:
        """Pending and admitted Runs of a RunQueue, and the resources they hold."""
        qs = self._queues.get((namespace, name))
        if qs is None:
            return None
        return QueueStatistics(qs.pending, qs.holding, dict(qs.usage))

    def queue_state(self, namespace: str, name: str) -> QueueState | None:
        return self._queues.get((namespace, name))

    def _strict_wait(self, st: RunState, pool: Pool) -> WaitReason | None:
        """Why a Run of a strict FIFO queue that was not looked at waits: its head."""
        qs = st.queue
        head = pool.blocked.get(st.queue_name)
        if qs is None or not qs.strict or head is None or head is st:
            return None
        return WaitReason(
            WaitCode.QUEUE_BLOCKED,
            f"queue {qs.name} is strict FIFO: Run {head.key[1]} ahead starts first",
        )

    def _queue_wait(self, st: RunState, pool: Pool) -> WaitReason | None:
        """Why a Run of a full pool waits, as far as queues tell: fair share."""
        qs = st.queue
        if qs is None or len(pool.pending.queues) < 2 or pool.shares.stale:
            return None
        shares = pool.shares
        while (top := shares.peek()) is not None and top[1] not in pool.pending.queues:
            shares.pop()
            shares.discard(top[1])
        if top is None or top[1] == qs.key[1]:
            return None
        mine = self._share(qs, pool)
        if top[0] >= mine:
            return None
        return WaitReason(
            WaitCode.FAIR_SHARE,
            f"queue {qs.name} holds a larger weighted share of runtime {pool.key[1]} than "
            f"queue {top[1]}, which gets the next free room",
        )


def _holds_quota(qs: QueueState, st: RunState) -> bool:
    """Whether the queue keeps its quota for `st` or for its gang (`qs.starving`)."""
    starving = qs.starving
    return starving is not None and (
        starving is st or (st.gang is not None and starving.gang is st.gang)
    )


def _within(st: RunState, qs: QueueState) -> bool:
    """Whether the Run's request (its whole gang's, for a gang not placed yet) fits its
    queue's quota at all, with nothing else held."""
    quota = qs.quota
    gang = st.gang
    members = gang.members.values() if gang is not None and not gang.formed else (st,)
    total: dict[str, int] = {}
    for member in members:
        for name, amount in member.request:
            total[name] = total.get(name, 0) + amount
    return all(amount <= quota.get(name, amount) for name, amount in total.items())


def waits_for_room(reason: WaitReason) -> bool:
    """Whether a Run waits for room on the pool's Pods (that others finishing frees)."""
    if reason.code is WaitCode.WAITING_FOR_GANG:
        return "fit now" in reason.message
    return reason.code in (WaitCode.NO_CAPACITY, WaitCode.NO_AVAILABLE_POD)
