"""The `Store` port: where Runs, Runtimes, RunQueues and Runtime Pods live, with Kubernetes
semantics.

Every implementation (in-memory, SQLite-backed, remote over a socket, the
Kubernetes adapter) passes the same contract suite
(`kruntimes.testing.store_contract.StoreContract`):

- `create` assigns `uid`, `resource_version`, `generation` and
  `creation_timestamp`, fails with `AlreadyExists` for a taken name, and,
  like the status subresource, drops any status in the body.
- `update_status` and `update_spec` are conditional on the object's
  `metadata.resource_version`: a stale one fails with `Conflict` (re-read and
  retry, never overwrite). `update_status` ignores spec changes and
  `update_spec` ignores status changes, like the status subresource.
- `list` returns the items and the resource version to watch from; `watch`
  yields every change after that version in order, `BOOKMARK`s now and then,
  and fails with `Gone` when the version is too old or the watcher fell too
  far behind: re-list and watch again.
  A watch's iteration ends only when the store closes.
- `delete` of an object with finalizers only sets `deletion_timestamp`; the
  object goes when an `update_spec` removes its last finalizer.
- Pods are observed objects (kubelet or the local Pod manager writes them):
  `put_pod`, `delete_pod` and `heartbeat_pod`.

All methods are trio-async; none takes a `timeout=`: use cancel scopes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from attrs import frozen

from kruntimes.model import Run, RunQueue, Runtime, RuntimePod

T = TypeVar("T", Run, Runtime, RunQueue, RuntimePod)
Obj = TypeVar("Obj", Run, Runtime, RunQueue)


class Kind(StrEnum):
    RUN = "Run"
    RUNTIME = "Runtime"
    RUN_QUEUE = "RunQueue"


class StoreError(Exception):
    """Base of the store's expected failures."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """The object changed since it was read (stale resource version): re-read and retry."""


class Gone(StoreError):
    """The watch's resource version is too old (or the watcher fell behind): re-list."""


class Invalid(StoreError):
    """The object fails validation; `str()` lists every field error."""


class Unavailable(StoreError):
    """The store cannot be reached (no engine listening, connection lost, store closed)."""


class Forbidden(StoreError):
    """The caller's identity may not do that (Kubernetes RBAC answered 401 or 403)."""


class Unsupported(StoreError):
    """This store cannot do that (e.g. `put_pod` against Kubernetes, where kubelet owns Pods)."""


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


@frozen
class WatchEvent(Generic[T]):
    """One change. `object` is None only for `BOOKMARK`; for `DELETED` it is the last version."""

    type: EventType
    object: T | None
    resource_version: str


@frozen
class Listing(Generic[T]):
    items: tuple[T, ...]
    resource_version: str


def resource_version_before(version: str, than: str) -> bool:
    """Whether `version` is older than `than`, when resource versions are comparable.

    They are opaque in general, but etcd's and the embedded stores' are
    integers; otherwise the watch order decides (never older).
    """
    return version.isdigit() and than.isdigit() and int(version) < int(than)


class Store(Protocol):
    async def create(self, obj: Obj) -> Obj: ...

    async def get_run(self, namespace: str, name: str) -> Run: ...

    async def get_runtime(self, namespace: str, name: str) -> Runtime: ...

    async def get_run_queue(self, namespace: str, name: str) -> RunQueue: ...

    async def list_runs(self, namespace: str | None = None) -> Listing[Run]: ...

    async def list_runtimes(self, namespace: str | None = None) -> Listing[Runtime]: ...

    async def list_run_queues(self, namespace: str | None = None) -> Listing[RunQueue]: ...

    def watch_runs(
        self, resource_version: str, namespace: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[Run]]]: ...

    def watch_runtimes(
        self, resource_version: str, namespace: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[Runtime]]]: ...

    def watch_run_queues(
        self, resource_version: str, namespace: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[RunQueue]]]: ...

    async def update_status(self, obj: Obj) -> Obj: ...

    async def update_spec(self, obj: Obj) -> Obj: ...

    async def delete(self, kind: Kind, namespace: str, name: str) -> None: ...

    async def list_pods(self, namespace: str | None = None) -> Listing[RuntimePod]: ...

    def watch_pods(
        self, resource_version: str, namespace: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[RuntimePod]]]: ...

    async def put_pod(self, pod: RuntimePod) -> RuntimePod: ...

    async def delete_pod(self, namespace: str, name: str) -> None: ...

    async def heartbeat_pod(self, namespace: str, name: str, at: float) -> None: ...

    async def aclose(self) -> None: ...
