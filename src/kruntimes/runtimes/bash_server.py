"""The built-in bash Runtime Server: one process group (own session) per execution.

`python -m kruntimes.runtimes.bash_server --socket PATH [--capacity N]`

What runs (docs/runtime-protocol.md):
- inline source: `bash -c SOURCE kruntimes ARGS...` (args are `$1...`, never parsed as code);
- entrypoint: `bash ENTRYPOINT ARGS...` for `*.sh` or non-executable files, else the file is
  executed directly (its shebang decides); relative paths are taken from `working_dir`;
- neither: `ARGS` executed as argv, looked up on the Run's `PATH`.
When the main process exits, whatever it left running in its process group is killed.
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import shutil
import signal
from collections.abc import Mapping
from typing import Any, NamedTuple

from kruntimes.runtimes.api import ExecuteRequest
from kruntimes.runtimes.process import (
    EXIT_BAD_REQUEST,
    EXIT_CANNOT_RUN,
    EXIT_NOT_FOUND,
    describe_exit,
    kill_group,
    reap,
    watch_exit,
    which,
)
from kruntimes.runtimes.server_base import Execution, RuntimeServer
from kruntimes.runtimes.server_cli import add_common_arguments, common, run_server
from kruntimes.runtimes.spawn import Spawner, spawn

READ_BYTES = 64 * 1024
SPAWN_THREADS = 2
"""Processes being started at once; each waits while its child execs (see `spawn`)."""


class NotRunnable(Exception):
    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Command(NamedTuple):
    executable: str
    argv: list[str]


class _Process:
    __slots__ = ("execution", "pid", "pidfd", "pipes")

    def __init__(self, execution: Execution, pid: int, pipes: dict[int, str]) -> None:
        self.execution = execution
        self.pid = pid
        self.pidfd = watch_exit(pid)
        self.pipes = pipes
        """Open read ends -> stream name."""


def build_command(request: ExecuteRequest, bash: str, env: Mapping[str, str]) -> Command:
    """The argv for `request`, following the module docstring's rules."""
    args = list(request.args)
    if request.handler:
        raise NotRunnable(EXIT_BAD_REQUEST, "the bash runtime has no handlers; use a task")
    if request.source is not None:
        return Command(bash, [bash, "-c", request.source, "kruntimes", *args])
    if request.entrypoint:
        path = os.path.join(request.working_dir or os.getcwd(), request.entrypoint)
        if not os.path.isfile(path):
            raise NotRunnable(EXIT_NOT_FOUND, f"entrypoint not found: {request.entrypoint}")
        if path.endswith(".sh") or not os.access(path, os.X_OK):
            return Command(bash, [bash, path, *args])
        return Command(path, [path, *args])
    if not args:
        raise NotRunnable(EXIT_BAD_REQUEST, "nothing to run: no source, entrypoint or args")
    executable = which(args[0], env)
    if executable is None:
        raise NotRunnable(EXIT_NOT_FOUND, f"command not found: {args[0]}")
    return Command(executable, args)


class BashServer(RuntimeServer):
    kind = "bash"

    def __init__(self, socket_path: str, *, bash: str | None = None, **options: Any) -> None:
        super().__init__(socket_path, **options)
        found = bash or shutil.which("bash")
        if found is None:
            raise FileNotFoundError("bash not found on PATH")
        self.bash = found
        self.base_env = dict(os.environ)
        self._base_env_entries = {k: _env_entry(k, v) for k, v in self.base_env.items()}
        self.processes: dict[Execution, _Process] = {}
        self.spawning = 0
        self.spawner = Spawner(SPAWN_THREADS)

    def has_free_slot(self) -> bool:
        return len(self.processes) + self.spawning < self.capacity

    def start(self, execution: Execution) -> None:
        request = execution.request
        env = {**self.base_env, **request.env}
        try:
            if request.working_dir and not os.path.isdir(request.working_dir):
                raise NotRunnable(EXIT_NOT_FOUND, f"working_dir not found: {request.working_dir}")
            command = build_command(request, self.bash, env)
        except NotRunnable as exc:
            self.finish(execution, exc.exit_code, str(exc))
            return
        entries = dict(self._base_env_entries)
        entries.update((k, _env_entry(k, v)) for k, v in request.env.items())
        self.spawning += 1
        self.spawner.submit(
            functools.partial(self._spawn, execution, command, list(entries.values()))
        )

    def _spawn(self, execution: Execution, command: Command, env: list[bytes]) -> None:
        """On a spawner thread: start the process, then hand it to the loop's thread."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        outcome: int | OSError
        try:
            outcome = spawn(
                os.fsencode(command.executable),
                [os.fsencode(arg) for arg in command.argv],
                env,
                cwd=os.fsencode(execution.request.working_dir),
                stdout_fd=out_w,
                stderr_fd=err_w,
            )
        except OSError as exc:
            outcome = exc
        except Exception as exc:  # (bad bytes in an arg): this Run fails, the thread lives on
            outcome = OSError(errno.EINVAL, str(exc))
        finally:
            os.close(out_w)
            os.close(err_w)
        pipes = {out_r: "stdout", err_r: "stderr"}
        spawned = functools.partial(self._spawned, execution, command.argv[0], outcome, pipes)
        self.loop.call_soon_threadsafe(spawned)

    def _spawned(
        self, execution: Execution, name: str, outcome: int | OSError, pipes: dict[int, str]
    ) -> None:
        self.spawning -= 1
        if isinstance(outcome, OSError):
            for fd in pipes:
                os.close(fd)
            code = EXIT_NOT_FOUND if isinstance(outcome, FileNotFoundError) else EXIT_CANNOT_RUN
            self.finish(execution, code, f"cannot start {name}: {outcome.strerror}")
            return
        process = _Process(execution, outcome, pipes)
        self.processes[execution] = process
        for fd in pipes:
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, functools.partial(self._read, process, fd))
        self.loop.add_reader(process.pidfd, lambda: self._exited(process))
        if execution.kill_reason:  # cancelled or timed out while it was being started
            kill_group(outcome, signal.SIGTERM)

    def signal(self, execution: Execution, sig: int) -> None:
        process = self.processes.get(execution)
        if process is not None:
            kill_group(process.pid, sig)

    def shutdown(self) -> None:
        self.spawner.close()
        self.loop.run_ready()
        super().shutdown()

    def _read(self, process: _Process, fd: int) -> None:
        try:
            data = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return
        if data:
            self.output(process.execution, process.pipes[fd], data)
        else:
            self._close_pipe(process, fd)

    def _exited(self, process: _Process) -> None:
        # Leftovers are killed while the leader is an unreaped zombie, so its pid
        # (the group id) cannot have been reused by a new process yet.
        kill_group(process.pid, signal.SIGKILL)
        returncode = reap(process.pid)
        self.loop.remove_reader(process.pidfd)
        os.close(process.pidfd)
        for fd in list(process.pipes):
            self._drain(process, fd)
        del self.processes[process.execution]
        exit_code, message = describe_exit(returncode)
        self.finish(process.execution, exit_code, message, killed_by=max(0, -returncode))

    def _drain(self, process: _Process, fd: int) -> None:
        """Everything the main process wrote is in the pipe by now; a leftover may hold it open."""
        stream = process.pipes[fd]
        while True:
            try:
                data = os.read(fd, READ_BYTES)
            except BlockingIOError:
                break
            if not data:
                break
            self.output(process.execution, stream, data)
        self._close_pipe(process, fd)

    def _close_pipe(self, process: _Process, fd: int) -> None:
        self.loop.remove_reader(fd)
        os.close(fd)
        del process.pipes[fd]


def _env_entry(key: str, value: str) -> bytes:
    return os.fsencode(key) + b"=" + os.fsencode(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kruntimes.runtimes.bash_server", description=__doc__)
    add_common_arguments(parser, default_capacity=64)
    parser.add_argument("--bash", help="bash to run (default: bash on PATH)")
    options = parser.parse_args(argv)
    run_server(options, lambda: BashServer(options.socket, bash=options.bash, **common(options)))


if __name__ == "__main__":
    main()
