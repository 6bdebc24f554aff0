"""Chaos: Runtime Servers killed at random while 2,000 Runs with retries go through.

Checks the issue's promises: every Run ends terminal, none is lost, none
executes twice at once (each Run holds an exclusive `flock` on its own lock
file while it runs; a second concurrent execution would fail with exit 99),
capacity is never exceeded, and attempts are counted one by one.
"""

from __future__ import annotations

import os
import random
import signal
from collections import defaultdict
from pathlib import Path

import trio
from engine_fixtures import pools, running_engine

from kruntimes.model import (
    CAPACITY_PHASES,
    ObjectMeta,
    Phase,
    RetryPolicy,
    Run,
    RunMode,
    RunSource,
    RunSpec,
    TaskMode,
)
from kruntimes.store import EventType

RUNS = 2000
CAPACITY = 4
MAX_ATTEMPTS = 12
PYTHON_LOCKED = """
import fcntl, sys, time
f = open({path!r}, "w")
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(99)
time.sleep(0.01)
"""


def chaos_run(i: int, locks: Path) -> Run:
    lock = str(locks / f"r{i}.lock")
    retry = RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff_seconds=0.01)
    if i % 2:
        mode = RunMode(task=TaskMode(args=("flock", "-n", "-E", "99", lock, "sleep", "0.01")))
        spec = RunSpec(runtime="bash", mode=mode, retry_policy=retry)
    else:
        spec = RunSpec(
            runtime="python",
            source=RunSource(inline=PYTHON_LOCKED.format(path=lock)),
            retry_policy=retry,
        )
    return Run(ObjectMeta(name=f"r{i}"), spec)


def test_servers_killed_at_random_lose_nothing(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    trio.run(_chaos, tmp_path, locks)


async def _chaos(tmp_path: Path, locks: Path) -> None:
    rng = random.Random(1234)
    async with running_engine(tmp_path, pools(3, CAPACITY), persist=False) as engine:
        store = engine.store
        assert store is not None
        assert engine.pods is not None
        listing = await store.list_runs()
        final: dict[str, Run] = {}
        attempts: dict[str, list[int]] = defaultdict(list)
        holding: dict[tuple[str, str], set[str]] = defaultdict(set)
        where: dict[str, tuple[str, str]] = {}
        peak = 0
        all_done = trio.Event()

        async def observe(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            nonlocal peak
            async with store.watch_runs(listing.resource_version) as events:
                task_status.started()
                async for event in events:
                    run = event.object
                    if run is None or event.type is EventType.DELETED:
                        continue
                    name, s = run.metadata.name, run.status
                    if not attempts[name] or attempts[name][-1] != s.attempt:
                        attempts[name].append(s.attempt)
                    old = where.pop(name, None)
                    if old is not None:
                        holding[old].discard(name)
                    if s.phase in CAPACITY_PHASES and s.assigned_pod:
                        slot = (s.assigned_pod, s.assigned_pod_uid or "")
                        where[name] = slot
                        holding[slot].add(name)
                        peak = max(peak, len(holding[slot]))
                    if s.phase.is_terminal:
                        final[name] = run
                        if len(final) == RUNS:
                            all_done.set()

        async def kill_servers() -> None:
            while True:
                await trio.sleep(rng.uniform(0.1, 0.3))
                victims = list(engine.pods.servers.values())  # type: ignore[union-attr]
                if victims:
                    proc = rng.choice(victims)
                    if proc.returncode is None:
                        os.kill(proc.pid, signal.SIGKILL)

        async with trio.open_nursery() as nursery:
            await nursery.start(observe)
            killer = trio.CancelScope()

            async def killing() -> None:
                with killer:
                    await kill_servers()

            nursery.start_soon(killing)
            for i in range(RUNS):
                await store.create(chaos_run(i, locks))
            with trio.fail_after(240):
                while len(final) < RUNS * 0.9:
                    await trio.sleep(0.05)
                killer.cancel()  # let the tail finish on a calm engine
                await all_done.wait()
            nursery.cancel_scope.cancel()

    assert engine.pods.restarts >= 5, "the chaos did not kill enough servers to mean anything"
    assert len(final) == RUNS
    doubles = [n for n, r in final.items() if "exit code 99" in r.status.message]
    assert doubles == [], f"executed twice at once: {doubles[:5]}"
    assert peak <= CAPACITY
    for name, seen in attempts.items():
        assert seen == list(range(seen[0], seen[-1] + 1)), f"{name} attempts jumped: {seen}"
        assert seen[-1] <= MAX_ATTEMPTS
    phases = {r.status.phase for r in final.values()}
    assert phases <= {Phase.SUCCEEDED, Phase.FAILED}
    failed = [r for r in final.values() if r.status.phase is Phase.FAILED]
    for run in failed:  # only a Run the chaos hit on every attempt may fail
        assert run.status.attempt == MAX_ATTEMPTS, run.status.message
    assert len(failed) < RUNS * 0.01
