"""Watching and killing the processes of executions (starting them: `spawn`).

Exits are watched with pidfds in the event loop, so there is no SIGCHLD
handler and no waiting thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping

EXIT_BAD_REQUEST = 2
"""The request cannot run on this runtime (like a shell's usage error)."""
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127
"""Shell conventions for a program that cannot be executed / was not found."""


def watch_exit(pid: int) -> int:
    """A pidfd that becomes readable when `pid` exits."""
    return os.pidfd_open(pid)


def reap(pid: int) -> int:
    """The exit code of an exited child as `subprocess` reports it (negative: killed by signal)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def describe_exit(returncode: int) -> tuple[int, str]:
    """Shell-style exit code (128+signal when killed) and a message; empty message for code 0."""
    if returncode < 0:
        sig = -returncode
        return 128 + sig, f"killed by signal {signal_name(sig)}"
    if returncode:
        return returncode, f"exited with code {returncode}"
    return 0, ""


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def kill_group(pgid: int, sig: int) -> None:
    """Signal a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def which(name: str, env: Mapping[str, str]) -> str | None:
    """`name` resolved like execvp does, against the Run's PATH rather than the server's."""
    if "/" in name:
        return name
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None
