"""Every wire field survives the socket and the SQLite file, for any valid object."""

import tempfile
from pathlib import Path

import trio
from attrs import evolve
from hypothesis import given, settings
from store_serving import serving

from kruntimes.model import Run, RunQueue, Runtime, RuntimePod
from kruntimes.store import SqliteStore
from kruntimes.testing import strategies
from kruntimes.testing.model_strategies import run_queues, runs, runtimes

EXAMPLES = settings(max_examples=30, deadline=None)


def through_socket_and_file(write, read):
    """Write through a RemoteStore onto a SqliteStore, reopen the file, read it back."""

    async def main(tmp: Path) -> tuple[object, object]:
        backing = SqliteStore(tmp / "store.sqlite3")
        async with serving(backing, tmp / "engine.sock") as client:
            written = await write(client)
        await backing.aclose()
        reopened = SqliteStore(tmp / "store.sqlite3")
        read_back = await read(reopened, written)
        await reopened.aclose()
        return written, read_back

    with tempfile.TemporaryDirectory() as tmp:
        return trio.run(main, Path(tmp))


@EXAMPLES
@given(runs())
def test_runs(run: Run) -> None:
    async def write(store):
        created = await store.create(run)
        return await store.update_status(evolve(created, status=run.status))

    async def read(store, written):
        return await store.get_run(*written.key)

    written, read_back = through_socket_and_file(write, read)
    assert (written.spec, written.status) == (run.spec, run.status)
    assert (written.metadata.labels, written.metadata.annotations) == (
        run.metadata.labels,
        run.metadata.annotations,
    )
    assert read_back == written


@EXAMPLES
@given(runtimes())
def test_runtimes(runtime: Runtime) -> None:
    async def write(store):
        created = await store.create(runtime)
        return await store.update_status(evolve(created, status=runtime.status))

    async def read(store, written):
        return await store.get_runtime(written.metadata.namespace, written.metadata.name)

    written, read_back = through_socket_and_file(write, read)
    assert (written.spec, written.status) == (runtime.spec, runtime.status)
    assert read_back == written


@EXAMPLES
@given(run_queues())
def test_run_queues(queue: RunQueue) -> None:
    async def write(store):
        created = await store.create(queue)
        return await store.update_status(evolve(created, status=queue.status))

    async def read(store, written):
        return await store.get_run_queue(*written.key)

    written, read_back = through_socket_and_file(write, read)
    assert (written.spec, written.status) == (queue.spec, queue.status)
    assert read_back == written


@EXAMPLES
@given(strategies.pods())
def test_pods(pod: RuntimePod) -> None:
    async def write(store):
        return await store.put_pod(pod)

    async def read(store, written):
        (only,) = (await store.list_pods()).items
        return only

    written, read_back = through_socket_and_file(write, read)
    assert written == pod
    assert read_back == pod
