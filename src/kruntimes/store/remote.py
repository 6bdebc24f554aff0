"""`RemoteStore`: the `Store` port of an engine in another process, over its Unix socket.

Calls borrow a connection from a small pool (opening one when none is idle),
so concurrent tasks need no background task or lock; a watch gets a
connection of its own. A call cut off mid-way closes its connection rather
than returning it, so a late answer can never be read by the next call.
A pooled connection that the engine closed (it restarted) fails on send,
before the request reached anyone, and the call retries once on a new one.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, cast

import trio

from kruntimes.model import RUN_QUEUE_KIND, Run, RunQueue, Runtime, RuntimePod
from kruntimes.store.framing import Connection, ProtocolError, raise_error
from kruntimes.store.port import (
    EventType,
    Kind,
    Listing,
    Obj,
    T,
    Unavailable,
    WatchEvent,
)
from kruntimes.store.server import StoreServer, default_socket_path
from kruntimes.store.wire import POD, decode, encode

_LOST = (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError, OSError)


class RemoteStore:
    """A client of the `StoreServer` at `path` (default: `default_socket_path()`)."""

    def __init__(self, path: str | PathLike[str] | None = None, *, max_idle: int = 8) -> None:
        self.path = default_socket_path() if path is None else Path(path)
        self._max_idle = max_idle
        self._idle: list[Connection] = []
        self._closed = False

    async def create(self, obj: Obj) -> Obj:
        return cast(Obj, await self._object({"op": "create", "object": encode(obj)}))

    async def get_run(self, namespace: str, name: str) -> Run:
        request = {"op": "get", "kind": "Run", "namespace": namespace, "name": name}
        return cast(Run, await self._object(request))

    async def get_runtime(self, namespace: str, name: str) -> Runtime:
        request = {"op": "get", "kind": "Runtime", "namespace": namespace, "name": name}
        return cast(Runtime, await self._object(request))

    async def get_run_queue(self, namespace: str, name: str) -> RunQueue:
        request = {"op": "get", "kind": RUN_QUEUE_KIND, "namespace": namespace, "name": name}
        return cast(RunQueue, await self._object(request))

    async def list_runs(self, namespace: str | None = None) -> Listing[Run]:
        return cast(Listing[Run], await self._list("Run", namespace))

    async def list_runtimes(self, namespace: str | None = None) -> Listing[Runtime]:
        return cast(Listing[Runtime], await self._list("Runtime", namespace))

    async def list_run_queues(self, namespace: str | None = None) -> Listing[RunQueue]:
        return cast(Listing[RunQueue], await self._list(RUN_QUEUE_KIND, namespace))

    async def list_pods(self, namespace: str | None = None) -> Listing[RuntimePod]:
        return cast(Listing[RuntimePod], await self._list(POD, namespace))

    def watch_runs(self, resource_version: str, namespace: str | None = None) -> RemoteWatch[Run]:
        return RemoteWatch(self, "Run", resource_version, namespace)

    def watch_runtimes(
        self, resource_version: str, namespace: str | None = None
    ) -> RemoteWatch[Runtime]:
        return RemoteWatch(self, "Runtime", resource_version, namespace)

    def watch_run_queues(
        self, resource_version: str, namespace: str | None = None
    ) -> RemoteWatch[RunQueue]:
        return RemoteWatch(self, RUN_QUEUE_KIND, resource_version, namespace)

    def watch_pods(
        self, resource_version: str, namespace: str | None = None
    ) -> RemoteWatch[RuntimePod]:
        return RemoteWatch(self, POD, resource_version, namespace)

    async def update_status(self, obj: Obj) -> Obj:
        return cast(Obj, await self._object({"op": "update_status", "object": encode(obj)}))

    async def update_spec(self, obj: Obj) -> Obj:
        return cast(Obj, await self._object({"op": "update_spec", "object": encode(obj)}))

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        request = {"op": "delete", "kind": Kind(kind).value, "namespace": namespace, "name": name}
        await self._call(request)

    async def put_pod(self, pod: RuntimePod) -> RuntimePod:
        return cast(RuntimePod, await self._object({"op": "put_pod", "pod": encode(pod)}, POD))

    async def delete_pod(self, namespace: str, name: str) -> None:
        await self._call({"op": "delete_pod", "namespace": namespace, "name": name})

    async def heartbeat_pod(self, namespace: str, name: str, at: float) -> None:
        await self._call({"op": "heartbeat_pod", "namespace": namespace, "name": name, "at": at})

    async def aclose(self) -> None:
        """Close the idle connections; open watches end when their `async with` does."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()

    async def _connect(self) -> Connection:
        if self._closed:
            raise Unavailable("the store is closed")
        try:
            stream = await trio.open_unix_socket(str(self.path))
        except OSError as exc:
            raise Unavailable(
                f"no kruntimes engine is listening on {self.path} (start one with `krt up`): "
                f"{exc.strerror or exc}"
            ) from None
        return Connection(stream)

    async def _object(self, request: dict[str, Any], kind: str | None = None) -> Any:
        result = await self._call(request)
        if kind is None:
            kind = result.get("kind") if isinstance(result, dict) else None
        return decode(str(kind), result)

    async def _list(self, kind: str, namespace: str | None) -> Listing[Any]:
        items: list[Any] = []
        result = await self._call({"op": "list", "kind": kind, "namespace": namespace}, items)
        decoded = tuple(decode(kind, item) for item in items)
        return Listing(decoded, str(result["resourceVersion"]))

    async def _call(self, request: dict[str, Any], items: list[Any] | None = None) -> Any:
        """Send `request`, collect listed items into `items`, return the result or raise."""
        conn = await self._send(request)
        reusable = False
        try:
            while True:
                reply = await conn.receive()
                if reply is None:
                    raise Unavailable(f"the engine at {self.path} closed the connection")
                if "items" not in reply:
                    break
                if items is not None:
                    items.extend(reply["items"])
            reusable = True
        except _LOST as exc:
            raise Unavailable(f"lost the connection to the engine at {self.path}: {exc}") from None
        finally:
            if reusable and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
            else:
                await conn.aclose()
        if "error" in reply:
            raise_error(reply["error"])
        return reply.get("result")

    async def _send(self, request: dict[str, Any]) -> Connection:
        """A connection that `request` was sent on: pooled if one works, else new."""
        while self._idle:
            conn = self._idle.pop()
            try:
                await conn.send(request)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await conn.aclose()
                continue
            return conn
        conn = await self._connect()
        try:
            await conn.send(request)
        except BaseException as exc:
            await conn.aclose()
            if isinstance(exc, _LOST):
                raise Unavailable(f"lost the connection to the engine at {self.path}") from None
            raise
        return conn


class RemoteWatch(Generic[T]):
    """A watch over its own connection; the engine confirms it before `async with` returns."""

    def __init__(
        self, store: RemoteStore, kind: str, resource_version: str, namespace: str | None
    ) -> None:
        self._store = store
        self._kind = kind
        self._request = {
            "op": "watch",
            "kind": kind,
            "resourceVersion": resource_version,
            "namespace": namespace,
        }
        self._conn: Connection | None = None

    async def __aenter__(self) -> RemoteWatch[T]:
        conn = await self._store._connect()
        try:
            await conn.send(self._request)
            reply = await self._receive(conn)
            if "error" in reply:
                raise_error(reply["error"])
        except BaseException:
            await conn.aclose()
            raise
        self._conn = conn
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._conn is not None:
            await self._conn.aclose()

    def __aiter__(self) -> RemoteWatch[T]:
        return self

    async def __anext__(self) -> WatchEvent[T]:
        assert self._conn is not None, "iterate inside `async with`"
        reply = await self._receive(self._conn)
        event = reply.get("event")
        if isinstance(event, dict):
            obj = event.get("object")
            return WatchEvent(
                EventType(event["type"]),
                None if obj is None else cast(T, decode(self._kind, obj)),
                str(event["resourceVersion"]),
            )
        if "error" in reply:
            raise_error(reply["error"])
        raise StopAsyncIteration

    async def _receive(self, conn: Connection) -> dict[str, Any]:
        try:
            reply = await conn.receive()
        except _LOST as exc:
            raise Unavailable(f"lost the watch connection to {self._store.path}: {exc}") from None
        if reply is None:
            raise Unavailable(f"the engine at {self._store.path} closed the watch")
        return reply


__all__ = ["RemoteStore", "RemoteWatch", "StoreServer", "default_socket_path"]
