"""The scheduler loop writes why a Run waits, even for Runs the core never examined."""

from __future__ import annotations

import trio
import trio.testing

from kruntimes import new_scheduler
from kruntimes.engine.scheduler_loop import SchedulerLoop
from kruntimes.model import ConditionType, Phase, Run
from kruntimes.store import MemoryStore
from kruntimes.testing.builders import make_pod, make_run


def test_every_waiting_run_of_a_backlog_gets_its_reason() -> None:
    async def main() -> dict[str, tuple[Phase, str]]:
        store = MemoryStore()
        await store.put_pod(make_pod("p0", capacity={"runs": 1}, heartbeat=0.0))
        runs = [make_run("first")] + [
            make_run(f"r{i}", priority=p) for i, p in enumerate([0, 5, 0, 5])
        ]
        loop = SchedulerLoop(store, new_scheduler, clock=trio.current_time)
        async with trio.open_nursery() as nursery:
            await nursery.start(loop.run)
            for run in runs:
                await store.create(run)
            with trio.fail_after(10):
                while not all(_reason(r) for r in await _waiting(store)):
                    await trio.sleep(0.5)
            nursery.cancel_scope.cancel()
        listed = (await store.list_runs()).items
        return {r.metadata.name: (r.status.phase, _reason(r)) for r in listed}

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result["first"][0] is Phase.SCHEDULED
    assert {name: reason for name, (_, reason) in result.items() if name != "first"} == {
        "r0": "LowerPriority",
        "r1": "NoCapacity",
        "r2": "LowerPriority",
        "r3": "NoCapacity",  # as high as the Run ahead of it: just no room
    }


async def _waiting(store: MemoryStore) -> list[Run]:
    return [r for r in (await store.list_runs()).items if r.status.phase is Phase.PENDING]


def _reason(run: Run) -> str:
    condition = run.status.condition(ConditionType.SCHEDULED)
    return condition.reason if condition is not None else ""
