"""`AsyncClient` against an in-process `MemoryStore`: names, validation, batches, waits, apply.

No engine here: the tests move Runs through their phases with the same
status functions the engine uses, so every wait is decided by watch events.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
from attrs import evolve

from kruntimes import status
from kruntimes.agent.logs import LogStore
from kruntimes.client import Action, AsyncClient, BatchError, run_spec
from kruntimes.codec import ValidationError
from kruntimes.model import (
    ObjectMeta,
    Phase,
    Run,
    RunQueue,
    RunQueueSpec,
    Runtime,
    RuntimeSpec,
)
from kruntimes.runtimes.api import LogChunk
from kruntimes.store import Conflict, Invalid, Kind, MemoryStore, NotFound, Unavailable

NOW = 1_700_000_000.0


def run_with(
    test: Callable[[AsyncClient, MemoryStore], Awaitable[None]], *, history: int = 10_000
) -> None:
    async def main() -> None:
        store = MemoryStore(history=history)
        with trio.fail_after(10):
            await test(AsyncClient(store), store)

    trio.run(main)


async def finish(store: MemoryStore, name: str, *, fail: bool = False) -> Run:
    """Move a Run to Succeeded (or Failed) the way the scheduler and an agent would."""
    run = await store.get_run("default", name)
    run = await store.update_status(status.bound(run, "bash-0", "uid-0", NOW))
    run = await store.update_status(status.claimed(run, NOW))
    if fail:
        done = status.finished_unsuccessfully(run, Phase.FAILED, "RuntimeError", "exit 1", NOW)
    else:
        done = status.succeeded(run, NOW, {"answer": "42"})
    return await store.update_status(done)


def test_submit_names_validates_and_uses_the_clients_namespace() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        run = await client.submit(run_spec("bash", ["echo", "hi"]))
        assert re.fullmatch(r"run-[0-9a-f]{8}", run.metadata.name)
        assert run.metadata.uid
        assert run.status.phase is Phase.PENDING
        named = await client.submit(Run(ObjectMeta(name="x", namespace="other"), run.spec), "y")
        assert named.key == ("default", "y")
        with pytest.raises(ValidationError) as invalid:
            await client.submit(run_spec("Not_A_Label!", ["x"], retry_attempts=0))
        paths = {e.path for e in invalid.value.errors}
        assert {"spec.runtime", "spec.retryPolicy.maxAttempts"} <= paths
        assert len((await store.list_runs()).items) == 2

    run_with(test)


def test_run_spec_refuses_combinations_that_cannot_run() -> None:
    with pytest.raises(ValueError, match="input"):
        run_spec("python", source="x", input={"a": 1})
    with pytest.raises(ValueError, match="args"):
        run_spec("python", ["a"], handler="m:f")
    with pytest.raises(ValueError, match="duration"):
        run_spec("bash", ["true"], timeout="soon")
    spec = run_spec("python", handler="m:f", input=None, timeout="1m30s", retry_attempts=3)
    assert spec.extra == {"input": "null"}
    assert spec.timeout_seconds == 90
    assert spec.retry_policy.max_attempts == 3
    assert spec.mode.function is not None
    assert spec.mode.task is None


def test_submit_many_validates_everything_first_then_reports_each_failure() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        with pytest.raises(ValidationError) as invalid:
            await client.submit_many([run_spec("bash", ["true"]), run_spec("", ["x"])])
        assert [e.path for e in invalid.value.errors] == ["[1].spec.runtime"]
        assert not (await store.list_runs()).items
        await client.submit(run_spec("bash", ["true"]), "taken")
        progress: list[tuple[int, int]] = []
        items = [
            run_spec("bash", ["true"]),
            Run(ObjectMeta(name="taken"), run_spec("bash", ["true"])),
            run_spec("bash", ["true"]),
        ]
        with pytest.raises(BatchError) as failed:
            await client.submit_many(
                items, concurrency=2, on_progress=lambda *done: progress.append(done)
            )
        assert [i for i, _ in failed.value.errors] == [1]
        assert len(failed.value.done) == 2
        assert sorted(progress) == [(1, 3), (2, 3), (3, 3)]
        assert len((await store.list_runs()).items) == 3

    run_with(test)


def test_wait_and_wait_all_follow_the_watch_to_terminal_phases() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        runs = await client.submit_many([run_spec("bash", ["true"]) for _ in range(3)])
        names = [r.metadata.name for r in runs]
        await finish(store, names[0])
        finished: list[str] = []
        async with trio.open_nursery() as nursery:

            async def waiter() -> None:
                done = await client.wait_all(names, on_done=lambda r: finished.append(r.key[1]))
                assert [r.metadata.name for r in done] == names
                assert [r.status.phase for r in done] == [
                    Phase.SUCCEEDED,
                    Phase.FAILED,
                    Phase.SUCCEEDED,
                ]

            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            await finish(store, names[1], fail=True)
            await finish(store, names[2])
        assert finished == names
        assert (await client.wait(names[0])).status.outputs == {"answer": "42"}

    run_with(test)


def test_wait_times_out_and_reports_a_missing_or_deleted_run() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        run = await client.submit(run_spec("bash", ["true"]))
        with pytest.raises(TimeoutError, match=run.metadata.name):
            await client.wait(run.metadata.name, timeout=0.05)
        with pytest.raises(NotFound):
            await client.wait("nope")
        with pytest.raises(NotFound):
            await client.wait_all([run.metadata.name, "nope"])
        async with trio.open_nursery() as nursery:

            async def deleted() -> None:
                with pytest.raises(NotFound, match="deleted"):
                    await client.wait(run.metadata.name)

            nursery.start_soon(deleted)
            await trio.testing.wait_all_tasks_blocked()
            await store.delete(Kind.RUN, "default", run.metadata.name)

    run_with(test)


def test_wait_starts_over_when_its_version_is_gone() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        run = await client.submit(run_spec("bash", ["true"]))
        name = run.metadata.name
        async with trio.open_nursery() as nursery:

            async def waiter() -> None:
                assert (await client.wait(name)).status.phase is Phase.SUCCEEDED

            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            for i in range(5):  # more writes than the watcher may lag: it is cut off (Gone)
                await client.submit(run_spec("bash", ["true"]), f"filler-{i}")
            await finish(store, name)

    run_with(test, history=2)


def test_cancel_is_conditional_idempotent_and_retries_conflicts() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        run = await client.submit(run_spec("bash", ["sleep", "9"]))
        name = run.metadata.name
        real_update = store.update_spec
        conflicts = [Conflict("changed")]

        async def flaky(obj: Run) -> Run:
            if conflicts:
                raise conflicts.pop()
            return await real_update(obj)

        store.update_spec = flaky  # type: ignore[method-assign,assignment]
        cancelled = await client.cancel(name)
        assert cancelled.spec.cancel_requested
        assert not conflicts
        again = await client.cancel(name)
        assert again.metadata.resource_version == cancelled.metadata.resource_version
        done = await finish(store, (await client.submit(run_spec("bash", ["true"]))).key[1])
        assert not (await client.cancel(done.metadata.name)).spec.cancel_requested
        with pytest.raises(NotFound):
            await client.cancel("nope")

    run_with(test)


def test_list_filters_by_runtime_phase_and_namespace() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        await client.submit(run_spec("bash", ["true"]), "a")
        await client.submit(run_spec("python", source="1"), "b")
        await finish(store, "a")
        other = AsyncClient(store, namespace="other")
        await other.submit(run_spec("bash", ["true"]), "c")
        assert [r.metadata.name for r in await client.list()] == ["a", "b"]
        assert [r.metadata.name for r in await client.list(runtime="python")] == ["b"]
        assert [r.metadata.name for r in await client.list(phase="Succeeded")] == ["a"]
        assert [r.metadata.name for r in await client.list(phase=Phase.PENDING)] == ["b"]
        names = [r.key for r in await client.list(all_namespaces=True)]
        assert names == [("default", "a"), ("default", "b"), ("other", "c")]

    run_with(test)


def test_apply_creates_updates_or_leaves_alone_runtimes_first() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        pool = Runtime(ObjectMeta(name="pool"), RuntimeSpec(replicas=1))
        run = Run(ObjectMeta(name="r"), run_spec("pool", ["true"]))
        applied = await client.apply([run, pool])
        assert [(a.kind, a.name, a.action) for a in applied] == [
            ("Run", "r", Action.CREATED),
            ("Runtime", "pool", Action.CREATED),
        ]
        assert (await store.list_runtimes()).items[0].metadata.resource_version == "1"
        bigger = evolve(pool, spec=evolve(pool.spec, replicas=3))
        again = await client.apply([run, bigger])
        assert [a.action for a in again] == [Action.UNCHANGED, Action.CONFIGURED]
        assert (await client.get_runtime("pool")).spec.replicas == 3
        changed = evolve(run, spec=run_spec("pool", ["false"]))
        with pytest.raises(BatchError) as refused:
            await client.apply([changed])
        ((index, error),) = refused.value.errors
        assert index == 0
        assert isinstance(error, Invalid)
        with pytest.raises(ValidationError, match=r"\[0\]\.metadata\.name"):
            await client.apply([Runtime(ObjectMeta(name="Bad Name"))])

    run_with(test)


def test_run_queues_are_created_read_listed_and_deleted() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        other = AsyncClient(store, namespace="other")
        created = await client.create_run_queue(RunQueueSpec(quota={"runs": 4}), "team-a")
        assert (created.metadata.namespace, created.metadata.uid != "") == ("default", True)
        elsewhere = RunQueue(ObjectMeta(name="team-b", namespace="ignored"), RunQueueSpec())
        assert (await other.create_run_queue(elsewhere)).metadata.namespace == "other"
        assert await client.get_run_queue("team-a") == created
        assert [q.metadata.name for q in await client.list_run_queues()] == ["team-a"]
        everywhere = await client.list_run_queues(all_namespaces=True)
        assert {q.key for q in everywhere} == {("default", "team-a"), ("other", "team-b")}
        before = (await store.list_run_queues()).resource_version
        with pytest.raises(ValidationError, match=r"spec\.weight"):
            await client.create_run_queue(RunQueueSpec(weight=-1.0), "bad")
        with pytest.raises(ValidationError, match=r"metadata\.name"):
            await client.create_run_queue(RunQueueSpec())
        assert (await store.list_run_queues()).resource_version == before, "nothing was sent"
        await client.delete_run_queue("team-a")
        with pytest.raises(NotFound):
            await client.get_run_queue("team-a")
        with pytest.raises(NotFound):
            await client.delete_run_queue("team-a")

    run_with(test)


def test_apply_puts_run_queues_before_runs() -> None:
    async def test(client: AsyncClient, store: MemoryStore) -> None:
        queue = RunQueue(ObjectMeta(name="team-a"), RunQueueSpec(quota={"runs": 2}))
        run = Run(ObjectMeta(name="r"), evolve(run_spec("pool", ["true"]), queue="team-a"))
        listing = await store.list_run_queues()
        applied = await client.apply([run, queue])
        assert [(a.kind, a.name, a.action) for a in applied] == [
            ("Run", "r", Action.CREATED),
            ("RunQueue", "team-a", Action.CREATED),
        ]
        async with store.watch_runs(listing.resource_version) as runs:
            created_run = await anext(aiter(runs))
        assert created_run.object is not None
        queue_version = (await store.get_run_queue("default", "team-a")).metadata.resource_version
        assert int(queue_version) < int(created_run.resource_version), "the queue came first"
        wider = evolve(queue, spec=evolve(queue.spec, quota={"runs": 5}, cohort="research"))
        again = await client.apply([wider, run])
        assert [a.action for a in again] == [Action.CONFIGURED, Action.UNCHANGED]
        stored = await client.get_run_queue("team-a")
        assert (stored.spec.quota, stored.spec.cohort) == ({"runs": 5}, "research")
        assert [a.action for a in await client.apply([wider])] == [Action.UNCHANGED]
        with pytest.raises(ValidationError, match=r"\[0\]\.spec\.cohort"):
            await client.apply([evolve(queue, spec=RunQueueSpec(cohort="Not A Label"))])

    run_with(test)


def test_logs_reads_complete_lines_and_follows_until_the_run_ends(tmp_path: Path) -> None:
    async def main() -> None:
        store = MemoryStore()
        client = AsyncClient(store, logs_dir=tmp_path)
        logs = LogStore(tmp_path)
        run = await client.submit(run_spec("bash", ["true"]), "r")

        def write(data: bytes, stream: str = "stdout") -> None:
            logs.append("default", "r", run.metadata.uid, 1, LogChunk("id", stream, data))

        write(b"one\n")
        write(b"\xff\xfe raw\n", "stderr")
        with logs.path("default", "r").open("a") as f:
            f.write('{"ts": 1, "stream": "stdout", "da')  # a line still being written
        entries = [e async for e in client.logs("r")]
        assert [(e.stream, e.raw) for e in entries] == [
            ("stdout", b"one\n"),
            ("stderr", b"\xff\xfe raw\n"),
        ]
        with logs.path("default", "r").open("a") as f:
            f.write('ta": "tail\\n"}\n')  # now complete
        followed: list[bytes] = []
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:

                async def follow() -> None:
                    async for entry in client.logs("r", follow=True):
                        followed.append(entry.raw)

                nursery.start_soon(follow)
                write(b"two\n")
                await finish(store, "r")
        assert followed == [b"one\n", b"\xff\xfe raw\n", b"tail\n", b"two\n"]
        with pytest.raises(NotFound):
            [e async for e in client.logs("nope")]
        with pytest.raises(RuntimeError, match="log directory"):
            [e async for e in AsyncClient(store).logs("r")]

    trio.run(main)


def test_connect_without_an_engine_is_unavailable(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncClient.connect(tmp_path) as client:
            assert client.logs_dir == tmp_path / "logs"
            with pytest.raises(Unavailable):
                await client.list()
            with pytest.raises(Unavailable):
                await client.submit_many([run_spec("bash", ["true"]) for _ in range(50)])

    trio.run(main)
