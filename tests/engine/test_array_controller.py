"""The array controller, on the in-memory store and inside the real embedded engine.

The first tests pair the controller with a stand-in executor (it moves each
child through Scheduled, Running and an ending, on trio's virtual clock), so
they can count every object that ever existed; the last ones run real bash
Runs through the whole engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from attrs import evolve
from engine_fixtures import pools, running_engine

from kruntimes import status
from kruntimes.core.arrays import ARRAY_INDEX_LABEL, ARRAY_LABEL, decode_indexes
from kruntimes.engine.arrays import ArrayController
from kruntimes.model import (
    ArraySpec,
    ArrayStatus,
    EnvVar,
    FailureReason,
    ObjectMeta,
    Phase,
    RetryPolicy,
    Run,
    RunSource,
    RunSpec,
)
from kruntimes.store import (
    Conflict,
    EventType,
    Forbidden,
    Kind,
    MemoryStore,
    NotFound,
    Store,
    Unavailable,
)
from kruntimes.testing.kube_env import KubeTestEnv


def array_run(
    name: str,
    completions: int,
    parallelism: int | None,
    *,
    compact: bool = False,
    script: str = "",
    retry: RetryPolicy | None = None,
) -> Run:
    return Run(
        ObjectMeta(name=name),
        RunSpec(
            runtime="bash",
            source=RunSource(inline=script) if script else None,
            array=ArraySpec(completions, parallelism, compact),
            retry_policy=retry or RetryPolicy(),
        ),
    )


def index_of(run: Run) -> int:
    return int(run.metadata.labels[ARRAY_INDEX_LABEL])


class Executor:
    """Plays scheduler and agent for children: each runs `duration(index)` virtual seconds
    and fails if `fails(index)`; it honours `cancel_requested`. It also keeps count of the
    children that exist and are unfinished at every moment."""

    def __init__(
        self,
        store: Store,
        *,
        namespace: str = "default",
        fails: Callable[[int], bool] = lambda i: False,
        duration: Callable[[int], float] = lambda i: 1.0 + i % 3,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.fails = fails
        self.duration = duration
        self.live: dict[str, Run] = {}
        self.added: Counter[str] = Counter()
        self.first: dict[str, Run] = {}
        self.peak_existing = 0
        self.peak_unfinished = 0
        self.started = trio.Event()
        self.cancels: dict[str, trio.Event] = {}
        self._seen = trio.Event()

    async def wait_until_none_live(self) -> None:
        """Until this executor's own watch has seen every child go (it may lag the store's)."""
        while self.live:
            self._seen = trio.Event()
            await self._seen.wait()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listing = await self.store.list_runs(self.namespace)
        async with (
            trio.open_nursery() as nursery,
            self.store.watch_runs(listing.resource_version, self.namespace) as events,
        ):
            task_status.started()
            async for event in events:
                run = event.object
                if run is None or ARRAY_LABEL not in run.metadata.labels:
                    continue
                name = run.metadata.name
                self._seen.set()
                if event.type is EventType.DELETED:
                    self.live.pop(name, None)
                    continue
                self.live[name] = run
                if event.type is EventType.ADDED:
                    self.added[name] += 1
                    self.first.setdefault(name, run)
                    self.cancels[name] = trio.Event()
                    nursery.start_soon(self.execute, name)
                if run.spec.cancel_requested:
                    self.cancels[name].set()
                unfinished = [r for r in self.live.values() if not r.status.phase.is_terminal]
                self.peak_existing = max(self.peak_existing, len(self.live))
                self.peak_unfinished = max(self.peak_unfinished, len(unfinished))

    async def execute(self, name: str) -> None:
        await self.move(name, lambda r: status.bound(r, "pod", "pod-uid", trio.current_time()))
        await trio.sleep(0.1)
        await self.move(name, lambda r: status.claimed(r, trio.current_time()))
        self.started.set()
        run = self.live[name]
        with trio.move_on_after(self.duration(index_of(run))):
            await self.cancels[name].wait()
        now = trio.current_time()
        if self.live[name].spec.cancel_requested:
            await self.move(
                name,
                lambda r: status.finished_unsuccessfully(
                    r, Phase.CANCELLED, FailureReason.CANCELLED, "", now
                ),
            )
        elif self.fails(index_of(run)):
            await self.move(
                name,
                lambda r: status.finished_unsuccessfully(
                    r, Phase.FAILED, FailureReason.RUNTIME_ERROR, "exit 1", now
                ),
            )
        else:
            await self.move(name, lambda r: status.succeeded(r, now))

    async def move(self, name: str, change: Callable[[Run], Run]) -> None:
        while True:
            run = await self.store.get_run(self.namespace, name)
            if run.status.phase.is_terminal:
                return
            if run.status.phase is Phase.PENDING and run.spec.cancel_requested:
                change = lambda r: status.finished_unsuccessfully(  # noqa: E731
                    r, Phase.CANCELLED, FailureReason.CANCELLED, "", trio.current_time()
                )
            try:
                self.live[name] = await self.store.update_status(change(run))
                return
            except Conflict:
                continue


async def settle(
    store: Store, done: Callable[[dict[str, Run]], bool], namespace: str | None = None
) -> dict[str, Run]:
    """Every Run by name, once `done` says so: by watching, not by polling."""
    listing = await store.list_runs(namespace)
    runs = {r.metadata.name: r for r in listing.items}
    if done(runs):
        return runs
    async with store.watch_runs(listing.resource_version, namespace) as events:
        async for event in events:
            run = event.object
            if run is None:
                continue
            if event.type is EventType.DELETED:
                runs.pop(run.metadata.name, None)
            else:
                runs[run.metadata.name] = run
            if done(runs):
                return runs
    raise AssertionError("the store closed")


async def until(
    store: Store, name: str, done: Callable[[Run], bool], namespace: str | None = None
) -> Run:
    runs = await settle(store, lambda runs: name in runs and done(runs[name]), namespace)
    return runs[name]


def no_children(runs: dict[str, Run], *, but: frozenset[str] = frozenset()) -> bool:
    return all(ARRAY_LABEL not in r.metadata.labels or n in but for n, r in runs.items())


async def request_cancel(store: Store, name: str) -> None:
    """What `Client.cancel` does: set `cancel_requested`, re-reading on a conflict."""
    while True:
        run = await store.get_run("default", name)
        try:
            await store.update_spec(evolve(run, spec=evolve(run.spec, cancel_requested=True)))
            return
        except Conflict:
            continue


def finished(run: Run) -> bool:
    return run.status.phase.is_terminal


async def children(store: MemoryStore) -> list[Run]:
    return [r for r in (await store.list_runs()).items if ARRAY_LABEL in r.metadata.labels]


def virtual(main: Callable[[], Any]) -> Any:
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("compact", [False, True], ids=["objects", "compact"])
def test_each_index_runs_once_within_parallelism(compact: bool) -> None:
    async def main() -> None:
        store = MemoryStore()
        executor = Executor(store, fails=lambda i: i == 5)
        controller = ArrayController(store, clock=trio.current_time)
        async with trio.open_nursery() as nursery:
            await nursery.start(executor.run)
            await nursery.start(controller.run)
            await store.create(array_run("job", 12, 3, compact=compact))
            with trio.fail_after(600):
                parent = await until(store, "job", finished)
                if compact:  # the last deletes follow the final status
                    await settle(store, no_children)
                left = await children(store)
            nursery.cancel_scope.cancel()
        assert parent.status.phase is Phase.FAILED
        assert parent.status.array == ArrayStatus(
            active=0,
            succeeded=11,
            failed=1,
            completed_indexes="0-4,6-11",
            failed_indexes="5",
        )
        assert "1 of 12 indexes failed: 5" in parent.status.message
        assert executor.added == Counter({f"job-{i}": 1 for i in range(12)})
        assert executor.peak_unfinished == 3
        if compact:
            assert executor.peak_existing == 3
            assert left == []
        else:
            assert {index_of(r): r.status.phase for r in left} == {
                i: Phase.FAILED if i == 5 else Phase.SUCCEEDED for i in range(12)
            }

    virtual(main)


def test_cancelling_the_parent_cancels_its_running_children() -> None:
    async def main() -> None:
        store = MemoryStore()
        executor = Executor(store, duration=lambda i: 1000.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(executor.run)
            await nursery.start(ArrayController(store, clock=trio.current_time).run)
            created = await store.create(array_run("job", 12, 3, compact=True))
            with trio.fail_after(100):
                await executor.started.wait()
                await until(store, "job", lambda r: r.status.phase is Phase.RUNNING)
                await request_cancel(store, created.metadata.name)
                parent = await until(store, "job", finished)
                await settle(store, no_children)
            nursery.cancel_scope.cancel()
        assert parent.status.phase is Phase.CANCELLED
        assert parent.status.array is not None
        assert parent.status.array.failed == 3  # the three that ran were cancelled
        assert parent.status.array.succeeded == 0
        assert sum(executor.added.values()) == 3

    virtual(main)


class FlakyStore(MemoryStore):
    """Every third parent status write conflicts (as if someone wrote just before), and the
    store is unreachable for the fourth create."""

    def __init__(self) -> None:
        super().__init__()
        self.status_writes = 0
        self.creates = 0

    async def update_status(self, obj: Any) -> Any:
        if isinstance(obj, Run) and obj.spec.array is not None:
            self.status_writes += 1
            if self.status_writes % 3 == 0:
                current = await self.get_run(obj.metadata.namespace, obj.metadata.name)
                await super().update_status(current)  # a concurrent writer moves the version
                raise Conflict("changed meanwhile")
        return await super().update_status(obj)

    async def create(self, obj: Any) -> Any:
        self.creates += 1
        if self.creates == 5:  # the parent was the first
            raise Unavailable("connection reset")
        return await super().create(obj)


def test_conflicts_and_an_unreachable_store_change_nothing_in_the_outcome() -> None:
    async def main() -> None:
        store = FlakyStore()
        executor = Executor(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(executor.run)
            await nursery.start(ArrayController(store, clock=trio.current_time).run)
            await store.create(array_run("job", 10, 4, compact=True))
            with trio.fail_after(600):
                parent = await until(store, "job", finished)
            nursery.cancel_scope.cancel()
        assert parent.status.phase is Phase.SUCCEEDED
        assert parent.status.array == ArrayStatus(succeeded=10, completed_indexes="0-9")
        assert executor.added == Counter({f"job-{i}": 1 for i in range(10)})
        assert store.status_writes >= 6

    virtual(main)


class RefusingStore(MemoryStore):
    """May not create children of the array `bad` (as RBAC might say) until `allow`."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[float] = []
        self.allow = False

    async def create(self, obj: Any) -> Any:
        if obj.metadata.labels.get(ARRAY_LABEL) == "bad" and not self.allow:
            self.refused.append(trio.current_time())
            raise Forbidden("runs is forbidden: cannot create")
        return await super().create(obj)


def test_an_array_the_store_refuses_waits_alone_with_backoff() -> None:
    async def main() -> None:
        store = RefusingStore()
        executor = Executor(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(executor.run)
            await nursery.start(ArrayController(store, clock=trio.current_time).run)
            await store.create(array_run("bad", 2, None))
            await store.create(array_run("good", 4, 2))
            with trio.fail_after(100):
                good = await until(store, "good", finished)
            assert good.status.phase is Phase.SUCCEEDED
            await trio.sleep(120)
            gaps = [b - a for a, b in zip(store.refused, store.refused[1:], strict=False)]
            assert gaps[-3:] == [pytest.approx(30)] * 3  # 1, 2, 4, ... up to 30 s apart
            assert len(store.refused) <= 12
            store.allow = True
            with trio.fail_after(100):
                bad = await until(store, "bad", finished)
            nursery.cancel_scope.cancel()
        assert bad.status.phase is Phase.SUCCEEDED

    virtual(main)


def test_a_child_the_store_finds_invalid_fails_the_array_with_the_reason() -> None:
    async def main() -> Run:
        store = MemoryStore()
        full = tuple(EnvVar(f"V{i}", "x") for i in range(256))  # the index makes 257
        run = array_run("job", 3, None)
        async with trio.open_nursery() as nursery:
            await nursery.start(ArrayController(store, clock=trio.current_time).run)
            await store.create(evolve(run, spec=evolve(run.spec, env=full)))
            with trio.fail_after(100):
                parent = await until(store, "job", finished)
            nursery.cancel_scope.cancel()
        return parent

    parent = virtual(main)
    assert parent.status.phase is Phase.FAILED
    assert parent.status.message.startswith("InvalidArray: a child Run was refused: spec.env")


def test_children_of_a_deleted_array_are_deleted() -> None:
    async def main() -> None:
        store = MemoryStore()
        executor = Executor(store, duration=lambda i: 1000.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(executor.run)
            await nursery.start(ArrayController(store, clock=trio.current_time).run)
            await store.create(array_run("job", 5, 2))
            await store.create(array_run("other", 1, None))
            with trio.fail_after(100):
                await until(store, "job", lambda r: r.status.phase is Phase.RUNNING)
                await until(store, "other-0", lambda r: True)
                await store.delete(Kind.RUN, "default", "job")
                runs = await settle(store, lambda r: no_children(r, but=frozenset({"other-0"})))
            nursery.cancel_scope.cancel()
        assert "other-0" in runs

    virtual(main)


def test_a_restarted_controller_counts_nothing_twice() -> None:
    """The status was written but the controller died before deleting the child."""

    async def main() -> None:
        store = MemoryStore()
        parent = await store.create(array_run("job", 3, 1, compact=True))
        first = ArrayController(store, clock=trio.current_time)
        async with trio.open_nursery() as nursery:
            await nursery.start(first.run)
            child = await until(store, "job-0", lambda r: True)
            nursery.cancel_scope.cancel()
        await store.update_status(
            status.succeeded(status.claimed(status.bound(child, "p", "u", 0), 0), 1)
        )
        parent = await store.get_run("default", "job")
        folded = evolve(parent.status, array=ArrayStatus(succeeded=1, completed_indexes="0"))
        await store.update_status(evolve(parent, status=folded))  # as the dead one wrote it
        executor = Executor(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(executor.run)
            await nursery.start(ArrayController(store, clock=trio.current_time).run)
            with trio.fail_after(100):
                done = await until(store, "job", finished)
            nursery.cancel_scope.cancel()
        assert done.status.array == ArrayStatus(succeeded=3, completed_indexes="0-2")
        assert set(executor.added) == {"job-1", "job-2"}
        with pytest.raises(NotFound):
            await store.get_run("default", "job-0")

    virtual(main)


def test_on_a_real_apiserver(krt_kube_env: KubeTestEnv) -> None:
    """KubeStore: owner references, labels and `status.array` survive the apiserver."""
    from kruntimes.adapters.kubernetes.api import KubeApi
    from kruntimes.adapters.kubernetes.store import KubeStore

    async def main() -> None:
        ns = krt_kube_env.new_namespace("arrays")
        store = KubeStore(KubeApi.from_kubeconfig(krt_kube_env.kubeconfig))
        executor = Executor(store, namespace=ns, duration=lambda i: 0.05)
        run = array_run("job", 6, 2, compact=True)
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(executor.run)
                await nursery.start(ArrayController(store, namespace=ns).run)
                await store.create(evolve(run, metadata=evolve(run.metadata, namespace=ns)))
                parent = await until(store, "job", finished, ns)
                await settle(store, no_children, ns)
                await executor.wait_until_none_live()
                nursery.cancel_scope.cancel()
        assert parent.status.phase is Phase.SUCCEEDED, parent.status.message
        assert parent.status.array == ArrayStatus(succeeded=6, completed_indexes="0-5")
        assert executor.added == Counter({f"job-{i}": 1 for i in range(6)})
        assert executor.peak_existing <= 2
        assert executor.live == {}
        first = executor.first["job-0"]
        assert first.metadata.labels[ARRAY_LABEL] == "job"
        (owner,) = first.metadata.owner_references
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "Run",
            parent.metadata.uid,
            True,
        )
        assert ("KRUNTIMES_ARRAY_INDEX", "0") in [(e.name, e.value) for e in first.spec.env]

    trio.run(main)


# -- the real embedded engine ------------------------------------------------------------

PRINT_INDEX = (
    'echo "index=$KRUNTIMES_ARRAY_INDEX" > "$KRUNTIME_OUTPUTS"; echo "index $KRUNTIMES_ARRAY_INDEX"'
)


@pytest.mark.parametrize("compact", [False, True], ids=["objects", "compact"])
def test_an_array_of_bash_runs_on_the_engine(tmp_path: Path, compact: bool) -> None:
    script = f'{PRINT_INDEX}; [ "$KRUNTIMES_ARRAY_INDEX" != 7 ]'
    run = array_run(
        "job",
        12,
        3,
        compact=compact,
        script=script,
        retry=RetryPolicy(max_attempts=2, backoff_seconds=0.01),
    )
    final, kids, peak = trio.run(_engine_array, tmp_path, run)
    assert final.status.phase is Phase.FAILED
    assert final.status.array is not None
    assert decode_indexes(final.status.array.completed_indexes) == set(range(12)) - {7}
    assert final.status.array.failed_indexes == "7"
    assert peak <= 3
    if compact:
        assert kids == []
    else:
        assert {index_of(k): k.status.outputs.get("index") for k in kids} == {
            i: str(i) for i in range(12)
        }
        failed = next(k for k in kids if index_of(k) == 7)
        assert failed.status.attempt == 2  # retried on its own, then failed


def test_cancelling_an_array_on_the_engine(tmp_path: Path) -> None:
    run = array_run("job", 12, 3, script="sleep 30")
    final, kids, peak = trio.run(_engine_array, tmp_path, run, True)
    assert final.status.phase is Phase.CANCELLED
    assert peak <= 3
    assert len(kids) == 3
    assert all(k.status.phase is Phase.CANCELLED for k in kids)


async def _engine_array(state: Path, run: Run, cancel: bool = False) -> tuple[Run, list[Run], int]:
    async with running_engine(state, pools(2, 4, "bash"), persist=False) as engine:
        store = engine.store
        assert isinstance(store, MemoryStore)
        listing = await store.list_runs()
        await store.create(run)
        live: dict[str, Run] = {}
        peak = 0
        compact = run.spec.array is not None and run.spec.array.compact_status
        done = False
        with trio.fail_after(60):
            async with store.watch_runs(listing.resource_version) as events:
                async for event in events:
                    obj = event.object
                    if obj is None:
                        continue
                    if ARRAY_LABEL in obj.metadata.labels:
                        if event.type is EventType.DELETED:
                            live.pop(obj.metadata.name, None)
                        else:
                            live[obj.metadata.name] = obj
                        unfinished = [r for r in live.values() if not finished(r)]
                        peak = max(peak, len(unfinished))
                        if cancel and any(r.status.phase is Phase.RUNNING for r in unfinished):
                            cancel = False
                            await request_cancel(store, "job")
                    elif obj.metadata.name == "job" and finished(obj):
                        done = True
                    if done and not (compact and live):  # compact: the last deletes follow
                        break
        return await store.get_run("default", "job"), await children(store), peak
