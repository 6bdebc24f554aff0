"""`MemoryStore`: the embedded store, in process, Kubernetes semantics, optional persistence.

All state lives in dicts owned by one trio loop, so every method is atomic
between its checkpoints and conditional writes need no locks. Each write is
validated, handed to the persistence (if any) before it changes anything in
memory, then published to watchers; it fails as a whole or lands as a whole.
Methods check for cancellation before the write and yield after it, so a
write that has landed is never reported as cancelled.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, cast
from uuid import uuid4

import trio
from attrs import evolve

from kruntimes.codec import (
    FieldError,
    ValidationError,
    validate_run,
    validate_run_queue,
    validate_run_status,
    validate_run_update,
    validate_runtime,
)
from kruntimes.model import RUN_QUEUE_KIND, Run, RunQueue, Runtime, RuntimePod
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    EventType,
    Invalid,
    Kind,
    Listing,
    NotFound,
    Obj,
    Unavailable,
    WatchEvent,
)
from kruntimes.store.watch import EventHub, Watch
from kruntimes.store.wire import POD, Stored, key_of, kind_of, pod_problems

_GENERATED_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
_GENERATED_PREFIX_MAX = 58
"""Kubernetes truncates `generateName` to 58 characters before adding 5 random ones."""


class Persistence(Protocol):
    """Where a `MemoryStore` writes every change through (e.g. `SqlitePersistence`).

    Methods raise `StoreError` when the write did not happen; the store then
    leaves its memory unchanged.
    """

    def load(self) -> tuple[list[Stored], int]:
        """Every stored object and the latest resource version."""
        ...

    def save(self, obj: Stored, rv: int) -> None: ...

    def remove(self, kind: str, namespace: str, name: str, rv: int) -> None: ...

    def close(self) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryStore:
    """The `Store` port in process memory; pass `persistence` to survive restarts.

    `history` events are kept for watches to start from (older versions get
    `Gone`); a watcher may lag `watch_buffer` events (default: `history`)
    before it is cut off with `Gone`; an idle watcher gets a `BOOKMARK` every
    `bookmark_interval` seconds when versions moved on without it.
    """

    def __init__(
        self,
        *,
        persistence: Persistence | None = None,
        clock: Callable[[], datetime] = utc_now,
        history: int = 10_000,
        watch_buffer: int | None = None,
        bookmark_interval: float = 30.0,
    ) -> None:
        if history < 1 or (watch_buffer is not None and watch_buffer < 0):
            raise ValueError("history must be >= 1 and watch_buffer >= 0")
        self._persistence = persistence
        self._clock = clock
        self._closed = False
        self._objects: dict[str, dict[str, dict[str, Stored]]] = {
            "Run": {},
            "Runtime": {},
            RUN_QUEUE_KIND: {},
            POD: {},
        }
        objects, rv = persistence.load() if persistence is not None else ([], 0)
        for obj in objects:
            namespace, name = key_of(obj)
            self._objects[kind_of(obj)].setdefault(namespace, {})[name] = obj
        buffer = history if watch_buffer is None else watch_buffer
        self._hub = EventHub(rv, history, buffer, bookmark_interval)

    async def create(self, obj: Obj) -> Obj:
        await self._enter()
        kind = kind_of(obj)
        meta = obj.metadata
        name = meta.name or self._generate_name(kind, meta.namespace, meta.extra)
        if self._get(kind, meta.namespace, name) is not None:
            raise AlreadyExists(f"{kind} {meta.namespace}/{name} already exists")
        rv = self._hub.rv + 1
        meta = evolve(
            meta,
            name=name,
            uid=str(uuid4()),
            resource_version=str(rv),
            generation=1,
            creation_timestamp=self._clock(),
            deletion_timestamp=None,
        )
        stored = evolve(obj, metadata=meta, status=type(obj.status)())
        _check(_validate(stored))
        self._commit(kind, stored, EventType.ADDED, stored, rv)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return stored

    async def get_run(self, namespace: str, name: str) -> Run:
        return cast(Run, await self._read("Run", namespace, name))

    async def get_runtime(self, namespace: str, name: str) -> Runtime:
        return cast(Runtime, await self._read("Runtime", namespace, name))

    async def get_run_queue(self, namespace: str, name: str) -> RunQueue:
        return cast(RunQueue, await self._read(RUN_QUEUE_KIND, namespace, name))

    async def list_runs(self, namespace: str | None = None) -> Listing[Run]:
        return cast(Listing[Run], await self._list("Run", namespace))

    async def list_runtimes(self, namespace: str | None = None) -> Listing[Runtime]:
        return cast(Listing[Runtime], await self._list("Runtime", namespace))

    async def list_run_queues(self, namespace: str | None = None) -> Listing[RunQueue]:
        return cast(Listing[RunQueue], await self._list(RUN_QUEUE_KIND, namespace))

    async def list_pods(self, namespace: str | None = None) -> Listing[RuntimePod]:
        return cast(Listing[RuntimePod], await self._list(POD, namespace))

    def watch_runs(self, resource_version: str, namespace: str | None = None) -> Watch[Run]:
        return self._hub.watch("Run", resource_version, namespace)

    def watch_runtimes(self, resource_version: str, namespace: str | None = None) -> Watch[Runtime]:
        return self._hub.watch("Runtime", resource_version, namespace)

    def watch_run_queues(
        self, resource_version: str, namespace: str | None = None
    ) -> Watch[RunQueue]:
        return self._hub.watch(RUN_QUEUE_KIND, resource_version, namespace)

    def watch_pods(self, resource_version: str, namespace: str | None = None) -> Watch[RuntimePod]:
        return self._hub.watch(POD, resource_version, namespace)

    async def update_status(self, obj: Obj) -> Obj:
        """Replace the status; spec and metadata stay as stored."""
        await self._enter()
        current = self._current(obj)
        rv = self._hub.rv + 1
        meta = evolve(current.metadata, resource_version=str(rv))
        stored = evolve(current, metadata=meta, status=obj.status)
        _check(validate_run_status(obj.status) if isinstance(obj, Run) else _validate(stored))
        self._commit(kind_of(obj), stored, EventType.MODIFIED, stored, rv)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return stored

    async def update_spec(self, obj: Obj) -> Obj:
        """Replace the spec and the user-owned metadata (labels, annotations, finalizers,
        owner references); the status stays as stored. A changed spec bumps `generation`.
        """
        await self._enter()
        current = self._current(obj)
        old, new = current.metadata, obj.metadata
        deleting = old.deletion_timestamp is not None
        if deleting and not set(new.finalizers) <= set(old.finalizers):
            raise Invalid("metadata.finalizers: none may be added while the object is deleted")
        rv = self._hub.rv + 1
        meta = evolve(
            old,
            labels=new.labels,
            annotations=new.annotations,
            finalizers=new.finalizers,
            owner_references=new.owner_references,
            resource_version=str(rv),
            generation=old.generation + (obj.spec != current.spec),
        )
        stored = evolve(current, metadata=meta, spec=obj.spec)
        if isinstance(stored, Run):
            _check(validate_run_update(current, stored))
        else:
            _check(_validate(stored))
        if deleting and not meta.finalizers:
            self._commit(kind_of(obj), None, EventType.DELETED, stored, rv)
        else:
            self._commit(kind_of(obj), stored, EventType.MODIFIED, stored, rv)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return stored

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        """Remove the object, or, while it has finalizers, set its `deletion_timestamp`."""
        await self._enter()
        kind = Kind(kind)
        current = self._get_or_raise(kind.value, namespace, name)
        assert not isinstance(current, RuntimePod)
        meta = current.metadata
        rv = self._hub.rv + 1
        if not meta.finalizers:
            last = evolve(current, metadata=evolve(meta, resource_version=str(rv)))
            self._commit(kind.value, None, EventType.DELETED, last, rv)
        elif meta.deletion_timestamp is None:
            meta = evolve(
                meta,
                deletion_timestamp=self._clock(),
                generation=meta.generation + 1,
                resource_version=str(rv),
            )
            marked = evolve(current, metadata=meta)
            self._commit(kind.value, marked, EventType.MODIFIED, marked, rv)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def put_pod(self, pod: RuntimePod) -> RuntimePod:
        """Create or replace a Pod; an empty `uid` keeps the stored one or gets a new one."""
        await self._enter()
        if problem := pod_problems(pod):
            raise Invalid(problem)
        current = self._get(POD, pod.namespace, pod.name)
        if not pod.uid:
            pod = evolve(pod, uid=current.uid if isinstance(current, RuntimePod) else str(uuid4()))
        change = EventType.ADDED if current is None else EventType.MODIFIED
        self._commit(POD, pod, change, pod, self._hub.rv + 1)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return pod

    async def heartbeat_pod(self, namespace: str, name: str, at: float) -> None:
        await self._enter()
        current = self._get_or_raise(POD, namespace, name)
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise Invalid(f"heartbeat time must be a number, got {at!r}")
        pod = evolve(cast(RuntimePod, current), heartbeat=float(at))
        self._commit(POD, pod, EventType.MODIFIED, pod, self._hub.rv + 1)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def delete_pod(self, namespace: str, name: str) -> None:
        await self._enter()
        current = self._get_or_raise(POD, namespace, name)
        self._commit(POD, None, EventType.DELETED, current, self._hub.rv + 1)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def aclose(self) -> None:
        """End all watches and close the persistence; later calls raise `Unavailable`."""
        if not self._closed:
            self._closed = True
            self._hub.close()
            if self._persistence is not None:
                self._persistence.close()
        await trio.lowlevel.checkpoint()

    async def _enter(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise Unavailable("the store is closed")

    def _get(self, kind: str, namespace: str, name: str) -> Stored | None:
        names = self._objects[kind].get(namespace)
        return None if names is None else names.get(name)

    def _get_or_raise(self, kind: str, namespace: str, name: str) -> Stored:
        found = self._get(kind, namespace, name)
        if found is None:
            raise NotFound(f"{kind} {namespace}/{name} not found")
        return found

    def _current(self, obj: Obj) -> Obj:
        """The stored version of `obj`, if `obj` was read from it (same resource version)."""
        meta = obj.metadata
        current = cast(Obj, self._get_or_raise(kind_of(obj), meta.namespace, meta.name))
        if not meta.resource_version:
            raise Invalid("metadata.resourceVersion: required for an update")
        if meta.resource_version != current.metadata.resource_version:
            raise Conflict(
                f"{kind_of(obj)} {meta.namespace}/{meta.name} changed: it is at version "
                f"{current.metadata.resource_version}, not {meta.resource_version}; re-read it"
            )
        return current

    async def _read(self, kind: str, namespace: str, name: str) -> Stored:
        await self._enter()
        found = self._get_or_raise(kind, namespace, name)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return found

    async def _list(self, kind: str, namespace: str | None) -> Listing[Any]:
        await self._enter()
        table = self._objects[kind]
        spaces: Iterable[str] = sorted(table) if namespace is None else (namespace,)
        items = [names[n] for ns in spaces for names in (table.get(ns, {}),) for n in sorted(names)]
        rv = self._hub.rv  # read with the items: a write during the checkpoint is after both
        await trio.lowlevel.cancel_shielded_checkpoint()
        return Listing(tuple(items), str(rv))

    def _commit(
        self,
        kind: str,
        stored: Stored | None,
        change: EventType,
        shown: Stored,
        rv: int,
    ) -> None:
        """Persist, apply and announce one write taking version `rv`; `stored=None` removes."""
        namespace, name = key_of(shown)
        table = self._objects[kind]
        if stored is None:
            if self._persistence is not None:
                self._persistence.remove(kind, namespace, name, rv)
            names = table[namespace]
            del names[name]
            if not names:
                del table[namespace]
        else:
            if self._persistence is not None:
                self._persistence.save(stored, rv)
            table.setdefault(namespace, {})[name] = stored
        self._hub.publish(kind, namespace, WatchEvent(change, shown, str(rv)), rv)

    def _generate_name(self, kind: str, namespace: str, extra: Mapping[str, Any]) -> str:
        prefix = extra.get("generateName")
        if not isinstance(prefix, str) or not prefix:
            raise Invalid("metadata.name: required")
        prefix = prefix[:_GENERATED_PREFIX_MAX]
        while True:
            name = prefix + "".join(random.choices(_GENERATED_SUFFIX, k=5))
            if self._get(kind, namespace, name) is None:
                return name


def _validate(obj: Run | Runtime | RunQueue) -> tuple[FieldError, ...]:
    if isinstance(obj, Run):
        return validate_run(obj)
    if isinstance(obj, Runtime):
        return validate_runtime(obj)
    return validate_run_queue(obj)


def _check(errors: tuple[FieldError, ...]) -> None:
    if errors:
        raise Invalid(str(ValidationError(errors)))
