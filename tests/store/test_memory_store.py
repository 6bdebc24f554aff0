"""MemoryStore: the contract, plus what only the embedded store promises (clock, bookmarks, ...)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import trio
import trio.testing
from attrs import evolve

from kruntimes.model import RuntimePod
from kruntimes.store import (
    EventType,
    Gone,
    Invalid,
    Kind,
    Listing,
    MemoryStore,
    StoreError,
    Unavailable,
)
from kruntimes.store.wire import key_of, kind_of
from kruntimes.testing.builders import make_pod, make_run
from kruntimes.testing.store_contract import StoreContract, next_event, scheduled

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class TestMemoryStore(StoreContract):
    @asynccontextmanager
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore(history=32, watch_buffer=16)
        try:
            yield store
        finally:
            await store.aclose()


def test_creation_and_deletion_times_come_from_the_clock() -> None:
    times = iter([NOON, NOON.replace(hour=13)])

    async def main() -> None:
        store = MemoryStore(clock=lambda: next(times))
        run = make_run("a")
        run = evolve(run, metadata=evolve(run.metadata, finalizers=("example.com/x",)))
        created = await store.create(run)
        assert created.metadata.creation_timestamp == NOON
        await store.delete("Run", "default", "a")
        deleting = await store.get_run("default", "a")
        assert deleting.metadata.deletion_timestamp == NOON.replace(hour=13)
        assert deleting.metadata.generation == 2

    trio.run(main)


def test_resource_versions_are_one_global_counter() -> None:
    async def main() -> None:
        store = MemoryStore()
        run = await store.create(make_run("a"))
        await store.put_pod(make_pod("p"))
        await store.heartbeat_pod("default", "p", 5.0)
        other = await store.create(make_run("b", namespace="elsewhere"))
        assert (run.metadata.resource_version, other.metadata.resource_version) == ("1", "4")
        assert (await store.list_pods()).resource_version == "4"

    trio.run(main)


def test_idle_watcher_gets_a_bookmark_only_when_versions_moved() -> None:
    async def main() -> None:
        store = MemoryStore(bookmark_interval=30)
        async with store.watch_runs("0", "quiet") as events:
            with trio.move_on_after(300) as idle:
                await events.__anext__()
            assert idle.cancelled_caught, "nothing changed: no bookmark"
            await store.create(make_run("a", namespace="busy"))
            start = trio.current_time()
            event = await events.__anext__()
            assert (event.type, event.object, event.resource_version) == (
                EventType.BOOKMARK,
                None,
                "1",
            )
            assert trio.current_time() - start == pytest.approx(30)
            with trio.move_on_after(300) as idle:
                await events.__anext__()
            assert idle.cancelled_caught, "one bookmark per change"

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_watch_replays_more_than_its_channel_holds() -> None:
    async def main() -> None:
        store = MemoryStore(history=100, watch_buffer=2)
        for i in range(50):
            await store.create(make_run(f"r{i}"))
        async with store.watch_runs("0") as events:
            names = [(await next_event(events)).object.metadata.name for _ in range(50)]
        assert names == [f"r{i}" for i in range(50)]

    trio.run(main)


def test_history_bound_decides_which_versions_can_be_watched() -> None:
    async def main() -> None:
        store = MemoryStore(history=3)
        for i in range(5):
            await store.create(make_run(f"r{i}"))
        with pytest.raises(Gone, match="too old"):
            async with store.watch_runs("1"):
                pass
        async with store.watch_runs("2") as events:
            assert (await next_event(events)).resource_version == "3"
        with pytest.raises(Gone, match="newer"):
            async with store.watch_runs("6"):
                pass
        with pytest.raises(Invalid, match="resource version"):
            async with store.watch_runs("latest"):
                pass

    trio.run(main)


def test_writes_never_wait_for_a_full_watcher() -> None:
    async def main() -> None:
        store = MemoryStore(watch_buffer=0)
        async with store.watch_pods("0") as events:
            await store.put_pod(make_pod("p1"))
            await store.put_pod(make_pod("p2"))
            with pytest.raises(Gone, match="behind"):
                await events.__anext__()
            await store.put_pod(make_pod("p3"))

    trio.run(main)


def test_closing_ends_watches_and_refuses_calls() -> None:
    async def main() -> None:
        store = MemoryStore()
        async with store.watch_runs("0") as events:
            await store.aclose()
            assert [e async for e in events] == []
        with pytest.raises(Unavailable):
            await store.create(make_run("a"))
        with pytest.raises(Unavailable):
            async with store.watch_runs("0"):
                pass

    trio.run(main)


def test_a_cancelled_write_does_not_land() -> None:
    async def main() -> None:
        store = MemoryStore()
        with trio.CancelScope() as scope:
            scope.cancel()
            await store.create(make_run("a"))
        assert (await store.list_runs()).items == ()

    trio.run(main)


def test_pods_keep_or_get_a_uid_and_are_checked() -> None:
    async def main() -> None:
        store = MemoryStore()
        first = await store.put_pod(make_pod("p", uid=""))
        assert first.uid
        again = await store.put_pod(make_pod("p", uid="", capacity={"runs": 9}))
        assert (again.uid, again.capacity) == (first.uid, {"runs": 9})
        with pytest.raises(Invalid, match=r"pod\.runtime"):
            await store.put_pod(RuntimePod(name="q", runtime=""))
        with pytest.raises(Invalid, match="number"):
            await store.heartbeat_pod("default", "p", "soon")  # type: ignore[arg-type]

    trio.run(main)


def test_finalizers_cannot_be_added_while_deleting() -> None:
    async def main() -> None:
        store = MemoryStore()
        run = make_run("a")
        run = evolve(run, metadata=evolve(run.metadata, finalizers=("example.com/x",)))
        await store.create(run)
        await store.delete("Run", "default", "a")
        await store.delete("Run", "default", "a")
        marked = await store.get_run("default", "a")
        assert marked.metadata.resource_version == "2", "a second delete changes nothing"
        more = evolve(marked.metadata, finalizers=("example.com/x", "example.com/y"))
        with pytest.raises(Invalid, match="finalizers"):
            await store.update_spec(evolve(marked, metadata=more))

    trio.run(main)


class FlakyPersistence:
    """Keeps rows in a dict; fails writes while `failing` is set."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], int] = {}
        self.failing = False

    def load(self) -> tuple[list[object], int]:
        return [], 0

    def save(self, obj: object, rv: int) -> None:
        if self.failing:
            raise StoreError("disk full")
        self.rows[(kind_of(obj), *key_of(obj))] = rv

    def remove(self, kind: str, namespace: str, name: str, rv: int) -> None:
        if self.failing:
            raise StoreError("disk full")
        del self.rows[(kind, namespace, name)]

    def close(self) -> None:
        pass


def test_a_write_that_cannot_be_persisted_changes_nothing() -> None:
    async def main() -> None:
        persistence = FlakyPersistence()
        store = MemoryStore(persistence=persistence)
        created = await store.create(make_run("a"))
        persistence.failing = True
        async with store.watch_runs("1") as events:
            with pytest.raises(StoreError, match="disk full"):
                await store.create(make_run("b"))
            with pytest.raises(StoreError, match="disk full"):
                await store.update_status(scheduled(created))
            with pytest.raises(StoreError, match="disk full"):
                await store.delete(Kind.RUN, "default", "a")
            assert await store.list_runs() == Listing((created,), "1")
            persistence.failing = False
            bound = await store.update_status(scheduled(created))
            assert bound.metadata.resource_version == "2"
            assert (await next_event(events)).object == bound
        assert persistence.rows == {("Run", "default", "a"): 2}

    trio.run(main)
