"""The built-in python Runtime Server: a pool of pre-forked warm workers, one per capacity slot.

`python -m kruntimes.runtimes.python_server --socket PATH --capacity N [--preload m1,m2]`

The server imports the `--preload` modules once, then forks the workers, so
each worker starts with them imported (a fork per Run would cost ~2 ms; an
`exec()` in a warm worker costs ~0.1 ms). A worker runs one Run at a time
(`kruntimes.runtimes.python_worker`). A worker that dies (`os._exit`, a
segfault) or is killed on timeout or cancel fails only its own Run and is
replaced by a new fork once the agent has been told.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import signal
import socket
import sys
from typing import Any

from kruntimes.runtimes.loop import Connection
from kruntimes.runtimes.process import describe_exit, kill_group, reap, watch_exit
from kruntimes.runtimes.python_worker import Worker
from kruntimes.runtimes.server_base import Execution, RuntimeServer
from kruntimes.runtimes.server_cli import add_common_arguments, common, run_server
from kruntimes.runtimes.wire import request_to_wire

READ_BYTES = 64 * 1024
RESPAWN_RETRY_SECONDS = 1.0


class _WorkerHandle:
    """The server's side of one worker process."""

    def __init__(self, pid: int, conn: Connection, pidfd: int, pipes: dict[int, str]) -> None:
        self.pid = pid
        self.conn = conn
        self.pidfd = pidfd
        self.pipes = pipes
        self.execution: Execution | None = None
        self.ready = False
        """Said so after its start-up: only then does it get Runs. One that dies before
        is respawned after a delay, so a broken pool does not fork in a tight loop."""
        self.doomed = False
        """Signalled (timeout or cancel): never given another Run, replaced once it is gone."""


class PythonServer(RuntimeServer):
    kind = "python"

    def __init__(self, socket_path: str, *, preload: tuple[str, ...] = (), **options: Any) -> None:
        super().__init__(socket_path, **options)
        for module in preload:
            importlib.import_module(module)
        self.workers: dict[int, _WorkerHandle] = {}
        self.idle: list[_WorkerHandle] = []
        self.worker_problem = ""
        """Why workers are missing; the server reports unhealthy until a new one is ready."""

    def serve(self, ready_fd: int | None = None) -> None:
        for _ in range(self.capacity):
            self._spawn_worker()
        super().serve(ready_fd)

    def has_free_slot(self) -> bool:
        return bool(self.idle)

    def start(self, execution: Execution) -> None:
        worker = self.idle.pop()
        worker.execution = execution
        worker.conn.send(request_to_wire(execution.request))

    def signal(self, execution: Execution, sig: int) -> None:
        for worker in self.workers.values():
            if worker.execution is execution:
                worker.doomed = True
                kill_group(worker.pid, sig)

    def health(self) -> tuple[bool, str]:
        healthy, message = super().health()
        message += f", {len(self.workers)}/{self.capacity} workers"
        if self.worker_problem:
            return False, f"{message}; {self.worker_problem}"
        return healthy, message

    def shutdown(self) -> None:
        for worker in self.workers.values():
            kill_group(worker.pid, signal.SIGKILL)

    # -- workers ------------------------------------------------------------

    def _spawn_worker(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            for closable in (parent_sock, child_sock):
                closable.close()
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            self.worker_problem = f"cannot fork a worker: {exc}"
            self.loop.call_later(RESPAWN_RETRY_SECONDS, self._spawn_worker)
            return
        if pid == 0:
            _become_worker(child_sock, out_w, err_w)
        child_sock.close()
        os.close(out_w)
        os.close(err_w)
        pipes = {out_r: "stdout", err_r: "stderr"}
        conn = Connection(
            self.loop,
            parent_sock,
            lambda _conn, reply: self._on_reply(worker, reply),
            lambda _conn: self._retire(worker),
        )
        worker = _WorkerHandle(pid, conn, watch_exit(pid), pipes)
        for fd in pipes:
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, functools.partial(self._read, worker, fd))
        self.loop.add_reader(worker.pidfd, lambda: self._exited(worker))
        self.workers[pid] = worker

    def _read(self, worker: _WorkerHandle, fd: int) -> None:
        """Output of a worker; what an idle worker writes (a Run's stray thread) is dropped."""
        try:
            data = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return
        if not data:
            self.loop.remove_reader(fd)
            return
        if worker.execution is not None:
            self.output(worker.execution, worker.pipes[fd], data)

    def _drain(self, worker: _WorkerHandle) -> None:
        """Output written before the worker replied (or died) is in the pipes by now."""
        execution = worker.execution
        for fd, stream in worker.pipes.items():
            while True:
                try:
                    data = os.read(fd, READ_BYTES)
                except BlockingIOError:
                    break
                if not data:
                    break
                if execution is not None:
                    self.output(execution, stream, data)

    def _on_reply(self, worker: _WorkerHandle, reply: dict[str, Any]) -> None:
        if reply.get("ready"):
            worker.ready = True
            self.worker_problem = ""
            self.idle.append(worker)
            self._start_pending()
            return
        execution = worker.execution
        if execution is None:
            return
        self._drain(worker)
        worker.execution = None
        if worker.doomed:
            kill_group(worker.pid, signal.SIGKILL)
        else:
            self.idle.append(worker)
        self.finish(
            execution,
            int(reply.get("exit_code", 1)),
            str(reply.get("error_message", "")),
            reply.get("result"),
        )

    def _retire(self, worker: _WorkerHandle) -> None:
        """Its socket closed: it is dying; give it no Run (its pidfd reports the death)."""
        worker.doomed = True
        if worker in self.idle:
            self.idle.remove(worker)

    def _exited(self, worker: _WorkerHandle) -> None:
        returncode = reap(worker.pid)
        self._drain(worker)
        self.loop.remove_reader(worker.pidfd)
        os.close(worker.pidfd)
        for fd in worker.pipes:
            if fd in self.loop.selector.get_map():
                self.loop.remove_reader(fd)
            os.close(fd)
        worker.conn.close()
        del self.workers[worker.pid]
        execution, worker.execution = worker.execution, None
        exit_code, how = describe_exit(returncode)
        if execution is not None:
            message = f"worker {how}" if how else "worker exited (code 0) before the Run returned"
            self.finish(execution, exit_code, message, killed_by=max(0, -returncode))
        if worker.ready:
            self.loop.after_flush(self._spawn_worker)
        else:  # it dies while starting up: do not fork in a tight loop
            self.worker_problem = f"a new worker {how or 'exited'} while starting"
            self.loop.call_later(RESPAWN_RETRY_SECONDS, self._spawn_worker)


def _become_worker(sock: socket.socket, stdout_fd: int, stderr_fd: int) -> None:
    """In the forked child: own session and fds only, default signals, then serve forever."""
    try:
        gc.freeze()  # the inherited heap is the pool's: collections skip it and keep pages shared
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        os.dup2(sock.fileno(), 3)
        os.closerange(4, os.sysconf("SC_OPEN_MAX"))
        worker_sock = socket.socket(fileno=3)
        sock.detach()
        Worker(worker_sock).serve()
    finally:
        os._exit(70)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kruntimes.runtimes.python_server", description=__doc__)
    add_common_arguments(parser, default_capacity=2)
    parser.add_argument(
        "--preload", default="", help="comma-separated modules imported once for every worker"
    )
    options = parser.parse_args(argv)
    preload = tuple(m.strip() for m in options.preload.split(",") if m.strip())
    run_server(options, lambda: PythonServer(options.socket, preload=preload, **common(options)))


if __name__ == "__main__":
    main()
