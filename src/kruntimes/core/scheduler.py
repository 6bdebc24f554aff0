"""The scheduling core: incremental state fed by events, a cycle that returns a `Plan`.

No I/O and no clock: time is the `now` argument of `cycle`. Feeding the same
events and the same `now` values always yields the same plans.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping

from attrs import evolve, fields, frozen

from kruntimes.core.config import SchedulerConfig
from kruntimes.core.decisions import (
    Decision,
    Plan,
    Requeue,
    RunKey,
    Terminate,
    Wait,
    WaitReason,
)
from kruntimes.core.events import (
    Event,
    PodDeleted,
    PodHeartbeat,
    PodUpserted,
    QueueDeleted,
    QueueUpserted,
    RunDeleted,
    RunUpserted,
)
from kruntimes.core.indexes import HolderIndex
from kruntimes.core.placement import decide
from kruntimes.core.policy import Policy
from kruntimes.core.pool import Pool
from kruntimes.core.queues import CycleWalk, Queues, waits_for_room
from kruntimes.core.resources import add, invalid_request, request_of, subtract
from kruntimes.core.retry import backoff_delay, decide_retry
from kruntimes.core.stale import StaleVerdict, stale_verdict, unhealthy_since
from kruntimes.core.state import PodKey, PodState, PoolKey, RunState
from kruntimes.model import (
    TERMINAL_PHASES,
    ConditionReason,
    ConditionType,
    FailureReason,
    LabelSelector,
    Phase,
    Run,
    RuntimePod,
    WaitCode,
)

_BACKOFF, _RECHECK = 0, 1
_PENDING = Phase.PENDING
_POD_FIELDS = fields(RuntimePod)
_POD_COPYABLE = (
    all(f.validator is None and f.on_setattr is None and f.init for f in _POD_FIELDS)
    and not _POD_FIELDS.heartbeat.converter
)


def _with_heartbeat(pod: RuntimePod, at: float) -> RuntimePod:
    """`evolve(pod, heartbeat=at)` for the one change agents make every few seconds.

    `evolve` re-runs `__init__` and every converter (copying `labels` and
    `capacity`), about 3x the cost; with no validator and an unconverted
    `heartbeat`, copying the attributes builds an equal Pod.
    """
    if not _POD_COPYABLE or type(pod) is not RuntimePod:
        return evolve(pod, heartbeat=at)
    new = object.__new__(RuntimePod)
    for f in _POD_FIELDS:
        object.__setattr__(new, f.name, getattr(pod, f.name))
    object.__setattr__(new, "heartbeat", at)
    return new


@frozen
class SchedulerStatistics:
    """A snapshot of the core's state, for metrics and debugging."""

    runs: int
    pending: int
    backing_off: int
    holding: int
    reserved: int
    pods: int
    available_pods: int
    pools: int
    decisions: dict[str, int]
    wakeups: dict[str, int]
    queues: int = 0
    gangs: int = 0


_ROOM = frozenset(
    {
        WaitCode.NO_AVAILABLE_POD,
        WaitCode.NO_CAPACITY,
        WaitCode.LOWER_PRIORITY,
        WaitCode.FAIR_SHARE,
        WaitCode.QUEUE_BLOCKED,
    }
)
"""Reasons to wait that are about room on the pool's Pods."""


def _pool_wait(head: WaitReason, pool: Pool) -> WaitReason:
    if head.code in (WaitCode.NO_POD_FOR_RUNTIME, WaitCode.NO_AVAILABLE_POD, WaitCode.NO_CAPACITY):
        return head
    return WaitReason(WaitCode.NO_CAPACITY, f"no Pod of runtime {pool.key[1]} has room")


class Scheduler(HolderIndex, Queues):
    """Places pending Runs onto available Runtime Pods. Not thread-safe; one owner feeds it."""

    def __init__(self, policy: Policy, config: SchedulerConfig | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.config = config if config is not None else SchedulerConfig()
        self._runs: dict[RunKey, RunState] = {}
        self._pods: dict[PodKey, PodState] = {}
        self._pools: dict[PoolKey, Pool] = {}
        self._dirty_pools: set[PoolKey] = set()
        self._dirty_pods: dict[PodKey, None] = {}
        self._timers: list[tuple[float, int, int, tuple[str, str]]] = []
        self._terminal_next: dict[RunKey, Terminate] = {}
        self._terminal_sent: dict[RunKey, Terminate] = {}
        self._seq = itertools.count()
        self._decisions: Counter[str] = Counter()
        self._wakeups: Counter[str] = Counter()
        self._admission = self.config.admission
        self._waits_at: dict[RunKey, int] = {}
        """Where in the current plan each Run's `Wait` is."""
        self._init_queues()

    def _next_seq(self) -> int:
        return next(self._seq)

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> None:
        """Apply one event (see `kruntimes.core.events`)."""
        if isinstance(event, RunUpserted):
            self.run_upserted(event.run)
        elif isinstance(event, RunDeleted):
            self.run_deleted(event.key)
        elif isinstance(event, PodUpserted):
            self.pod_upserted(event.pod)
        elif isinstance(event, PodDeleted):
            self.pod_deleted(event.key)
        elif isinstance(event, PodHeartbeat):
            self.pod_heartbeat(event.key, event.at)
        elif isinstance(event, QueueUpserted):
            self.queue_upserted(event.queue)
        elif isinstance(event, QueueDeleted):
            self.queue_deleted(event.key)
        else:  # pragma: no cover - Event is a closed union
            raise TypeError(f"not a scheduler event: {event!r}")

    def run_upserted(self, run: Run) -> None:
        meta = run.metadata
        key = (meta.namespace, meta.name)  # `run.key`, without the property call
        st = self._runs.get(key)
        status = run.status
        phase = status.phase
        if phase in TERMINAL_PHASES or run.spec.array is not None:
            if st is not None:  # an array Run is never placed: its child Runs are
                self._forget_run(st)
            return
        if st is None:
            st = self._track(run, key)
            if st is None:
                return
        elif st.holds and meta is not st.run.metadata and meta.labels != st.run.metadata.labels:
            self._unindex_holder(st)  # the label index is keyed by the old labels
            st.run = run
            self._index_holder(st)
        else:
            st.run = run
        st.inflight = False
        if self._terminal_sent:
            self._terminal_sent.pop(key, None)
        st.attempt = status.attempt
        assigned = status.assigned_pod
        if st.reserved:
            if phase is _PENDING:
                return  # our bind has not landed yet
            if assigned == st.pod:
                st.reserved = False
                st.phase = phase
                st.pod_uid = status.assigned_pod_uid or st.pod_uid
                # the Pod may have been judged while the bind was in flight (reserved Runs
                # are skipped then): look at it again now that the Run really holds it
                self._dirty_pods[(key[0], st.pod or "")] = None
                return
            self._release(st, reserved=True)  # another writer bound it elsewhere
        st.phase = phase
        if phase is _PENDING:
            if st.holds:
                self._release(st)
            self._queue_pending(st)
            return
        if not st.holds:  # a Run holding capacity is never queued, and has no `not_before`
            self._unqueue(st)
        pod_name = assigned or ""
        if st.holds and st.pod != pod_name:
            self._release(st)
        if not st.holds:
            self._hold(st, pod_name)
        st.pod_uid = status.assigned_pod_uid
        self._dirty_pods[(key[0], pod_name)] = None

    def _track(self, run: Run, key: RunKey) -> RunState | None:
        """Start tracking a Run; None if it must end (`_terminal_next` says how)."""
        request = request_of(run.spec.resources.requests)
        priority = self.policy.run_priority(run)
        st = RunState(
            key, run, (key[0], run.spec.runtime), request, next(self._seq), priority=priority or 0
        )
        self._runs[key] = st
        problem = invalid_request(request)
        if problem is not None:
            self._terminal_next[key] = Terminate(
                key, Phase.FAILED, FailureReason.INVALID_RESOURCES, problem
            )
            return None
        refusal = self._arrival_refusal(st, priority)
        if refusal is not None:
            if run.status.phase is _PENDING:
                self._terminal_next[key] = refusal
                return None
            self._rejected.pop(key, None)  # already placed: only new Runs are refused
        return st

    def _arrival_refusal(self, st: RunState, priority: int | None) -> Terminate | None:
        if priority is None:
            name = st.run.spec.priority_class_name
            known = ", ".join(sorted(self.config.priority_classes)) or "none"
            return self._refuse(
                st,
                FailureReason.UNKNOWN_PRIORITY_CLASS,
                f"priority class {name!r} is not defined (known: {known})",
            )
        return self._join(st) if self._admission else None

    def run_deleted(self, key: RunKey) -> None:
        st = self._runs.get(key)
        if st is not None:
            self._forget_run(st)

    def pod_upserted(self, pod: RuntimePod) -> None:
        ps = self._pod_state(pod.key)
        old = ps.pod
        if old is not None and old.runtime != pod.runtime:
            self._leave_pool(ps)
        ps.pod = pod
        pool = self._pool((pod.namespace, pod.runtime))
        if pod.name not in pool.pods:
            pool.pods[pod.name] = ps
            _count(pool.capacity, pod.capacity, 1)
            pool.shares.stale = True
        elif old is not None and old.capacity is not pod.capacity and old.capacity != pod.capacity:
            _count(pool.capacity, old.capacity, -1)
            _count(pool.capacity, pod.capacity, 1)
            pool.shares.stale = True
        if ps.available:
            pool.touch(ps)  # capacity may have changed
        self._dirty_pods[pod.key] = None
        self._wake(pool, "pod")

    def pod_deleted(self, key: PodKey) -> None:
        ps = self._pods.get(key)
        if ps is None or ps.pod is None:
            return
        self._leave_pool(ps)
        ps.pod = None
        self._dirty_pods[key] = None

    def pod_heartbeat(self, key: PodKey, at: float) -> None:
        ps = self._pods.get(key)
        if ps is None or ps.pod is None:
            return
        if ps.pod.heartbeat is None or at > ps.pod.heartbeat:
            ps.pod = _with_heartbeat(ps.pod, at)
            self._dirty_pods[key] = None

    def unreserve(self, key: RunKey) -> None:
        """Undo what the core assumed for `key`'s last decision (its write failed).

        Idempotent: a Bind's capacity is released and the Run is queued again;
        a Requeue or Terminate will be decided afresh. Unknown keys are ignored.
        """
        st = self._runs.get(key)
        if st is None:
            return
        st.inflight = False
        if st.reserved:
            self._release(st, reserved=True)
            self._queue_pending(st)
        elif st.holds:
            self._dirty_pods[(key[0], st.pod or "")] = None
        sent = self._terminal_sent.pop(key, None)
        if sent is not None:
            self._terminal_next[key] = sent

    # ------------------------------------------------------------------ cycle

    def cycle(self, now: float, *, max_binds: int | None = None) -> Plan:
        """Decide what can be decided at `now`: reaps, cancels, then binds, pool by pool.

        `max_binds` bounds the work of one call; pools left unfinished stay
        dirty and the next cycle continues them.
        """
        out: list[Decision] = []
        if self._judged_gangs:
            self._judged_gangs.clear()
        if self._waits_at:
            self._waits_at.clear()
        self._fire_timers(now)
        for key in list(self._dirty_pods):
            del self._dirty_pods[key]
            ps = self._pods.get(key)
            if ps is not None:
                self._evaluate_pod(ps, now, out)
        for key, decision in self._terminal_next.items():
            st = self._runs.get(key)
            if st is not None:
                st.inflight = True
                self._terminal_sent[key] = decision
                out.append(decision)
        self._terminal_next.clear()
        budget = math.inf if max_binds is None else max_binds
        for pool_key in sorted(self._dirty_pools):
            pool = self._pools[pool_key]
            if budget <= 0:
                break
            self._dirty_pools.discard(pool_key)
            budget -= self._schedule_pool(pool, out, budget, now)
        if out:
            self._decisions.update([type(d).__name__ for d in out])
        return Plan(tuple(out), self.next_wakeup())

    def next_wakeup(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def _schedule_pool(self, pool: Pool, out: list[Decision], budget: float, now: float) -> int:
        pending = pool.pending
        pool.wait = None
        if pool.starving and not self._serve_starving(pool, out, now):
            return 0
        if self._admission and not self._simple(pool):
            count, keys = self._schedule_admitted(pool, out, budget, now)
            pending.discard(keys)
            if pool.starving:  # the first one was bound: the next one's turn
                self._dirty_pools.add(pool.key)
            return count
        if pending.added:
            pending.added.clear()
            pool.shares.stale = True  # rebuilt if the pool ever needs admission
        bound: list[RunState] = []
        skipped: list[RunState] = []
        policy = self.policy
        for st in pending.values():
            if len(bound) >= budget:
                self._dirty_pools.add(pool.key)
                break
            best, wait, popped = decide(st, pool, policy, self)
            if best is None:
                for ps in popped:
                    pool.offer(ps)
                assert wait is not None
                self._note_wait(st, wait, out)
                if st.needs_slot and not pool.has_candidates():
                    pool.wait = _pool_wait(wait, pool)
                    break  # no Pod has room: the Runs behind wait for capacity, unexamined
                if self._admission and wait.code is WaitCode.NO_CAPACITY:
                    skipped.append(st)
                continue
            if skipped:
                self._passed(skipped, now)
            self._bind(st, best, pool, popped, out)
            bound.append(st)
        for st in bound:
            del pending[st.key]
        return len(bound)

    def _simple(self, pool: Pool) -> bool:
        """Whether the pool's Runs need nothing of admission beyond arrival order: one
        queue that exists, without quota or cohort, no gangs, no admission plugins."""
        queues = pool.pending.queues
        if len(queues) != 1 or self._gangs or self._has_admit:
            return False
        qs = self._queues.get((pool.key[0], next(iter(queues))))
        return (
            qs is not None and qs.exists and qs.unlimited and qs.starving is None and not qs.strict
        )

    def _serve_starving(self, pool: Pool, out: list[Decision], now: float) -> bool:
        """Place the pool's longest-starving Run first; False: it cannot start yet, and
        nothing else in the pool may take the room it waits for."""
        pending = pool.pending
        while pool.starving:
            st = pool.starving[0]
            if st.key in pending and not st.holds and self._could_ever_fit(st):
                break
            pool.starving.pop(0)  # placed, gone, or it cannot fit any more: others go on
            if st.queue is not None:
                self._stop_starving(st.queue, st)
        else:
            return True
        highest = pending.highest(st.queue_name)
        if highest is not None and highest > st.priority:
            return True  # Runs of a higher priority in its queue still go first
        qs = st.queue
        reason = self._admission_verdict(st, qs) if qs is not None else None
        if reason is None and (st.gang is None or st.gang.formed):
            best, wait, popped = decide(st, pool, self.policy, self._view)
            if best is not None:
                self._bind(st, best, pool, popped, out)
                del pending[st.key]
                pool.starving.pop(0)
                return True
            for ps in popped:
                pool.offer(ps)
            reason = wait
        elif reason is None and st.gang is not None and qs is not None:
            walk = CycleWalk(pool, now, out)
            placed = self._place_gang(st.gang, qs, out, walk)
            for key in walk.bound:
                pending.pop(key, None)
            if isinstance(placed, int):
                pool.starving.pop(0)
                self._stop_starving(qs, st)
                return True
            reason = placed
        assert reason is not None
        if not waits_for_room(reason):
            # quota, affinity, a plugin...: room kept would not help it. The queue's walk
            # judges it next, like any other Run (and says why it waits).
            pool.starving.pop(0)
            if qs is not None and reason.code is WaitCode.QUOTA_EXCEEDED:
                self._starving(st)  # the queue keeps its quota for it instead, if it can
            elif qs is not None:
                self._stop_starving(qs, st)
            return True
        self._note_wait(st, reason, out)
        pool.wait = WaitReason(
            WaitCode.QUEUE_BLOCKED,
            f"Run {st.key[1]} was passed over for its queue's starvation limit and starts "
            f"first; the room on runtime {pool.key[1]} is kept for it ({reason.message})",
        )
        return False

    def _note_wait(self, st: RunState, reason: WaitReason, out: list[Decision]) -> None:
        """Say why `st` waits, once per plan: a later reason in the same cycle (its gang
        was judged after it was held back) replaces the earlier one."""
        if st.wait != reason:
            st.wait = reason
            at = self._waits_at.get(st.key)
            if at is not None and at < len(out) and out[at].run == st.key:
                out[at] = Wait(st.key, reason)
                return
            self._waits_at[st.key] = len(out)
            out.append(Wait(st.key, reason))

    # ------------------------------------------------------------------ pods

    def _evaluate_pod(self, ps: PodState, now: float, out: list[Decision]) -> None:
        pod = ps.pod
        recheck: float | None = None
        since: float | None = None
        if pod is not None:
            verdict = self.policy.pod_availability(pod, now)
            ps.unavailable_reason = verdict.reason
            recheck = verdict.recheck_at
            if verdict.available != ps.available:
                pool = self._pools[(pod.namespace, pod.runtime)]
                ps.available = verdict.available
                pool.available_count += 1 if verdict.available else -1
                pool.touch(ps)
                if verdict.available:
                    self._wake(pool, "pod")
            if pod.ready and pod.heartbeat is not None:
                ps.unready_since = None
            elif ps.unready_since is None:
                ps.unready_since = now
            if not pod.deleting:
                ps.deleting_since = None
            elif ps.deleting_since is None or pod.deletion_time is not None:
                ps.deleting_since = pod.deletion_time if pod.deletion_time is not None else now
            since = unhealthy_since(pod, now, self.config.heartbeat_fresh_seconds, ps.unready_since)
        healthy = pod is not None and since is None and not pod.deleting
        uid = pod.uid if pod is not None else ""
        for st in list(ps.runs.values()):
            if st.reserved or st.inflight:
                continue
            if healthy and (not st.pod_uid or not uid or st.pod_uid == uid):
                continue  # what `stale_verdict` finds then: fresh, nothing to recheck
            stale = stale_verdict(
                phase=st.phase,
                assigned_uid=st.pod_uid,
                pod=pod,
                unhealthy_since=since,
                deleting_since=ps.deleting_since,
                now=now,
                stale_after=self.config.stale_after_seconds,
                terminating_grace=self.config.terminating_grace_seconds,
            )
            if stale.reason is not None:
                out.append(self._reap(st, stale, now))
            elif stale.recheck_at is not None:
                recheck = stale.recheck_at if recheck is None else min(recheck, stale.recheck_at)
        if recheck is not None and recheck <= now:
            recheck = math.nextafter(now, math.inf)  # "changes at now" means right after it
        if recheck is not None and (
            ps.timer_at is None or recheck < ps.timer_at or ps.timer_at <= now
        ):
            ps.timer_at = recheck
            heapq.heappush(self._timers, (recheck, next(self._seq), _RECHECK, ps.key))
        if pod is None and not ps.runs:
            del self._pods[ps.key]

    def _reap(self, st: RunState, stale: StaleVerdict, now: float) -> Decision:
        assert stale.reason is not None
        st.inflight = True
        if st.phase is Phase.SCHEDULED:
            return Requeue(st.key, st.attempt, now, stale.reason, stale.message)
        policy = st.run.spec.retry_policy
        retryable = self.policy.is_retryable(st.run, stale.reason)
        decision = decide_retry(policy, st.attempt, stale.reason, now, retryable=retryable)
        if decision.retry:
            return Requeue(
                st.key, decision.attempt, decision.not_before, stale.reason, stale.message
            )
        return Terminate(
            st.key,
            Phase.FAILED,
            stale.reason,
            f"{stale.message}; attempt {st.attempt} of {policy.max_attempts}, not retried",
        )

    def _leave_pool(self, ps: PodState) -> None:
        assert ps.pod is not None
        pool = self._pools.get((ps.pod.namespace, ps.pod.runtime))
        if pool is not None and pool.pods.pop(ps.name, None) is not None:
            _count(pool.capacity, ps.pod.capacity, -1)
            pool.shares.stale = True
            if ps.available:
                pool.available_count -= 1
        ps.available = False
        ps.unavailable_reason = "the Pod is gone"
        ps.heap_version += 1

    def _pod_state(self, key: PodKey) -> PodState:
        ps = self._pods.get(key)
        if ps is None:
            ps = self._pods[key] = PodState(key)
        return ps

    def _pool(self, key: PoolKey) -> Pool:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(key, self.policy.pod_order)
        return pool

    # ------------------------------------------------------------------ runs

    def _queue_pending(self, st: RunState) -> None:
        """Queue a Pending Run for placement, unless it must end: invalid or cancelled."""
        problem = invalid_request(st.request)
        rejected = self._rejected.get(st.key) if self._rejected else None
        if problem is not None:
            ending = Terminate(st.key, Phase.FAILED, FailureReason.INVALID_RESOURCES, problem)
        elif rejected is not None:
            ending = rejected
        elif st.run.spec.cancel_requested:
            ending = Terminate(
                st.key, Phase.CANCELLED, FailureReason.CANCELLED, "cancelled before it started"
            )
        else:
            self._enqueue(st)
            return
        self._unqueue(st)
        self._terminal_next[st.key] = ending

    def _enqueue(self, st: RunState) -> None:
        not_before = self._not_before(st) if st.attempt >= 2 else 0.0
        st.not_before = not_before
        pool = self._pools.get(st.pool)
        if pool is None:
            pool = self._pool(st.pool)
        if not_before > 0.0:
            pool.pending.pop(st.key, None)
            heapq.heappush(self._timers, (not_before, next(self._seq), _BACKOFF, st.key))
            return
        pending = pool.pending
        if st.key not in pending:  # a new version of a queued Run changes nothing here
            pending[st.key] = st
            if pool.key not in self._dirty_pools:  # `_wake(pool, "run")`, inlined
                self._dirty_pools.add(pool.key)
                self._wakeups["run"] += 1

    def _not_before(self, st: RunState) -> float:
        if st.attempt < 2:
            return 0.0
        cond = st.run.status.condition(ConditionType.RUNNING)
        if cond is None or cond.reason != ConditionReason.RETRYING:
            return 0.0
        if cond.last_transition_time is None:
            return 0.0
        delay = backoff_delay(st.run.spec.retry_policy, st.attempt)
        return cond.last_transition_time.timestamp() + delay

    def _unqueue(self, st: RunState) -> None:
        pool = self._pools.get(st.pool)
        if (
            pool is not None
            and pool.pending.pop(st.key, None) is not None
            and st.queue is not None
            and st.queue.strict
            and pool.pending
        ):
            self._dirty_pools.add(pool.key)  # the Runs behind it move up
        st.not_before = 0.0

    def _forget_run(self, st: RunState) -> None:
        key = st.key
        if st.holds:
            self._release(st, reserved=st.reserved)  # a Run holding capacity is never queued
        else:
            self._unqueue(st)
        if self._terminal_next:
            self._terminal_next.pop(key, None)
        if self._terminal_sent:
            self._terminal_sent.pop(key, None)
        if self._admission or self._rejected:
            self._leave(st)
        del self._runs[key]

    def _hold(self, st: RunState, pod_name: str) -> None:
        ps = self._pod_state((st.key[0], pod_name))
        ps.runs[st.key] = st
        add(ps.used, st.request)
        st.pod = pod_name
        st.holds = True
        self._index_holder(st)
        if st.queue is not None:
            self._charge(st, self._pools.get(st.pool), 1)
            if st.gang is not None:
                st.gang.formed = True  # bound before we saw it: so was its gang
        if ps.pod is not None:
            pool = self._pools.get((ps.pod.namespace, ps.pod.runtime))
            if pool is not None:
                pool.touch(ps)

    def _hold_on(self, st: RunState, ps: PodState, pool: Pool) -> None:
        """`_hold` on a Pod just taken from `pool` (its own pool; it has a RuntimePod)."""
        ps.runs[st.key] = st
        used = ps.used
        for name, qty in st.request:  # `add(ps.used, st.request)`, inlined
            used[name] = used.get(name, 0) + qty
        st.pod = ps.key[1]
        st.holds = True
        self._index_holder(st)
        if st.queue is not None:
            self._charge_bind(st, st.queue, pool)
        pool.touch(ps)

    def _release(self, st: RunState, *, reserved: bool = False, wake: bool = True) -> None:
        ps = self._pods.get((st.key[0], st.pod or ""))
        if reserved:
            st.reserved = False
            if st.pod is not None:
                self.policy.unreserve(st.run, st.pod, self)
        if st.queue is not None and st.holds:
            self._charge(st, self._pools.get(st.pool), -1)
        st.holds = False
        self._unindex_holder(st)
        st.pod = None
        if ps is None or ps.runs.pop(st.key, None) is None:
            return
        subtract(ps.used, st.request)
        if ps.pod is None:
            if not ps.runs:
                del self._pods[ps.key]
            return
        pool = self._pools.get((ps.pod.namespace, ps.pod.runtime))
        if pool is not None:
            pool.touch(ps)
            if not wake:
                return
            if pool.pending and pool.key not in self._dirty_pools:  # `_wake`, inlined
                self._dirty_pools.add(pool.key)
                self._wakeups["capacity"] += 1

    def _wake(self, pool: Pool, source: str) -> None:
        if pool.pending and pool.key not in self._dirty_pools:
            self._dirty_pools.add(pool.key)
            self._wakeups[source] += 1

    def _fire_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, kind, key = heapq.heappop(timers)
            if kind == _BACKOFF:
                st = self._runs.get(key)
                if st is not None and st.phase is Phase.PENDING and st.not_before == at:
                    st.not_before = 0.0
                    pool = self._pool(st.pool)
                    if not st.reserved and key not in pool.pending:
                        pool.pending[key] = st
                        self._wakeups["backoff"] += 1
                        self._dirty_pools.add(pool.key)
            elif kind == _RECHECK:
                ps = self._pods.get(key)
                if ps is not None and ps.timer_at == at:
                    ps.timer_at = None
                    self._dirty_pods[key] = None
            else:
                self._fire_queue_timer(kind, key, at)

    # ------------------------------------------------------------------ queries

    def pod(self, namespace: str, name: str) -> PodState | None:
        return self._pods.get((namespace, name))

    def runs_on(self, namespace: str, pod: str) -> Iterable[RunState]:
        ps = self._pods.get((namespace, pod))
        return () if ps is None else ps.runs.values()

    def run_state(self, key: RunKey) -> RunState | None:
        return self._runs.get(key)

    def pods_of(self, namespace: str, runtime: str) -> Iterable[PodState]:
        pool = self._pools.get((namespace, runtime))
        return () if pool is None else pool.pods.values()

    def why_waiting(self, key: RunKey) -> WaitReason | None:
        """Why a tracked Pending Run is not bound (None if it is bound, or unknown)."""
        st = self._runs.get(key)
        if st is None or st.holds or st.phase is not Phase.PENDING:
            return None
        if st.not_before > 0.0:
            return WaitReason(WaitCode.BACKOFF, f"attempt {st.attempt} backs off", st.not_before)
        qs = st.queue
        if qs is not None and not qs.exists:
            return self._admission_verdict(st, qs)
        pool = self._pools.get(st.pool)
        if st.wait is None and pool is not None and qs is not None and qs.strict:
            behind = self._strict_wait(st, pool)
            if behind is not None:
                return behind
        if (
            pool is not None
            and pool.wait is not None
            and (st.wait is None or st.wait.code in _ROOM)
        ):
            # The pool is full: Runs of a higher priority come first when room frees up.
            highest = pool.pending.highest(st.queue_name)
            if highest is not None and highest > st.priority:
                return WaitReason(
                    WaitCode.LOWER_PRIORITY,
                    f"Runs of priority {highest} wait ahead; {pool.wait.message}",
                )
            if pool.wait.code is not WaitCode.QUEUE_BLOCKED:
                share = self._queue_wait(st, pool)
                if share is not None:
                    return share
            if pool.wait.code is WaitCode.QUEUE_BLOCKED and pool.starving[:1] != [st]:
                return pool.wait
            if st.wait is None:
                return pool.wait
        return st.wait if st.wait is not None else (pool.wait if pool is not None else None)

    def pending_keys(self) -> list[RunKey]:
        return [k for k, st in self._runs.items() if st.phase is Phase.PENDING and not st.holds]

    def statistics(self) -> SchedulerStatistics:
        runs = self._runs.values()
        return SchedulerStatistics(
            runs=len(self._runs),
            pending=sum(len(p.pending) for p in self._pools.values()),
            backing_off=sum(1 for st in runs if st.phase is Phase.PENDING and st.not_before > 0),
            holding=sum(1 for st in runs if st.holds),
            reserved=sum(1 for st in runs if st.reserved),
            pods=sum(1 for ps in self._pods.values() if ps.pod is not None),
            available_pods=sum(p.available_count for p in self._pools.values()),
            pools=len(self._pools),
            decisions=dict(self._decisions),
            wakeups=dict(self._wakeups),
            queues=sum(1 for qs in self._queues.values() if qs.queue is not None),
            gangs=len(self._gangs),
        )


def _count(total: dict[str, int], capacity: Mapping[str, int], sign: int) -> None:
    for name, amount in capacity.items():
        left = total.get(name, 0) + sign * amount
        if left:
            total[name] = left
        else:
            total.pop(name, None)


__all__ = ["LabelSelector", "Scheduler", "SchedulerStatistics"]
