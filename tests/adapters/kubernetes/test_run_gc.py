"""RunGC: finished Runs go `ttlSecondsAfterFinished` after completion, on any Store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import trio
import trio.testing
from attrs import evolve

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.run_gc import RunGC
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.model import Phase, Run
from kruntimes.store import EventType, Forbidden, Kind, MemoryStore, Store
from kruntimes.testing.builders import EPOCH, make_run
from kruntimes.testing.kube_env import KubeTestEnv

NS = "default"


def virtual_now() -> float:
    return EPOCH + trio.current_time()


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def on_mock_clock(main: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        with trio.fail_after(100_000):  # virtual seconds: the test jumps through time
            await main()

    trio.run(guarded, clock=trio.testing.MockClock(autojump_threshold=0))


async def submit(store: Store, name: str, ttl: int | None, namespace: str = NS) -> Run:
    run = make_run(name, namespace=namespace)
    return await store.create(evolve(run, spec=evolve(run.spec, ttl_seconds_after_finished=ttl)))


async def finish(store: Store, run: Run, when: float, phase: Phase = Phase.SUCCEEDED) -> Run:
    current = await store.get_run(run.metadata.namespace, run.metadata.name)
    status = evolve(current.status, phase=phase, completion_time=at(when))
    return await store.update_status(evolve(current, status=status))


async def deletion_times(store: Store, count: int, namespace: str | None = NS) -> dict[str, float]:
    """Names of the next `count` Runs deleted, with the (virtual) time each went."""
    listing = await store.list_runs(namespace)
    seen: dict[str, float] = {}
    async with store.watch_runs(listing.resource_version, namespace) as events:
        async for event in events:
            if event.type is EventType.DELETED and event.object is not None:
                seen[event.object.metadata.name] = virtual_now()
                if len(seen) == count:
                    return seen
    raise AssertionError("the watch ended")


def test_expired_runs_are_deleted_on_time_and_others_kept() -> None:
    async def main() -> None:
        store = MemoryStore(clock=lambda: at(virtual_now()))
        gc = RunGC(store, clock=virtual_now)
        async with trio.open_nursery() as nursery:
            short = await finish(store, await submit(store, "short", 30), EPOCH)
            await nursery.start(gc.run)
            long = await submit(store, "long", 100)
            await finish(store, long, EPOCH + 5, Phase.FAILED)
            kept = await submit(store, "no-ttl", None)
            await finish(store, kept, EPOCH)
            await finish(store, await submit(store, "zero-ttl", 0), EPOCH)
            await submit(store, "running", 1)  # Pending: never expires
            assert short.spec.ttl_seconds_after_finished == 30
            times = await deletion_times(store, 2)
            assert times == {"short": EPOCH + 30, "long": EPOCH + 105}
            await trio.sleep(1000)
            names = {r.metadata.name for r in (await store.list_runs(NS)).items}
            assert names == {"no-ttl", "zero-ttl", "running"}
            stats = gc.statistics()
            assert (stats.deleted, stats.failures, stats.scheduled) == (2, 0, 0)
            nursery.cancel_scope.cancel()

    on_mock_clock(main)


def test_a_run_finishing_later_wakes_the_collector_earlier() -> None:
    """The collector sleeps until the earliest expiry; a new, earlier one wakes it."""

    async def main() -> None:
        store = MemoryStore(clock=lambda: at(virtual_now()))
        gc = RunGC(store, clock=virtual_now)
        async with trio.open_nursery() as nursery:
            await finish(store, await submit(store, "late", 1000), EPOCH)
            await nursery.start(gc.run)
            await finish(store, await submit(store, "early", 10), EPOCH + 1)
            times = await deletion_times(store, 2)
            assert times == {"early": EPOCH + 11, "late": EPOCH + 1000}
            nursery.cancel_scope.cancel()

    on_mock_clock(main)


class DeafStore(MemoryStore):
    """Lists, but its Run watches never deliver: the collector's cache goes stale."""

    def watch_runs(self, resource_version: str, namespace: str | None = None) -> Any:
        @asynccontextmanager
        async def nothing() -> AsyncIterator[AsyncIterator[Any]]:
            async def never() -> AsyncIterator[Any]:
                await trio.sleep_forever()
                yield  # pragma: no cover

            yield never()

        return nothing()


def test_a_run_changed_since_is_rescheduled_not_deleted() -> None:
    async def main() -> None:
        store = DeafStore(clock=lambda: at(virtual_now()))
        gc = RunGC(store, clock=virtual_now)
        run = await finish(store, await submit(store, "r", 30), EPOCH)
        async with trio.open_nursery() as nursery:
            await nursery.start(gc.run)
            await trio.sleep(10)
            await store.update_spec(
                evolve(run, spec=evolve(run.spec, ttl_seconds_after_finished=60))
            )
            await trio.sleep(25)  # past the old expiry (30): read again, kept
            assert (await store.get_run(NS, "r")).spec.ttl_seconds_after_finished == 60
            kept = gc.metrics.registry.get_sample_value(
                "kruntimes_run_gc_deletions_total", {"result": "kept"}
            )
            assert kept == 1
            await trio.sleep(30)  # past the new one (60)
            assert (await store.list_runs(NS)).items == ()
            nursery.cancel_scope.cancel()

    on_mock_clock(main)


class FlakyStore(MemoryStore):
    """Refuses the first `failures` deletes of Run `victim`."""

    def __init__(self, victim: str, failures: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.victim, self.failures = victim, failures
        self.deletes: list[tuple[str, float]] = []

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        self.deletes.append((name, virtual_now()))
        if name == self.victim and self.failures:
            self.failures -= 1
            raise Forbidden("not today")
        await super().delete(kind, namespace, name)


def test_failed_deletes_back_off_and_never_block_others() -> None:
    async def main() -> None:
        store = FlakyStore("stubborn", 2, clock=lambda: at(virtual_now()))
        gc = RunGC(store, clock=virtual_now)
        async with trio.open_nursery() as nursery:
            await finish(store, await submit(store, "stubborn", 10), EPOCH)
            await finish(store, await submit(store, "easy", 11), EPOCH)
            await nursery.start(gc.run)
            times = await deletion_times(store, 2)
            assert times["easy"] == EPOCH + 11
            assert store.deletes[:2] == [("stubborn", EPOCH + 10), ("easy", EPOCH + 11)]
            # retried after 1 s, then 2 s: 10 -> 11 -> 13
            assert [t for n, t in store.deletes if n == "stubborn"] == [
                EPOCH + 10,
                EPOCH + 11,
                EPOCH + 13,
            ]
            assert times["stubborn"] == EPOCH + 13
            assert gc.statistics().failures == 2
            nursery.cancel_scope.cancel()

    on_mock_clock(main)


def test_a_run_held_by_a_finalizer_is_deleted_once() -> None:
    async def main() -> None:
        store = FlakyStore("none", 0, clock=lambda: at(virtual_now()))
        gc = RunGC(store, clock=virtual_now)
        run = make_run("held")
        meta = evolve(run.metadata, finalizers=("kruntimes.io/artifact-cleanup",))
        spec = evolve(run.spec, ttl_seconds_after_finished=5)
        created = await store.create(evolve(run, metadata=meta, spec=spec))
        await finish(store, created, EPOCH)
        async with trio.open_nursery() as nursery:
            await nursery.start(gc.run)
            await trio.sleep(1000)
            held = await store.get_run(NS, "held")
            assert held.metadata.deletion_timestamp is not None
            assert store.deletes == [("held", EPOCH + 5)]
            nursery.cancel_scope.cancel()

    on_mock_clock(main)


def test_on_a_real_apiserver(krt_kube_env: KubeTestEnv) -> None:
    """With KubeStore and wall time: an expired Run goes at once, a fresh one a second later."""

    async def main() -> None:
        import time

        ns = krt_kube_env.new_namespace("gc")
        store = KubeStore(KubeApi.from_kubeconfig(krt_kube_env.kubeconfig))
        gc = RunGC(store, namespace=ns)
        old = await finish(store, await submit(store, "old", 5, ns), time.time() - 60)
        kept = await finish(store, await submit(store, "kept", None, ns), time.time() - 60)
        listing = await store.list_runs(ns)
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(gc.run)
                fresh = await finish(store, await submit(store, "fresh", 1, ns), time.time())
                deleted: dict[str, float] = {}
                async with store.watch_runs(listing.resource_version, ns) as events:
                    async for event in events:
                        if event.type is EventType.DELETED and event.object is not None:
                            deleted[event.object.metadata.name] = time.time()
                            if len(deleted) == 2:
                                break
                assert set(deleted) == {"old", "fresh"}
                assert fresh.status.completion_time is not None
                assert deleted["fresh"] >= fresh.status.completion_time.timestamp() + 1
                remaining = await store.list_runs(ns)
                assert [r.metadata.name for r in remaining.items] == ["kept"]
                assert (old.metadata.name, kept.metadata.name) == ("old", "kept")
                nursery.cancel_scope.cancel()

    trio.run(main)
