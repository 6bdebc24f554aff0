"""End to end on a real kube-apiserver: controller, simulated kubelet, real agents and servers.

Each test gets a namespace with a bash Runtime; the `KubeletSimulator` runs
its Pods' containers (Runtime Server + agent sidecar) as local processes
talking to the apiserver, so everything from `kubectl apply` to `Succeeded`
is the code that runs in a cluster.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from attrs import evolve

from kruntimes.model import Phase, RetryPolicy, Run
from kruntimes.store import EventType, Store
from kruntimes.testing.builders import make_run
from kruntimes.testing.kube_cluster import Cluster, builtin_runtime
from kruntimes.testing.kube_env import KubeTestEnv

pytestmark = pytest.mark.e2e

Body = Callable[[Cluster], Awaitable[None]]


def in_cluster(
    env: KubeTestEnv,
    root: Path,
    body: Body,
    *,
    replicas: int = 2,
    capacity: int = 4,
    leader_elect: bool = False,
    limit: float = 120.0,
) -> None:
    async def main() -> None:
        namespace = env.new_namespace("e2e")
        runtime = builtin_runtime("bash", namespace, replicas=replicas, capacity=capacity)
        with trio.fail_after(limit):
            async with Cluster.start(
                env, namespace, root, runtimes=[runtime], leader_elect=leader_elect
            ) as cluster:
                await body(cluster)

    trio.run(main)


def bash(name: str, namespace: str, script: str, **spec: Any) -> Run:
    """A bash Run of `script`; `spec` sets RunSpec fields (timeout_seconds, retry_policy)."""
    run = make_run(name, namespace=namespace, runtime="bash")
    task = evolve(run.spec.mode.task, args=("bash", "-c", script))
    mode = evolve(run.spec.mode, task=task)
    return evolve(run, spec=evolve(run.spec, mode=mode, **spec))


class History:
    """Every Run version the store announces, in order, from a watch started before the test."""

    def __init__(self) -> None:
        self.events: list[tuple[EventType, Run]] = []

    async def record(self, store: Store, namespace: str, *, task_status: Any) -> None:
        listing = await store.list_runs(namespace)
        async with store.watch_runs(listing.resource_version, namespace) as events:
            task_status.started()
            async for event in events:
                if event.object is not None:
                    self.events.append((event.type, event.object))

    def binds(self) -> dict[tuple[str, int], list[str]]:
        """(Run, attempt) -> the Pods it was bound to, one entry per bind seen."""
        seen: dict[tuple[str, int], list[str]] = defaultdict(list)
        last: dict[str, Phase] = {}
        for _, run in self.events:
            name, phase = run.metadata.name, run.status.phase
            if phase is Phase.SCHEDULED and last.get(name) is not Phase.SCHEDULED:
                seen[(name, run.status.attempt)].append(str(run.status.assigned_pod))
            last[name] = phase
        return seen

    def most_running(self) -> dict[str, int]:
        """Pod -> the most Runs it had Scheduled or Running at once."""
        where: dict[str, str] = {}
        most: dict[str, int] = defaultdict(int)
        for _, run in self.events:
            name = run.metadata.name
            where.pop(name, None)
            if run.status.phase in (Phase.SCHEDULED, Phase.RUNNING) and run.status.assigned_pod:
                where[name] = run.status.assigned_pod
            for pod in set(where.values()):
                most[pod] = max(most[pod], sum(p == pod for p in where.values()))
        return dict(most)


def kubectl(env: KubeTestEnv, namespace: str, *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(env.kubeconfig), "-n", namespace, *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_run_applied_with_kubectl_succeeds_with_outputs(
    krt_kube_env: KubeTestEnv, tmp_path: Path
) -> None:
    manifest = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "hello"},
        "spec": {
            "runtime": "bash",
            "mode": {
                "task": {
                    "args": ["bash", "-c", 'echo "answer=$((6 * 7))" >> "$KRUNTIME_OUTPUTS"'],
                }
            },
        },
    }

    async def body(cluster: Cluster) -> None:
        await trio.to_thread.run_sync(
            lambda: kubectl(
                krt_kube_env, cluster.namespace, "apply", "-f", "-", input=json.dumps(manifest)
            )
        )
        done = await cluster.client.wait("hello")
        assert done.status.phase is Phase.SUCCEEDED, done.status.message
        assert dict(done.status.outputs) == {"answer": "42"}
        table = await trio.to_thread.run_sync(
            lambda: kubectl(krt_kube_env, cluster.namespace, "get", "runs")
        )
        assert "hello" in table
        assert "Succeeded" in table

    in_cluster(krt_kube_env, tmp_path, body)


def test_kubectl_get_runs_says_why_a_run_waits(krt_kube_env: KubeTestEnv, tmp_path: Path) -> None:
    async def body(cluster: Cluster) -> None:
        await cluster.client.submit(make_run("stuck", namespace=cluster.namespace, runtime="gpu"))
        while not (await cluster.client.get("stuck")).status.message:
            await trio.sleep(0.1)
        table = await trio.to_thread.run_sync(
            lambda: kubectl(krt_kube_env, cluster.namespace, "get", "runs")
        )
        (row,) = [line for line in table.splitlines() if line.startswith("stuck")]
        assert "Pending" in row
        assert "gpu" in row
        message = (await cluster.client.get("stuck")).status.message
        assert message
        assert message[:30] in row

    in_cluster(krt_kube_env, tmp_path, body)


def test_capacity_is_respected_across_pods(krt_kube_env: KubeTestEnv, tmp_path: Path) -> None:
    history = History()

    async def body(cluster: Cluster) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(history.record, cluster.store, cluster.namespace)
            runs = [bash(f"r{i}", cluster.namespace, "sleep 0.3") for i in range(12)]
            created = await cluster.client.submit_many(runs)
            done = await cluster.client.wait_all([r.metadata.name for r in created])
            nursery.cancel_scope.cancel()
        assert {r.status.phase for r in done} == {Phase.SUCCEEDED}
        most = history.most_running()
        assert len(most) == 2
        assert max(most.values()) <= 2
        assert all(len(pods) == 1 for pods in history.binds().values())

    in_cluster(krt_kube_env, tmp_path, body, capacity=2)


def test_cancel_and_timeout(krt_kube_env: KubeTestEnv, tmp_path: Path) -> None:
    async def body(cluster: Cluster) -> None:
        ns = cluster.namespace
        await cluster.client.submit(bash("slow", ns, "sleep 60"))
        await cluster.client.submit(bash("late", ns, "sleep 60", timeout_seconds=1.0))
        while (await cluster.client.get("slow")).status.phase is not Phase.RUNNING:
            await trio.sleep(0.05)
        await cluster.client.cancel("slow")
        cancelled, timed_out = await cluster.client.wait_all(["slow", "late"])
        assert cancelled.status.phase is Phase.CANCELLED
        assert timed_out.status.phase is Phase.TIMEOUT

    in_cluster(krt_kube_env, tmp_path, body)


def test_pod_deleted_mid_run_is_retried_on_another_pod(
    krt_kube_env: KubeTestEnv, tmp_path: Path
) -> None:
    async def body(cluster: Cluster) -> None:
        ns = cluster.namespace
        run = bash(
            "survivor",
            ns,
            "sleep 2; echo done=yes >> $KRUNTIME_OUTPUTS",
            retry_policy=RetryPolicy(max_attempts=3, backoff_seconds=0.1),
        )
        await cluster.client.submit(run)
        running = await cluster.client.get("survivor")
        while running.status.phase is not Phase.RUNNING:
            await trio.sleep(0.05)
            running = await cluster.client.get("survivor")
        first_pod = running.status.assigned_pod
        assert first_pod is not None
        await cluster.simulator.delete_pod(first_pod)
        done = await cluster.client.wait("survivor")
        assert done.status.phase is Phase.SUCCEEDED, done.status.message
        assert done.status.attempt == 2
        assert done.status.assigned_pod != first_pod
        assert dict(done.status.outputs) == {"done": "yes"}

    in_cluster(krt_kube_env, tmp_path, body)


def test_leader_hand_over_loses_nothing_and_binds_once(
    krt_kube_env: KubeTestEnv, tmp_path: Path
) -> None:
    history = History()

    async def body(cluster: Cluster) -> None:
        ns = cluster.namespace
        standby = await cluster.start_controller("controller-1")
        assert not standby.leading
        async with trio.open_nursery() as nursery:
            await nursery.start(history.record, cluster.store, ns)
            first = await cluster.client.submit_many(
                [bash(f"a{i}", ns, "sleep 0.2") for i in range(20)]
            )
            cluster.stop_controller("controller-0")
            second = await cluster.client.submit_many(
                [bash(f"b{i}", ns, "sleep 0.2") for i in range(20)]
            )
            names = [r.metadata.name for r in [*first, *second]]
            done = await cluster.client.wait_all(names)
            nursery.cancel_scope.cancel()
        assert standby.leading
        assert {r.status.phase for r in done} == {Phase.SUCCEEDED}
        binds = history.binds()
        assert set(binds) == {(name, 1) for name in names}
        assert all(len(pods) == 1 for pods in binds.values())
        assert max(history.most_running().values()) <= 4

    in_cluster(krt_kube_env, tmp_path, body, leader_elect=True)


@pytest.mark.parametrize("compact", [False, True], ids=["restart", "restart-and-compaction"])
def test_apiserver_restart_mid_stream_loses_nothing(
    krt_kube_env: KubeTestEnv, tmp_path: Path, compact: bool
) -> None:
    """Watches resume from their last version, or re-list after 410 when etcd compacted it."""
    env = krt_kube_env

    async def body(cluster: Cluster) -> None:
        ns = cluster.namespace
        names = [
            r.metadata.name
            for r in await cluster.client.submit_many(
                [bash(f"x{i}", ns, "sleep 1") for i in range(8)]
            )
        ]
        await trio.to_thread.run_sync(env.stop_apiserver)
        if compact:
            await trio.to_thread.run_sync(env.bump_and_compact_etcd)
        await trio.to_thread.run_sync(env.start_apiserver)
        later = [
            r.metadata.name
            for r in await cluster.client.submit_many([bash(f"y{i}", ns, "true") for i in range(8)])
        ]
        done = await cluster.client.wait_all([*names, *later])
        assert {r.status.phase for r in done} == {Phase.SUCCEEDED}
        assert {r.status.attempt for r in done} == {1}

    in_cluster(env, tmp_path, body)
