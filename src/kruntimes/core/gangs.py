"""Gangs in the admitted cycle: all of a gang's Runs bound in one plan, or none; timeouts.

Mixed into `Scheduler` through `Queues`. A gang is placed when its first waiting Run comes
up in its queue: every Run of the gang is placed (reserved) in turn, each in its own pool;
if one finds no Pod, the reservations made so far are released (idempotent unreserve) and
the gang waits with `WaitingForGang`.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from kruntimes.core.admission import LENT_OUT, GangKey, GangState, QueueState, quota_verdict
from kruntimes.core.decisions import Bind, Decision, Terminate, WaitReason
from kruntimes.core.placement import decide
from kruntimes.core.pool import Pool
from kruntimes.core.resources import fits
from kruntimes.core.state import PodState, RunState
from kruntimes.model import FailureReason, GangTimeoutAction, Phase, WaitCode

if TYPE_CHECKING:
    from kruntimes.core.policy import ClusterView, Policy
    from kruntimes.core.queues import CycleWalk

GANG_TIMER = 2
"""The timer kind of gang deadlines (the scheduler's are 0 and 1, starvation's 3)."""


class Gangs:
    """Gang state and placement; `Queues` calls `_place_gang` from its walk."""

    policy: Policy
    _view: ClusterView
    _gangs: dict[GangKey, GangState]
    _pools: dict[tuple[str, str], Pool]
    _timers: list[tuple[float, int, int, tuple[str, str]]]
    _terminal_next: dict[tuple[str, str], Terminate]
    _has_admit: bool
    """Whether a `kruntimes_admit` plugin is registered (set by `Queues`)."""

    if TYPE_CHECKING:

        def _next_seq(self) -> int: ...

        def _hold_on(self, st: RunState, ps: PodState, pool: Pool) -> None: ...

        def _release(self, st: RunState, *, reserved: bool = False, wake: bool = True) -> None: ...

        def _unqueue(self, st: RunState) -> None: ...

        def _refuse(self, st: RunState, reason: FailureReason, message: str) -> Terminate: ...

        def _wake_pool_of(self, st: RunState) -> None: ...

    def _set_gang_deadline(self, gang: GangState, at: float) -> None:
        gang.deadline = at
        heapq.heappush(self._timers, (at, self._next_seq(), GANG_TIMER, gang.key))

    def _gang_timed_out(self, gang: GangState) -> None:
        gang.timed_out = True
        first = next(iter(gang.members.values()), None)
        if first is None or first.run.spec.gang is None:
            return
        spec = first.run.spec.gang
        if spec.on_timeout is GangTimeoutAction.KEEP_WAITING:
            for st in gang.members.values():
                self._wake_pool_of(st)
            return
        present = len(gang.members)
        message = (
            f"gang {gang.key[1]} was not placed within {spec.timeout_seconds:g}s "
            f"({present} of its {gang.size} Runs were submitted)"
        )
        for st in list(gang.members.values()):
            if (
                not st.holds
                and st.phase is Phase.PENDING
                and not st.inflight
                and st.key not in self._terminal_next
            ):
                self._unqueue(st)  # refused for good: a new version of it ends it again
                self._terminal_next[st.key] = self._refuse(st, FailureReason.GANG_TIMEOUT, message)

    def _could_ever_fit(self, st: RunState) -> bool:
        """Whether the available Pods could host `st` (with its whole gang, if it has one not
        placed yet) once they are empty: only then may it hold the room others would use."""
        gang = st.gang
        members = [st] if gang is None or gang.formed else list(gang.members.values())
        if gang is not None and not gang.formed and len(members) < gang.size:
            return False
        by_pool: dict[tuple[str, str], list[RunState]] = {}
        for member in members:
            by_pool.setdefault(member.pool, []).append(member)
        for key, group in by_pool.items():
            pool = self._pools.get(key)
            if pool is None:
                return False
            free = [
                dict(ps.pod.capacity)
                for ps in pool.pods.values()
                if ps.available and ps.pod is not None
            ]
            for member in sorted(group, key=lambda m: m.request, reverse=True):
                slot = next((f for f in free if fits(member.request, {}, f)), None)
                if slot is None:
                    return False  # first fit, largest first: a sufficient check, not exact
                for name, amount in member.request:
                    slot[name] = slot.get(name, 0) - amount
        return True

    def _place_gang(
        self,
        gang: GangState,
        qs: QueueState,
        out: list[Decision],
        walk: CycleWalk,
    ) -> int | WaitReason:
        """Bind every Run of `gang`, or none: how many were bound, or why none was.

        Runs of `walk.pool` bound are listed in `walk.bound` (the caller is iterating
        that pool's queue); those of other pools leave their queues here.
        """
        name = gang.key[1]
        if gang.deadline is None:
            spec = next(iter(gang.members.values())).run.spec.gang
            if spec is not None and spec.timeout_seconds is not None:
                self._set_gang_deadline(gang, walk.now + spec.timeout_seconds)  # no creation time
        if gang.timed_out and gang.deadline is not None:
            spec = next(iter(gang.members.values())).run.spec.gang
            if spec is not None and spec.on_timeout is GangTimeoutAction.FAIL:
                return WaitReason(WaitCode.WAITING_FOR_GANG, f"gang {name} timed out")
        members = self._gang_waiting(gang)
        late = " (past its timeout, it keeps waiting)" if gang.timed_out else ""
        if len(members) < gang.size:
            return WaitReason(
                WaitCode.WAITING_FOR_GANG,
                f"{len(members)} of the {gang.size} Runs of gang {name} are waiting; "
                f"they start together{late}",
            )
        total: dict[str, int] = {}
        for m in members:
            for res, amount in m.request:
                total[res] = total.get(res, 0) + amount
        keys = [m.key for m in members]
        qs.forgive(keys)  # judged afresh, as a whole
        reason = quota_verdict(qs, tuple(sorted(total.items())))
        if reason is not None:
            if LENT_OUT in reason.message:
                qs.owed.update(keys)  # within the queue's quota: the cohort owes it
            return WaitReason(
                WaitCode.QUOTA_EXCEEDED, f"gang {name} ({gang.size} Runs): {reason.message}"
            )
        if self._has_admit:
            for m in members:
                refusal = self.policy.admit(m.run, qs, self._view)  # type: ignore[attr-defined]
                if refusal is not None:
                    return WaitReason(
                        WaitCode.ADMISSION_REJECTED, f"gang {name}, Run {m.key[1]}: {refusal}"
                    )
        placed: list[tuple[RunState, Pool]] = []
        for m in members:
            pool = self._pools[m.pool]
            best, wait, popped = decide(m, pool, self.policy, self._view)
            if best is None:
                for ps in popped:
                    pool.offer(ps)
                for p, _ in placed:
                    self._release(p, reserved=True, wake=False)  # re-ranks its Pod
                    p.pod_uid = None
                assert wait is not None
                if wait.code not in (WaitCode.NO_CAPACITY, WaitCode.NO_AVAILABLE_POD):
                    # affinity, a filter, a reservation: say so, not "no room"
                    return WaitReason(wait.code, f"gang {name}, Run {m.key[1]}: {wait.message}")
                return WaitReason(
                    WaitCode.WAITING_FOR_GANG,
                    f"the {gang.size} Runs of gang {name} do not all fit now; they start "
                    f"together{late}",
                )
            m.reserved = True
            self._hold_on(m, best, pool)
            m.pod_uid = best.pod.uid if best.pod is not None else ""
            for ps in popped:
                if ps is not best:
                    pool.offer(ps)
            placed.append((m, pool))
        for m, pool in placed:
            m.wait = None
            m.passed_since = None
            out.append(Bind(m.key, m.pod or "", m.pod_uid or "", m.attempt))
            if pool is walk.pool:
                walk.bound.append(m.key)
            else:
                pool.pending.pop(m.key, None)
        gang.formed = True
        return len(placed)

    def _gang_waiting(self, gang: GangState) -> list[RunState]:
        """Members queued for placement (not backing off, not ending), in key order."""
        waiting = []
        for key, st in sorted(gang.members.items()):
            pool = self._pools.get(st.pool)
            if pool is not None and key in pool.pending and not st.holds and not st.inflight:
                waiting.append(st)
        return waiting

    def gang_state(self, namespace: str, name: str) -> GangState | None:
        return self._gangs.get((namespace, name))
