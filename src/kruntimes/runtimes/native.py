"""The agent's client for the native protocol: one Unix socket, replies matched by `seq`, pushes.

Completion is pushed (`finished` events), so `wait` costs no round trip
when the execution was started through this client; output arrives as
`log` events for the optional `LogSink`. The reader runs as a trio system
task, so the client needs no nursery from its caller and works as a plain
`RuntimeClient`: it connects on first use, or explicitly with `connect()`
or `async with`.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

import trio

from kruntimes.framing import FrameDecoder, FrameError, encode_frame
from kruntimes.runtimes.api import (
    ExecuteRequest,
    ExecutionStatus,
    LogChunk,
    LogSink,
    RuntimeError_,
)
from kruntimes.runtimes.wire import WireError, request_to_wire, status_from_wire

log = logging.getLogger(__name__)

RECV_BYTES = 256 * 1024


class _Pending:
    """Someone waiting for a reply or a final status; `value` None means the connection was lost."""

    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: Any = None


class NativeRuntimeClient:
    """`RuntimeClient` for the built-in servers (`docs/runtime-protocol.md`)."""

    pushes_completion = True

    def __init__(self, socket_path: str, *, log_sink: LogSink | None = None) -> None:
        self.socket_path = socket_path
        self.log_sink = log_sink
        self.server_info: dict[str, Any] = {}
        """The server's `hello` reply: protocol version, kind, capacity."""
        self._stream: trio.SocketStream | None = None
        self._connect_lock = trio.Lock()
        self._send_lock = trio.StrictFIFOLock()
        self._seq = itertools.count(1)
        self._calls: dict[int, _Pending] = {}
        self._waiters: dict[str, list[_Pending]] = {}
        self._finished: dict[str, ExecutionStatus] = {}
        self._watched: set[str] = set()
        self._self_forgetting: set[str] = set()
        """Started through this connection: their `finished` event is sure to come."""
        self._lost = ""

    # -- connection ---------------------------------------------------------

    async def connect(self) -> NativeRuntimeClient:
        """Connect and subscribe to events; a no-op when connected."""
        async with self._connect_lock:
            if self._lost:
                raise RuntimeError_(self._lost)
            if self._stream is None:
                try:
                    stream = await trio.open_unix_socket(self.socket_path)
                except OSError as exc:
                    raise RuntimeError_(f"cannot connect to {self.socket_path}: {exc}") from exc
                self._stream = stream
                trio.lowlevel.spawn_system_task(self._read_loop, stream)
                self.server_info = await self._call({"op": "hello", "events": True})
        return self

    async def __aenter__(self) -> NativeRuntimeClient:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
        self._lose("client closed")

    # -- RuntimeClient ------------------------------------------------------

    async def execute(self, request: ExecuteRequest) -> None:
        self._watched.add(request.id)
        if request.forget_on_finish:
            self._self_forgetting.add(request.id)
        try:
            reply = await self._call({"op": "execute", "request": request_to_wire(request)})
        except BaseException:
            self._watched.discard(request.id)
            raise
        status = status_from_wire(reply["status"])
        if status.state.is_final:
            self._watched.discard(request.id)
            self._finished.setdefault(request.id, status)

    async def wait(self, id: str) -> ExecutionStatus:
        if id in self._finished:
            return self._finished.pop(id)
        pending = _Pending()
        self._waiters.setdefault(id, []).append(pending)
        try:
            if id not in self._watched:
                status = await self.status(id)
                if status.state.is_final:
                    return status
            await pending.event.wait()
        finally:
            waiters = self._waiters.get(id, [])
            if pending in waiters:
                waiters.remove(pending)
            if not waiters:
                self._waiters.pop(id, None)
        if pending.value is None:
            raise RuntimeError_(self._lost or "connection lost")
        self._finished.pop(id, None)
        return cast(ExecutionStatus, pending.value)

    async def status(self, id: str) -> ExecutionStatus:
        return status_from_wire((await self._call({"op": "status", "id": id}))["status"])

    async def cancel(self, id: str) -> None:
        await self._call({"op": "cancel", "id": id})

    async def forget(self, id: str) -> None:
        if id in self._self_forgetting:
            self._self_forgetting.discard(id)  # the server dropped it when it pushed `finished`
        else:
            await self._call({"op": "forget", "id": id})
        self._finished.pop(id, None)
        self._watched.discard(id)

    async def list(self) -> list[ExecutionStatus]:
        reply = await self._call({"op": "list"})
        return [status_from_wire(entry) for entry in reply["executions"]]

    async def health(self) -> tuple[bool, str]:
        reply = await self._call({"op": "health"})
        return bool(reply["healthy"]), str(reply["message"])

    # -- plumbing -----------------------------------------------------------

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._stream is None:
            await self.connect()
        stream = self._stream
        if self._lost or stream is None:
            raise RuntimeError_(self._lost or "not connected")
        seq = next(self._seq)
        message["seq"] = seq
        pending = self._calls[seq] = _Pending()
        try:
            with trio.CancelScope(shield=True):  # a half-sent frame would break the stream
                async with self._send_lock:
                    await stream.send_all(encode_frame(message))
            await pending.event.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise RuntimeError_(self._lost or f"connection lost: {exc}") from exc
        finally:
            self._calls.pop(seq, None)
        reply: dict[str, Any] | None = pending.value
        if reply is None:
            raise RuntimeError_(self._lost or "connection lost")
        if not reply.get("ok"):
            raise RuntimeError_(str(reply.get("error", "request failed")))
        return reply

    async def _read_loop(self, stream: trio.SocketStream) -> None:
        decoder = FrameDecoder()
        reason = "connection closed by the runtime server"
        try:
            while True:
                data = await stream.receive_some(RECV_BYTES)
                if not data:
                    break
                for message in decoder.feed(data):
                    await self._dispatch(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            reason = f"connection lost: {exc}"
        except (FrameError, WireError, KeyError, TypeError, ValueError) as exc:
            reason = f"protocol error from the runtime server: {exc!r}"
            await stream.aclose()
        finally:
            self._lose(reason)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        seq = message.get("seq")
        if seq is not None:
            call = self._calls.get(seq)
            if call is not None:
                call.value = message
                call.event.set()
            return
        event = message.get("event")
        if event == "finished":
            status = status_from_wire(message.get("status"))
            self._watched.discard(status.id)
            waiters = self._waiters.get(status.id)
            if waiters:
                for waiter in waiters:
                    waiter.value = status
                    waiter.event.set()
            else:
                self._finished[status.id] = status
        elif event == "log" and self.log_sink is not None:
            chunk = LogChunk(
                id=str(message["id"]),
                stream=str(message["stream"]),
                data=base64.b64decode(message["data"]),
            )
            try:
                await self.log_sink(chunk)
            except Exception:
                log.exception("log sink failed; chunk of %s dropped", chunk.id)

    def _lose(self, reason: str) -> None:
        """Fail every call and waiter: the agent reconnects with a new client and lists."""
        if self._lost:
            return
        self._lost = reason
        for pending in [*self._calls.values(), *itertools.chain(*self._waiters.values())]:
            pending.event.set()


async def connect_when_listening(
    socket_path: str, sink: LogSink | None, *, gone: Callable[[], str | None] = lambda: None
) -> NativeRuntimeClient:
    """Connect to a server that is starting, waiting for it to listen on `socket_path`.

    `gone()` says why the server can no longer come (it died), or None; bound the
    wait with a cancel scope.
    """
    delay = 0.002
    while True:
        why = gone()
        if why is not None:
            raise RuntimeError_(why)
        if os.path.exists(socket_path):
            with contextlib.suppress(RuntimeError_):
                return await NativeRuntimeClient(socket_path, log_sink=sink).connect()
        await trio.sleep(delay)
        delay = min(delay * 2, 0.1)
