"""What every built-in Runtime Server shares: executions, the native protocol's ops and events.

A subclass only knows how to start an execution on a free slot and how to
signal it; this base owns the bookkeeping that the protocol promises
(duplicate ids, idempotent cancel, forget rules, timeouts with TERM then
KILL, bounded tails, coalesced log events) so both servers keep it alike.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import functools
import os
import signal
import socket
import traceback
from typing import Any

from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, ExecutionStatus
from kruntimes.runtimes.loop import Connection, EventLoop, Timer
from kruntimes.runtimes.output import (
    DEFAULT_TAIL_BYTES,
    LOG_FLUSH_BYTES,
    LOG_FLUSH_SECONDS,
    StreamCapture,
)
from kruntimes.runtimes.process import EXIT_CANNOT_RUN, signal_name
from kruntimes.runtimes.wire import PROTOCOL_VERSION, WireError, request_from_wire, status_to_wire

DEFAULT_KILL_GRACE_SECONDS = 2.0
_UNIX_PATH_MAX = 107


class Execution:
    """The server's record of one execution id; kept until the agent forgets it."""

    def __init__(self, request: ExecuteRequest, tail_bytes: int) -> None:
        self.request = request
        self.state = ExecutionState.PENDING
        self.exit_code = 0
        self.error_message = ""
        self.result: str | None = None
        self.stdout = StreamCapture(tail_bytes)
        self.stderr = StreamCapture(tail_bytes)
        self.kill_reason = ""
        self.timers: list[Timer] = []
        self.flush_timer: Timer | None = None
        self.queued = False
        """Reported PENDING by `execute`: its start is then pushed as a `started` event."""

    def status(self) -> ExecutionStatus:
        return ExecutionStatus(
            id=self.request.id,
            state=self.state,
            exit_code=self.exit_code,
            stdout=self.stdout.text(),
            stderr=self.stderr.text(),
            error_message=self.error_message,
            result=self.result,
        )


class RuntimeServer:
    """The shared server; subclasses implement `has_free_slot`, `start` and `signal`."""

    kind = "runtime"

    def __init__(
        self,
        socket_path: str,
        *,
        capacity: int,
        kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
        tail_bytes: int = DEFAULT_TAIL_BYTES,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if len(os.fsencode(socket_path)) > _UNIX_PATH_MAX:
            raise ValueError(f"socket path longer than {_UNIX_PATH_MAX} bytes: {socket_path}")
        self.socket_path = socket_path
        self.capacity = capacity
        self.kill_grace_seconds = kill_grace_seconds
        self.tail_bytes = tail_bytes
        self.loop = EventLoop()
        self.executions: dict[str, Execution] = {}
        self.pending: collections.deque[Execution] = collections.deque()
        self.connections: set[Connection] = set()
        self._listener: socket.socket | None = None
        self._starting = False

    # -- subclass interface -------------------------------------------------

    def has_free_slot(self) -> bool:
        raise NotImplementedError

    def start(self, execution: Execution) -> None:
        """Start `execution` on a free slot; call `finish` at once if it cannot run."""
        raise NotImplementedError

    def signal(self, execution: Execution, sig: int) -> None:
        """Send `sig` to everything the running `execution` started."""
        raise NotImplementedError

    def health(self) -> tuple[bool, str]:
        running = sum(1 for e in self.executions.values() if e.state is ExecutionState.RUNNING)
        return True, f"{self.kind}: {running} running, {len(self.pending)} pending"

    def shutdown(self) -> None:
        """Kill what is running before the server exits."""
        for execution in self.executions.values():
            if execution.state is ExecutionState.RUNNING:
                self.signal(execution, signal.SIGKILL)

    # -- serving ------------------------------------------------------------

    def serve(self, ready_fd: int | None = None) -> None:
        """Listen on the socket and run until SIGTERM or SIGINT."""
        self._listen()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        self.loop.add_reader(wake_r.fileno(), self.loop.stop)
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
        try:
            self.loop.run()
        finally:
            self.shutdown()
            if self._listener is not None:
                self._listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)

    def _listen(self) -> None:
        """Bind under a temporary name and rename, so the path appears only once it accepts."""
        temporary = f"{self.socket_path}.{os.getpid()}.tmp"
        for path in (temporary, self.socket_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(temporary)
        listener.listen(16)
        os.rename(temporary, self.socket_path)
        listener.setblocking(False)
        self._listener = listener
        self.loop.add_reader(listener.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn = Connection(self.loop, sock, self._on_message, self.connections.discard)
        self.connections.add(conn)

    # -- requests -----------------------------------------------------------

    def _on_message(self, conn: Connection, message: dict[str, Any]) -> None:
        seq = message.get("seq")
        op = message.get("op")
        handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
        try:
            if handler is None:
                raise WireError(f"unknown op {op!r}")
            reply = handler(conn, message)
        except (WireError, ExecutionError) as exc:
            conn.send({"seq": seq, "ok": False, "error": str(exc)})
            return
        except Exception as exc:  # a bug must cost one request, not every execution
            traceback.print_exc()
            conn.send({"seq": seq, "ok": False, "error": f"internal error: {exc!r}"})
            return
        reply["seq"] = seq
        reply["ok"] = True
        conn.send(reply)

    def _op_hello(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        conn.wants_events = bool(message.get("events", True))
        return {"protocol": PROTOCOL_VERSION, "server": self.kind, "capacity": self.capacity}

    def _op_execute(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        request = request_from_wire(message.get("request"))
        execution = self.executions.get(request.id)
        if execution is None:
            execution = self.executions[request.id] = Execution(request, self.tail_bytes)
            self.pending.append(execution)
            self._start_pending()
            execution.queued = execution.state is ExecutionState.PENDING
        return {"status": status_to_wire(execution.status())}

    def _op_status(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        return {"status": status_to_wire(self._get(message).status())}

    def _op_list(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        return {"executions": [status_to_wire(e.status()) for e in self.executions.values()]}

    def _op_cancel(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        execution = self.executions.get(_id_of(message))
        if execution is not None:
            self.kill(execution, "Cancelled: cancel requested")
        return {}

    def _op_forget(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        execution_id = _id_of(message)
        execution = self.executions.get(execution_id)
        if execution is not None:
            if not execution.state.is_final:
                raise ExecutionError(
                    f"execution {execution_id!r} is still running: cancel it first"
                )
            del self.executions[execution_id]
        return {}

    def _op_health(self, conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        healthy, text = self.health()
        return {"healthy": healthy, "message": text}

    def _get(self, message: dict[str, Any]) -> Execution:
        execution_id = _id_of(message)
        try:
            return self.executions[execution_id]
        except KeyError:
            raise ExecutionError(f"unknown execution id {execution_id!r}") from None

    # -- execution lifecycle (called by subclasses) -------------------------

    def _start_pending(self) -> None:
        if self._starting:
            return
        self._starting = True
        try:
            self._start_while_free()
        finally:
            self._starting = False

    def _start_while_free(self) -> None:
        """Starting may finish an execution at once (bad command); the loop then goes on."""
        while self.pending and self.has_free_slot():
            execution = self.pending.popleft()
            execution.state = ExecutionState.RUNNING
            timeout = execution.request.timeout_seconds
            if timeout > 0:
                reason = f"Timeout: exceeded {timeout} s"
                kill = functools.partial(self.kill, execution, reason)
                execution.timers.append(self.loop.call_later(timeout, kill))
            if execution.queued:
                self._broadcast({"event": "started", "id": execution.request.id})
            try:
                self.start(execution)
            except OSError as exc:  # out of fds or processes: this execution fails, not the server
                self.finish(execution, EXIT_CANNOT_RUN, f"cannot start: {exc}")

    def kill(self, execution: Execution, reason: str) -> None:
        """TERM now and KILL after the grace period; idempotent, a final execution is left alone."""
        if execution.state.is_final or execution.kill_reason:
            return
        execution.kill_reason = reason
        if execution.state is ExecutionState.PENDING:
            self.pending.remove(execution)
            self.finish(execution, -1, f"{reason} (before it started)")
            return
        self.signal(execution, signal.SIGTERM)
        execution.timers.append(
            self.loop.call_later(self.kill_grace_seconds, lambda: self._kill_hard(execution))
        )

    def _kill_hard(self, execution: Execution) -> None:
        if not execution.state.is_final:
            self.signal(execution, signal.SIGKILL)

    def output(self, execution: Execution, stream: str, data: bytes) -> None:
        """Bytes the execution wrote to `stream`; logged only when an agent listens for events."""
        capture = execution.stdout if stream == "stdout" else execution.stderr
        capture.add(data, for_log=self._has_listener())
        if len(capture.pending) >= LOG_FLUSH_BYTES:
            self._flush_logs(execution)
        elif capture.pending and execution.flush_timer is None:
            execution.flush_timer = self.loop.call_later(
                LOG_FLUSH_SECONDS, lambda: self._flush_logs(execution)
            )

    def _flush_logs(self, execution: Execution) -> None:
        if execution.flush_timer is not None:
            execution.flush_timer.cancel()
            execution.flush_timer = None
        for stream, capture in (("stdout", execution.stdout), ("stderr", execution.stderr)):
            if capture.pending:
                data = base64.b64encode(capture.take_pending()).decode("ascii")
                self._broadcast(
                    {"event": "log", "id": execution.request.id, "stream": stream, "data": data}
                )

    def finish(
        self,
        execution: Execution,
        exit_code: int,
        error_message: str,
        result: str | None = None,
        *,
        killed_by: int = 0,
    ) -> None:
        """Make `execution` final, tell the agent, and start what waits for the freed slot."""
        if execution.kill_reason and execution.state is ExecutionState.RUNNING:
            how = f"killed by {signal_name(killed_by)}" if killed_by else f"exit code {exit_code}"
            error_message = f"{execution.kill_reason} ({how})"
        failed = exit_code != 0 or bool(error_message)
        execution.state = ExecutionState.FAILED if failed else ExecutionState.SUCCEEDED
        execution.exit_code = exit_code
        execution.error_message = error_message
        execution.result = result
        for timer in execution.timers:
            timer.cancel()
        execution.timers.clear()
        self._flush_logs(execution)
        self._broadcast({"event": "finished", "status": status_to_wire(execution.status())})
        if execution.request.forget_on_finish and self._has_listener():
            self.executions.pop(execution.request.id, None)
        self._start_pending()

    def _has_listener(self) -> bool:
        return any(conn.wants_events for conn in self.connections)

    def _broadcast(self, event: dict[str, Any]) -> None:
        for conn in self.connections:
            if conn.wants_events:
                conn.send(event)


class ExecutionError(Exception):
    """An op that is well-formed but not allowed now (unknown id, forget while running)."""


def _id_of(message: dict[str, Any]) -> str:
    execution_id = message.get("id")
    if not isinstance(execution_id, str) or not execution_id:
        raise WireError("id must be a non-empty string")
    return execution_id
