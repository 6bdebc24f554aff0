"""`RuntimeController`: keeps each Runtime's child objects and status in line with its spec.

It follows Runtimes (through the store) and the Deployments kruntimes
manages (raw, through `follow_raw`), and turns every change into a key
`(namespace, name)` on a small work queue: several events for one Runtime
make one reconcile, and one Runtime is never reconciled by two workers at
once. A reconcile reads each object `desired_objects` names, creates the
missing ones, updates those that `needs_update` says lack something
(conditionally on the live version), and writes the Runtime's status only
when it changed, so a steady cluster costs reads but no writes.

Ownership is checked by uid: an object of the same name that another owner
controls is left alone and reported on the Runtime (`Ready=False`,
`OwnershipConflict`); one left by an earlier Runtime of the same name (a
delete and re-create) is replaced. A failing reconcile (invalid template,
RBAC, a bug) is logged, counted and retried with capped exponential backoff
for that Runtime alone. When a Runtime is deleted its children are deleted
too: ownerReferences would let a cluster's garbage collector do it, but not
every apiserver runs one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import structlog
import trio
from attrs import evolve, frozen
from prometheus_client import CollectorRegistry, Counter, Histogram

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.children import (
    controller_of,
    describe,
    merged_update,
    object_path,
    ownership,
    runtime_owner,
)
from kruntimes.adapters.kubernetes.informer import follow_raw, retrying, vanished
from kruntimes.adapters.kubernetes.object_diff import needs_update
from kruntimes.adapters.kubernetes.runtime_objects import (
    MANAGED_BY_LABEL,
    OWNER_LABEL,
    READY,
    AgentSettings,
    desired_objects,
    runtime_status_from,
)
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.adapters.kubernetes.workqueue import WorkQueue
from kruntimes.model import (
    Condition,
    ConditionStatus,
    ObjectMeta,
    Runtime,
)
from kruntimes.status import MAX_CONDITIONS, bounded_message, timestamp
from kruntimes.store.follow import follow
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Invalid,
    Listing,
    NotFound,
    StoreError,
    resource_version_before,
)

log = structlog.get_logger("kruntimes.runtime_controller")

Clock = Callable[[], float]
Key = tuple[str, str]
"""(namespace, name) of a Runtime."""

MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}=kruntimes"
OWNERSHIP_CONFLICT = "OwnershipConflict"
RECONCILE_FAILED = "ReconcileFailed"


class Outcome(StrEnum):
    """How a reconcile ended: the `result` label of the reconcile counter."""

    SYNCED = "synced"
    """Everything was already as desired: no write."""
    UPDATED = "updated"
    """Something was created, updated or the status written."""
    OWNERSHIP_CONFLICT = "ownership_conflict"
    CONFLICT = "conflict"
    """An object changed under the reconcile (409): retried with fresh data."""
    ERROR = "error"
    CLEANED_UP = "cleaned_up"
    """The Runtime is gone: its children were deleted (or were gone already)."""
    SKIPPED = "skipped"
    """The Runtime is being deleted (finalizers hold it): nothing to do."""


_RETRIED = frozenset({Outcome.OWNERSHIP_CONFLICT, Outcome.CONFLICT, Outcome.ERROR})


@frozen
class ControllerStatistics:
    reconciles: int
    writes: int
    """Creates, updates, deletes and status writes sent."""
    failures: int
    """Reconciles that ended in an error (retried with backoff)."""
    queue_length: int
    """Runtimes waiting for a reconcile, now or after a backoff."""


@frozen
class Reconciled:
    """The last reconcile of one Runtime: the version it read ("" when gone) and its outcome."""

    resource_version: str
    outcome: Outcome
    number: int
    """Its place among all reconciles of the controller (1-based)."""


class RuntimeControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "kruntimes_runtime_controller_reconciles",
            "Runtime reconciles by result.",
            ["result"],
            registry=r,
        )
        self.writes = Counter(
            "kruntimes_runtime_controller_writes",
            "Writes to the apiserver by verb (create, update, delete, status).",
            ["verb"],
            registry=r,
        )
        self.duration = Histogram(
            "kruntimes_runtime_controller_reconcile_duration_seconds",
            "Time per reconcile, reads and writes included.",
            registry=r,
        )


class RuntimeController:
    """Reconciles the Runtimes of `namespace` (None: all). Start it with `nursery.start(c.run)`.

    `api` is used for the child objects and `store` for the Runtimes; pass
    the store's own api or a separate one. `clock` (seconds since the epoch)
    dates status conditions; backoff delays use trio's clock.
    """

    def __init__(
        self,
        api: KubeApi,
        store: KubeStore,
        settings: AgentSettings,
        *,
        namespace: str | None = None,
        clock: Clock = time.time,
        workers: int = 4,
        retry_first_delay: float = 0.5,
        retry_max_delay: float = 60.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._api = api
        self._store = store
        self._settings = settings
        self._namespace = namespace
        self._clock = clock
        self._workers = workers
        self._retry_first = retry_first_delay
        self._retry_max = retry_max_delay
        self.metrics = RuntimeControllerMetrics(registry)
        self._queue: WorkQueue[Key] = WorkQueue()
        self._runtimes: dict[Key, Runtime] = {}
        self._attempts: dict[Key, int] = {}
        self._last: dict[Key, Reconciled] = {}
        self._progress = trio.Event()
        self._reconciles = 0
        self._writes = 0
        self._failures = 0

    # -- public ---------------------------------------------------------------

    def statistics(self) -> ControllerStatistics:
        return ControllerStatistics(
            reconciles=self._reconciles,
            writes=self._writes,
            failures=self._failures,
            queue_length=len(self._queue),
        )

    def last_reconciled(self, namespace: str, name: str) -> Reconciled | None:
        return self._last.get((namespace, name))

    async def wait_reconciled(
        self,
        namespace: str,
        name: str,
        resource_version: str | None = None,
        *,
        after: int = 0,
    ) -> Reconciled:
        """Until a reconcile of the Runtime has finished: of `resource_version` or later, and
        numbered above `after` (a `Reconciled.number` seen before).

        For tests and tools ("apply, then wait until the controller saw it");
        bound it with a cancel scope. Resource versions compare as integers
        when both are (etcd's are), else by equality.
        """
        while True:
            last = self._last.get((namespace, name))
            if (
                last is not None
                and last.number > after
                and (
                    resource_version is None or _not_older(last.resource_version, resource_version)
                )
            ):
                return last
            await self._progress.wait()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Follow, queue and reconcile until cancelled; started once both listings are in."""
        async with trio.open_nursery() as nursery:
            await nursery.start(retrying, "runtimes", self._follow_runtimes)
            await nursery.start(self._follow_deployments)
            nursery.start_soon(self._queue.run_delays)
            for _ in range(self._workers):
                nursery.start_soon(self._worker)
            task_status.started()

    # -- following ------------------------------------------------------------

    async def _follow_runtimes(self, task_status: Any) -> None:
        async def listing(namespace: str | None) -> Listing[Runtime]:
            listed = await self._store.list_runtimes(namespace)
            for gone in vanished(self._runtimes, listed.items, _runtime_key):
                self._on_runtime(gone, True)
            return listed

        await follow(
            listing,
            self._store.watch_runtimes,
            self._namespace,
            self._on_runtime,
            task_status=task_status,
        )

    async def _follow_deployments(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if self._namespace is None:
            path = "/apis/apps/v1/deployments"
        else:
            path = f"/apis/apps/v1/namespaces/{self._namespace}/deployments"
        await follow_raw(
            self._api,
            path,
            self._on_deployment,
            label_selector=MANAGED_SELECTOR,
            task_status=task_status,
        )

    def _on_runtime(self, runtime: Runtime, deleted: bool) -> None:
        key = _runtime_key(runtime)
        if deleted:
            cached = self._runtimes.get(key)
            if cached is None or cached.metadata.uid == runtime.metadata.uid:
                self._runtimes.pop(key, None)
        else:
            self._remember(runtime)
        self._queue.add(key)

    def _on_deployment(self, deployment: dict[str, Any], deleted: bool) -> None:
        meta = deployment.get("metadata") or {}
        owner = runtime_owner(deployment)
        name = (
            owner.get("name") if owner is not None else (meta.get("labels") or {}).get(OWNER_LABEL)
        )
        if isinstance(name, str) and name:
            self._queue.add((str(meta.get("namespace", "")), name))

    def _remember(self, runtime: Runtime) -> None:
        """Cache `runtime` unless the cache already holds a later version of it."""
        key = _runtime_key(runtime)
        cached = self._runtimes.get(key)
        if (
            cached is None
            or cached.metadata.uid != runtime.metadata.uid
            or not resource_version_before(
                runtime.metadata.resource_version, cached.metadata.resource_version
            )
        ):
            self._runtimes[key] = runtime

    # -- reconciling ----------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            try:
                await self._process(key)
            finally:
                self._queue.done(key)

    async def _process(self, key: Key) -> None:
        runtime = self._runtimes.get(key)
        version = "" if runtime is None else runtime.metadata.resource_version
        started = time.perf_counter()
        try:
            outcome = await self._reconcile(key, runtime)
        except (Conflict, AlreadyExists) as error:
            outcome = Outcome.CONFLICT
            log.debug("reconcile raced another writer; retrying", runtime=key, error=str(error))
        except StoreError as error:
            outcome = Outcome.ERROR
            log.warning("reconcile failed", runtime=key, error=str(error))
        except Exception:  # a bug costs this Runtime a retry, never the controller
            outcome = Outcome.ERROR
            log.exception("reconcile failed", runtime=key)
        self.metrics.duration.observe(time.perf_counter() - started)
        self.metrics.reconciles.labels(result=outcome.value).inc()
        self._reconciles += 1
        if outcome is Outcome.ERROR:
            self._failures += 1
        if outcome in _RETRIED:
            attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
            delay = min(self._retry_first * 2 ** (attempts - 1), self._retry_max)
            self._queue.add_after(key, delay)
        else:
            self._attempts.pop(key, None)
            self._queue.forget(key)
        self._last[key] = Reconciled(version, outcome, self._reconciles)
        progress, self._progress = self._progress, trio.Event()
        progress.set()

    async def _reconcile(self, key: Key, runtime: Runtime | None) -> Outcome:
        if runtime is None:
            return await self._clean_up(key)
        if runtime.metadata.deletion_timestamp is not None:
            return Outcome.SKIPPED
        writes = self._writes
        deployment: Mapping[str, Any] | None = None
        conflicts: list[str] = []
        failures: list[str] = []
        for desired in desired_objects(runtime, self._settings):
            try:
                live = await self._sync(runtime, desired)
            except (Invalid, Forbidden, NotFound) as error:
                # The user's (or the operator's) to fix: say so on the Runtime and go on
                # with the other children (NotFound: e.g. a RoleBinding whose Role was refused).
                failures.append(f"{describe(desired)}: {error}")
                log.warning("child object rejected", runtime=key, error=str(error))
                continue
            if isinstance(live, str):
                conflicts.append(live)
            elif desired["kind"] == "Deployment":
                deployment = live
        now = self._clock()
        status = runtime_status_from(runtime, deployment, now)
        if conflicts or failures:
            reason = OWNERSHIP_CONFLICT if conflicts else RECONCILE_FAILED
            message = "; ".join(conflicts + failures)
            conditions = _not_ready(status.conditions, runtime, reason, message, now)
            status = evolve(status, conditions=conditions)
        if status != runtime.status:
            try:
                stored = await self._store.update_status(evolve(runtime, status=status))
            except NotFound:
                return Outcome.SKIPPED  # deleted meanwhile: the watch brings the DELETED event
            except Conflict:
                with contextlib.suppress(NotFound):  # never overwrite: re-read, retry later
                    self._remember(await self._store.get_runtime(*key))
                raise
            self._remember(stored)
            self._count_write("status")
        if failures:
            return Outcome.ERROR
        if conflicts:
            return Outcome.OWNERSHIP_CONFLICT
        return Outcome.UPDATED if self._writes > writes else Outcome.SYNCED

    async def _sync(self, runtime: Runtime, desired: dict[str, Any]) -> dict[str, Any] | str:
        """The live object after making it as desired, or a message if someone else owns it."""
        path = object_path(desired)
        try:
            live: dict[str, Any] = await self._api.request("GET", path)
        except NotFound:
            return await self._create(desired)
        owner = ownership(live, runtime)
        if owner == "foreign":
            return (
                f"{describe(desired)} exists and is not owned by this Runtime "
                f"(controller: {controller_of(live)}); delete or rename it so that kruntimes "
                "can create its own"
            )
        if owner == "stale":  # left by an earlier Runtime of the same name
            log.info("replacing an object of a deleted Runtime", object=describe(desired))
            await self._delete(path, live)
            return await self._create(desired)
        if not needs_update(live, desired):
            return live
        updated: dict[str, Any] = await self._api.request(
            "PUT", path, body=merged_update(live, desired)
        )
        self._count_write("update")
        return updated

    async def _create(self, desired: dict[str, Any]) -> dict[str, Any]:
        path = object_path(desired)
        created: dict[str, Any] = await self._api.request(
            "POST", path.rsplit("/", 1)[0], body=desired
        )
        self._count_write("create")
        return created

    async def _delete(self, path: str, live: Mapping[str, Any]) -> None:
        """Delete exactly `live` (uid precondition); gone or replaced already is fine."""
        uid = (live.get("metadata") or {}).get("uid")
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            **({"preconditions": {"uid": uid}} if uid else {}),
        }
        try:
            await self._api.request("DELETE", path, body=body)
        except (NotFound, Conflict):
            return
        self._count_write("delete")

    async def _clean_up(self, key: Key) -> Outcome:
        """Delete the children of a Runtime that no longer exists (last created, first deleted)."""
        namespace, name = key
        try:
            current = await self._store.get_runtime(namespace, name)
        except NotFound:
            pass
        else:  # the cache lags behind the apiserver: reconcile what is there instead
            self._remember(current)
            self._queue.add(key)
            return Outcome.SKIPPED
        shape = Runtime(metadata=ObjectMeta(name=name, namespace=namespace))
        for desired in reversed(desired_objects(shape, self._settings)):
            path = object_path(desired)
            try:
                live = await self._api.request("GET", path)
            except NotFound:
                continue
            owner = runtime_owner(live)
            if owner is not None and owner.get("name") == name:
                await self._delete(path, live)
        return Outcome.CLEANED_UP

    def _count_write(self, verb: str) -> None:
        self._writes += 1
        self.metrics.writes.labels(verb=verb).inc()


def _runtime_key(runtime: Runtime) -> Key:
    return (runtime.metadata.namespace, runtime.metadata.name)


def _not_ready(
    conditions: tuple[Condition, ...], runtime: Runtime, reason: str, message: str, now: float
) -> tuple[Condition, ...]:
    """`conditions` with `Ready=False` for `reason`; the transition time moves only on a flip."""
    old = next((c for c in runtime.status.conditions if c.type == READY), None)
    when = timestamp(now)
    if old is not None and old.status == ConditionStatus.FALSE and old.last_transition_time:
        when = old.last_transition_time
    generation = runtime.metadata.generation or None
    cond = Condition(
        READY, ConditionStatus.FALSE, reason, bounded_message(message), when, None, generation
    )
    if not any(c.type == READY for c in conditions):
        return (*conditions, cond)[-MAX_CONDITIONS:]
    return tuple(cond if c.type == READY else c for c in conditions)


def _not_older(version: str, than: str) -> bool:
    """Whether resource version `version` is `than` or later (integers compared when both are)."""
    if version.isdigit() and than.isdigit():
        return int(version) >= int(than)
    return version == than
