"""KubeStore against a real kube-apiserver: the Store contract, plus what only Kubernetes does."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from attrs import evolve

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.model import RuntimePod
from kruntimes.store import EventType, Gone, Invalid, Store, Unsupported
from kruntimes.testing.builders import make_pod, make_run
from kruntimes.testing.kube_env import KubeTestEnv
from kruntimes.testing.kubelet import FakeKubelet
from kruntimes.testing.store_contract import (
    StoreContract,
    contract_case,
    next_event,
    next_events,
)


class TestKubeStore(StoreContract):
    compaction_writes = 0
    overflow_writes = 120
    timeout = 60.0

    @pytest.fixture(autouse=True)
    def _env(self, krt_kube_env: KubeTestEnv) -> None:
        self.env = krt_kube_env

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        self.namespaces = (self.env.new_namespace("a"), self.env.new_namespace("b"))
        api = KubeApi.from_kubeconfig(self.env.kubeconfig)
        self.kubelet = FakeKubelet(api)
        yield KubeStore(api, watch_buffer=50)

    async def put_pod(self, store: Store, pod: RuntimePod) -> RuntimePod:
        return await self.kubelet.put_pod(pod)

    async def compacted_resource_version(self, store: Store) -> str:
        ns = self.namespaces[0]
        old = (await store.list_runs(ns)).resource_version
        for name in ("after-1", "after-2"):  # etcd keeps the revision it compacts to
            await store.create(make_run(name, namespace=ns))
        await trio.to_thread.run_sync(self.env.compact_etcd)
        return old

    @contract_case
    async def test_pods(self, store: Store) -> None:
        """Like the contract's, with kubelet's two writes per Pod and whole-second timestamps."""
        ns = self.namespaces[0]
        listing = await store.list_pods(ns)
        put = await self.put_pod(store, make_pod("p1", namespace=ns, capacity={"runs": 3}))
        assert (put.name, put.capacity, put.heartbeat, put.ready) == ("p1", {"runs": 3}, None, True)
        await store.heartbeat_pod(ns, "p1", 1_700_000_005.5)
        (beating,) = (await store.list_pods(ns)).items
        assert beating.heartbeat == 1_700_000_005
        await self.put_pod(store, evolve(beating, ready=False))
        await self.kubelet.delete_pod(ns, "p1")
        assert (await store.list_pods(ns)).items == ()
        async with store.watch_pods(listing.resource_version, ns) as events:
            seen = await next_events(events, 4)
            while seen[-1].type is not EventType.DELETED:  # after a deletionTimestamp update
                seen.append(await next_event(events))
        assert [e.type for e in seen[:4]] == [
            EventType.ADDED,  # created
            EventType.MODIFIED,  # Running and Ready
            EventType.MODIFIED,  # heartbeat
            EventType.MODIFIED,  # not Ready
        ]
        assert seen[2].object == beating
        last = seen[-1].object
        assert last is not None
        assert (last.ready, last.heartbeat) == (False, 1_700_000_005)

    @contract_case
    async def test_put_pod_is_the_kubelets(self, store: Store) -> None:
        with pytest.raises(Unsupported, match="kubelet"):
            await store.put_pod(make_pod("p1", namespace=self.namespaces[0]))

    @contract_case
    async def test_watch_resumes_across_server_stream_ends(self, store: Store) -> None:
        """A stream the server ends (timeoutSeconds, restart) is resumed from the last version."""
        assert isinstance(store, KubeStore)
        ns = self.namespaces[0]
        listing = await store.list_runs(ns)
        async with store.watch_runs(listing.resource_version, ns) as events:
            first = await store.create(make_run("a", namespace=ns))
            assert (await next_event(events)).object == first
            await trio.to_thread.run_sync(self.env.stop_apiserver)
            await trio.to_thread.run_sync(self.env.start_apiserver)
            second = await store.create(make_run("b", namespace=ns))
            assert (await next_event(events)).object == second

    @contract_case
    async def test_schema_rejects_what_the_library_would(self, store: Store) -> None:
        """The CRD's OpenAPI schema stops a client that skips the library's checks."""
        assert isinstance(store, KubeStore)
        ns = self.namespaces[0]
        body = {
            "apiVersion": "kruntimes.io/v1alpha1",
            "kind": "Run",
            "metadata": {"name": "raw"},
            "spec": {"runtime": "bash", "mode": {"task": {"args": ["x"] * 300}}},
        }
        with pytest.raises(Invalid, match="args"):
            await store.api.request(
                "POST", f"/apis/kruntimes.io/v1alpha1/namespaces/{ns}/runs", body=body
            )

    @contract_case
    async def test_an_object_the_library_cannot_read_is_skipped_not_fatal(
        self, store: Store
    ) -> None:
        """The schema takes `500m` (int-or-string), the library wants whole numbers: lists and
        watches go on without that Run (a warning names it) instead of failing every time."""
        assert isinstance(store, KubeStore)
        ns = self.namespaces[0]
        listing = await store.list_runs(ns)
        body = {
            "apiVersion": "kruntimes.io/v1alpha1",
            "kind": "Run",
            "metadata": {"name": "milli"},
            "spec": {
                "runtime": "bash",
                "mode": {"task": {"args": ["true"]}},
                "resources": {"requests": {"cpu": "500m"}},
            },
        }
        async with store.watch_runs(listing.resource_version, ns) as events:
            await store.api.request(
                "POST", f"/apis/kruntimes.io/v1alpha1/namespaces/{ns}/runs", body=body
            )
            good = await store.create(make_run("good", namespace=ns))
            assert (await next_event(events)).object == good
        assert [r.metadata.name for r in (await store.list_runs(ns)).items] == ["good"]

    @contract_case
    async def test_gone_after_compaction_relists(self, store: Store) -> None:
        ns = self.namespaces[0]
        old = await self.compacted_resource_version(store)
        with pytest.raises(Gone):
            async with store.watch_runs(old, ns) as events:
                await next_event(events)
        fresh = await store.list_runs(ns)
        assert [r.metadata.name for r in fresh.items] == ["after-1", "after-2"]
