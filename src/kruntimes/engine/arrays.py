"""The array controller: turns array Runs (`spec.array`) into indexed child Runs.

It lists and watches Runs, keeps array parents and their children indexed,
and, for each parent something happened to, asks the pure planner
(`kruntimes.core.arrays.plan_array`) what to do and applies the answer:
the parent's status first (conditional on its version: a `Conflict`
re-reads the parent and plans again), then cancellations and deletes, then
creations, only once every delete landed. `AlreadyExists` on a create and
`NotFound` on a delete mean the work is done already. Children of a deleted
parent are deleted (Kubernetes' garbage collector does the same through
their owner reference; the embedded store has none).

Work is bounded per round (`max_plans_per_round` parents, `max_creates`
children each) and rounds are driven by watch events: nothing polls. A
store that fails (`Unavailable`, a listing or watch error) is re-listed
after `retry_delay`, doubled while failures repeat (up to
`MAX_RETRY_DELAY`); `Gone` re-lists at once. Any other `StoreError` on one
array's write (`Forbidden`, `Invalid`) retries that array alone, with the
same backoff, so it never holds up the others.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Any

import structlog
import trio
from attrs import evolve

from kruntimes.core.arrays import (
    ArrayPlan,
    controller_uid,
    invalid_child,
    parent_name,
    plan_array,
)
from kruntimes.model import Run
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    EventType,
    Gone,
    Invalid,
    Kind,
    NotFound,
    Store,
    StoreError,
    Unavailable,
    resource_version_before,
)

log = structlog.get_logger("kruntimes.arrays")

RunKey = tuple[str, str]
Clock = Callable[[], float]
MAX_RETRY_DELAY = 30.0


class ArrayController:
    """Drives the array Runs of one `Store`. Run it with `nursery.start(controller.run)`."""

    def __init__(
        self,
        store: Store,
        *,
        namespace: str | None = None,
        clock: Clock = time.time,
        max_creates: int = 64,
        max_plans_per_round: int = 64,
        retry_delay: float = 1.0,
    ) -> None:
        self._store = store
        self._namespace = namespace
        self._clock = clock
        self._max_creates = max_creates
        self._max_plans = max_plans_per_round
        self._retry_delay = retry_delay
        self._parents: dict[RunKey, Run] = {}
        self._children: dict[RunKey, dict[str, Run]] = {}
        """By parent key: the children a plan may need (settled ones are dropped)."""
        self._names: dict[RunKey, set[str]] = {}
        """By parent key: every child seen, settled or not, to delete with a deleted parent."""
        self._dirty: dict[RunKey, None] = {}
        """Parents to plan again, oldest first (a dict as an ordered set)."""
        self._changed = trio.Event()
        self._failures = 0
        """Failed listings or watches since the work was last all done, for the backoff."""
        self._attempts: dict[RunKey, int] = {}
        """Failed reconciles of each array since its last success, for its own backoff."""
        self._later: list[tuple[float, RunKey]] = []
        """A heap of (trio time, array) to reconcile again after a failed write; an entry
        counts only while it is the array's `_retry_at`."""
        self._retry_at: dict[RunKey, float] = {}
        self.plans = 0
        """Plans applied (for tests and debugging)."""

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """List, watch and reconcile until cancelled; `task_status.started()` after the first
        listing is indexed."""
        started = False
        delay = 0.0
        while True:
            await trio.sleep(delay)
            delay = 0.0
            try:
                async with trio.open_nursery() as nursery:
                    version = await self._relist()
                    nursery.start_soon(self._watch, version)
                    if not started:
                        started = True
                        task_status.started()
                    await self._reconcile_forever()
            except* Gone as group:
                log.info("watch expired, re-listing", reason=str(group.exceptions[0]))
            except* StoreError as group:  # e.g. unreachable, or Forbidden by RBAC: back off
                delay = min(self._retry_delay * 2**self._failures, MAX_RETRY_DELAY)
                self._failures += 1
                log.warning(
                    "store failed, re-listing", error=str(group.exceptions[0]), retry_in=delay
                )

    # -- following --------------------------------------------------------------------

    async def _relist(self) -> str:
        """A fresh index from a listing: every parent, and every group of children, is
        reconciled again (a replayed plan is a no-op)."""
        listing = await self._store.list_runs(self._namespace)
        self._parents.clear()
        self._children.clear()
        self._names.clear()
        self._dirty.clear()
        for run in listing.items:
            self._handle(run, deleted=False)
        return listing.resource_version

    async def _watch(self, version: str) -> None:
        async with self._store.watch_runs(version, self._namespace) as events:
            async for event in events:
                if event.object is not None:
                    self._handle(event.object, deleted=event.type is EventType.DELETED)
        raise Gone("the Run watch ended")

    def _handle(self, run: Run, *, deleted: bool) -> None:
        if run.spec.array is not None:
            self._remember(self._parents, run.key, run, deleted=deleted, owner=run.key)
            return
        parent = parent_name(run)
        if parent is None:
            return
        owner = (run.metadata.namespace, parent)
        names = self._names.setdefault(owner, set())
        if deleted:
            names.discard(run.metadata.name)
        else:
            names.add(run.metadata.name)
        group = self._children.setdefault(owner, {})
        self._remember(group, run.metadata.name, run, deleted=deleted, owner=owner)

    def _remember(
        self, table: dict[Any, Run], key: Any, run: Run, *, deleted: bool, owner: RunKey
    ) -> None:
        """Cache `run` unless the cache holds the same or a newer version (our own writes
        are cached as they land, ahead of the watch); mark its parent dirty if it changed."""
        if deleted:
            table.pop(key, None)
        else:
            cached = table.get(key)
            version = run.metadata.resource_version
            if cached is not None and (
                version == cached.metadata.resource_version
                or resource_version_before(version, cached.metadata.resource_version)
            ):
                return
            table[key] = run
        self._mark(owner)

    def _mark(self, key: RunKey) -> None:
        self._dirty[key] = None
        self._changed.set()

    # -- reconciling ------------------------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            self._changed = trio.Event()
            self._due_retries()
            for _ in range(min(self._max_plans, len(self._dirty))):
                key = next(iter(self._dirty))
                del self._dirty[key]
                try:
                    await self._reconcile(key)
                except (Unavailable, Gone):
                    raise  # the store, not this array: re-list
                except StoreError as error:  # this array only (e.g. Forbidden): it waits
                    self._retry_later(key, error)
                except Exception:  # a bug must cost one array, not all of them
                    log.exception("array reconcile failed", run=key)
                else:
                    self._attempts.pop(key, None)
                    self._retry_at.pop(key, None)
            if self._dirty:
                await trio.lowlevel.checkpoint()  # let the watch run between rounds
                continue
            if not self._attempts:
                self._failures = 0
            deadline = self._later[0][0] if self._later else float("inf")
            with trio.move_on_at(deadline):
                await self._changed.wait()

    def _retry_later(self, key: RunKey, error: StoreError) -> None:
        attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
        delay = min(self._retry_delay * 2 ** (attempts - 1), MAX_RETRY_DELAY)
        log.warning("array write failed", run=key, error=str(error), retry_in=delay)
        due = self._retry_at[key] = trio.current_time() + delay
        heapq.heappush(self._later, (due, key))

    def _due_retries(self) -> None:
        now = trio.current_time()
        while self._later and self._later[0][0] <= now:
            due, key = heapq.heappop(self._later)
            if self._retry_at.get(key) == due:
                del self._retry_at[key]
                self._mark(key)

    async def _reconcile(self, key: RunKey) -> None:
        parent = self._parents.get(key)
        if parent is None:
            await self._delete_orphans(key)
            return
        group = self._children.setdefault(key, {})
        await self._delete_strays(parent, group)
        plan = plan_array(parent, group.values(), self._clock(), max_creates=self._max_creates)
        if not plan.empty:
            self.plans += 1
        await self._apply(parent, plan, group)

    async def _apply(self, parent: Run, plan: ArrayPlan, group: dict[str, Run]) -> None:
        key = parent.key
        if plan.status is not None:
            written = await self._write_status(evolve(parent, status=plan.status))
            if written is None:
                return  # the plan was made from a stale parent: plan again
            log.debug("array status", run=key, phase=written.status.phase.value)
        for name in plan.settled:
            group.pop(name, None)
        for child in plan.cancel:
            await self._cancel(key, child, group)
        for name in plan.delete:
            await self._delete_child(key, name, "folded")
        for child in plan.create:
            if not await self._create(parent, child, group):
                break
        if plan.more:
            self._mark(key)

    async def _write_status(self, parent: Run) -> Run | None:
        """The written parent, or None (and the parent marked) when it changed meanwhile."""
        key = parent.key
        try:
            written = self._parents[key] = await self._store.update_status(parent)
        except Conflict:
            await self._reread(key)
            return None
        except NotFound:
            self._parents.pop(key, None)
            self._mark(key)
            return None
        return written

    async def _reread(self, key: RunKey) -> None:
        try:
            self._parents[key] = await self._store.get_run(*key)
        except NotFound:
            self._parents.pop(key, None)
        self._mark(key)

    async def _cancel(self, key: RunKey, child: Run, group: dict[str, Run]) -> None:
        name = child.metadata.name
        try:
            group[name] = await self._store.update_spec(child)
        except Conflict:
            try:
                group[name] = await self._store.get_run(key[0], name)
            except NotFound:
                group.pop(name, None)
            self._mark(key)
        except NotFound:
            group.pop(name, None)

    async def _create(self, parent: Run, child: Run, group: dict[str, Run]) -> bool:
        """Create one child; False when the rest of the plan's creations should wait."""
        key, name = parent.key, child.metadata.name
        try:
            created = await self._store.create(child)
        except AlreadyExists:
            if name not in group:  # not ours, or ours and the watch has not told us yet
                log.info("child name taken; waiting for it", run=key, child=name)
            return True
        except Invalid as refused:
            log.warning("child refused; failing the array", run=key, error=str(refused))
            current = self._parents.get(key, parent)  # with the status this plan wrote
            status = invalid_child(current, str(refused), self._clock())
            if status is not None:
                await self._write_status(evolve(current, status=status))
            return False
        group[name] = created
        self._names.setdefault(key, set()).add(name)
        return True

    async def _delete_strays(self, parent: Run, group: dict[str, Run]) -> None:
        """Children of an earlier Run of the same name (another owner uid) hold names the
        current parent needs: delete them."""
        uid = parent.metadata.uid
        strays = [name for name, child in group.items() if controller_uid(child) != uid]
        for name in strays[: self._max_creates]:
            await self._delete_child(parent.key, name, "owned by an earlier Run of that name")
        if len(strays) > self._max_creates:
            self._mark(parent.key)

    async def _delete_orphans(self, key: RunKey) -> None:
        names = sorted(self._names.get(key, ()))
        for name in names[: self._max_creates]:
            await self._delete_child(key, name, "its array is gone")
        if len(names) > self._max_creates:
            self._mark(key)
        elif not self._names.get(key):
            self._names.pop(key, None)
            self._children.pop(key, None)

    async def _delete_child(self, key: RunKey, name: str, why: str) -> None:
        try:
            await self._store.delete(Kind.RUN, key[0], name)
        except NotFound:
            pass
        else:
            log.debug("deleted a child", run=key, child=name, why=why)
        self._children.get(key, {}).pop(name, None)
        self._names.get(key, set()).discard(name)
