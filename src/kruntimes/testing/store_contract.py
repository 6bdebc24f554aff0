"""The `Store` port's contract suite: every store implementation subclasses `StoreContract`.

    from contextlib import asynccontextmanager

    class TestMyStore(StoreContract):
        @asynccontextmanager
        async def store(self):
            store = MyStore(...)
            try:
                yield store
            finally:
                await store.aclose()

Each test is a plain synchronous pytest test that runs its body under
`trio.run` with a fresh store, using only the port, so the embedded stores
and the Kubernetes adapter are held to the same semantics. Hooks a subclass
may override: `namespaces` (a Kubernetes subclass sets fresh ones in
`store()`), `put_pod` / `heartbeat_pod` / `delete_pod` (where kubelet owns
Pods, play kubelet), `compacted_resource_version` (e.g. compact etcd),
`compaction_writes`, `overflow_writes` and `timeout`. The suite expects the
store under test to keep fewer than `compaction_writes` events of history and
to cut off a watcher that lags fewer than `overflow_writes` events of 4 KiB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio
from attrs import evolve

from kruntimes.model import (
    ObjectMeta,
    Phase,
    QueueingStrategy,
    RetryPolicy,
    Run,
    RunQueue,
    RunQueueSpec,
    RunQueueStatus,
    RunStatus,
    Runtime,
    RuntimePod,
    RuntimeSpec,
    RuntimeStatus,
)
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    EventType,
    Gone,
    Invalid,
    Kind,
    NotFound,
    Store,
    T,
    WatchEvent,
)
from kruntimes.testing.builders import make_pod, make_run

_Case = Callable[[Any, Store], Awaitable[None]]


def contract_case(case: _Case) -> Callable[[Any], None]:
    """Turn `async def test_x(self, store)` into a sync test run by `trio.run` on a fresh store."""

    def test(self: StoreContract) -> None:
        async def main() -> None:
            with trio.fail_after(self.timeout):
                async with self.store() as store:
                    await case(self, store)

        trio.run(main)

    test.__name__, test.__qualname__ = case.__name__, case.__qualname__
    test.__doc__ = case.__doc__
    return test


async def next_event(events: AsyncIterator[WatchEvent[T]]) -> WatchEvent[T]:
    """The next event that is not a `BOOKMARK` (stores may send those at any time)."""
    async for event in events:
        if event.type is not EventType.BOOKMARK:
            return event
    raise AssertionError("the watch ended")


async def next_events(events: AsyncIterator[WatchEvent[T]], count: int) -> list[WatchEvent[T]]:
    """The next `count` events that are not bookmarks."""
    return [await next_event(events) for _ in range(count)]


def run_queue(name: str, namespace: str, **spec: Any) -> RunQueue:
    """A RunQueue with a quota of 10 Runs and `spec` fields; status set, for stores to drop."""
    fields = {"quota": {"runs": 10}, **spec}
    return RunQueue(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=RunQueueSpec(**fields),
        status=RunQueueStatus(pending=3, admitted=2, usage={"runs": 2}),
    )


def queue_usage(queue: RunQueue, pending: int, admitted: int) -> RunQueue:
    """`queue` with the status a scheduler writes: `admitted` Runs holding one `runs` each."""
    status = RunQueueStatus(pending=pending, admitted=admitted, usage={"runs": admitted})
    return evolve(queue, status=status)


def scheduled(run: Run, pod: str = "pod-1") -> Run:
    """`run` with the status a scheduler writes when it binds it to `pod`."""
    status = evolve(run.status, phase=Phase.SCHEDULED, assigned_pod=pod, assigned_pod_uid=pod)
    return evolve(run, status=status)


class StoreContract:
    """Subclass and implement `store()`; see the module docstring for the other hooks."""

    namespaces: tuple[str, str] = ("team-a", "team-b")
    compaction_writes = 64
    overflow_writes = 300
    timeout = 30.0

    def store(self) -> AbstractAsyncContextManager[Store]:
        raise NotImplementedError("return an async context manager yielding a fresh, empty store")

    async def put_pod(self, store: Store, pod: RuntimePod) -> RuntimePod:
        return await store.put_pod(pod)

    async def heartbeat_pod(self, store: Store, namespace: str, name: str, at: float) -> None:
        await store.heartbeat_pod(namespace, name, at)

    async def delete_pod(self, store: Store, namespace: str, name: str) -> None:
        await store.delete_pod(namespace, name)

    async def compacted_resource_version(self, store: Store) -> str:
        """A version that a watch can no longer start from: one followed by many writes."""
        ns = self.namespaces[0]
        old = (await store.list_runs(ns)).resource_version
        for i in range(self.compaction_writes):
            await store.create(make_run(f"compact-{i}", namespace=ns))
        return old

    @contract_case
    async def test_create_assigns_server_fields(self, store: Store) -> None:
        """uid, resourceVersion, generation 1 and creationTimestamp come from the store."""
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        meta = created.metadata
        assert meta.uid not in ("", "a-uid")
        assert meta.resource_version
        assert meta.generation == 1
        assert meta.creation_timestamp is not None
        assert await store.get_run(ns, "a") == created

    @contract_case
    async def test_create_drops_status(self, store: Store) -> None:
        ns = self.namespaces[0]
        run = make_run("a", namespace=ns, phase=Phase.RUNNING, pod="p1", attempt=2)
        created = await store.create(run)
        assert created.status == RunStatus()
        assert (await store.get_run(ns, "a")).status == RunStatus()

    @contract_case
    async def test_create_taken_name_fails(self, store: Store) -> None:
        ns, other = self.namespaces
        await store.create(make_run("a", namespace=ns))
        with pytest.raises(AlreadyExists):
            await store.create(make_run("a", namespace=ns))
        await store.create(make_run("a", namespace=other))

    @contract_case
    async def test_create_generates_names(self, store: Store) -> None:
        ns = self.namespaces[0]
        run = make_run("", namespace=ns)
        run = evolve(run, metadata=evolve(run.metadata, extra={"generateName": "job-"}))
        first, second = await store.create(run), await store.create(run)
        assert first.metadata.name.startswith("job-")
        assert second.metadata.name.startswith("job-")
        assert first.metadata.name != second.metadata.name

    @contract_case
    async def test_invalid_objects_are_refused(self, store: Store) -> None:
        ns = self.namespaces[0]
        with pytest.raises(Invalid, match=r"metadata\.name"):
            await store.create(make_run("Not_A_Name", namespace=ns))
        with pytest.raises(Invalid, match=r"spec\.runtime"):
            await store.create(make_run("a", runtime="", namespace=ns))
        created = await store.create(make_run("a", namespace=ns))
        bad = evolve(created.status, assigned_pod="p1", assigned_pod_uid=None)
        with pytest.raises(Invalid, match=r"status\.assignedPodUID"):
            await store.update_status(evolve(created, status=bad))
        unversioned = evolve(created, metadata=evolve(created.metadata, resource_version=""))
        with pytest.raises(Invalid):
            await store.update_status(scheduled(unversioned))
        assert await store.get_run(ns, "a") == created

    @contract_case
    async def test_missing_objects_are_not_found(self, store: Store) -> None:
        ns = self.namespaces[0]
        ghost = make_run("ghost", namespace=ns)
        with pytest.raises(NotFound):
            await store.get_run(ns, "ghost")
        with pytest.raises(NotFound):
            await store.get_runtime(ns, "ghost")
        with pytest.raises(NotFound):
            await store.update_status(scheduled(ghost))
        with pytest.raises(NotFound):
            await store.update_spec(ghost)
        with pytest.raises(NotFound):
            await store.delete(Kind.RUN, ns, "ghost")
        with pytest.raises(NotFound):
            await self.delete_pod(store, ns, "ghost")
        with pytest.raises(NotFound):
            await self.heartbeat_pod(store, ns, "ghost", 1.0)

    @contract_case
    async def test_list_filters_by_namespace(self, store: Store) -> None:
        ns, other = self.namespaces
        for name, space in (("a1", ns), ("a2", ns), ("b1", other)):
            await store.create(make_run(name, namespace=space))
        listing = await store.list_runs(ns)
        assert listing.resource_version
        assert sorted(r.metadata.name for r in listing.items) == ["a1", "a2"]
        assert [r.metadata.name for r in (await store.list_runs(other)).items] == ["b1"]
        everywhere = {r.key for r in (await store.list_runs()).items}
        assert {(ns, "a1"), (ns, "a2"), (other, "b1")} <= everywhere

    @contract_case
    async def test_delete_removes(self, store: Store) -> None:
        ns = self.namespaces[0]
        await store.create(make_run("a", namespace=ns))
        await store.delete(Kind.RUN, ns, "a")
        with pytest.raises(NotFound):
            await store.get_run(ns, "a")
        assert (await store.list_runs(ns)).items == ()
        with pytest.raises(NotFound):
            await store.delete(Kind.RUN, ns, "a")

    @contract_case
    async def test_update_status_ignores_spec_and_metadata(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        sent = scheduled(created)
        sent = evolve(
            sent,
            spec=evolve(sent.spec, runtime="python"),
            metadata=evolve(sent.metadata, labels={"app": "web"}),
        )
        updated = await store.update_status(sent)
        assert updated.status == sent.status
        assert updated.spec == created.spec
        assert updated.metadata.labels == created.metadata.labels
        assert updated.metadata.generation == created.metadata.generation
        assert updated.metadata.resource_version != created.metadata.resource_version
        assert await store.get_run(ns, "a") == updated

    @contract_case
    async def test_update_spec_ignores_status(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        sent = scheduled(created)
        sent = evolve(
            sent,
            spec=evolve(sent.spec, cancel_requested=True),
            metadata=evolve(sent.metadata, labels={"app": "web"}),
        )
        updated = await store.update_spec(sent)
        assert updated.spec.cancel_requested
        assert updated.metadata.labels == {"app": "web"}
        assert updated.status == created.status
        assert updated.metadata.generation == 2
        assert updated.metadata.uid == created.metadata.uid
        assert await store.get_run(ns, "a") == updated

    @contract_case
    async def test_stale_status_write_conflicts(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        first = await store.update_status(scheduled(created, "p1"))
        with pytest.raises(Conflict):
            await store.update_status(scheduled(created, "p2"))
        assert await store.get_run(ns, "a") == first
        reread = await store.get_run(ns, "a")
        retried = await store.update_status(scheduled(reread, "p2"))
        assert retried.status.assigned_pod == "p2"

    @contract_case
    async def test_stale_spec_write_conflicts(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        bound = await store.update_status(scheduled(created))
        with pytest.raises(Conflict):
            await store.update_spec(
                evolve(created, spec=evolve(created.spec, cancel_requested=True))
            )
        assert await store.get_run(ns, "a") == bound

    @contract_case
    async def test_immutable_spec_fields(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        with pytest.raises(Invalid, match=r"spec\.runtime"):
            await store.update_spec(evolve(created, spec=evolve(created.spec, runtime="python")))
        policy = RetryPolicy(max_attempts=3)
        with pytest.raises(Invalid, match=r"spec\.retryPolicy"):
            await store.update_spec(evolve(created, spec=evolve(created.spec, retry_policy=policy)))
        assert await store.get_run(ns, "a") == created

    @contract_case
    async def test_cancel_requested_only_goes_false_to_true(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        cancelled = await store.update_spec(
            evolve(created, spec=evolve(created.spec, cancel_requested=True))
        )
        assert cancelled.spec.cancel_requested
        with pytest.raises(Invalid, match=r"spec\.cancelRequested"):
            await store.update_spec(
                evolve(cancelled, spec=evolve(cancelled.spec, cancel_requested=False))
            )
        assert (await store.get_run(ns, "a")).spec.cancel_requested

    @contract_case
    async def test_concurrent_conditional_writers(self, store: Store) -> None:
        """Writers racing from the same version: exactly one lands, the others conflict."""
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        landed: list[Run] = []
        conflicts: list[str] = []

        async def bind(pod: str) -> None:
            try:
                landed.append(await store.update_status(scheduled(created, pod)))
            except Conflict:
                conflicts.append(pod)

        async def cancel() -> None:
            try:
                spec = evolve(created.spec, cancel_requested=True)
                landed.append(await store.update_spec(evolve(created, spec=spec)))
            except Conflict:
                conflicts.append("cancel")

        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(bind, f"pod-{i}")
            nursery.start_soon(cancel)
        assert len(landed) == 1
        assert len(conflicts) == 4
        assert await store.get_run(ns, "a") == landed[0]

    @contract_case
    async def test_watch_replays_from_listed_version_in_order(self, store: Store) -> None:
        ns = self.namespaces[0]
        listing = await store.list_runs(ns)
        a = await store.create(make_run("a", namespace=ns))
        a_bound = await store.update_status(scheduled(a))
        b = await store.create(make_run("b", namespace=ns))
        await store.delete(Kind.RUN, ns, "a")
        async with store.watch_runs(listing.resource_version, ns) as events:
            seen = await next_events(events, 4)
        assert [(e.type, e.object.metadata.name if e.object else None) for e in seen] == [
            (EventType.ADDED, "a"),
            (EventType.MODIFIED, "a"),
            (EventType.ADDED, "b"),
            (EventType.DELETED, "a"),
        ]
        assert [e.object for e in seen[:3]] == [a, a_bound, b]
        versions = [a.metadata.resource_version, a_bound.metadata.resource_version]
        assert [e.resource_version for e in seen[:2]] == versions
        assert len({e.resource_version for e in seen}) == 4

    @contract_case
    async def test_watch_delivers_live_writes(self, store: Store) -> None:
        ns = self.namespaces[0]
        listing = await store.list_runs(ns)
        async with store.watch_runs(listing.resource_version, ns) as events:
            created = await store.create(make_run("a", namespace=ns))
            assert (await next_event(events)).object == created
            bound = await store.update_status(scheduled(created))
            event = await next_event(events)
            assert (event.type, event.object, event.resource_version) == (
                EventType.MODIFIED,
                bound,
                bound.metadata.resource_version,
            )

    @contract_case
    async def test_watch_from_compacted_version_is_gone(self, store: Store) -> None:
        ns = self.namespaces[0]
        old = await self.compacted_resource_version(store)
        with pytest.raises(Gone):
            async with store.watch_runs(old, ns) as events:
                await next_event(events)

    @contract_case
    async def test_deleted_event_carries_last_object(self, store: Store) -> None:
        ns = self.namespaces[0]
        created = await store.create(make_run("a", namespace=ns))
        bound = await store.update_status(scheduled(created))
        async with store.watch_runs(bound.metadata.resource_version, ns) as events:
            await store.delete(Kind.RUN, ns, "a")
            event = await next_event(events)
        assert event.type is EventType.DELETED
        assert event.object is not None
        assert event.object.metadata.uid == created.metadata.uid
        assert (event.object.spec, event.object.status) == (bound.spec, bound.status)

    @contract_case
    async def test_watch_filters_by_namespace(self, store: Store) -> None:
        ns, other = self.namespaces
        listing = await store.list_runs()
        async with store.watch_runs(listing.resource_version, ns) as events:
            await store.create(make_run("elsewhere", namespace=other))
            mine = await store.create(make_run("mine", namespace=ns))
            assert (await next_event(events)).object == mine
        async with store.watch_runs(listing.resource_version) as events:
            seen = [event.object for event in await next_events(events, 2)]
        assert {run.metadata.name for run in seen if run} == {"elsewhere", "mine"}

    @contract_case
    async def test_delete_waits_for_finalizers(self, store: Store) -> None:
        ns = self.namespaces[0]
        run = make_run("a", namespace=ns)
        run = evolve(run, metadata=evolve(run.metadata, finalizers=("example.com/cleanup",)))
        created = await store.create(run)
        async with store.watch_runs(created.metadata.resource_version, ns) as events:
            await store.delete(Kind.RUN, ns, "a")
            marked = await store.get_run(ns, "a")
            assert marked.metadata.deletion_timestamp is not None
            assert (await next_event(events)).object == marked
            bound = await store.update_status(scheduled(marked))
            assert (await next_event(events)).object == bound
            released = evolve(bound, metadata=evolve(bound.metadata, finalizers=()))
            await store.update_spec(released)
            event = await next_event(events)
        assert event.type is EventType.DELETED
        with pytest.raises(NotFound):
            await store.get_run(ns, "a")

    @contract_case
    async def test_runtimes(self, store: Store) -> None:
        ns = self.namespaces[0]
        listing = await store.list_runtimes(ns)
        runtime = Runtime(
            metadata=ObjectMeta(name="bash", namespace=ns),
            spec=RuntimeSpec(capacity={"runs": 4}),
            status=RuntimeStatus(ready_replicas=7),
        )
        created = await store.create(runtime)
        assert created.status == RuntimeStatus()
        assert created.metadata.generation == 1
        assert await store.get_runtime(ns, "bash") == created
        ready = await store.update_status(evolve(created, status=RuntimeStatus(ready_replicas=1)))
        scaled = await store.update_spec(evolve(ready, spec=evolve(ready.spec, replicas=3)))
        assert (scaled.spec.replicas, scaled.status.ready_replicas) == (3, 1)
        assert scaled.metadata.generation == 2
        with pytest.raises(Conflict):
            await store.update_status(created)
        assert (await store.list_runtimes(ns)).items == (scaled,)
        await store.delete(Kind.RUNTIME, ns, "bash")
        async with store.watch_runtimes(listing.resource_version, ns) as events:
            types = [event.type for event in await next_events(events, 4)]
        assert types == [EventType.ADDED, EventType.MODIFIED, EventType.MODIFIED, EventType.DELETED]

    @contract_case
    async def test_run_queues(self, store: Store) -> None:
        """Create, read, status and spec updates, list, delete: a RunQueue's whole life."""
        ns = self.namespaces[0]
        listing = await store.list_run_queues(ns)
        created = await store.create(run_queue("team-a", ns, weight=2.0, cohort="research"))
        assert created.status == RunQueueStatus()
        assert created.metadata.generation == 1
        assert created.metadata.uid
        assert (created.spec.quota, created.spec.weight) == ({"runs": 10}, 2.0)
        assert await store.get_run_queue(ns, "team-a") == created
        busy = await store.update_status(queue_usage(created, pending=4, admitted=3))
        assert (busy.status.pending, busy.status.admitted, busy.status.usage) == (4, 3, {"runs": 3})
        assert busy.spec == created.spec
        assert busy.metadata.generation == 1
        spec = evolve(busy.spec, weight=0.5, queueing_strategy=QueueingStrategy.STRICT_FIFO)
        reweighted = await store.update_spec(evolve(busy, spec=spec))
        assert (reweighted.spec.weight, reweighted.status) == (0.5, busy.status)
        assert reweighted.metadata.generation == 2
        assert (await store.list_run_queues(ns)).items == (reweighted,)
        await store.delete(Kind.RUN_QUEUE, ns, "team-a")
        with pytest.raises(NotFound):
            await store.get_run_queue(ns, "team-a")
        assert (await store.list_run_queues(ns)).items == ()
        async with store.watch_run_queues(listing.resource_version, ns) as events:
            seen = await next_events(events, 4)
        assert [e.type for e in seen] == [
            EventType.ADDED,
            EventType.MODIFIED,
            EventType.MODIFIED,
            EventType.DELETED,
        ]
        assert [e.object for e in seen[:3]] == [created, busy, reweighted]

    @contract_case
    async def test_run_queue_writes_are_conditional(self, store: Store) -> None:
        """Status writers racing from one version: one lands, the others conflict, and a stale
        spec write conflicts too; a re-read then succeeds."""
        ns = self.namespaces[0]
        created = await store.create(run_queue("q", ns))
        landed: list[RunQueue] = []
        conflicts: list[int] = []

        async def write(admitted: int) -> None:
            try:
                landed.append(await store.update_status(queue_usage(created, 0, admitted)))
            except Conflict:
                conflicts.append(admitted)

        async with trio.open_nursery() as nursery:
            for admitted in range(1, 5):
                nursery.start_soon(write, admitted)
        assert (len(landed), len(conflicts)) == (1, 3)
        assert await store.get_run_queue(ns, "q") == landed[0]
        with pytest.raises(Conflict):
            await store.update_spec(evolve(created, spec=evolve(created.spec, weight=3.0)))
        reread = await store.get_run_queue(ns, "q")
        retried = await store.update_status(queue_usage(reread, 1, 7))
        assert retried.status.admitted == 7
        assert retried.spec == created.spec

    @contract_case
    async def test_run_queue_failures(self, store: Store) -> None:
        """Missing queues are NotFound, taken names AlreadyExists, bad queues Invalid."""
        ns, other = self.namespaces
        with pytest.raises(NotFound):
            await store.get_run_queue(ns, "ghost")
        with pytest.raises(NotFound):
            await store.delete(Kind.RUN_QUEUE, ns, "ghost")
        ghost = evolve(
            run_queue("ghost", ns), metadata=ObjectMeta("ghost", ns, resource_version="1")
        )
        with pytest.raises(NotFound):
            await store.update_status(ghost)
        with pytest.raises(Invalid, match=r"spec\.weight"):
            await store.create(run_queue("q", ns, weight=0.0))
        with pytest.raises(Invalid, match=r"metadata\.name"):
            await store.create(run_queue("team.a", ns))
        created = await store.create(run_queue("q", ns))
        with pytest.raises(AlreadyExists):
            await store.create(run_queue("q", ns))
        await store.create(run_queue("q", other))
        bad = evolve(created, status=RunQueueStatus(admitted=-1))
        with pytest.raises(Invalid, match=r"status\.admitted"):
            await store.update_status(bad)
        with pytest.raises(Invalid, match=r"spec\.cohort"):
            await store.update_spec(evolve(created, spec=evolve(created.spec, cohort="Research")))
        assert await store.get_run_queue(ns, "q") == created

    @contract_case
    async def test_run_queue_watch_and_list_filter_by_namespace(self, store: Store) -> None:
        ns, other = self.namespaces
        listing = await store.list_run_queues()
        async with store.watch_run_queues(listing.resource_version, ns) as events:
            await store.create(run_queue("elsewhere", other))
            mine = await store.create(run_queue("mine", ns))
            assert (await next_event(events)).object == mine
            updated = await store.update_status(queue_usage(mine, 1, 1))
            event = await next_event(events)
            assert (event.type, event.object) == (EventType.MODIFIED, updated)
        assert [q.metadata.name for q in (await store.list_run_queues(ns)).items] == ["mine"]
        everywhere = {q.key for q in (await store.list_run_queues()).items}
        assert {(ns, "mine"), (other, "elsewhere")} <= everywhere
        assert (await store.list_runs(ns)).items == ()
        assert (await store.list_runtimes(ns)).items == ()

    @contract_case
    async def test_pods(self, store: Store) -> None:
        ns = self.namespaces[0]
        listing = await store.list_pods(ns)
        put = await self.put_pod(store, make_pod("p1", namespace=ns, capacity={"runs": 3}))
        assert (put.name, put.capacity, put.heartbeat) == ("p1", {"runs": 3}, None)
        await self.heartbeat_pod(store, ns, "p1", 1_700_000_005.5)
        (beating,) = (await store.list_pods(ns)).items
        assert beating.heartbeat == 1_700_000_005.5
        await self.put_pod(store, evolve(beating, ready=False))
        await self.delete_pod(store, ns, "p1")
        assert (await store.list_pods(ns)).items == ()
        async with store.watch_pods(listing.resource_version, ns) as events:
            seen = await next_events(events, 4)
        assert [e.type for e in seen] == [
            EventType.ADDED,
            EventType.MODIFIED,
            EventType.MODIFIED,
            EventType.DELETED,
        ]
        assert seen[1].object == beating
        assert seen[3].object == evolve(beating, ready=False)

    @contract_case
    async def test_slow_watcher_is_cut_off_and_writers_never_wait(self, store: Store) -> None:
        ns = self.namespaces[0]
        listing = await store.list_runs(ns)
        async with store.watch_runs(listing.resource_version, ns) as events:
            for i in range(self.overflow_writes):
                run = make_run(f"w-{i}", namespace=ns)
                padded = evolve(run.metadata, annotations={"example.com/padding": "x" * 4096})
                await store.create(evolve(run, metadata=padded))
            with pytest.raises(Gone):
                await next_events(events, self.overflow_writes)
