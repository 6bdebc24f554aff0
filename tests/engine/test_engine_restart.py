"""The engine is SIGKILLed mid-batch and restarted on the same SQLite file: nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from kruntimes.model import ObjectMeta, Phase, RetryPolicy, Run, RunMode, RunSpec, TaskMode
from kruntimes.store import RemoteStore, Unavailable

HERE = Path(__file__).parent


def start_engine(state: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "engine_process.py"), str(state)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"started\n"  # blocks until the engine serves
    return proc


def sleeper(name: str) -> Run:
    mode = RunMode(task=TaskMode(args=("sleep", "0.05")))
    return Run(
        ObjectMeta(name=name),
        RunSpec(
            runtime="bash",
            mode=mode,
            retry_policy=RetryPolicy(max_attempts=3, backoff_seconds=0.01),
        ),
    )


def test_sigkill_mid_batch_loses_no_accepted_run(tmp_path: Path) -> None:
    first = start_engine(tmp_path)
    accepted = trio.run(_submit_until_killed, tmp_path, first)
    assert len(accepted) >= 100
    second = start_engine(tmp_path)
    try:
        final = trio.run(_wait_all_terminal, tmp_path, accepted)
    finally:
        second.terminate()
        second.wait()
    assert set(final) == set(accepted)
    phases = {name: run.status.phase for name, run in final.items()}
    assert set(phases.values()) == {Phase.SUCCEEDED}, [
        (n, final[n].status.message) for n, p in phases.items() if p is not Phase.SUCCEEDED
    ][:5]
    assert any(run.status.attempt > 1 for run in final.values()), (
        "nothing was in flight at the kill"
    )


async def _submit_until_killed(state: Path, engine: subprocess.Popen[bytes]) -> list[str]:
    store = RemoteStore(state / "engine.sock")
    accepted: list[str] = []
    try:
        for i in range(5_000):
            if i >= 150 and i % 10 == 0 and await _any_running(store):
                os.kill(engine.pid, signal.SIGKILL)  # later creates fail: the socket is gone
            try:
                await store.create(sleeper(f"r{i}"))
            except Unavailable:
                break
            accepted.append(f"r{i}")
        else:
            engine.kill()  # never saw a Run running: fail below instead of hanging here
            raise AssertionError("no Run was ever seen Running; the engine did not dispatch")
    finally:
        engine.wait()
        await store.aclose()
    return accepted


async def _any_running(store: RemoteStore) -> bool:
    return any(r.status.phase is Phase.RUNNING for r in (await store.list_runs()).items)


async def _wait_all_terminal(state: Path, names: list[str]) -> dict[str, Run]:
    store = RemoteStore(state / "engine.sock")
    wanted = set(names)
    try:
        with trio.fail_after(120):
            listing = await store.list_runs()
            final = {r.metadata.name: r for r in listing.items if r.status.phase.is_terminal}
            async with store.watch_runs(listing.resource_version) as events:
                async for event in events:
                    run = event.object
                    if run is not None and run.status.phase.is_terminal:
                        final[run.metadata.name] = run
                    if wanted <= set(final):
                        break
        return {n: final[n] for n in names}
    finally:
        await store.aclose()
