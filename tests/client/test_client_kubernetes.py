"""`Client.connect_kubernetes` / `AsyncClient.connect_kubernetes` against a real kube-apiserver.

No scheduler or agent runs: `finish_first_run` plays them for the waits.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import trio
from attrs import evolve

from kruntimes import status
from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.client import (
    Action,
    AsyncClient,
    Client,
    KubeconfigError,
    LogsUnavailable,
    run_spec,
)
from kruntimes.model import ObjectMeta, Phase, RunQueue, RunQueueSpec, Runtime, RuntimeSpec
from kruntimes.store import EventType, NotFound
from kruntimes.testing.builders import make_pod
from kruntimes.testing.kube_env import ADMIN_TOKEN, KubeTestEnv
from kruntimes.testing.kubelet import FakeKubelet


@pytest.fixture
def namespace(krt_kube_env: KubeTestEnv) -> str:
    return krt_kube_env.new_namespace("client")


@pytest.fixture
def kubeconfig(krt_kube_env: KubeTestEnv, tmp_path: Path, namespace: str) -> Path:
    """A kubeconfig whose context's namespace is the test's own."""
    return krt_kube_env.write_kubeconfig(tmp_path / "kubeconfig", ADMIN_TOKEN, namespace=namespace)


def finish_first_run(kubeconfig: Path, namespace: str) -> threading.Thread:
    """In a thread: the first Run created from now on goes Scheduled, Running, Succeeded."""
    watching = threading.Event()

    async def play() -> None:
        store = KubeStore(KubeApi.from_kubeconfig(kubeconfig))
        with trio.fail_after(30):
            version = (await store.list_runs(namespace)).resource_version
            async with store.watch_runs(version, namespace) as events:
                watching.set()
                async for event in events:
                    if event.type is EventType.ADDED and event.object is not None:
                        run = event.object
                        break
            now = time.time()
            run = await store.update_status(status.bound(run, "pod-1", "uid-1", now))
            run = await store.update_status(status.claimed(run, now))
            await store.update_status(status.succeeded(run, now, {"answer": "42"}))

    thread = threading.Thread(target=trio.run, args=(play,), daemon=True)
    thread.start()
    assert watching.wait(30)
    return thread


def test_the_client_works_through_the_cluster(kubeconfig: Path, namespace: str) -> None:
    with Client.connect_kubernetes(kubeconfig) as client:
        assert client.namespace == namespace
        created = client.submit(run_spec("bash", ["echo", "hi"]), "first")
        assert created.metadata.namespace == namespace
        assert client.get("first").status.phase is Phase.PENDING
        assert [r.metadata.name for r in client.list()] == ["first"]
        assert client.list(runtime="python") == []
        assert "first" in {r.metadata.name for r in client.list(all_namespaces=True)}
        cancelled = client.cancel("first")
        assert cancelled.spec.cancel_requested
        assert client.cancel("first").metadata.resource_version == (
            cancelled.metadata.resource_version
        )
        with pytest.raises(NotFound):
            client.get("nope")

        runtime = Runtime(ObjectMeta(name="pool", namespace=namespace), RuntimeSpec(replicas=1))
        applied = client.apply([runtime])
        assert [a.action for a in applied] == [Action.CREATED]
        assert [a.action for a in client.apply([runtime])] == [Action.UNCHANGED]
        assert [r.metadata.name for r in client.runtimes()] == ["pool"]
        assert client.get_runtime("pool").spec.replicas == 1

        async def beat() -> None:
            api = KubeApi.from_kubeconfig(kubeconfig)
            await FakeKubelet(api).put_pod(make_pod("pool-1", "pool", namespace=namespace), at=1.0)

        trio.run(beat)
        assert [p.name for p in client.pods("pool")] == ["pool-1"]
        assert [p.name for p in client.wait_runtime_ready("pool", timeout=10)] == ["pool-1"]


def test_run_queues_through_the_cluster(kubeconfig: Path, namespace: str) -> None:
    with Client.connect_kubernetes(kubeconfig) as client:
        spec = RunQueueSpec(quota={"runs": 10}, weight=2.0, cohort="research")
        created = client.create_run_queue(spec, "team-a")
        assert created.metadata.namespace == namespace
        assert client.get_run_queue("team-a") == created
        assert [q.metadata.name for q in client.list_run_queues()] == ["team-a"]
        assert "team-a" in {q.metadata.name for q in client.list_run_queues(all_namespaces=True)}
        narrower = RunQueue(
            ObjectMeta(name="team-a", namespace=namespace), evolve(spec, weight=1.0)
        )
        assert [a.action for a in client.apply([narrower])] == [Action.CONFIGURED]
        assert client.get_run_queue("team-a").spec.weight == 1.0
        client.delete_run_queue("team-a")
        with pytest.raises(NotFound):
            client.get_run_queue("team-a")


def test_run_waits_for_the_status_an_agent_writes(kubeconfig: Path, namespace: str) -> None:
    with Client.connect_kubernetes(kubeconfig) as client:
        agent = finish_first_run(kubeconfig, namespace)
        run = client.run(run_spec("bash", ["true"]), "waited", timeout=30)
        agent.join(30)
        assert run.status.phase is Phase.SUCCEEDED
        assert run.status.outputs == {"answer": "42"}
        assert run.status.assigned_pod == "pod-1"
        assert client.wait("waited", timeout=5) == client.get("waited")


def test_logs_say_where_they_are(kubeconfig: Path, namespace: str) -> None:
    with Client.connect_kubernetes(kubeconfig) as client:
        client.submit(run_spec("bash", ["true"]), "quiet")
        for follow in (False, True):
            with pytest.raises(LogsUnavailable) as raised:
                list(client.logs("quiet", follow=follow))
            message = str(raised.value)
            assert message.startswith(f"the logs of Run {namespace}/quiet are not readable")
            assert "none yet" in message
            assert f"kubectl exec -n {namespace} <pod> -c kruntimes-agent" in message
            assert "docs/client.md" in message
        with pytest.raises(NotFound):
            list(client.logs("nope"))


def test_namespace_and_context_options(
    krt_kube_env: KubeTestEnv, kubeconfig: Path, namespace: str
) -> None:
    other = krt_kube_env.new_namespace("other")
    with Client.connect_kubernetes(kubeconfig, context="test", namespace=other) as client:
        assert client.namespace == other
        client.submit(run_spec("bash", ["true"]), "there")
    with Client.connect_kubernetes(kubeconfig) as client:
        assert client.list() == []
    with pytest.raises(KubeconfigError, match=r"\(context nope\)"):
        Client.connect_kubernetes(kubeconfig, context="nope")
    with pytest.raises(KubeconfigError, match="cannot use"):
        AsyncClient.connect_kubernetes(kubeconfig.parent / "missing")


def test_the_async_client(kubeconfig: Path, namespace: str) -> None:
    async def main() -> None:
        async with AsyncClient.connect_kubernetes(kubeconfig) as client:
            assert client.namespace == namespace
            await client.submit(run_spec("python", source="pass"), "from-trio")
            assert [r.metadata.name for r in await client.list(phase="Pending")] == ["from-trio"]
            with pytest.raises(LogsUnavailable):
                async for _ in client.logs("from-trio"):
                    pass

    trio.run(main)
