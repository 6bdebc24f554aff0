"""What every `krt` command shares: exit codes, where the engine is, and errors as one line.

User errors (invalid manifests, unknown Runs, no engine, ...) become a
`Failure`: one `error: ...` line per problem on stderr and a documented exit
code (docs/cli.md), never a traceback.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

import click
import trio
from attrs import frozen

from kruntimes.client import STATE_DIR_ENV, AsyncClient, BatchError, resolve_state_dir
from kruntimes.codec import ValidationError
from kruntimes.model import Phase
from kruntimes.store import Invalid, NotFound, StoreError, Unavailable

T = TypeVar("T")


class Exit(IntEnum):
    """`krt`'s exit codes; scripts may rely on them (docs/cli.md)."""

    OK = 0
    FAILED = 1
    """`--wait`: the Run Failed."""
    USAGE = 2
    NOT_FOUND = 3
    REJECTED = 4
    """The engine refused: already exists, conflict, already running."""
    INVALID = 65
    """An invalid manifest or Run (sysexits EX_DATAERR)."""
    UNAVAILABLE = 69
    """No engine answers (sysexits EX_UNAVAILABLE)."""
    INTERNAL = 70
    """A bug in krt or the engine (sysexits EX_SOFTWARE)."""
    TIMEOUT = 124
    """`--wait`: the Run timed out (as `timeout(1)` exits)."""
    CANCELLED = 130
    """`--wait`: the Run was cancelled; or krt was interrupted (128 + SIGINT)."""


PHASE_EXIT = {
    Phase.SUCCEEDED: Exit.OK,
    Phase.FAILED: Exit.FAILED,
    Phase.TIMEOUT: Exit.TIMEOUT,
    Phase.CANCELLED: Exit.CANCELLED,
}


class Failure(Exception):
    """A user error: `krt` prints `error: <line>` for each line of the message, exits `code`."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def show(self) -> None:
        for line in self.message.splitlines() or [""]:
            click.echo(f"error: {line}", err=True)


@frozen
class Target:
    """Which engine and namespace a command talks to."""

    state_dir: Path
    namespace: str

    @property
    def socket(self) -> Path:
        return self.state_dir / "engine.sock"

    def client(self) -> AsyncClient:
        return AsyncClient.connect(self.state_dir, namespace=self.namespace)


def target_options(command: Callable[..., T]) -> Callable[..., T]:
    """`--state-dir` and `-n/--namespace`, handed to the command as `target`."""

    @click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=STATE_DIR_ENV,
        help=f"The engine's state directory [env {STATE_DIR_ENV}; default: the user state dir].",
    )
    @click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        envvar="KRUNTIMES_NAMESPACE",
        help="Namespace of the Runs [env KRUNTIMES_NAMESPACE].",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, state_dir: Path | None, namespace: str, **kwargs: Any) -> T:
        return command(*args, target=Target(resolve_state_dir(state_dir), namespace), **kwargs)

    return wrapper


def with_client(target: Target, work: Callable[[AsyncClient], Awaitable[T]]) -> T:
    """Run `work` with a client of the target engine; its errors become `Failure`s."""

    async def main() -> T:
        async with target.client() as client:
            return await work(client)

    try:
        return trio.run(main)
    except Exception as exc:
        raise failure(exc, target) from None


def failure(exc: BaseException, target: Target | None = None) -> BaseException:
    """The `Failure` a user should see for `exc`, or `exc` itself when it is a bug."""
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return failure(exc.exceptions[0], target)
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, BatchError):
        lines, codes = [], []
        for i, error in exc.errors:
            found = explain(error, target)
            if found is None:
                return error
            lines += [f"item {i}: {line}" for line in found[0]]
            codes.append(found[1])
        return Failure("\n".join(lines), codes[0])
    found = explain(exc, target)
    return exc if found is None else Failure("\n".join(found[0]), found[1])


def explain(exc: BaseException, target: Target | None) -> tuple[list[str], Exit] | None:
    """The lines and exit code for an expected error; None for anything else."""
    if isinstance(exc, ValidationError):
        return [str(e) for e in exc.errors], Exit.INVALID
    if isinstance(exc, Unavailable):
        if target is not None and not engine_answers(target.socket):
            return [no_engine(target.socket)], Exit.UNAVAILABLE
        return [str(exc)], Exit.UNAVAILABLE
    if isinstance(exc, NotFound):
        return [str(exc)], Exit.NOT_FOUND
    if isinstance(exc, Invalid):
        return [str(exc)], Exit.INVALID
    if isinstance(exc, StoreError):
        return [f"{type(exc).__name__}: {exc}"], Exit.REJECTED
    return None


def no_engine(path: Path) -> str:
    return f"no kruntimes engine at {path}; start one with: krt up --detach"


def engine_answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True
