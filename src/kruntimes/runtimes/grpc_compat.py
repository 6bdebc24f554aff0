"""`RuntimeClient` for Runtime Servers that speak the Go project's `executor.v1.Runtime` gRPC.

Such a server cannot push completion, so `wait` polls `Status`: first after
`poll_initial` seconds, then doubling up to `poll_max`, which keeps short
executions quick and long ones cheap. Calls use grpcio's synchronous
channel through its future API; completion is handed to trio with
`run_sync_soon`, so no thread is parked per call.

The proto has no inline source, handler input or result: the agent writes
inline source to a file under `working_dir` and passes it as `entrypoint`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

import grpc
import trio

from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, ExecutionStatus, RuntimeError_
from kruntimes.runtimes.grpc_schema import MESSAGES, METHODS, SERVICE

DEFAULT_POLL_INITIAL_SECONDS = 0.002
DEFAULT_POLL_MAX_SECONDS = 0.1
DEFAULT_RPC_TIMEOUT_SECONDS = 30.0


def channel_target(target: str) -> str:
    """A bare socket path becomes `unix:PATH`; anything else is a gRPC target as is."""
    return f"unix:{target}" if target.startswith("/") else target


class GrpcRuntimeClient:
    pushes_completion = False

    def __init__(
        self,
        target: str,
        *,
        poll_initial: float = DEFAULT_POLL_INITIAL_SECONDS,
        poll_max: float = DEFAULT_POLL_MAX_SECONDS,
        rpc_timeout: float = DEFAULT_RPC_TIMEOUT_SECONDS,
    ) -> None:
        self.target = channel_target(target)
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.rpc_timeout = rpc_timeout
        self._channel = grpc.insecure_channel(self.target)
        self._methods: dict[str, Any] = {
            name: self._channel.unary_unary(
                f"/{SERVICE}/{name}",
                request_serializer=MESSAGES[request].SerializeToString,
                response_deserializer=MESSAGES[response].FromString,
            )
            for name, (request, response) in METHODS.items()
        }

    async def __aenter__(self) -> GrpcRuntimeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._channel.close()

    async def execute(self, request: ExecuteRequest) -> None:
        if request.source is not None or request.input is not None:
            raise RuntimeError_(
                "executor.v1 carries no inline source or input: write the source to a file "
                "in working_dir and pass it as entrypoint"
            )
        await self._call(
            "Execute",
            MESSAGES["ExecuteRequest"](
                id=request.id,
                args=list(request.args),
                env=dict(request.env),
                timeout_seconds=request.timeout_seconds,
                working_dir=request.working_dir,
                entrypoint=request.entrypoint,
                handler=request.handler,
            ),
        )

    async def wait(self, id: str) -> ExecutionStatus:
        delay = self.poll_initial
        while True:
            status = await self.status(id)
            if status.state.is_final:
                return status
            await trio.sleep(delay)
            delay = min(delay * 2, self.poll_max)

    async def status(self, id: str) -> ExecutionStatus:
        return _status(await self._call("Status", MESSAGES["StatusRequest"](id=id)))

    async def cancel(self, id: str) -> None:
        await self._call("Cancel", MESSAGES["CancelRequest"](id=id))

    async def forget(self, id: str) -> None:
        await self._call("Forget", MESSAGES["ForgetRequest"](id=id))

    async def list(self) -> list[ExecutionStatus]:
        reply = await self._call("List", MESSAGES["ListRequest"]())
        return [_status(entry) for entry in reply.entries]

    async def health(self) -> tuple[bool, str]:
        reply = await self._call("Health", MESSAGES["HealthRequest"]())
        return bool(reply.healthy), str(reply.message)

    async def _call(self, method: str, request: Any) -> Any:
        """One unary call; trio cancellation cancels the RPC."""
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        future = self._methods[method].future(request, timeout=self.rpc_timeout)
        future.add_done_callback(lambda _: _wake(token, done.set))
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        try:
            return future.result()
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            name = code.name if code is not None else "UNKNOWN"
            raise RuntimeError_(f"{SERVICE}/{method} failed: {name}: {details}") from None


def _wake(token: trio.lowlevel.TrioToken, callback: Callable[[], None]) -> None:
    """From a grpc thread (or at once, if the call already ended); the run may be over."""
    with contextlib.suppress(trio.RunFinishedError):
        token.run_sync_soon(callback)


def _status(reply: Any) -> ExecutionStatus:
    try:
        state = ExecutionState(reply.state)
    except ValueError:
        state = ExecutionState.UNSPECIFIED
    return ExecutionStatus(
        id=reply.id,
        state=state,
        exit_code=reply.exit_code,
        stdout=reply.stdout,
        stderr=reply.stderr,
        error_message=reply.error_message,
    )
