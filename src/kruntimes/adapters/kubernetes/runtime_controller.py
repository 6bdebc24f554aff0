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
from collections.abc import Callable, Hashable, Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

import structlog
import trio
from attrs import evolve, frozen
from prometheus_client import CollectorRegistry, Counter, Histogram

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.informer import follow_raw, retrying, vanished
from kruntimes.adapters.kubernetes.runtime_objects import (
    MANAGED_BY_LABEL,
    OWNER_LABEL,
    READY,
    AgentSettings,
    desired_objects,
    needs_update,
    runtime_status_from,
)
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.model import (
    API_VERSION,
    RUNTIME_KIND,
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
)

log = structlog.get_logger("kruntimes.runtime_controller")

Clock = Callable[[], float]
Key = tuple[str, str]
"""(namespace, name) of a Runtime."""
K = TypeVar("K", bound=Hashable)

MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}=kruntimes"
OWNERSHIP_CONFLICT = "OwnershipConflict"
RECONCILE_FAILED = "ReconcileFailed"
_API_GROUP = API_VERSION.split("/", 1)[0]
_PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "NetworkPolicy": "networkpolicies",
    "Deployment": "deployments",
}


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


class WorkQueue(Generic[K]):
    """Keys to process, deduplicated; a key is handed to one worker at a time.

    `add` makes a key ready (or, while a worker has it, ready again once it
    is `done`); `add_after` makes it ready after a delay (backoff);
    `forget` drops a pending delay. `run_delays` must run for delays to fire.
    """

    def __init__(self) -> None:
        self._ready: dict[K, None] = {}
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._delayed: dict[K, float] = {}
        self._lot = trio.lowlevel.ParkingLot()
        self._delays_changed = trio.Event()

    def __len__(self) -> int:
        return len(self._ready.keys() | self._delayed.keys() | self._dirty)

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._ready:
            self._ready[key] = None
            self._lot.unpark()

    def add_after(self, key: K, delay: float) -> None:
        due = trio.current_time() + max(0.0, delay)
        current = self._delayed.get(key)
        if current is None or due < current:
            earliest = min(self._delayed.values(), default=float("inf"))
            self._delayed[key] = due
            if due < earliest:
                self._delays_changed.set()

    def forget(self, key: K) -> None:
        self._delayed.pop(key, None)

    async def get(self) -> K:
        while not self._ready:
            await self._lot.park()
        key = next(iter(self._ready))
        del self._ready[key]
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
        elif self._ready:
            self._lot.unpark()  # a worker parked while this one held the only key

    async def run_delays(self) -> None:
        """Move delayed keys to ready when due; until cancelled. Sleeps between due times."""
        while True:
            self._delays_changed = trio.Event()
            now = trio.current_time()
            for key in [k for k, due in self._delayed.items() if due <= now]:
                del self._delayed[key]
                self.add(key)
            with trio.move_on_at(min(self._delayed.values(), default=float("inf"))):
                await self._delays_changed.wait()


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
        owner = _runtime_owner(deployment)
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
            or not _older(runtime.metadata.resource_version, cached.metadata.resource_version)
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
                failures.append(f"{_describe(desired)}: {error}")
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
        path = _object_path(desired)
        try:
            live: dict[str, Any] = await self._api.request("GET", path)
        except NotFound:
            return await self._create(desired)
        owner = _ownership(live, runtime)
        if owner == "foreign":
            return (
                f"{_describe(desired)} exists and is not owned by this Runtime "
                f"(controller: {_controller_of(live)}); delete or rename it so that kruntimes "
                "can create its own"
            )
        if owner == "stale":  # left by an earlier Runtime of the same name
            log.info("replacing an object of a deleted Runtime", object=_describe(desired))
            await self._delete(path, live)
            return await self._create(desired)
        if not needs_update(live, desired):
            return live
        updated: dict[str, Any] = await self._api.request("PUT", path, body=_merged(live, desired))
        self._count_write("update")
        return updated

    async def _create(self, desired: dict[str, Any]) -> dict[str, Any]:
        path = _object_path(desired)
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
            path = _object_path(desired)
            try:
                live = await self._api.request("GET", path)
            except NotFound:
                continue
            owner = _runtime_owner(live)
            if owner is not None and owner.get("name") == name:
                await self._delete(path, live)
        return Outcome.CLEANED_UP

    def _count_write(self, verb: str) -> None:
        self._writes += 1
        self.metrics.writes.labels(verb=verb).inc()


def _runtime_key(runtime: Runtime) -> Key:
    return (runtime.metadata.namespace, runtime.metadata.name)


def _object_path(obj: Mapping[str, Any]) -> str:
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    meta = obj["metadata"]
    return f"{prefix}/namespaces/{meta['namespace']}/{_PLURALS[kind]}/{meta['name']}"


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


def _refs(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    return [r for r in refs if isinstance(r, Mapping)] if isinstance(refs, list) else []


def _runtime_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The controller reference to a kruntimes Runtime, if the object has one."""
    for ref in _refs(obj):
        group = str(ref.get("apiVersion", "")).split("/", 1)[0]
        if ref.get("kind") == RUNTIME_KIND and group == _API_GROUP and ref.get("controller"):
            return ref
    return None


def _ownership(live: Mapping[str, Any], runtime: Runtime) -> str:
    """Who owns `live`: this Runtime ("ours"), a deleted one of its name ("stale"), or not us."""
    if any(ref.get("uid") == runtime.metadata.uid for ref in _refs(live)):
        return "ours"
    owner = _runtime_owner(live)
    if owner is not None and owner.get("name") == runtime.metadata.name:
        return "stale"
    return "foreign"


def _controller_of(live: Mapping[str, Any]) -> str:
    controller = next((r for r in _refs(live) if r.get("controller")), None)
    if controller is None:
        return "none"
    return f"{controller.get('kind')} {controller.get('name')}"


def _merged(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The PUT body: the live object with the fields kruntimes owns replaced by `desired`.

    The live `resourceVersion` makes the write conditional; labels,
    annotations and owner references others added are kept.
    """
    body = {k: v for k, v in live.items() if k != "status"}
    body.update({k: v for k, v in desired.items() if k != "metadata"})
    meta = dict(live.get("metadata") or {})
    want = desired.get("metadata") or {}
    for field in ("labels", "annotations"):
        merged = {**(meta.get(field) or {}), **(want.get(field) or {})}
        if merged:
            meta[field] = merged
    ours = list(want.get("ownerReferences") or ())
    uids = {ref.get("uid") for ref in ours}
    meta["ownerReferences"] = [r for r in _refs(live) if r.get("uid") not in uids] + ours
    body["metadata"] = meta
    return body


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


def _older(version: str, than: str) -> bool:
    """Whether `version` is before `than`, when both are integers (etcd's are); else never."""
    return version.isdigit() and than.isdigit() and int(version) < int(than)


def _not_older(version: str, than: str) -> bool:
    """Whether resource version `version` is `than` or later (integers compared when both are)."""
    if version.isdigit() and than.isdigit():
        return int(version) >= int(than)
    return version == than
