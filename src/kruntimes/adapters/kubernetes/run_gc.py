"""`RunGC`: delete finished Runs once their `ttlSecondsAfterFinished` has passed.

It follows Runs through any `Store` (list, watch, re-list after `Gone`),
keeps a heap of expiry times computed by the pure `kruntimes.core.ttl`, and
sleeps until the earliest one: nothing polls; a watch event that brings an
earlier expiry wakes it. Before deleting, the Run is read again, so a Run
whose TTL was raised since (or that is not finished after all) is
rescheduled instead of deleted. A failed delete is retried with capped
backoff and never stops the collector.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Any

import structlog
import trio
from attrs import frozen
from prometheus_client import CollectorRegistry, Counter

from kruntimes.adapters.kubernetes.informer import retrying, vanished
from kruntimes.core.ttl import expires_at
from kruntimes.model import Run
from kruntimes.store.follow import follow
from kruntimes.store.port import Kind, Listing, NotFound, Store, StoreError

log = structlog.get_logger("kruntimes.run_gc")

Clock = Callable[[], float]
RunKey = tuple[str, str]
RETRY_FIRST_DELAY = 1.0
RETRY_MAX_DELAY = 60.0


@frozen
class RunGCStatistics:
    scheduled: int
    """Runs with an expiry in the heap (finished, with a TTL, not deleted yet)."""
    deleted: int
    failures: int


class RunGCMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.deletions = Counter(
            "kruntimes_run_gc_deletions",
            "Expired Runs handled, by result (deleted, gone, kept, failed).",
            ["result"],
            registry=self.registry,
        )


class RunGC:
    """Deletes expired Runs of `namespace` (None: all). Run it with `nursery.start(gc.run)`."""

    def __init__(
        self,
        store: Store,
        *,
        namespace: str | None = None,
        clock: Clock = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._store = store
        self._namespace = namespace
        self._clock = clock
        self.metrics = RunGCMetrics(registry)
        self._runs: dict[RunKey, Run] = {}
        self._scheduled: dict[RunKey, tuple[float, str]] = {}
        """The one live heap entry of each Run: (when, resource version)."""
        self._heap: list[tuple[float, RunKey, str]] = []
        """Entries not in `_scheduled` any more are stale and skipped when popped."""
        self._failures: dict[RunKey, int] = {}
        self._changed = trio.Event()
        self._deleted = 0
        self._failed = 0

    def statistics(self) -> RunGCStatistics:
        return RunGCStatistics(len(self._scheduled), self._deleted, self._failed)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Until cancelled; `task_status.started()` once the first listing is handled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(retrying, "runs", self._follow)
            task_status.started()
            await self._collect_forever()

    # -- following ------------------------------------------------------------

    async def _follow(self, task_status: Any) -> None:
        async def listing(namespace: str | None) -> Listing[Run]:
            listed = await self._store.list_runs(namespace)
            for gone in vanished(self._runs, listed.items, _key):
                self._handle(gone, True)
            return listed

        await follow(
            listing, self._store.watch_runs, self._namespace, self._handle, task_status=task_status
        )

    def _handle(self, run: Run, deleted: bool) -> None:
        key = run.key
        if deleted:
            self._runs.pop(key, None)
            self._scheduled.pop(key, None)
            self._failures.pop(key, None)
            return
        self._runs[key] = run
        due = _due(run)
        if due is None:
            self._scheduled.pop(key, None)
        else:
            self._schedule(key, due, run.metadata.resource_version)

    def _schedule(self, key: RunKey, due: float, version: str) -> None:
        if self._scheduled.get(key) == (due, version):
            return  # a replayed listing
        if not self._heap or due < self._heap[0][0]:
            self._changed.set()  # a new earliest expiry: wake the sleeper
        self._scheduled[key] = (due, version)
        heapq.heappush(self._heap, (due, key, version))

    # -- collecting -----------------------------------------------------------

    async def _collect_forever(self) -> None:
        while True:
            self._changed = trio.Event()
            while self._heap and self._heap[0][0] <= self._clock():
                due, key, version = heapq.heappop(self._heap)
                if self._scheduled.get(key) != (due, version):
                    continue  # superseded by a later version of the Run, or deleted
                del self._scheduled[key]
                await self._collect(key)
            self._compact()
            deadline = float("inf")
            if self._heap:
                deadline = trio.current_time() + max(0.0, self._heap[0][0] - self._clock())
            with trio.move_on_at(deadline):
                await self._changed.wait()

    async def _collect(self, key: RunKey) -> None:
        namespace, name = key
        try:
            current = await self._store.get_run(namespace, name)
            due = _due(current)
            if due is None or due > self._clock():
                self.metrics.deletions.labels(result="kept").inc()
                log.debug("run changed before its expiry; rescheduled", run=key, expires_at=due)
                self._handle(current, False)
                return
            await self._store.delete(Kind.RUN, namespace, name)
        except NotFound:
            self.metrics.deletions.labels(result="gone").inc()
        except Exception as error:  # a StoreError or a bug: this Run waits, the others go on
            self._failed += 1
            self.metrics.deletions.labels(result="failed").inc()
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(RETRY_FIRST_DELAY * 2 ** (failures - 1), RETRY_MAX_DELAY)
            if isinstance(error, StoreError):
                log.warning("deleting an expired run failed", run=key, error=str(error))
            else:
                log.exception("deleting an expired run failed", run=key)
            cached = self._runs.get(key)
            if cached is not None:
                self._schedule(key, self._clock() + delay, cached.metadata.resource_version)
        else:
            self._deleted += 1
            self._failures.pop(key, None)
            self.metrics.deletions.labels(result="deleted").inc()
            log.info("deleted an expired run", run=key)

    def _compact(self) -> None:
        """Drop stale entries once they outnumber the live ones (Runs updated many times)."""
        if len(self._heap) > 2 * len(self._scheduled) + 64:
            self._heap = [(due, key, rv) for key, (due, rv) in self._scheduled.items()]
            heapq.heapify(self._heap)


def _key(run: Run) -> RunKey:
    return run.key


def _due(run: Run) -> float | None:
    """The Run's expiry, unless it is already being deleted (finalizers hold it)."""
    if run.metadata.deletion_timestamp is not None:
        return None
    return expires_at(run)
