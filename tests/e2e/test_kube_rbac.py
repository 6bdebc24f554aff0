"""An agent without RBAC for another namespace is refused: the agent Role on a real RBAC apiserver.

The apiserver enforces RBAC. Namespace A holds a Runtime `bash` with the ServiceAccount,
Role and RoleBinding the Runtime controller would create for it (`desired_objects`, applied
as admin); namespace B is someone else's. The agent's identity is a static token whose user
is `system:serviceaccount:A:bash-agent` in the ServiceAccount groups, which is how RBAC sees
that ServiceAccount. Through a `KubeStore` on that token the agent does its job in A (watch
Runs, write their status, heartbeat its Pod) and is refused everything else with
`Forbidden`. Then the real `PodAgent` runs with that identity next to a bash Runtime Server
process, and a Run a controller (as admin) schedules on its Pod succeeds.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from attrs import evolve, frozen

from kruntimes import status
from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.controller import Controller, ControllerOptions
from kruntimes.adapters.kubernetes.crds import crd_manifests
from kruntimes.adapters.kubernetes.pod_agent import PodAgent, PodAgentConfig
from kruntimes.adapters.kubernetes.pods import HEARTBEAT_CONDITION
from kruntimes.adapters.kubernetes.runtime_objects import (
    AgentSettings,
    agent_name,
    desired_objects,
)
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.model import Phase, Run, RunMode, Runtime, TaskMode
from kruntimes.store import Forbidden, Kind
from kruntimes.testing.builders import make_run
from kruntimes.testing.kube_cluster import builtin_runtime
from kruntimes.testing.kube_env import KubeTestEnv, User
from kruntimes.testing.kube_pods import running_ready_status, runtime_pod_manifest
from kruntimes.testing.logs import capture_all_logs

pytestmark = pytest.mark.e2e

LIMIT = 60.0
RUNTIME = "bash"


@frozen
class Tenancy:
    env: KubeTestEnv
    a: str
    """The agent's namespace: its Runtime, Role and Pods."""
    b: str
    """Another namespace, where the agent holds nothing."""
    runtime: Runtime
    agent_token: str


@pytest.fixture(scope="module")
def tenancy() -> Iterator[Tenancy]:
    suffix = uuid.uuid4().hex[:8]
    a, b = f"team-a-{suffix}", f"team-b-{suffix}"
    token = f"agent-token-{uuid.uuid4().hex}"
    shape = builtin_runtime(RUNTIME, a, replicas=1, capacity=2)
    account = agent_name(shape)
    user = User(
        f"system:serviceaccount:{a}:{account}",
        token,
        ("system:serviceaccounts", f"system:serviceaccounts:{a}", "system:authenticated"),
    )
    env = KubeTestEnv.start(authorization_mode="RBAC", users=[user])
    try:
        env.install_crds(crd_manifests())
        for namespace in (a, b):
            env.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

        async def create_runtime() -> Runtime:
            created = await KubeStore(KubeApi.from_kubeconfig(env.kubeconfig)).create(shape)
            assert isinstance(created, Runtime)
            return created

        runtime = trio.run(create_runtime)
        # What the Runtime controller creates for its agents, applied here as admin.
        for obj in desired_objects(runtime, AgentSettings()):
            if obj["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
                env.apply(obj)
        yield Tenancy(env, a, b, runtime, token)
    finally:
        env.stop()


class Stores:
    """The agent's and the admin's view of the same apiserver."""

    def __init__(self, tenancy: Tenancy, root: Path) -> None:
        env = tenancy.env
        kubeconfig = env.write_kubeconfig(
            root / "agent.kubeconfig", tenancy.agent_token, namespace=tenancy.a
        )
        self.agent_api = KubeApi.from_kubeconfig(kubeconfig)
        self.agent = KubeStore(self.agent_api)
        self.admin = KubeStore(KubeApi.from_kubeconfig(env.kubeconfig))


def _pod(tenancy: Tenancy, heartbeat: bool) -> tuple[str, str]:
    """A Running, Ready Pod of the Runtime in A, made as admin (playing kubelet): name, uid."""
    env = tenancy.env
    name = f"{RUNTIME}-{uuid.uuid4().hex[:5]}"
    pods = f"/api/v1/namespaces/{tenancy.a}/pods"
    manifest = runtime_pod_manifest(name, tenancy.a, RUNTIME, {"runs": 2})
    manifest["spec"]["serviceAccountName"] = agent_name(tenancy.runtime)
    created = env.request("POST", pods, manifest)
    created["status"] = running_ready_status(time.time(), heartbeat=heartbeat)
    env.request("PUT", f"{pods}/{name}/status", created)
    return name, created["metadata"]["uid"]


def _delete_pod(tenancy: Tenancy, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
    tenancy.env.request("DELETE", f"/api/v1/namespaces/{tenancy.a}/pods/{name}", body)


@pytest.fixture
def pod(tenancy: Tenancy) -> Iterator[tuple[str, str]]:
    """A Pod of this test only, without a heartbeat; deleted after, so no scheduler finds it."""
    name, uid = _pod(tenancy, heartbeat=False)
    yield name, uid
    _delete_pod(tenancy, name)


def _bash_run(name: str, namespace: str, script: str) -> Run:
    run = make_run(name, RUNTIME, namespace=namespace)
    mode = RunMode(task=TaskMode(args=("bash", "-c", script)))
    return evolve(run, spec=evolve(run.spec, mode=mode))


async def _next_named(events: AsyncIterator[Any], name: str) -> Any:
    async for event in events:
        if event.object is not None and event.object.metadata.name == name:
            return event
    raise AssertionError("the watch ended")


def test_agent_identity_does_its_job_in_its_namespace(
    tenancy: Tenancy, tmp_path: Path, pod: tuple[str, str]
) -> None:
    stores, a = Stores(tenancy, tmp_path), tenancy.a
    pod_name, pod_uid = pod

    async def main() -> None:
        agent, admin = stores.agent, stores.admin
        with trio.fail_after(LIMIT):
            listing = await agent.list_runs(a)
            async with agent.watch_runs(listing.resource_version, a) as events:
                created = await admin.create(_bash_run("job", a, "true"))
                seen = await _next_named(events, "job")
                assert seen.object.metadata.uid == created.metadata.uid
                # The scheduler binds (as admin); the agent claims through runs/status.
                bound = await admin.update_status(status.bound(created, pod_name, pod_uid, 1.0))
                fresh = await agent.get_run(a, "job")
                assert fresh.metadata.resource_version == bound.metadata.resource_version
                claimed = await agent.update_status(status.claimed(fresh, time.time()))
                assert claimed.status.phase is Phase.RUNNING
                running = (await _next_named(events, "job")).object
                while running.status.phase is not Phase.RUNNING:
                    running = (await _next_named(events, "job")).object
            at = time.time()
            await agent.heartbeat_pod(a, pod_name, at)
            stored = await stores.agent_api.request(
                "GET", f"/api/v1/namespaces/{a}/pods/{pod_name}"
            )
            (beat,) = [
                c for c in stored["status"]["conditions"] if c["type"] == HEARTBEAT_CONDITION
            ]
            assert beat["status"] == "True"
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"job.{uuid.uuid4().hex[:8]}", "namespace": a},
                "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": a},
                "reason": "Test",
                "message": "the agent records Events",
                "type": "Normal",
            }
            await stores.agent_api.request("POST", f"/api/v1/namespaces/{a}/events", body=event)

    trio.run(main)


Refusal = Callable[[Stores, Tenancy, Run, str], Awaitable[Any]]


async def _list_runs_in_b(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.list_runs(t.b)


async def _watch_runs_in_b(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    version = (await s.admin.list_runs(t.b)).resource_version
    async with s.agent.watch_runs(version, t.b) as events:
        return await events.__anext__()


async def _get_run_in_b(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.get_run(t.b, run_b.metadata.name)


async def _update_run_status_in_b(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.update_status(status.waiting(run_b, "Test", "from A's agent", 1.0))


async def _list_runs_everywhere(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.list_runs(None)


async def _list_pods_in_b(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.list_pods(t.b)


async def _heartbeat_pod_in_b(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.heartbeat_pod(t.b, pod, time.time())


async def _read_secrets_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent_api.request("GET", f"/api/v1/namespaces/{t.a}/secrets")


async def _read_a_secret_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent_api.request("GET", f"/api/v1/namespaces/{t.a}/secrets/credentials")


async def _create_run_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.create(_bash_run(f"forged-{uuid.uuid4().hex[:6]}", t.a, "true"))


async def _update_run_spec_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    mine = await s.admin.create(_bash_run(f"spec-{uuid.uuid4().hex[:6]}", t.a, "true"))
    current = await s.agent.get_run(t.a, mine.metadata.name)  # reading is allowed
    return await s.agent.update_spec(
        evolve(current, spec=evolve(current.spec, cancel_requested=True))
    )


async def _delete_run_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    mine = await s.admin.create(_bash_run(f"keep-{uuid.uuid4().hex[:6]}", t.a, "true"))
    return await s.agent.delete(Kind.RUN, t.a, mine.metadata.name)


async def _delete_pod_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    return await s.agent.delete_pod(t.a, pod)


async def _create_pod_in_a(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    manifest = runtime_pod_manifest("rogue", t.a, RUNTIME, {"runs": 1})
    return await s.agent_api.request("POST", f"/api/v1/namespaces/{t.a}/pods", body=manifest)


async def _update_own_pod_spec(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    path = f"/api/v1/namespaces/{t.a}/pods/{pod}"
    current = await s.agent_api.request("GET", path)
    current["metadata"].setdefault("labels", {})["stolen"] = "yes"
    return await s.agent_api.request("PUT", path, body=current)


async def _grant_itself_more(s: Stores, t: Tenancy, run_b: Run, pod: str) -> Any:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "more", "namespace": t.a},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{t.a}/roles"
    return await s.agent_api.request("POST", path, body=role)


REFUSALS: dict[str, Refusal] = {
    "list-runs-in-b": _list_runs_in_b,
    "watch-runs-in-b": _watch_runs_in_b,
    "get-run-in-b": _get_run_in_b,
    "update-run-status-in-b": _update_run_status_in_b,
    "list-runs-in-all-namespaces": _list_runs_everywhere,
    "list-pods-in-b": _list_pods_in_b,
    "heartbeat-pod-in-b": _heartbeat_pod_in_b,
    "list-secrets-in-a": _read_secrets_in_a,
    "get-secret-in-a": _read_a_secret_in_a,
    "create-run-in-a": _create_run_in_a,
    "update-run-spec-in-a": _update_run_spec_in_a,
    "delete-run-in-a": _delete_run_in_a,
    "delete-pod-in-a": _delete_pod_in_a,
    "create-pod-in-a": _create_pod_in_a,
    "update-own-pod-spec": _update_own_pod_spec,
    "create-role-in-a": _grant_itself_more,
}


@pytest.mark.parametrize("attempt", list(REFUSALS.values()), ids=list(REFUSALS))
def test_agent_identity_is_refused_outside_its_job(
    tenancy: Tenancy, tmp_path: Path, pod: tuple[str, str], attempt: Refusal
) -> None:
    env, stores = tenancy.env, Stores(tenancy, tmp_path)
    env.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "credentials", "namespace": tenancy.a},
            "stringData": {"password": "hunter2"},
        }
    )

    async def main() -> None:
        with trio.fail_after(LIMIT):
            run_b = await stores.admin.create(
                _bash_run(f"b-{uuid.uuid4().hex[:6]}", tenancy.b, "true")
            )
            assert isinstance(run_b, Run)
            with pytest.raises(Forbidden):
                await attempt(stores, tenancy, run_b, pod[0])

    trio.run(main)


def test_agent_runs_a_run_under_its_own_identity(tenancy: Tenancy, tmp_path: Path) -> None:
    """The real PodAgent, as `system:serviceaccount:A:bash-agent`, takes a Run to Succeeded."""
    env, stores, a = tenancy.env, Stores(tenancy, tmp_path), tenancy.a
    pod_name, _ = _pod(tenancy, heartbeat=False)
    options = ControllerOptions(
        namespaces=(a,),
        leader_elect=False,
        metrics_bind_address="",
        health_probe_bind_address="",
        load_entry_points=False,
        run_runtime_controller=False,
        run_gc=False,
    )
    script = 'echo "answer=$((6 * 7))" >> "$KRUNTIME_OUTPUTS"'

    async def main(socket_dir: Path) -> Run:
        socket = socket_dir / "runtime.sock"
        server = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-m",
                "kruntimes.runtimes.bash_server",
                "--socket",
                str(socket),
                "--capacity",
                "2",
            ],
        )
        config = PodAgentConfig(
            pod_name=pod_name,
            namespace=a,
            work_root=tmp_path / "work",
            runtime_socket=socket,
            heartbeat_interval=1.0,
        )
        try:
            with trio.fail_after(LIMIT):
                async with trio.open_nursery() as nursery:
                    agent = await nursery.start(PodAgent(stores.agent_api, config).run)
                    assert agent.ready
                    await nursery.start(
                        Controller(KubeApi.from_kubeconfig(env.kubeconfig), options).run
                    )
                    listing = await stores.admin.list_runs(a)
                    async with stores.admin.watch_runs(listing.resource_version, a) as events:
                        await stores.admin.create(_bash_run("real", a, script))
                        run: Run = (await _next_named(events, "real")).object
                        while not run.status.phase.is_terminal:
                            run = (await _next_named(events, "real")).object
                    nursery.cancel_scope.cancel()
        finally:
            server.kill()
            await server.wait()
        return run

    try:
        with (
            capture_all_logs() as logs,
            tempfile.TemporaryDirectory(prefix="krt-") as socket_dir,
        ):  # short: a Unix socket path has at most 107 bytes
            done = trio.run(main, Path(socket_dir))
    finally:
        _delete_pod(tenancy, pod_name)
    assert done.status.phase is Phase.SUCCEEDED, done.status.message
    assert done.status.assigned_pod == pod_name
    assert dict(done.status.outputs) == {"answer": "42"}
    assert any(entry.get("event") == "agent starting" for entry in logs)  # the capture works
    refused = [entry for entry in logs if "forbidden" in str(entry).lower()]
    assert refused == []
