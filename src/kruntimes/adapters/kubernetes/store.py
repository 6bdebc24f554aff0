"""`KubeStore`: the `Store` port on a kube-apiserver (Runs, Runtimes and RunQueues as CRDs,
Pods as Pods).

It passes the same contract suite as the embedded stores, against a real
apiserver. The library validates every object before it is sent, so the
rules hold on Kubernetes 1.20, which has no CRD validation rules; spec updates
read the current object first to check immutability, and then write
conditionally on that very version. Watches reconnect transparently when the
server ends a stream (its `timeoutSeconds`, a restart) and raise `Gone` only
when the version is really too old, or when the consumer falls
`watch_buffer` events behind: a slow consumer never makes the apiserver hold
the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import structlog
import trio
from attrs import evolve

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.informer import RawEvent, strip, watch_raw
from kruntimes.adapters.kubernetes.pods import (
    RUNTIME_LABEL,
    heartbeat_status_patch,
    pod_from_v1,
)
from kruntimes.codec import (
    FieldError,
    ValidationError,
    run_from_dict,
    run_queue_from_dict,
    runtime_from_dict,
    validate_run,
    validate_run_queue,
    validate_run_status,
    validate_run_update,
    validate_runtime,
)
from kruntimes.model import API_VERSION, RUN_QUEUE_KIND, Run, RunQueue, Runtime, RuntimePod
from kruntimes.store.port import (
    Conflict,
    EventType,
    Invalid,
    Kind,
    Listing,
    Obj,
    T,
    Unsupported,
    WatchEvent,
)
from kruntimes.store.wire import encode, kind_of

GROUP_PATH = f"/apis/{API_VERSION}"
log = structlog.get_logger("kruntimes.kubernetes.store")
_PLURAL = {"Run": "runs", "Runtime": "runtimes", RUN_QUEUE_KIND: "runqueues"}


_OMITTED_WHEN_EMPTY = ("reason", "message")
"""Condition fields left out when empty: kube-apiserver 1.20 refuses `""` in the items
of an `x-kubernetes-list-type: map` list as null (reading them back gives `""` again)."""


def _collection(prefix: str, plural: str, namespace: str | None) -> str:
    if namespace is None:
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{namespace}/{plural}"


def _decode_run(document: dict[str, Any]) -> Run:
    return run_from_dict(strip(document))


def _decode_runtime(document: dict[str, Any]) -> Runtime:
    return runtime_from_dict(strip(document))


def _decode_run_queue(document: dict[str, Any]) -> RunQueue:
    return run_queue_from_dict(strip(document))


_DECODERS: Mapping[str, Callable[[dict[str, Any]], Run | Runtime | RunQueue]] = {
    "Run": _decode_run,
    "Runtime": _decode_runtime,
    RUN_QUEUE_KIND: _decode_run_queue,
}


def _validate(obj: Runtime | RunQueue) -> tuple[FieldError, ...]:
    return validate_runtime(obj) if isinstance(obj, Runtime) else validate_run_queue(obj)


def _check(errors: tuple[FieldError, ...]) -> None:
    if errors:
        raise Invalid(str(ValidationError(errors)))


def _readable(decode: Callable[[dict[str, Any]], T | None]) -> Callable[[dict[str, Any]], T | None]:
    """`decode`, skipping (with a warning) an object the apiserver accepted but this
    library cannot read, e.g. a quantity like `500m` where whole numbers are required,
    written by a client that skipped the library's checks. One such object must not stop
    a list or a watch, and with it every controller reading the collection."""

    def lenient(document: dict[str, Any]) -> T | None:
        try:
            return decode(document)
        except ValidationError as exc:
            meta = document.get("metadata") or {}
            log.warning(
                "skipped an object this version cannot read; fix or delete it",
                kind=document.get("kind"),
                namespace=meta.get("namespace"),
                name=meta.get("name"),
                errors=str(exc),
            )
            return None

    return lenient


class KubeStore:
    """The `Store` port on Kubernetes. Pods are the kubelet's: `put_pod` is `Unsupported`."""

    def __init__(self, api: KubeApi, *, watch_buffer: int = 4096) -> None:
        self.api = api
        self.watch_buffer = watch_buffer

    # -- Runs, Runtimes and RunQueues ----------------------------------------

    async def create(self, obj: Obj) -> Obj:
        kind = kind_of(obj)
        meta = obj.metadata
        if not meta.name and not meta.extra.get("generateName"):
            raise Invalid("metadata.name: required")
        document = self._encode(evolve(obj, status=type(obj.status)()))
        document["metadata"].pop("resourceVersion", None)
        document["metadata"].pop("uid", None)
        if isinstance(obj, Run):
            probe = evolve(obj, metadata=evolve(meta, name=meta.name or "generated"))
            _check(validate_run(probe))
        else:
            _check(_validate(obj))
        path = _collection(GROUP_PATH, _PLURAL[kind], meta.namespace)
        created = await self.api.request("POST", path, body=document)
        return cast(Obj, self._decode(kind, created))

    async def get_run(self, namespace: str, name: str) -> Run:
        document = await self.api.request("GET", self._path("Run", namespace, name))
        return _decode_run(document)

    async def get_runtime(self, namespace: str, name: str) -> Runtime:
        document = await self.api.request("GET", self._path("Runtime", namespace, name))
        return _decode_runtime(document)

    async def get_run_queue(self, namespace: str, name: str) -> RunQueue:
        document = await self.api.request("GET", self._path(RUN_QUEUE_KIND, namespace, name))
        return _decode_run_queue(document)

    async def list_runs(self, namespace: str | None = None) -> Listing[Run]:
        return await self._list(_collection(GROUP_PATH, "runs", namespace), {}, _decode_run)

    async def list_runtimes(self, namespace: str | None = None) -> Listing[Runtime]:
        path = _collection(GROUP_PATH, "runtimes", namespace)
        return await self._list(path, {}, _decode_runtime)

    async def list_run_queues(self, namespace: str | None = None) -> Listing[RunQueue]:
        path = _collection(GROUP_PATH, "runqueues", namespace)
        return await self._list(path, {}, _decode_run_queue)

    def watch_runs(self, resource_version: str, namespace: str | None = None) -> Any:
        path = _collection(GROUP_PATH, "runs", namespace)
        return self._watch(path, {}, resource_version, _decode_run)

    def watch_runs_where(
        self,
        resource_version: str,
        namespace: str | None,
        keep: Callable[[Mapping[str, Any]], bool],
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[Run]]]:
        """`watch_runs`, decoding only the Runs `keep` accepts (it sees the raw dict).

        An agent hears about every Run of its namespace but owns few: deciding
        on the raw `status.assignedPod` saves decoding the others' versions.
        """

        def decode(document: dict[str, Any]) -> Run | None:
            return _decode_run(document) if keep(document) else None

        path = _collection(GROUP_PATH, "runs", namespace)
        return self._watch(path, {}, resource_version, decode)

    def watch_runtimes(self, resource_version: str, namespace: str | None = None) -> Any:
        path = _collection(GROUP_PATH, "runtimes", namespace)
        return self._watch(path, {}, resource_version, _decode_runtime)

    def watch_run_queues(self, resource_version: str, namespace: str | None = None) -> Any:
        path = _collection(GROUP_PATH, "runqueues", namespace)
        return self._watch(path, {}, resource_version, _decode_run_queue)

    async def update_status(self, obj: Obj) -> Obj:
        """PUT to the status subresource, conditional on `metadata.resource_version`."""
        self._require_version(obj)
        _check(validate_run_status(obj.status) if isinstance(obj, Run) else _validate(obj))
        kind = kind_of(obj)
        path = self._path(kind, obj.metadata.namespace, obj.metadata.name) + "/status"
        stored = await self._put(path, obj)
        return cast(Obj, self._decode(kind, stored))

    async def update_spec(self, obj: Obj) -> Obj:
        """PUT to the object, conditional on `metadata.resource_version`.

        The current object is read first so the library can check what CRD
        validation rules would (immutable fields) on servers without them.
        """
        self._require_version(obj)
        kind = kind_of(obj)
        meta = obj.metadata
        path = self._path(kind, meta.namespace, meta.name)
        if isinstance(obj, Run):
            current = await self.get_run(meta.namespace, meta.name)
            if current.metadata.resource_version == meta.resource_version:
                _check(validate_run_update(current, evolve(obj, status=current.status)))
        else:
            _check(_validate(obj))
        stored = await self._put(path, obj)
        return cast(Obj, self._decode(kind, stored))

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        await self.api.request("DELETE", self._path(Kind(kind).value, namespace, name))

    # -- Pods -----------------------------------------------------------------

    async def list_pods(self, namespace: str | None = None) -> Listing[RuntimePod]:
        path = _collection("/api/v1", "pods", namespace)
        listing = await self._list(path, {"labelSelector": RUNTIME_LABEL}, pod_from_v1)
        return cast(Listing[RuntimePod], listing)

    def watch_pods(self, resource_version: str, namespace: str | None = None) -> Any:
        path = _collection("/api/v1", "pods", namespace)
        return self._watch(path, {"labelSelector": RUNTIME_LABEL}, resource_version, pod_from_v1)

    async def put_pod(self, pod: RuntimePod) -> RuntimePod:
        raise Unsupported("on Kubernetes the kubelet owns Pods; create them with a Deployment")

    async def delete_pod(self, namespace: str, name: str) -> None:
        await self.api.request("DELETE", _collection("/api/v1", "pods", namespace) + f"/{name}")

    async def heartbeat_pod(self, namespace: str, name: str, at: float) -> None:
        """Set the `kruntimes.io/RuntimedReady` condition's `lastProbeTime` (pods/status)."""
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise Invalid(f"heartbeat time must be a number, got {at!r}")
        path = _collection("/api/v1", "pods", namespace) + f"/{name}/status"
        await self.api.request(
            "PATCH",
            path,
            body=heartbeat_status_patch(float(at)),
            content_type="application/strategic-merge-patch+json",
        )

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()

    # -- internals ------------------------------------------------------------

    async def _put(self, path: str, obj: Run | Runtime | RunQueue) -> Any:
        """A conditional PUT; a conflict on an object that is gone is `NotFound`.

        (The apiserver answers 409 for a stale uid precondition even when the
        object does not exist at all.)
        """
        try:
            return await self.api.request("PUT", path, body=self._encode(obj))
        except Conflict:
            kind = kind_of(obj)
            await self.api.request(
                "GET", self._path(kind, obj.metadata.namespace, obj.metadata.name)
            )
            raise

    @staticmethod
    def _path(kind: str, namespace: str, name: str) -> str:
        return _collection(GROUP_PATH, _PLURAL[kind], namespace) + f"/{name}"

    @staticmethod
    def _encode(obj: Run | Runtime | RunQueue) -> dict[str, Any]:
        document = encode(obj)
        for condition in document.get("status", {}).get("conditions", ()):
            for key in _OMITTED_WHEN_EMPTY:
                if condition.get(key) == "":
                    del condition[key]
        return document

    @staticmethod
    def _decode(kind: str, document: dict[str, Any]) -> Run | Runtime | RunQueue:
        return _DECODERS[kind](document)

    @staticmethod
    def _require_version(obj: Run | Runtime | RunQueue) -> None:
        if not obj.metadata.resource_version:
            raise Invalid("metadata.resourceVersion: required for an update")

    async def _list(
        self, path: str, query: Mapping[str, str], decode: Callable[[dict[str, Any]], Any]
    ) -> Listing[Any]:
        readable = _readable(decode)

        def fetch() -> Listing[Any]:
            document = self.api.request_sync("GET", path, query)
            items = (readable(item) for item in document.get("items", ()))
            return Listing(
                tuple(i for i in items if i is not None), document["metadata"]["resourceVersion"]
            )

        return await trio.to_thread.run_sync(fetch)

    def _watch(
        self,
        path: str,
        query: Mapping[str, str],
        resource_version: str,
        decode: Callable[[dict[str, Any]], T | None],
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[T]]]:
        readable = _readable(decode)

        def convert(event: RawEvent) -> WatchEvent[T] | None:
            if event.type == "BOOKMARK":
                return WatchEvent(EventType.BOOKMARK, None, event.resource_version)
            decoded = readable(event.object)
            if decoded is None:
                return None
            return WatchEvent(EventType(event.type), decoded, event.resource_version)

        return watch_raw(
            self.api,
            path,
            resource_version,
            label_selector=query.get("labelSelector"),
            buffer=self.watch_buffer,
            convert=convert,
        )
