"""`krt up` and `krt down`: run the embedded engine in the foreground or in the background.

A detached engine is `krt up` itself, started in a new session with its output
in `<state dir>/engine.log`. It tells its parent it is ready through an
inherited pipe (`--ready-fd`), so the parent blocks on a read instead of
polling the socket, and learns at once (end of file) if the engine died.
Both ways write `<state dir>/engine.pid`, which `krt down` signals.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import trio

from kruntimes.cli._common import Exit, Failure, Target, engine_answers, failure, target_options
from kruntimes.engine.embedded import EmbeddedEngine, EngineConfig
from kruntimes.logs_config import configure_logging

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def pid_file(state_dir: Path) -> Path:
    return state_dir / "engine.pid"


@click.command()
@target_options
@click.option("--memory", is_flag=True, help="Keep Runs in memory only (lost on restart).")
@click.option("-d", "--detach", is_flag=True, help="Run in the background; stop with krt down.")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE and register it as a plugin (hooks, runtime kinds). Repeatable.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="The engine's log level (logs go to stderr, or to engine.log when detached).",
)
@click.option("--ready-fd", type=int, hidden=True)
def up(
    *,
    target: Target,
    memory: bool,
    detach: bool,
    plugins: tuple[str, ...],
    log_level: str,
    ready_fd: int | None,
) -> None:
    """Start the embedded engine (store, scheduler, warm bash and python pools).

    In the foreground Ctrl-C stops it cleanly; with --detach it keeps running
    after krt exits and `krt down` stops it. It serves the Runs of one namespace.
    Not with --kubeconfig/--context: kruntimes in a cluster is installed with Helm.
    """
    target.refuse_in_cluster_mode("krt up starts")
    if engine_answers(target.socket):
        raise Failure(f"a kruntimes engine is already running at {target.socket}", Exit.REJECTED)
    modules = [_import_plugin(name) for name in plugins]
    if detach:
        options = ["-n", target.namespace, "--log-level", log_level, *["--memory"] * memory]
        _start_detached(target, options, plugins)
        return
    configure_logging(log_level)
    config = EngineConfig(
        state_dir=target.state_dir,
        persist=not memory,
        namespace=target.namespace,
        plugins=tuple(modules),
    )
    try:
        trio.run(_serve, config, ready_fd)
    except Exception as exc:
        raise failure(exc, target) from None


def _import_plugin(name: str) -> object:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Failure(f"cannot import plugin {name}: {exc}", Exit.USAGE) from None


async def _serve(config: EngineConfig, ready_fd: int | None) -> None:
    engine = EmbeddedEngine(config)
    pid = pid_file(config.state_dir)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            try:
                await engine.wait_until_ready()
                pid.write_text(f"{os.getpid()}\n")
                click.echo(
                    f"kruntimes engine ready (pid {os.getpid()}): socket {config.socket}, "
                    f"state {config.state_dir}{'' if config.persist else ' (in memory)'}",
                    err=True,
                )
                if ready_fd is not None:
                    os.write(ready_fd, b"ready\n")
                    os.close(ready_fd)
                async for _ in signals:
                    break
                click.echo("stopping the engine", err=True)
            finally:
                with contextlib.suppress(OSError):
                    if pid.read_text().strip() == str(os.getpid()):
                        pid.unlink()
                nursery.cancel_scope.cancel()


def _start_detached(target: Target, options: list[str], plugins: tuple[str, ...]) -> None:
    state = target.state_dir
    state.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "kruntimes.cli", "up", "--state-dir", str(state), *options]
    for name in plugins:
        command += ["--plugin", name]
    read_end, write_end = os.pipe()
    log_path = state / "engine.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*command, "--ready-fd", str(write_end)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            pass_fds=(write_end,),
        )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        answered, _, _ = select.select([ready], [], [], START_TIMEOUT)
        said = ready.readline() if answered else b""
    if said != b"ready\n":
        code = process.poll()
        why = f"exited with code {code}" if code is not None else "is not ready in time"
        raise Failure(f"the engine {why}; see {log_path}: {_last_line(log_path)}", Exit.UNAVAILABLE)
    click.echo(f"kruntimes engine started in the background (pid {process.pid})", err=True)
    click.echo(f"socket {target.socket}; log {log_path}; stop it with: krt down", err=True)


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(empty)"


@click.command()
@target_options
def down(target: Target) -> None:
    """Stop the engine started with `krt up` for this state directory."""
    target.refuse_in_cluster_mode("krt down stops")
    path = pid_file(target.state_dir)
    try:
        pid = int(path.read_text().strip())
        if not engine_answers(target.socket):
            raise ValueError("a pid file left by an engine that is gone")
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        message = f"no kruntimes engine is running for {target.state_dir}"
        raise Failure(message, Exit.UNAVAILABLE) from None
    if not _wait_for_exit(pid, STOP_TIMEOUT):
        message = f"the engine (pid {pid}) did not stop within {STOP_TIMEOUT:g}s"
        raise Failure(message, Exit.INTERNAL)
    click.echo(f"kruntimes engine stopped (pid {pid})", err=True)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether process `pid` (not our child) exits within `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        deadline = time.monotonic() + timeout  # no pidfd (not Linux): check now and then
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)
