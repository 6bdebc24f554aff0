"""What the agent asks of a Runtime Server, whatever protocol carries it.

`RuntimeClient` is the agent's side of one Runtime Server: the native
protocol (`kruntimes.runtimes.native`) pushes completion and log chunks; the
gRPC compatibility client (`kruntimes.runtimes.grpc_compat`) speaks the Go
project's `executor.v1.Runtime` and polls `Status`. Both return the same
values, so the agent does not care which one it has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import IntEnum
from typing import Protocol

from attrs import field, frozen

from kruntimes.model.converters import strings


class ExecutionState(IntEnum):
    """The `executor.v1.ExecutionState` values (same numbers as the proto)."""

    UNSPECIFIED = 0
    PENDING = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4

    @property
    def is_final(self) -> bool:
        return self in (ExecutionState.SUCCEEDED, ExecutionState.FAILED)


@frozen
class ExecuteRequest:
    """One execution, as `executor.v1.ExecuteRequest` plus native-only extras.

    The Run's uid + attempt make `id` (`<uid>-<attempt>`), so a duplicate
    Execute after an agent restart is recognised by the server.
    """

    id: str
    args: tuple[str, ...] = field(default=(), converter=strings)
    env: Mapping[str, str] = field(factory=dict)
    timeout_seconds: int = 0
    """0: no limit (the agent enforces `spec.timeout` too)."""
    working_dir: str = ""
    entrypoint: str = ""
    handler: str = ""
    source: str | None = None
    """Inline source (`spec.source.inline`): a script for bash, a snippet or module for python."""
    input: str | None = None
    """JSON text passed to a python `module:function` handler (native protocol only)."""
    forget_on_finish: bool = False
    """Native protocol only: the server drops its record once it has pushed `finished` to a
    listening agent, which saves the agent a `Forget` round trip per Run. An agent that
    loses the event (it restarted) finds the execution unknown and retries it."""


@frozen
class ExecutionStatus:
    """`executor.v1.StatusResponse`: where one execution is, with bounded output tails."""

    id: str
    state: ExecutionState
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    error_message: str = ""
    result: str | None = None
    """JSON result of a python function Run (native protocol only)."""


@frozen
class LogChunk:
    """Output as it is produced (native protocol only): `stream` is `stdout` or `stderr`."""

    id: str
    stream: str
    data: bytes


LogSink = Callable[[LogChunk], Awaitable[None]]


class ForwardingSink:
    """A log sink that exists before its receiver does: a client is connected with it
    before the agent that owns the client (and the real sink) is built."""

    def __init__(self) -> None:
        self.target: LogSink | None = None

    async def __call__(self, chunk: LogChunk) -> None:
        if self.target is not None:
            await self.target(chunk)


class RuntimeError_(Exception):  # trailing _: `RuntimeError` is a builtin and a FailureReason
    """The Runtime Server could not be reached or answered with an error."""


class RuntimeClient(Protocol):
    """The agent's handle on one Runtime Server. All methods are trio-async."""

    pushes_completion: bool
    """True when `wait` is woken by the server (native); False when it polls (gRPC)."""

    async def execute(self, request: ExecuteRequest) -> None:
        """Start `request`. A duplicate id for a known execution is a no-op (at-least-once)."""

    async def wait(self, id: str) -> ExecutionStatus:
        """Block until the execution is final; return its status. Cancel with a cancel scope."""

    async def status(self, id: str) -> ExecutionStatus: ...

    async def cancel(self, id: str) -> None:
        """Kill the execution and its children (TERM, then KILL). Idempotent."""

    async def forget(self, id: str) -> None:
        """Drop a final execution's record; the agent calls it after writing the terminal status."""

    async def list(self) -> list[ExecutionStatus]:
        """Every execution the server knows, for restart recovery."""

    async def health(self) -> tuple[bool, str]: ...

    async def aclose(self) -> None: ...
