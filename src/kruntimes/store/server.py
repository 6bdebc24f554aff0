"""`StoreServer`: the engine's store on a Unix socket, for `krt` and clients in other processes.

One request at a time per connection: `{"op": ..., ...}` answered by zero or
more `{"items": [...]}` frames (listings) and then `{"result": ...}` or
`{"error": ...}`. A `watch` request turns its connection into an event
stream (`{"event": ...}` frames, ended by `{"error": ...}` or `{"end": true}`)
that lasts until either side closes. A bad request gets an error and never
takes the server down; broken framing only drops its own connection.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, suppress
from os import PathLike
from pathlib import Path
from typing import Any

import platformdirs
import trio

from kruntimes.model import RUN_QUEUE_KIND, RuntimePod
from kruntimes.store.framing import CHUNK, Connection, ProtocolError, dumps, error_message
from kruntimes.store.port import Invalid, Kind, Listing, Store, StoreError, Unsupported, WatchEvent
from kruntimes.store.wire import API_KINDS, POD, decode, encode

log = logging.getLogger(__name__)

_Reply = tuple[Listing[Any] | None, Any]
"""(a listing to send in chunks, or None; the result)"""
_DISCONNECTED = (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError)


def default_socket_path() -> Path:
    """`<user state dir>/kruntimes/engine.sock`, next to the embedded store's file."""
    return Path(platformdirs.user_state_dir("kruntimes")) / "engine.sock"


class StoreServer:
    """Serves `store` on the Unix socket at `path` (default: `default_socket_path()`)."""

    def __init__(self, store: Store, path: str | PathLike[str] | None = None) -> None:
        self.store = store
        self.path = default_socket_path() if path is None else Path(path)

    async def serve(self, *, task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled; `nursery.start(server.serve)` returns once clients can connect.

        A socket file left by a killed engine is replaced; a live one is an error.
        """
        sock = await _bind(self.path)
        inode = self.path.stat().st_ino
        try:
            task_status.started(self.path)
            await trio.serve_listeners(self._serve_connection, [trio.SocketListener(sock)])
        finally:
            with suppress(OSError):
                if self.path.stat().st_ino == inode:
                    self.path.unlink()

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        conn = Connection(stream)
        try:
            while (request := await conn.receive()) is not None:
                if request.get("op") == "watch":
                    await self._serve_watch(conn, request)
                    return
                await self._answer(conn, request)
        except ProtocolError as exc:
            with suppress(*_DISCONNECTED):
                await conn.send(error_message(Invalid(f"protocol error: {exc}")))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("dropped a store connection after an unexpected error")
        finally:
            await conn.aclose()

    async def _answer(self, conn: Connection, request: dict[str, Any]) -> None:
        op = request.get("op")
        handler = _OPS.get(op) if isinstance(op, str) else None
        try:
            if handler is None:
                raise Unsupported(f"unknown operation {op!r}")
            listing, result = await handler(self.store, request)
        except StoreError as exc:
            await conn.send(error_message(exc))
            return
        except Exception:
            log.exception("store request %r failed", op)
            await conn.send(
                error_message(StoreError(f"internal error in {op}: see the engine log"))
            )
            return
        if listing is not None:
            await _send_items(conn, listing)
            result = {"resourceVersion": listing.resource_version}
        await conn.send({"result": result})

    async def _serve_watch(self, conn: Connection, request: Mapping[str, Any]) -> None:
        final: dict[str, Any] | None = {"end": True}
        try:
            async with _open_watch(self.store, request) as events:
                await conn.send({"result": "watching"})
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_cancel_on_hangup, conn, nursery.cancel_scope)
                    try:
                        async for event in events:
                            await conn.send({"event": _event(event)})
                    except StoreError as exc:
                        final = error_message(exc)
                    except _DISCONNECTED:
                        final = None
                    nursery.cancel_scope.cancel()
        except StoreError as exc:
            final = error_message(exc)
        if final is not None:
            await conn.send(final)


async def _send_items(conn: Connection, listing: Listing[Any]) -> None:
    chunk: list[bytes] = []
    size = 0
    for item in listing.items:
        encoded = dumps(encode(item))
        if chunk and size + len(encoded) > CHUNK:
            await conn.send_encoded(b'{"items":[' + b",".join(chunk) + b"]}")
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        await conn.send_encoded(b'{"items":[' + b",".join(chunk) + b"]}")


async def _cancel_on_hangup(conn: Connection, scope: trio.CancelScope) -> None:
    """A watching client sends nothing more: anything it does (EOF included) ends the watch."""
    with suppress(*_DISCONNECTED):
        await conn.receive()
    scope.cancel()


def _open_watch(
    store: Store, request: Mapping[str, Any]
) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent[Any]]]:
    kind, rv, namespace = (
        _text(request, "kind"),
        _text(request, "resourceVersion"),
        _namespace(request),
    )
    if kind == "Run":
        return store.watch_runs(rv, namespace)
    if kind == "Runtime":
        return store.watch_runtimes(rv, namespace)
    if kind == RUN_QUEUE_KIND:
        return store.watch_run_queues(rv, namespace)
    if kind == POD:
        return store.watch_pods(rv, namespace)
    raise Invalid(f"kind: cannot watch {kind!r}")


def _event(event: WatchEvent[Any]) -> dict[str, Any]:
    obj = None if event.object is None else encode(event.object)
    return {"type": event.type.value, "resourceVersion": event.resource_version, "object": obj}


def _text(request: Mapping[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise Invalid(f"{key}: must be a string")
    return value


def _namespace(request: Mapping[str, Any]) -> str | None:
    return None if request.get("namespace") is None else _text(request, "namespace")


def _api_object(request: Mapping[str, Any]) -> Any:
    """The Run, Runtime or RunQueue in the request (typed `Any`: the port's methods take each)."""
    document = request.get("object")
    kind = document.get("kind") if isinstance(document, Mapping) else None
    if kind not in API_KINDS:
        raise Invalid("object: must be a Run, Runtime or RunQueue wire object")
    return decode(kind, document)


def _kind(request: Mapping[str, Any]) -> Kind:
    text = _text(request, "kind")
    try:
        return Kind(text)
    except ValueError:
        raise Invalid(f"kind: must be Run, Runtime or RunQueue, got {text!r}") from None


async def _create(store: Store, r: Mapping[str, Any]) -> _Reply:
    return None, encode(await store.create(_api_object(r)))


async def _update_status(store: Store, r: Mapping[str, Any]) -> _Reply:
    return None, encode(await store.update_status(_api_object(r)))


async def _update_spec(store: Store, r: Mapping[str, Any]) -> _Reply:
    return None, encode(await store.update_spec(_api_object(r)))


async def _get(store: Store, r: Mapping[str, Any]) -> _Reply:
    kind, namespace, name = _kind(r), _text(r, "namespace"), _text(r, "name")
    if kind is Kind.RUN:
        return None, encode(await store.get_run(namespace, name))
    if kind is Kind.RUNTIME:
        return None, encode(await store.get_runtime(namespace, name))
    return None, encode(await store.get_run_queue(namespace, name))


async def _list(store: Store, r: Mapping[str, Any]) -> _Reply:
    kind, namespace = _text(r, "kind"), _namespace(r)
    if kind == "Run":
        return await store.list_runs(namespace), None
    if kind == "Runtime":
        return await store.list_runtimes(namespace), None
    if kind == RUN_QUEUE_KIND:
        return await store.list_run_queues(namespace), None
    if kind == POD:
        return await store.list_pods(namespace), None
    raise Invalid(f"kind: cannot list {kind!r}")


async def _delete(store: Store, r: Mapping[str, Any]) -> _Reply:
    await store.delete(_kind(r), _text(r, "namespace"), _text(r, "name"))
    return None, None


async def _put_pod(store: Store, r: Mapping[str, Any]) -> _Reply:
    pod = decode(POD, r.get("pod"))
    assert isinstance(pod, RuntimePod)
    return None, encode(await store.put_pod(pod))


async def _delete_pod(store: Store, r: Mapping[str, Any]) -> _Reply:
    await store.delete_pod(_text(r, "namespace"), _text(r, "name"))
    return None, None


async def _heartbeat_pod(store: Store, r: Mapping[str, Any]) -> _Reply:
    at = r.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise Invalid("at: must be a number")
    await store.heartbeat_pod(_text(r, "namespace"), _text(r, "name"), at)
    return None, None


_OPS: dict[str, Callable[[Store, Mapping[str, Any]], Awaitable[_Reply]]] = {
    "create": _create,
    "get": _get,
    "list": _list,
    "update_status": _update_status,
    "update_spec": _update_spec,
    "delete": _delete,
    "put_pod": _put_pod,
    "delete_pod": _delete_pod,
    "heartbeat_pod": _heartbeat_pod,
}


async def _bind(path: Path) -> trio.socket.SocketType:
    """A listening socket at `path`, readable and writable by this user only."""
    if len(os.fsencode(path)) > 107:
        raise StoreError(f"socket path {path} is longer than the 107 bytes Unix sockets allow")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise StoreError(f"{path} exists and is not a socket")
        try:
            await (await trio.open_unix_socket(str(path))).aclose()
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
            path.unlink(missing_ok=True)
        else:
            raise StoreError(f"another engine is already serving on {path}")
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await sock.bind(str(path))
        path.chmod(0o600)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock
