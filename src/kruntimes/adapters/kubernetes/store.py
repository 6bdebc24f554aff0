"""`KubeStore`: the `Store` port on a kube-apiserver (Runs and Runtimes as CRDs, Pods as Pods).

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
from contextlib import asynccontextmanager
from typing import Any, cast

import trio
from attrs import evolve

from kruntimes.adapters.kubernetes.api import KubeApi, error_for, stream_lines
from kruntimes.adapters.kubernetes.pods import (
    RUNTIME_LABEL,
    heartbeat_status_patch,
    pod_from_v1,
)
from kruntimes.codec import (
    FieldError,
    ValidationError,
    run_from_dict,
    run_to_dict,
    runtime_from_dict,
    runtime_to_dict,
    validate_run,
    validate_run_status,
    validate_run_update,
    validate_runtime,
)
from kruntimes.model import API_VERSION, Run, Runtime, RuntimePod
from kruntimes.store.port import (
    Conflict,
    EventType,
    Gone,
    Invalid,
    Kind,
    Listing,
    Obj,
    StoreError,
    T,
    Unavailable,
    Unsupported,
    WatchEvent,
)

GROUP_PATH = f"/apis/{API_VERSION}"
WATCH_SECONDS = 290
"""Server-side watch timeout; the store reconnects from the last version it saw."""
_PLURAL = {"Run": "runs", "Runtime": "runtimes"}
_DROPPED_METADATA = ("managedFields", "selfLink")
"""Server bookkeeping the model has no use for; a PUT without them leaves them unchanged."""


def _collection(prefix: str, plural: str, namespace: str | None) -> str:
    if namespace is None:
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{namespace}/{plural}"


def _strip(document: dict[str, Any]) -> dict[str, Any]:
    meta = document.get("metadata")
    if isinstance(meta, dict):
        for key in _DROPPED_METADATA:
            meta.pop(key, None)
    return document


def _decode_run(document: dict[str, Any]) -> Run:
    return run_from_dict(_strip(document))


def _decode_runtime(document: dict[str, Any]) -> Runtime:
    return runtime_from_dict(_strip(document))


def _check(errors: tuple[FieldError, ...]) -> None:
    if errors:
        raise Invalid(str(ValidationError(errors)))


class KubeStore:
    """The `Store` port on Kubernetes. Pods are the kubelet's: `put_pod` is `Unsupported`."""

    def __init__(self, api: KubeApi, *, watch_buffer: int = 4096) -> None:
        self.api = api
        self.watch_buffer = watch_buffer

    # -- Runs and Runtimes ----------------------------------------------------

    async def create(self, obj: Obj) -> Obj:
        kind = "Run" if isinstance(obj, Run) else "Runtime"
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
            _check(validate_runtime(obj))
        path = _collection(GROUP_PATH, _PLURAL[kind], meta.namespace)
        created = await self.api.request("POST", path, body=document)
        return cast(Obj, self._decode(kind, created))

    async def get_run(self, namespace: str, name: str) -> Run:
        document = await self.api.request("GET", self._path("Run", namespace, name))
        return _decode_run(document)

    async def get_runtime(self, namespace: str, name: str) -> Runtime:
        document = await self.api.request("GET", self._path("Runtime", namespace, name))
        return _decode_runtime(document)

    async def list_runs(self, namespace: str | None = None) -> Listing[Run]:
        return await self._list(_collection(GROUP_PATH, "runs", namespace), {}, _decode_run)

    async def list_runtimes(self, namespace: str | None = None) -> Listing[Runtime]:
        path = _collection(GROUP_PATH, "runtimes", namespace)
        return await self._list(path, {}, _decode_runtime)

    def watch_runs(self, resource_version: str, namespace: str | None = None) -> Any:
        path = _collection(GROUP_PATH, "runs", namespace)
        return self._watch(path, {}, resource_version, _decode_run)

    def watch_runtimes(self, resource_version: str, namespace: str | None = None) -> Any:
        path = _collection(GROUP_PATH, "runtimes", namespace)
        return self._watch(path, {}, resource_version, _decode_runtime)

    async def update_status(self, obj: Obj) -> Obj:
        """PUT to the status subresource, conditional on `metadata.resource_version`."""
        self._require_version(obj)
        if isinstance(obj, Run):
            _check(validate_run_status(obj.status))
        else:
            _check(validate_runtime(obj))
        kind = "Run" if isinstance(obj, Run) else "Runtime"
        path = self._path(kind, obj.metadata.namespace, obj.metadata.name) + "/status"
        stored = await self._put(path, obj)
        return cast(Obj, self._decode(kind, stored))

    async def update_spec(self, obj: Obj) -> Obj:
        """PUT to the object, conditional on `metadata.resource_version`.

        The current object is read first so the library can check what CRD
        validation rules would (immutable fields) on servers without them.
        """
        self._require_version(obj)
        kind = "Run" if isinstance(obj, Run) else "Runtime"
        meta = obj.metadata
        path = self._path(kind, meta.namespace, meta.name)
        if isinstance(obj, Run):
            current = await self.get_run(meta.namespace, meta.name)
            if current.metadata.resource_version == meta.resource_version:
                _check(validate_run_update(current, evolve(obj, status=current.status)))
        else:
            _check(validate_runtime(obj))
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

    async def _put(self, path: str, obj: Run | Runtime) -> Any:
        """A conditional PUT; a conflict on an object that is gone is `NotFound`.

        (The apiserver answers 409 for a stale uid precondition even when the
        object does not exist at all.)
        """
        try:
            return await self.api.request("PUT", path, body=self._encode(obj))
        except Conflict:
            kind = "Run" if isinstance(obj, Run) else "Runtime"
            await self.api.request(
                "GET", self._path(kind, obj.metadata.namespace, obj.metadata.name)
            )
            raise

    @staticmethod
    def _path(kind: str, namespace: str, name: str) -> str:
        return _collection(GROUP_PATH, _PLURAL[kind], namespace) + f"/{name}"

    @staticmethod
    def _encode(obj: Run | Runtime) -> dict[str, Any]:
        return run_to_dict(obj) if isinstance(obj, Run) else runtime_to_dict(obj)

    @staticmethod
    def _decode(kind: str, document: dict[str, Any]) -> Run | Runtime:
        return _decode_run(document) if kind == "Run" else _decode_runtime(document)

    @staticmethod
    def _require_version(obj: Run | Runtime) -> None:
        if not obj.metadata.resource_version:
            raise Invalid("metadata.resourceVersion: required for an update")

    async def _list(
        self, path: str, query: Mapping[str, str], decode: Callable[[dict[str, Any]], Any]
    ) -> Listing[Any]:
        def fetch() -> Listing[Any]:
            document = self.api.request_sync("GET", path, query)
            items = (decode(item) for item in document.get("items", ()))
            return Listing(
                tuple(i for i in items if i is not None), document["metadata"]["resourceVersion"]
            )

        return await trio.to_thread.run_sync(fetch)

    @asynccontextmanager
    async def _watch(
        self,
        path: str,
        query: Mapping[str, str],
        resource_version: str,
        decode: Callable[[dict[str, Any]], T | None],
    ) -> AsyncIterator[AsyncIterator[WatchEvent[T]]]:
        send, receive = trio.open_memory_channel[WatchEvent[T] | StoreError](self.watch_buffer)
        raised: BaseException | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, path, query, resource_version, decode, send)
            try:
                yield _Events(receive)
            except BaseException as error:  # re-raised below, not wrapped in an ExceptionGroup
                raised = error
            finally:
                nursery.cancel_scope.cancel()
        if raised is not None:
            raise raised

    async def _pump(
        self,
        path: str,
        query: Mapping[str, str],
        resource_version: str,
        decode: Callable[[dict[str, Any]], T | None],
        send: trio.MemorySendChannel[WatchEvent[T] | StoreError],
    ) -> None:
        """Stream after stream from the last version seen, into `send`, until cancelled."""
        version = resource_version
        failure: StoreError | None = None

        def on_line(line: dict[str, Any]) -> bool:
            nonlocal version, failure
            event = _event(line, decode)
            if isinstance(event, StoreError):
                failure = event
                return False
            if event is None:
                return True
            version = event.resource_version
            try:
                trio.from_thread.run_sync(send.send_nowait, event)
            except trio.WouldBlock:
                failure = Gone(f"watch on {path} fell {self.watch_buffer} events behind; re-list")
                return False
            return True

        while failure is None:
            params: dict[str, str] = {
                **query,
                "watch": "1",
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": str(WATCH_SECONDS),
            }
            opened: list[Any] = []

            def run_stream(params: Mapping[str, str] = params, opened: list[Any] = opened) -> None:
                response = self.api.open_stream(path, params)
                opened.append(response)
                try:
                    stream_lines(response, on_line)
                finally:
                    response.release_conn()

            try:
                await trio.to_thread.run_sync(run_stream, abandon_on_cancel=True)
            except trio.Cancelled:
                if opened:
                    opened[0].shutdown()  # unblocks the abandoned thread's read
                raise
            except Unavailable:
                continue  # the api client already backed off for a minute; try again
            except StoreError as error:
                failure = error
            except Exception as error:  # the stream broke mid-read (server restart): resume
                if not opened:
                    failure = Unavailable(f"watch on {path}: {error}")
        await send.send(failure)


def _event(
    line: dict[str, Any], decode: Callable[[dict[str, Any]], T | None]
) -> WatchEvent[T] | StoreError | None:
    """One watch line as an event, an error to raise, or None to skip (not ours)."""
    kind = line.get("type")
    obj = line.get("object") or {}
    if kind == "ERROR":
        code = int(obj.get("code", 500))
        return error_for(code, str(obj.get("message", "")), "WATCH", "")
    version = str(obj.get("metadata", {}).get("resourceVersion", ""))
    if kind == "BOOKMARK":
        return WatchEvent(EventType.BOOKMARK, None, version)
    decoded = decode(obj)
    if decoded is None:
        return None
    return WatchEvent(EventType(str(kind)), decoded, version)


class _Events(AsyncIterator[WatchEvent[T]]):
    """The consumer's side of a watch: events in order, then the error that ended it."""

    def __init__(self, receive: trio.MemoryReceiveChannel[WatchEvent[T] | StoreError]) -> None:
        self._receive: trio.MemoryReceiveChannel[WatchEvent[T] | StoreError] = receive

    async def __anext__(self) -> WatchEvent[T]:
        try:
            item = await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        if isinstance(item, StoreError):
            raise item
        return item
