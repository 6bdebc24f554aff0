"""What every `krt` command shares: exit codes, what it talks to, and errors as one line.

A command talks to the embedded engine of a state directory, or, with the
global `--kubeconfig`/`--context` (`Cluster`), to a Kubernetes cluster's
apiserver. User errors (invalid manifests, unknown Runs, no engine, ...)
become a `Failure`: one `error: ...` line per problem on stderr and a
documented exit code (docs/cli.md), never a traceback.
"""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import Awaitable, Callable
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

import click
import trio
from attrs import define, field, frozen

from kruntimes.client import (
    STATE_DIR_ENV,
    AsyncClient,
    BatchError,
    KubeconfigError,
    LogsUnavailable,
    resolve_state_dir,
)
from kruntimes.codec import ValidationError
from kruntimes.model import Phase
from kruntimes.store import Invalid, NotFound, StoreError, Unavailable

T = TypeVar("T")


KUBE_GIVE_UP_AFTER = 10.0
"""Seconds `krt` retries an unreachable apiserver before exit 69 (enough for a restart)."""


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


KUBECONFIG_ENV = "KRUNTIMES_KUBECONFIG"
"""Selects cluster mode; plain `KUBECONFIG` deliberately does not (docs/cli.md)."""
CONTEXT_ENV = "KRUNTIMES_CONTEXT"
DEFAULT_NAMESPACE = "default"


@frozen
class Cluster:
    """Cluster mode: the global `--kubeconfig` and `--context` (at least one is set)."""

    kubeconfig: Path | None
    context: str | None

    def describe(self) -> str:
        where = f"kubeconfig {self.kubeconfig}" if self.kubeconfig else "the default kubeconfig"
        return where + (f", context {self.context}" if self.context else "")


@define
class Target:
    """What a command talks to: an engine's state dir, or a `cluster`; and a namespace.

    `namespace` is the one given (`-n`, `$KRUNTIMES_NAMESPACE`), else `default`
    for the engine and the kubeconfig context's namespace for a cluster.
    """

    state_dir: Path
    given_namespace: str | None = None
    cluster: Cluster | None = None
    _kube: AsyncClient | None = field(default=None, init=False, repr=False)

    @property
    def socket(self) -> Path:
        return self.state_dir / "engine.sock"

    @property
    def namespace(self) -> str:
        if self.given_namespace is not None:
            return self.given_namespace
        if self.cluster is None:
            return DEFAULT_NAMESPACE
        return self._cluster_client().namespace

    def client(self) -> AsyncClient:
        if self.cluster is not None:
            return self._cluster_client()
        return AsyncClient.connect(self.state_dir, namespace=self.namespace)

    def _cluster_client(self) -> AsyncClient:
        """One client per command: reading the kubeconfig once gives the namespace too."""
        if self._kube is None:
            assert self.cluster is not None
            self._kube = AsyncClient.connect_kubernetes(
                self.cluster.kubeconfig,
                context=self.cluster.context,
                namespace=self.given_namespace,
                give_up_after=KUBE_GIVE_UP_AFTER,
            )
        return self._kube

    def refuse_in_cluster_mode(self, what: str) -> None:
        """`krt up`/`down` manage the embedded engine only: a usage error with a cluster."""
        if self.cluster is not None:
            raise Failure(
                f"{what} the embedded engine only; with --kubeconfig/--context "
                f"(or ${KUBECONFIG_ENV}) kruntimes runs in the cluster, installed with Helm "
                "(docs/installation.md)",
                Exit.USAGE,
            )


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
        envvar="KRUNTIMES_NAMESPACE",
        help="Namespace of the Runs [env KRUNTIMES_NAMESPACE; default: default, or "
        "the kubeconfig context's namespace with --kubeconfig/--context].",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, state_dir: Path | None, namespace: str | None, **kwargs: Any) -> T:
        cluster = click.get_current_context().find_object(Cluster)
        target = Target(resolve_state_dir(state_dir), namespace or None, cluster)
        return command(*args, target=target, **kwargs)

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
    if isinstance(exc, KubeconfigError):
        return [str(exc)], Exit.USAGE
    if isinstance(exc, LogsUnavailable):
        return [str(exc)], Exit.UNAVAILABLE
    if isinstance(exc, Unavailable):
        if target is not None and target.cluster is not None:
            return [no_apiserver(target.cluster, exc)], Exit.UNAVAILABLE
        if target is not None and not engine_answers(target.socket):
            return [no_engine(target.socket)], Exit.UNAVAILABLE
        return [str(exc)], Exit.UNAVAILABLE
    if isinstance(exc, NotFound):
        if target is not None and target.cluster is not None:
            return cluster_not_found(target.cluster, exc)
        return [str(exc)], Exit.NOT_FOUND
    if isinstance(exc, Invalid):
        return [str(exc)], Exit.INVALID
    if isinstance(exc, StoreError):
        return [f"{type(exc).__name__}: {exc}"], Exit.REJECTED
    return None


def no_engine(path: Path) -> str:
    return f"no kruntimes engine at {path}; start one with: krt up --detach"


_KUBE_NOT_FOUND = re.compile(
    r"/namespaces/([^/]+)/(runs|runtimes|runqueues)/([^/:?\s]+): .*\bnot found$"
)
_KINDS = {"runs": "Run", "runtimes": "Runtime", "runqueues": "RunQueue"}
_NO_RESOURCE = ("page not found", "could not find the requested resource")


def cluster_not_found(cluster: Cluster, exc: NotFound) -> tuple[list[str], Exit]:
    """The embedded engine's line for a missing Run, Runtime or RunQueue; missing CRDs are no
    engine."""
    text = str(exc)
    if any(phrase in text for phrase in _NO_RESOURCE):
        line = (
            f"the kruntimes CRDs are not installed in the cluster of {cluster.describe()} "
            "(docs/installation.md)"
        )
        return [line], Exit.UNAVAILABLE
    found = _KUBE_NOT_FOUND.search(text)
    if found is None:
        return [text], Exit.NOT_FOUND
    return [f"{_KINDS[found[2]]} {found[1]}/{found[3]} not found"], Exit.NOT_FOUND


def no_apiserver(cluster: Cluster, exc: Unavailable) -> str:
    """One line for an apiserver that does not answer: where, and the bottom of the error."""
    text = str(exc)
    host = re.search(r"host='([^']+)', port=(\d+)", text)
    at = f" at {host[1]}:{host[2]}" if host else ""
    errno = re.search(r"\[Errno -?\d+\] ([^\"')]+)", text)
    why = errno[1].strip() if errno else text
    return f"no Kubernetes apiserver answers{at} ({cluster.describe()}): {why}"


def engine_answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True
