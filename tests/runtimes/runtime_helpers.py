"""Real Runtime Server processes on Unix sockets, and a way to run trio code from sync tests.

Servers report readiness on an inherited pipe (`--ready-fd`), so nothing
here sleeps to synchronise. Socket paths live in a short directory under
/tmp: a pytest tmp_path can exceed the 107-byte limit of a Unix socket path.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from kruntimes.runtimes.api import LogChunk
from kruntimes.runtimes.native import NativeRuntimeClient

STARTUP_TIMEOUT = 20.0


class ServerProcess:
    def __init__(self, socket: str, process: subprocess.Popen[bytes], root: Path) -> None:
        self.socket = socket
        self.process = process
        self.root = root
        self._dirs = 0

    def workdir(self) -> Path:
        """A fresh working directory for one execution (the agent creates these)."""
        self._dirs += 1
        path = self.root / f"w{self._dirs}"
        path.mkdir()
        return path

    def client(self, logs: list[LogChunk] | None = None) -> NativeRuntimeClient:
        async def sink(chunk: LogChunk) -> None:
            assert logs is not None
            logs.append(chunk)

        return NativeRuntimeClient(self.socket, log_sink=sink if logs is not None else None)


@contextmanager
def server_process(
    kind: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    root = Path(tempfile.mkdtemp(prefix="krt-", dir="/tmp"))
    socket = str(root / "s.sock")
    ready_r, ready_w = os.pipe()
    command = [sys.executable, "-m", f"kruntimes.runtimes.{kind}_server", "--socket", socket]
    process = subprocess.Popen(
        [*command, "--ready-fd", str(ready_w), *args],
        pass_fds=[ready_w],
        env={**os.environ, **(env or {})},
    )
    os.close(ready_w)
    try:
        readable, _, _ = select.select([ready_r], [], [], STARTUP_TIMEOUT)
        if not readable or os.read(ready_r, 16) != b"ready\n":
            code = process.wait(timeout=STARTUP_TIMEOUT) if readable else None
            raise RuntimeError(f"{kind} server did not become ready (exit {code})")
        yield ServerProcess(socket, process, root)
    finally:
        os.close(ready_r)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def run(fn: Callable[..., Awaitable[Any]], *args: Any, timeout: float = 20.0) -> Any:
    """`trio.run` with a safety-net deadline (pytest-trio does not fit this trio version)."""

    async def guarded() -> Any:
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(guarded)


def wait_for_exit(pid: int, timeout: float = 10.0) -> bool:
    """True once `pid` (any process, not only a child) has exited; a pidfd is the event."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)
