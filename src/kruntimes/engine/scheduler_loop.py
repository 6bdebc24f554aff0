"""The scheduler loop: store watches in, the core's plans out as conditional status writes.

It lists RunQueues, Runs and Pods (queues fed first, so admission knows them
before their Runs arrive), feeds every later watch event to the core, runs a
cycle whenever something changed (or at the plan's `next_wakeup`), and
writes each decision conditionally on the Run's resource version. A failed
write (`Conflict`, `NotFound`) is handed back to the core with `unreserve`;
the watch brings the fresh version. `Gone` re-lists into a fresh core.
Nothing polls: between events the loop sleeps until `next_wakeup`.

Each RunQueue's status (`pending`, `admitted`, `usage`, from the core's
`queue_statistics`) is written by a task of its own when it changed, at most
once per `queue_status_interval`, so a burst of binds costs one write per
queue, not one per Run; a `Conflict` is tried again an interval later with
the version the watch brought meanwhile.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from typing import Any

import structlog
import trio
from attrs import evolve

from kruntimes import status
from kruntimes.core import (
    Bind,
    Decision,
    Plan,
    QueueDeleted,
    QueueUpserted,
    Requeue,
    Scheduler,
    Terminate,
    Wait,
)
from kruntimes.engine.metrics import SchedulerMetrics
from kruntimes.model import IllegalTransition, Phase, Run, RunQueue, RunQueueStatus
from kruntimes.store.port import (
    Conflict,
    EventType,
    Forbidden,
    Gone,
    Invalid,
    Listing,
    NotFound,
    Store,
    StoreError,
    resource_version_before,
)

log = structlog.get_logger("kruntimes.scheduler")

Clock = Callable[[], float]


class SchedulerLoop:
    """Drives one `Scheduler` from one `Store`. Run it with `nursery.start(loop.run)`."""

    def __init__(
        self,
        store: Store,
        new_scheduler: Callable[[], Scheduler],
        *,
        namespace: str | None = None,
        clock: Clock = time.time,
        max_binds_per_cycle: int = 1024,
        wait_report_delay: float = 1.0,
        backlog_report_delay: float = 5.0,
        metrics: SchedulerMetrics | None = None,
        write_concurrency: int = 1,
        queue_status_interval: float = 1.0,
    ) -> None:
        self._store = store
        self._new_scheduler = new_scheduler
        self._namespace = namespace
        self._clock = clock
        self._max_binds = max_binds_per_cycle
        self._metrics = metrics if metrics is not None else SchedulerMetrics()
        self._runs: dict[tuple[str, str], Run] = {}
        self._wait_report_delay = wait_report_delay
        self._backlog_report_delay = backlog_report_delay
        self._write_concurrency = max(1, write_concurrency)
        """Decisions written at once: 1 for in-process stores; a remote apiserver answers
        each write in milliseconds, so the Kubernetes controller overlaps them."""
        self._write_slots = trio.Semaphore(self._write_concurrency)
        self._writers: trio.Nursery | None = None
        self._unreported: dict[tuple[str, str], float] = {}
        """Runs whose reason to wait is not written yet, and when to write it: a Run the core
        told to wait is looked at `wait_report_delay` later, so a burst placed within a
        second costs no extra write; every other Pending Run `backlog_report_delay` after it
        arrived, so one far back in a full pool's queue (never examined by the core) still
        shows why it waits, without a write per Run for short backlogs."""
        self._report_due: list[tuple[float, tuple[str, str]]] = []
        """A heap of `(due, Run)` over `_unreported` (entries whose due moved are skipped)."""
        self._changed = trio.Event()
        self._queues: dict[tuple[str, str], RunQueue] = {}
        """The RunQueues as last seen (watch or our own write): what a status write is
        conditional on."""
        self._queue_status_interval = queue_status_interval
        self._queues_changed = trio.Event()
        self._queue_status_forbidden = False
        self.queue_status_writes = 0
        self.scheduler: Scheduler = new_scheduler()
        self.cycles = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """List, watch and schedule until cancelled; re-list after `Gone`."""
        started = False
        delay = 0.0
        while True:
            await trio.sleep(delay)
            delay = 0.0
            try:
                async with trio.open_nursery() as nursery:
                    self._writers = nursery
                    await self._relist(nursery)
                    if not started:
                        started = True
                        task_status.started()
                    await self._cycle_forever()
            except* Gone as group:
                log.info("watch expired, re-listing", reason=str(group.exceptions[0]))
                self._metrics.relists.inc()
            except* StoreError as group:  # unreachable for a long while: keep trying
                log.warning("store failed, re-listing", error=str(group.exceptions[0]))
                self._metrics.relists.inc()
                delay = 1.0

    async def _relist(self, nursery: trio.Nursery) -> None:
        self.scheduler = self._new_scheduler()
        self._runs.clear()
        self._queues.clear()
        queues = await self._list_run_queues()
        runs = await self._store.list_runs(self._namespace)
        pods = await self._store.list_pods(self._namespace)
        for queue in () if queues is None else queues.items:
            self._queues[queue.key] = queue
            self.scheduler.handle(QueueUpserted(queue))
        for pod in pods.items:
            self.scheduler.pod_upserted(pod)
        now = self._clock()
        for run in runs.items:
            self._runs[run.key] = run
            self.scheduler.run_upserted(run)
            if run.status.phase is Phase.PENDING:
                self._report_later(run.key, now, self._backlog_report_delay)
        nursery.start_soon(self._watch_runs, runs.resource_version)
        nursery.start_soon(self._watch_pods, pods.resource_version)
        if queues is not None:
            nursery.start_soon(self._watch_queues, queues.resource_version)
            nursery.start_soon(self._publish_queue_statuses)

    async def _list_run_queues(self) -> Listing[RunQueue] | None:
        """The RunQueues, or None where the store cannot serve them: a cluster upgraded
        with `helm upgrade` (which never installs new CRDs) or an older ClusterRole. Runs
        are then scheduled as without queues (the absent `default` queue admits all)."""
        try:
            return await self._store.list_run_queues(self._namespace)
        except (NotFound, Forbidden) as exc:
            log.warning(
                "cannot read RunQueues: scheduling without them (install the RunQueue CRD "
                "and the controller's RBAC for runqueues)",
                error=str(exc),
            )
            return None

    async def _watch_runs(self, resource_version: str) -> None:
        async with self._store.watch_runs(resource_version, self._namespace) as events:
            async for event in events:
                run = event.object
                if run is None:
                    continue
                if event.type is EventType.DELETED:
                    self._runs.pop(run.key, None)
                    self.scheduler.run_deleted(run.key)
                else:
                    cached = self._runs.get(run.key)
                    version = run.metadata.resource_version
                    if cached is None or not resource_version_before(
                        version, cached.metadata.resource_version
                    ):
                        self._runs[run.key] = run
                    self.scheduler.run_upserted(run)
                    if cached is None and run.status.phase is Phase.PENDING:
                        self._report_later(run.key, self._clock(), self._backlog_report_delay)
                self._poke()
        raise Gone("the Run watch ended")

    async def _watch_pods(self, resource_version: str) -> None:
        async with self._store.watch_pods(resource_version, self._namespace) as events:
            async for event in events:
                pod = event.object
                if pod is None:
                    continue
                if event.type is EventType.DELETED:
                    self.scheduler.pod_deleted(pod.key)
                else:
                    self.scheduler.pod_upserted(pod)
                self._poke()
        raise Gone("the Pod watch ended")

    async def _watch_queues(self, resource_version: str) -> None:
        async with self._store.watch_run_queues(resource_version, self._namespace) as events:
            async for event in events:
                queue = event.object
                if queue is None:
                    continue
                if event.type is EventType.DELETED:
                    self._queues.pop(queue.key, None)
                    self.scheduler.handle(QueueDeleted(queue.key))
                else:
                    self._remember_queue(queue)
                    self.scheduler.handle(QueueUpserted(queue))
                self._poke()
        raise Gone("the RunQueue watch ended")

    def _remember_queue(self, queue: RunQueue) -> None:
        """Keep the newest version: a watch event may trail our own write's result."""
        cached = self._queues.get(queue.key)
        if cached is None or not resource_version_before(
            queue.metadata.resource_version, cached.metadata.resource_version
        ):
            self._queues[queue.key] = queue

    async def _publish_queue_statuses(self) -> None:
        """Write changed RunQueue statuses, at most once per interval (coalescing the
        cycles in between); a write that must be tried again waits an interval too."""
        last = -math.inf
        self._queue_status_forbidden = False
        while True:
            await self._queues_changed.wait()
            self._queues_changed = trio.Event()
            wait = last + self._queue_status_interval - self._clock()
            if wait > 0:
                await trio.sleep(wait)
            last = self._clock()
            if not await self._write_queue_statuses():
                self._queues_changed.set()

    async def _write_queue_statuses(self) -> bool:
        """Write every RunQueue status that differs from the core's; False if one must be
        tried again (a conflict, or a store error other than the queue being gone)."""
        done = True
        if self._queue_status_forbidden:
            return done
        for key in list(self._queues):
            queue = self._queues.get(key)
            wanted = None if queue is None else self._queue_status(queue)
            if queue is None or wanted is None or wanted == queue.status:
                continue
            try:
                written = await self._store.update_status(evolve(queue, status=wanted))
            except NotFound:
                continue  # deleted meanwhile: the watch says so
            except Conflict:
                log.debug("RunQueue status conflict, retrying", queue=key)
                done = False
                continue
            except Forbidden as exc:  # an older ClusterRole: say it once, until a re-list
                hint = "grant update on runqueues/status"
                log.error(f"may not write RunQueue status: {hint}", error=str(exc))
                self._queue_status_forbidden = True
                return done
            except StoreError as exc:  # must not stop scheduling; tried again later
                log.warning("RunQueue status not written", queue=key, error=str(exc))
                done = False
                continue
            self.queue_status_writes += 1
            self._remember_queue(written)
        return done

    def _queue_status(self, queue: RunQueue) -> RunQueueStatus | None:
        """The status the core's statistics give `queue` (conditions and extra kept)."""
        stats = self.scheduler.queue_statistics(*queue.key)
        if stats is None:
            return None
        usage = {name: amount for name, amount in stats.usage.items() if amount}
        return evolve(queue.status, pending=stats.pending, admitted=stats.admitted, usage=usage)

    def _poke(self) -> None:
        self._changed.set()

    async def _cycle_forever(self) -> None:
        while True:
            self._changed = trio.Event()
            now = self._clock()
            started = time.perf_counter()
            plan = self.scheduler.cycle(now, max_binds=self._max_binds)
            self._metrics.observe_cycle(plan, time.perf_counter() - started)
            self.cycles += 1
            await self._apply(plan, now)
            await self._report_waits(now)
            if self._queues:
                self._queues_changed.set()
            if len(plan.binds) >= self._max_binds:
                await trio.lowlevel.checkpoint()
                continue  # more to place: let watches run, then go on
            wakeups = [plan.next_wakeup] if plan.next_wakeup is not None else []
            if self._report_due:
                wakeups.append(self._report_due[0][0])
            deadline = (
                trio.current_time() + max(0.0, min(wakeups) - self._clock())
                if wakeups
                else float("inf")
            )
            with trio.move_on_at(deadline):
                await self._changed.wait()

    def _report_later(self, key: tuple[str, str], now: float, delay: float) -> None:
        due = now + delay
        if self._unreported.get(key, due + 1) > due:  # keep the earliest
            self._unreported[key] = due
            heapq.heappush(self._report_due, (due, key))

    async def _report_waits(self, now: float) -> None:
        heap = self._report_due
        while heap and heap[0][0] <= now:
            due, key = heapq.heappop(heap)
            if self._unreported.get(key) != due:
                continue  # decided meanwhile, or due again later
            del self._unreported[key]
            reason = self.scheduler.why_waiting(key)  # still waiting? then say why, as of now
            if reason is not None:
                await self._write(Wait(key, reason), now)

    async def _apply(self, plan: Plan, now: float) -> None:
        writes: list[Decision] = []
        for decision in plan.decisions:
            if isinstance(decision, Wait):
                self._report_later(decision.run, now, self._wait_report_delay)
            else:
                self._unreported.pop(decision.run, None)
                writes.append(decision)
        if self._write_concurrency == 1 or self._writers is None:
            for decision in writes:
                await self._write(decision, now)
            return
        # Pipelined: the next cycle need not wait for these answers. The core holds a
        # reservation for each decision until the watch confirms it or `unreserve`
        # (on a failed write) releases it, so no capacity is promised twice.
        for decision in writes:
            await self._write_slots.acquire()
            self._writers.start_soon(self._write_and_release, decision, now)

    async def _write_and_release(self, decision: Decision, now: float) -> None:
        try:
            await self._write(decision, now)
        finally:
            self._write_slots.release()

    async def _write(self, decision: Decision, now: float) -> None:
        run = self._runs.get(decision.run)
        if run is None:
            self.scheduler.unreserve(decision.run)
            return
        try:
            new = self._updated(run, decision, now)
            if new is not None and new != run:  # e.g. the same reason to wait: no write
                # The write's result is newer than anything the watch has delivered;
                # caching it keeps the next decision on this Run from a needless Conflict.
                self._runs[run.key] = await self._store.update_status(new)
        except (Conflict, NotFound, Invalid, IllegalTransition) as exc:
            # The Run moved on since the core decided (IllegalTransition: our cached version
            # is already past it): the decision is moot; the watch brings the new version.
            self._metrics.write_conflicts.labels(stage=type(decision).__name__).inc()
            log.debug("decision not written", run=decision.run, error=str(exc))
            self.scheduler.unreserve(decision.run)
            self._poke()  # a pipelined write fails after its cycle: decide again
        except Exception:  # a bug here must cost one decision, not the scheduler
            log.exception("decision failed", run=decision.run, decision=repr(decision))
            self.scheduler.unreserve(decision.run)
            self._poke()

    @staticmethod
    def _updated(run: Run, decision: Decision, now: float) -> Run | None:
        if isinstance(decision, Bind):
            if run.status.phase is not Phase.PENDING:
                raise Conflict(f"{run.key} is {run.status.phase.value}, not Pending")
            return status.bound(run, decision.pod, decision.pod_uid, now)
        if isinstance(decision, Wait):
            if run.status.phase is not Phase.PENDING:
                return None
            return status.waiting(run, decision.reason.code.value, decision.reason.message, now)
        if isinstance(decision, Requeue):
            return status.requeued(
                run, decision.attempt, decision.reason.value, decision.message, now
            )
        if isinstance(decision, Terminate):
            return status.finished_unsuccessfully(
                run, decision.phase, decision.reason.value, decision.message, now
            )
        raise TypeError(f"unknown decision {decision!r}")  # pragma: no cover
