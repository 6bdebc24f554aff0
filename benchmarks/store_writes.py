"""store_writes: write throughput of the embedded stores with one active watcher.

What runs: one writer task creates N Runs, then writes one status update to
each (Pending -> Scheduled, as a scheduler's bind), awaiting every call, while
one watcher task drains the store's Run watch. Stores: `MemoryStore`,
`SqliteStore` (synchronous NORMAL and FULL, in a temporary directory) and
`RemoteStore` talking to a `StoreServer` over a `MemoryStore` in the same
process (so its numbers include both ends of the socket). Each store is
measured `REPEATS` times on a fresh instance; the median is printed.

What is measured: creates/s and status updates/s (`time.perf_counter`), and
how long after the last write the watcher had seen every event.

    python benchmarks/store_writes.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import trio
from attrs import evolve

from kruntimes.model import Phase
from kruntimes.store import MemoryStore, RemoteStore, SqliteStore, Store, StoreServer
from kruntimes.testing.builders import make_run

REPEATS = 3
Factory = Callable[[Path], AbstractAsyncContextManager[tuple[Store, Store]]]


async def measure(writer: Store, watched: Store, n: int) -> tuple[float, float, float]:
    """(creates/s, status updates/s, ms the watcher lagged after the last write)."""
    caught_up = trio.Event()
    listing = await watched.list_runs()

    async def watch() -> None:
        seen = 0
        async with watched.watch_runs(listing.resource_version) as events:
            async for _ in events:
                seen += 1
                if seen == 2 * n:
                    caught_up.set()
                    return

    runs = [make_run(f"r{i}") for i in range(n)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        t0 = time.perf_counter()
        created = [await writer.create(run) for run in runs]
        t1 = time.perf_counter()
        for run in created:
            status = evolve(
                run.status, phase=Phase.SCHEDULED, assigned_pod="p", assigned_pod_uid="u"
            )
            await writer.update_status(evolve(run, status=status))
        t2 = time.perf_counter()
        await caught_up.wait()
        t3 = time.perf_counter()
    return n / (t1 - t0), n / (t2 - t1), (t3 - t2) * 1e3


@asynccontextmanager
async def memory(_: Path) -> AsyncIterator[tuple[Store, Store]]:
    store = MemoryStore()
    yield store, store
    await store.aclose()


def sqlite(sync: str) -> Factory:
    @asynccontextmanager
    async def factory(tmp: Path) -> AsyncIterator[tuple[Store, Store]]:
        store = SqliteStore(tmp / f"{time.monotonic_ns()}.sqlite3", synchronous=sync)  # type: ignore[arg-type]
        yield store, store
        await store.aclose()

    return factory


@asynccontextmanager
async def remote(tmp: Path) -> AsyncIterator[tuple[Store, Store]]:
    backing = MemoryStore()
    path = tmp / f"{time.monotonic_ns()}.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(StoreServer(backing, path).serve)
        client = RemoteStore(path)
        yield client, client
        await client.aclose()
        nursery.cancel_scope.cancel()
    await backing.aclose()


async def main(n: int) -> None:
    cases: list[tuple[str, Factory, int]] = [
        ("MemoryStore", memory, n),
        ("SqliteStore NORMAL", sqlite("NORMAL"), n),
        ("SqliteStore FULL", sqlite("FULL"), max(n // 20, 100)),
        ("RemoteStore -> MemoryStore", remote, n // 4),
    ]
    print(f"{'store':28} {'N':>6} {'creates/s':>10} {'updates/s':>10} {'watch lag':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, factory, count in cases:
            results = []
            for _ in range(REPEATS):
                async with factory(Path(tmp)) as (writer, watched):
                    results.append(await measure(writer, watched, count))
            creates, updates, lag = (
                statistics.median(column) for column in zip(*results, strict=True)
            )
            print(f"{label:28} {count:6} {creates:10.0f} {updates:10.0f} {lag:8.1f}ms")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
