"""The JSON shapes of requests and statuses in the native protocol (docs/runtime-protocol.md).

Field names are the `executor.v1` proto field names, so the two protocols
read alike; states travel as their proto names (`"RUNNING"`).
"""

from __future__ import annotations

from typing import Any

from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, ExecutionStatus

PROTOCOL_VERSION = 1


class WireError(ValueError):
    """A message does not have the documented shape; the text says which field is wrong."""


def request_to_wire(request: ExecuteRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "args": list(request.args),
        "env": dict(request.env),
        "timeout_seconds": request.timeout_seconds,
        "working_dir": request.working_dir,
        "entrypoint": request.entrypoint,
        "handler": request.handler,
        "source": request.source,
        "input": request.input,
        "forget_on_finish": request.forget_on_finish,
    }


def request_from_wire(data: Any) -> ExecuteRequest:
    """Validate an untrusted request object field by field."""
    if not isinstance(data, dict):
        raise WireError("request must be an object")
    rid = data.get("id")
    if not isinstance(rid, str) or not rid:
        raise WireError("request.id must be a non-empty string")
    args = data.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise WireError("request.args must be a list of strings")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise WireError("request.env must map strings to strings")
    timeout = data.get("timeout_seconds", 0)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0:
        raise WireError("request.timeout_seconds must be a non-negative integer")
    for name in ("working_dir", "entrypoint", "handler"):
        if not isinstance(data.get(name, ""), str):
            raise WireError(f"request.{name} must be a string")
    for name in ("source", "input"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise WireError(f"request.{name} must be a string or null")
    return ExecuteRequest(
        id=rid,
        args=args,
        env=env,
        timeout_seconds=timeout,
        working_dir=data.get("working_dir", ""),
        entrypoint=data.get("entrypoint", ""),
        handler=data.get("handler", ""),
        source=data.get("source"),
        input=data.get("input"),
        forget_on_finish=data.get("forget_on_finish") is True,
    )


def status_to_wire(status: ExecutionStatus) -> dict[str, Any]:
    return {
        "id": status.id,
        "state": status.state.name,
        "exit_code": status.exit_code,
        "stdout": status.stdout,
        "stderr": status.stderr,
        "error_message": status.error_message,
        "result": status.result,
    }


def status_from_wire(data: Any) -> ExecutionStatus:
    if not isinstance(data, dict):
        raise WireError("status must be an object")
    try:
        state = ExecutionState[data["state"]]
        return ExecutionStatus(
            id=str(data["id"]),
            state=state,
            exit_code=int(data.get("exit_code", 0)),
            stdout=str(data.get("stdout", "")),
            stderr=str(data.get("stderr", "")),
            error_message=str(data.get("error_message", "")),
            result=data.get("result"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"malformed status: {exc!r}") from None
