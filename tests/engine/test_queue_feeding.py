"""The scheduler loop and RunQueues: listed and fed first, watched, and their status written.

Everything runs on trio's MockClock (autojump), so the one-second rate limit of
status writes takes no real time; tests wait for what the loop does through the
scheduler events it feeds and the store's watches, never by sleeping.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing
from attrs import evolve

from kruntimes import new_scheduler
from kruntimes.core import QueueDeleted, QueueUpserted, Scheduler
from kruntimes.engine.scheduler_loop import SchedulerLoop
from kruntimes.model import Phase, Run, RunQueue, RunQueueStatus
from kruntimes.store import Conflict, Forbidden, Gone, Kind, MemoryStore, NotFound
from kruntimes.store.port import Store, WatchEvent
from kruntimes.testing.builders import make_pod, make_queue, make_run
from kruntimes.testing.store_contract import next_event

Fed = tuple[str, Any]
"""`("queue", key)`, `("queue-deleted", key)`, `("run", key)` or `("pod", key)`."""


class Recorder:
    """What the loop fed its schedulers, in order, and a way to wait for some of it."""

    def __init__(self) -> None:
        self.fed: list[Fed] = []
        self.schedulers = 0
        self._changed = trio.Event()

    def new_scheduler(self) -> Scheduler:
        scheduler = new_scheduler(load_entry_points=False)
        self.schedulers += 1
        handle, run_upserted = scheduler.handle, scheduler.run_upserted
        pod_upserted = scheduler.pod_upserted

        def on_handle(event: Any) -> None:
            if isinstance(event, QueueUpserted):
                self._add(("queue", event.queue.key))
            elif isinstance(event, QueueDeleted):
                self._add(("queue-deleted", event.key))
            handle(event)

        def on_run(run: Run) -> None:
            self._add(("run", run.key))
            run_upserted(run)

        def on_pod(pod: Any) -> None:
            self._add(("pod", pod.key))
            pod_upserted(pod)

        scheduler.handle = on_handle  # type: ignore[method-assign]
        scheduler.run_upserted = on_run  # type: ignore[method-assign]
        scheduler.pod_upserted = on_pod  # type: ignore[method-assign]
        return scheduler

    def _add(self, fed: Fed) -> None:
        self.fed.append(fed)
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, done: Callable[[list[Fed]], bool]) -> None:
        with trio.fail_after(30):
            while not done(self.fed):
                await self._changed.wait()


class Proxy:
    """A store that behaves like the one it wraps except where a test overrides it."""

    def __init__(self, store: MemoryStore) -> None:
        self.backing = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backing, name)


def run_on_mock_clock(main: Callable[[], Any]) -> Any:
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@asynccontextmanager
async def looping(
    store: Store | Proxy, recorder: Recorder | None = None, **options: Any
) -> AsyncIterator[SchedulerLoop]:
    factory = recorder.new_scheduler if recorder is not None else _plain_scheduler
    loop = SchedulerLoop(store, factory, clock=trio.current_time, **options)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(loop.run)
        yield loop
        nursery.cancel_scope.cancel()


def _plain_scheduler() -> Scheduler:
    return new_scheduler(load_entry_points=False)


async def until_queue_status(
    store: MemoryStore, name: str, wanted: Callable[[RunQueueStatus], bool]
) -> RunQueue:
    """The RunQueue once its status satisfies `wanted`, watching the store for it."""
    with trio.fail_after(30):
        listing = await store.list_run_queues()
        (queue,) = [q for q in listing.items if q.metadata.name == name]
        if wanted(queue.status):
            return queue
        async with store.watch_run_queues(listing.resource_version) as events:
            while True:
                event = await next_event(events)
                found = event.object
                if found is not None and found.metadata.name == name and wanted(found.status):
                    return found


def test_queues_are_listed_and_fed_before_runs_and_pods() -> None:
    recorder = Recorder()

    async def main() -> None:
        store = MemoryStore()
        await store.create(make_run("r1", queue="team-a"))
        await store.put_pod(make_pod("p1", heartbeat=0.0))
        await store.create(make_queue("team-a", quota={"runs": 5}))
        await store.create(make_queue("team-b"))
        async with looping(store, recorder):
            await recorder.until(lambda fed: ("run", ("default", "r1")) in fed)

    run_on_mock_clock(main)
    kinds = [kind for kind, _ in recorder.fed]
    assert kinds[:2] == ["queue", "queue"]
    assert {key for kind, key in recorder.fed[:2]} == {("default", "team-a"), ("default", "team-b")}
    assert kinds.index("pod") < kinds.index("run")


def test_watched_queue_changes_become_queue_events() -> None:
    recorder = Recorder()
    key = ("default", "late")

    async def main() -> None:
        store = MemoryStore()
        async with looping(store, recorder) as loop:
            created = await store.create(make_queue("late", quota={"runs": 1}))
            await recorder.until(lambda fed: ("queue", key) in fed)
            state = loop.scheduler.queue_state(*key)
            assert state is not None
            assert state.queue == created
            heavier = await store.update_spec(evolve(created, spec=evolve(created.spec, weight=3)))
            await recorder.until(lambda fed: fed.count(("queue", key)) >= 2)
            state = loop.scheduler.queue_state(*key)
            assert state is not None
            assert state.queue is not None
            assert state.queue.spec.weight == heavier.spec.weight == 3
            await store.delete(Kind.RUN_QUEUE, "default", "late")
            await recorder.until(lambda fed: ("queue-deleted", key) in fed)

    run_on_mock_clock(main)
    assert recorder.schedulers == 2, "one at construction, one at the list: events never re-list"


def test_a_gone_queue_watch_relists_everything() -> None:
    recorder = Recorder()

    class GoneOnce(Proxy):
        watches = 0

        @asynccontextmanager
        async def watch_run_queues(
            self, resource_version: str, namespace: str | None = None
        ) -> AsyncIterator[AsyncIterator[WatchEvent[RunQueue]]]:
            self.watches += 1
            if self.watches == 1:
                raise Gone("too old")
            async with self.backing.watch_run_queues(resource_version, namespace) as events:
                yield events

    async def main() -> None:
        store = MemoryStore()
        await store.create(make_queue("team-a"))
        async with looping(GoneOnce(store), recorder):
            await recorder.until(lambda fed: fed.count(("queue", ("default", "team-a"))) == 2)
            await store.create(make_queue("team-b"))
            await recorder.until(lambda fed: ("queue", ("default", "team-b")) in fed)

    run_on_mock_clock(main)
    assert recorder.schedulers == 3, "construction, the first list, the re-list"


def test_queue_status_follows_the_core_and_is_coalesced() -> None:
    """A burst of Runs through a quota of 2: the status ends at what the core holds, written
    at most once a second however many cycles ran."""
    writes: list[tuple[float, RunQueueStatus]] = []

    class Timed(Proxy):
        async def update_status(self, obj: Any) -> Any:
            written = await self.backing.update_status(obj)
            if isinstance(obj, RunQueue):
                writes.append((trio.current_time(), written.status))
            return written

    async def main() -> RunQueue:
        store = MemoryStore()
        await store.put_pod(make_pod("p1", capacity={"runs": 8}, heartbeat=0.0))
        await store.create(make_queue("team-a", quota={"runs": 2}))
        async with looping(Timed(store)) as loop:
            for i in range(12):
                await store.create(make_run(f"r{i}", queue="team-a"))
                await trio.sleep(0.1)  # the burst spreads over 1.2 seconds of mock time
            queue = await until_queue_status(
                store, "team-a", lambda s: (s.pending, s.admitted) == (10, 2)
            )
            assert loop.queue_status_writes == len(writes)
            return queue

    queue = run_on_mock_clock(main)
    assert queue.status.usage == {"runs": 2}
    assert 1 <= len(writes) <= 3, writes
    times = [at for at, _ in writes]
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))


def test_an_unchanged_status_is_not_written_again() -> None:
    async def main() -> tuple[RunQueue, RunQueue]:
        store = MemoryStore()
        await store.create(make_queue("idle", quota={"runs": 2}))
        async with looping(store):
            await store.create(make_run("r0", queue="idle"))
            written = await until_queue_status(store, "idle", lambda s: s.pending == 1)
            for i in range(5):  # Pod events: cycles that change nothing for the queue
                await store.put_pod(make_pod(f"other-{i}", "python", heartbeat=0.0))
                await trio.sleep(2)
            return written, await store.get_run_queue("default", "idle")

    written, later = run_on_mock_clock(main)
    assert later == written, "no write since: the same resource version"


def test_a_conflicting_status_write_is_retried_with_the_newest_version() -> None:
    """Someone changes the queue's spec just before our write: it conflicts, and the next
    attempt, an interval later, writes onto their version without undoing it."""
    attempts: list[float] = []

    class Racing(Proxy):
        async def update_status(self, obj: Any) -> Any:
            if isinstance(obj, RunQueue):
                attempts.append(trio.current_time())
                if len(attempts) == 1:
                    current = await self.backing.get_run_queue(*obj.key)
                    spec = evolve(current.spec, weight=5.0)
                    await self.backing.update_spec(evolve(current, spec=spec))
            return await self.backing.update_status(obj)

    async def main() -> RunQueue:
        store = MemoryStore()
        await store.create(make_queue("team-a", quota={"runs": 1}))
        await store.create(make_run("r0", queue="team-a"))
        async with looping(Racing(store)):
            return await until_queue_status(store, "team-a", lambda s: s.pending == 1)

    queue = run_on_mock_clock(main)
    assert queue.spec.weight == 5.0, "the other writer's change is kept"
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 1.0


def test_without_run_queues_in_the_store_runs_are_still_scheduled() -> None:
    """An upgraded cluster without the RunQueue CRD (or RBAC for it) keeps scheduling."""

    class NoQueues(Proxy):
        async def list_run_queues(self, namespace: str | None = None) -> Any:
            raise NotFound("the server could not find the requested resource")

    async def main() -> Run:
        store = MemoryStore()
        await store.put_pod(make_pod("p1", heartbeat=0.0))
        created = await store.create(make_run("r0"))
        rv = created.metadata.resource_version
        async with looping(NoQueues(store)), store.watch_runs(rv) as events:
            while (run := (await next_event(events)).object) is None or (
                run.status.phase is Phase.PENDING
            ):
                pass
        return run

    assert run_on_mock_clock(main).status.phase is Phase.SCHEDULED


def test_a_forbidden_status_write_is_tried_once_and_scheduling_goes_on() -> None:
    refused: list[str] = []

    class ReadOnlyQueues(Proxy):
        async def update_status(self, obj: Any) -> Any:
            if isinstance(obj, RunQueue):
                refused.append(obj.metadata.name)
                raise Forbidden("runqueues/status: update is forbidden")
            return await self.backing.update_status(obj)

    async def main() -> list[Phase]:
        store = MemoryStore()
        await store.put_pod(make_pod("p1", capacity={"runs": 4}, heartbeat=0.0))
        await store.create(make_queue("team-a"))
        async with looping(ReadOnlyQueues(store)):
            for i in range(3):
                await store.create(make_run(f"r{i}", queue="team-a"))
                await trio.sleep(2)
        return [run.status.phase for run in (await store.list_runs()).items]

    assert run_on_mock_clock(main) == [Phase.SCHEDULED] * 3
    assert refused == ["team-a"]


def test_a_conflict_from_the_store_is_not_an_error_of_the_loop() -> None:
    """`Conflict` on every attempt: the loop keeps scheduling and keeps a second between
    attempts."""
    attempts: list[float] = []

    class AlwaysStale(Proxy):
        async def update_status(self, obj: Any) -> Any:
            if isinstance(obj, RunQueue):
                attempts.append(trio.current_time())
                raise Conflict("stale")
            return await self.backing.update_status(obj)

    async def main() -> Phase:
        store = MemoryStore()
        await store.put_pod(make_pod("p1", heartbeat=0.0))
        await store.create(make_queue("team-a"))
        async with looping(AlwaysStale(store)):
            await store.create(make_run("r0", queue="team-a"))
            await trio.sleep(5.5)
        return (await store.get_run("default", "r0")).status.phase

    assert run_on_mock_clock(main) is Phase.SCHEDULED
    assert 4 <= len(attempts) <= 7
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(attempts))
