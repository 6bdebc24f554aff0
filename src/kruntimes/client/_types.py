"""Values the client hands back, and `run_spec`, the one way flags become a `RunSpec`."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from attrs import frozen

from kruntimes.codec import parse_duration
from kruntimes.model import (
    EnvVar,
    FunctionMode,
    RetryPolicy,
    Run,
    RunMode,
    RunQueue,
    RunSource,
    RunSpec,
    Runtime,
    TaskMode,
)

NO_INPUT: Any = object()
"""`run_spec(input=...)` default; None is a valid JSON input, so it cannot mean "none"."""


def new_run_name() -> str:
    """`run-<8 hex>`: short enough to type, random enough for a batch of thousands."""
    return f"run-{secrets.token_hex(4)}"


def seconds(value: float | str | None) -> float | None:
    """Seconds from a number or a Go duration string ("30s", "1m30s")."""
    if value is None or isinstance(value, int | float):
        return value
    return parse_duration(value)


def run_spec(
    runtime: str,
    args: Sequence[str] = (),
    *,
    source: str | None = None,
    entrypoint: str = "",
    handler: str | None = None,
    input: Any = NO_INPUT,
    env: Mapping[str, str] | None = None,
    timeout: float | str | None = None,
    retry_attempts: int | None = None,
    retry_backoff: float | str | None = None,
) -> RunSpec:
    """A `RunSpec` from the usual knobs; `ValueError` for combinations that cannot run.

    A `handler` makes a function Run whose `input` (any JSON value) travels in the
    kruntimes extension field `spec.input`; otherwise it is a task with `args`.
    """
    if handler is not None and args:
        raise ValueError("a handler takes its arguments as input, not as args")
    if input is not NO_INPUT and handler is None:
        raise ValueError("input is passed to a handler: give a handler too")
    mode = (
        RunMode(function=FunctionMode(handler=handler))
        if handler is not None
        else RunMode(task=TaskMode(entrypoint=entrypoint, args=tuple(args)))
    )
    retry = RetryPolicy()
    if retry_attempts is not None or retry_backoff is not None:
        backoff = seconds(retry_backoff)
        retry = RetryPolicy(
            max_attempts=retry_attempts if retry_attempts is not None else 1,
            backoff_seconds=backoff if backoff is not None else 1.0,
        )
    return RunSpec(
        runtime=runtime,
        mode=mode,
        source=RunSource(inline=source) if source is not None else None,
        env=tuple(EnvVar(k, v) for k, v in (env or {}).items()),
        timeout_seconds=seconds(timeout),
        retry_policy=retry,
        extra={} if input is NO_INPUT else {"input": json.dumps(input)},
    )


@frozen
class LogEntry:
    """One chunk of a Run's output, as the agent stored it."""

    time: float
    """Seconds since the epoch when the agent received the chunk."""
    stream: str
    """`stdout` or `stderr`."""
    data: str
    """The text; bytes that are not UTF-8 are kept as `\\udcXX` escapes (surrogateescape)."""
    attempt: int

    @property
    def raw(self) -> bytes:
        """The bytes exactly as the Run wrote them."""
        return self.data.encode("utf-8", "surrogateescape")


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"


@frozen
class Applied:
    """What `apply` did with one object."""

    action: Action
    object: Run | Runtime | RunQueue

    @property
    def kind(self) -> str:
        """`Run`, `Runtime` or `RunQueue`."""
        return type(self.object).__name__

    @property
    def name(self) -> str:
        return self.object.metadata.name


class BatchError(Exception):
    """Some items of a batch failed; the others went through (`done`, in input order)."""

    def __init__(self, done: Sequence[Any], errors: Sequence[tuple[int, Exception]]) -> None:
        self.done = list(done)
        self.errors = list(errors)
        total = len(self.done) + len(self.errors)
        shown = "; ".join(f"[{i}] {type(e).__name__}: {e}" for i, e in self.errors[:3])
        more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
        super().__init__(f"{len(self.errors)} of {total} failed: {shown}{more}")


class LogsUnavailable(RuntimeError):
    """The client cannot read this Run's logs: on a Kubernetes cluster they stay in the Pod
    that ran it (the message says how to read them there), or the client has no `logs_dir`."""


class KubeconfigError(ValueError):
    """`connect_kubernetes` cannot use the kubeconfig: missing, malformed, or no such context."""
