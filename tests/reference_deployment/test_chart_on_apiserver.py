"""The reference deployment's charts, applied for real to a kube-apiserver that enforces RBAC.

helm renders the platform chart (CRDs included) and the runtimes chart, and every object is
created (not dry-run) on a kube-apiserver v1.20 started with `--authorization-mode=RBAC`.
The platform chart is installed twice in `kruntimes-system`: release `kruntimes` with the
defaults (a ClusterRoleBinding) and release `scoped` with `namespaces` set (a RoleBinding in
each listed namespace).

Then the real `Controller` runs in-process as each release's ServiceAccount: a static token
whose user is `system:serviceaccount:kruntimes-system:<name>` in the ServiceAccount groups,
which is exactly what RBAC matches a ServiceAccount subject against. It takes its Lease in
`kruntimes-system`, creates every Runtime's agent ServiceAccount, Role, RoleBinding,
NetworkPolicy and Deployment (Kubernetes refuses to let anyone create a Role that grants
more than they hold, so this proves the ClusterRole covers the agent's Role without
`escalate` or `bind`), writes the Runtimes' status and schedules a Run. The same identity
is refused Secrets and what else the ClusterRole leaves out.
"""

from __future__ import annotations

import time
import urllib.error
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
from attrs import frozen
from helm import DEFAULT_NAMESPACE, PLATFORM_CHART, RUNTIMES_CHART, render_chart

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.controller import Controller, ControllerOptions
from kruntimes.adapters.kubernetes.runtime_controller import OWNERSHIP_CONFLICT, RECONCILE_FAILED
from kruntimes.adapters.kubernetes.runtime_objects import READY, AgentSettings, desired_objects
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.model import Phase, Run, RunQueue, Runtime
from kruntimes.store import EventType
from kruntimes.testing.builders import make_queue, make_run
from kruntimes.testing.kube_env import KubeTestEnv, User, collection_path
from kruntimes.testing.kube_pods import running_ready_status, runtime_pod_manifest
from kruntimes.testing.logs import capture_all_logs

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]

RELEASE_NAMESPACE = DEFAULT_NAMESPACE
KUBE_VERSION = "1.20.2"
"""The test apiserver's version: the PodDisruptionBudget renders as policy/v1beta1."""
SERVICE_ACCOUNT_GROUPS = (
    "system:serviceaccounts",
    f"system:serviceaccounts:{RELEASE_NAMESPACE}",
    "system:authenticated",
)
CLUSTER_WIDE, SCOPED = "kruntimes", "scoped"
"""Release names: the chart's defaults, and `namespaces: [<one namespace>]`."""
LIMIT = 60.0


@frozen
class Release:
    name: str
    objects: list[Obj]
    service_account: str
    token: str
    namespaces: tuple[str, ...]
    """The chart's `namespaces` value: empty means all."""

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{RELEASE_NAMESPACE}:{self.service_account}"


@frozen
class Installed:
    env: KubeTestEnv
    releases: Mapping[str, Release]
    runtimes_namespace: str
    runtimes: list[Obj]
    rejected: list[str]
    """`kind namespace/name: why` of every rendered object the apiserver refused."""


def _render_release(name: str, values: Obj, namespaces: tuple[str, ...]) -> Release:
    objects = render_chart(
        PLATFORM_CHART,
        values,
        namespace=RELEASE_NAMESPACE,
        release=name,
        kube_version=KUBE_VERSION,
        include_crds=True,
    )
    (account,) = [o for o in objects if o["kind"] == "ServiceAccount"]
    return Release(
        name=name,
        objects=objects,
        service_account=account["metadata"]["name"],
        token=f"token-{name}-{uuid.uuid4().hex}",
        namespaces=namespaces,
    )


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


def _object_path(obj: Mapping[str, Any]) -> str:
    return f"{collection_path(obj)}/{obj['metadata']['name']}"


def _create(env: KubeTestEnv, obj: Obj, rejected: list[str]) -> None:
    """POST `obj` as admin; a refusal (any 4xx, 409 included) is recorded, not raised."""
    try:
        env.request("POST", collection_path(obj), obj)
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")[:1000]
        rejected.append(f"{_describe(obj)}: HTTP {error.code}: {body}")


def _namespace(env: KubeTestEnv, name: str) -> None:
    env.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _install(env: KubeTestEnv, objects: Sequence[Obj], rejected: list[str]) -> None:
    """Like `helm install`: CRDs first and Established, then the rest in helm's order."""
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        _create(env, crd, rejected)
    env.install_crds(crds)  # already there: waits until Established and served
    for obj in objects:
        if obj["kind"] != "CustomResourceDefinition":
            _create(env, obj, rejected)


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    scoped_namespace = f"scoped-{uuid.uuid4().hex[:8]}"
    releases = {
        CLUSTER_WIDE: _render_release(CLUSTER_WIDE, {}, ()),
        SCOPED: _render_release(SCOPED, {"namespaces": [scoped_namespace]}, (scoped_namespace,)),
    }
    users = [User(r.user, r.token, SERVICE_ACCOUNT_GROUPS) for r in releases.values()]
    env = KubeTestEnv.start(authorization_mode="RBAC", users=users)
    try:
        rejected: list[str] = []
        _namespace(env, RELEASE_NAMESPACE)
        _namespace(env, scoped_namespace)  # the chart wants its `namespaces` to exist
        _install(env, releases[CLUSTER_WIDE].objects, rejected)
        # The second release shares the CRDs, which helm would skip as already there.
        shared = [o for o in releases[SCOPED].objects if o["kind"] != "CustomResourceDefinition"]
        _install(env, shared, rejected)
        runtimes_namespace = env.new_namespace("runtimes-chart")
        runtimes = render_chart(
            RUNTIMES_CHART, namespace=runtimes_namespace, release="kruntimes-runtimes"
        )
        for obj in runtimes:
            _create(env, obj, rejected)
        yield Installed(env, releases, runtimes_namespace, runtimes, rejected)
    finally:
        env.stop()


def test_every_rendered_object_is_accepted(installed: Installed) -> None:
    assert installed.rejected == []
    env = installed.env
    rendered = [o for r in installed.releases.values() for o in r.objects] + installed.runtimes
    for obj in rendered:
        stored = env.request("GET", _object_path(obj))
        assert stored["metadata"]["name"] == obj["metadata"]["name"], _describe(obj)
    kinds = {o["kind"] for o in installed.releases[CLUSTER_WIDE].objects}
    assert {
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
    } <= kinds
    scoped = installed.releases[SCOPED]
    assert "ClusterRoleBinding" not in {o["kind"] for o in scoped.objects}
    bound_in = {
        o["metadata"]["namespace"]
        for o in scoped.objects
        if o["kind"] == "RoleBinding" and o["roleRef"]["kind"] == "ClusterRole"
    }
    assert bound_in == set(scoped.namespaces)
    assert {o["kind"] for o in installed.runtimes} == {"Runtime"}
    assert len(installed.runtimes) >= 2


@pytest.mark.parametrize("release", [CLUSTER_WIDE, SCOPED])
def test_controller_as_the_chart_service_account_reconciles_and_schedules(
    installed: Installed, tmp_path: Path, release: str
) -> None:
    env, chart = installed.env, installed.releases[release]
    namespace = chart.namespaces[0] if chart.namespaces else env.new_namespace("rbac")
    rejected: list[str] = []
    runtimes = render_chart(RUNTIMES_CHART, namespace=namespace, release="kruntimes-runtimes")
    for obj in runtimes:  # as admin, as a platform team would
        _create(env, obj, rejected)
    assert rejected == []
    names = {o["metadata"]["name"] for o in runtimes}
    kubeconfig = env.write_kubeconfig(
        tmp_path / "controller.kubeconfig", chart.token, namespace=RELEASE_NAMESPACE
    )
    identity, lease = f"{release}-test-0", f"{release}-controller"
    options = ControllerOptions(
        namespaces=(namespace,),
        leader_elect=True,
        leader_election_namespace=RELEASE_NAMESPACE,
        lease_name=lease,
        identity=identity,
        metrics_bind_address="",
        health_probe_bind_address="",
        load_entry_points=False,
    )
    admin = KubeStore(KubeApi.from_kubeconfig(env.kubeconfig))

    async def main() -> None:
        controller = Controller(KubeApi.from_kubeconfig(kubeconfig), options)
        with trio.fail_after(LIMIT):
            async with trio.open_nursery() as nursery:
                await nursery.start(controller.run)
                reconciled = await _wait_runtimes_reconciled(admin, namespace, names)
                for runtime in reconciled:
                    bad = [
                        c
                        for c in runtime.status.conditions
                        if c.reason in (RECONCILE_FAILED, OWNERSHIP_CONFLICT)
                    ]
                    assert bad == [], f"{runtime.metadata.name}: {bad}"
                    for child in desired_objects(runtime, AgentSettings()):
                        stored = env.request("GET", _object_path(child))
                        (owner,) = stored["metadata"]["ownerReferences"]
                        assert owner["uid"] == runtime.metadata.uid, _describe(child)
                    role = desired_objects(runtime, AgentSettings())[1]
                    stored_role = env.request("GET", _object_path(role))
                    assert stored_role["rules"] == role["rules"]
                assert controller.leading
                held = env.request(
                    "GET",
                    f"/apis/coordination.k8s.io/v1/namespaces/{RELEASE_NAMESPACE}/leases/{lease}",
                )
                assert held["spec"]["holderIdentity"] == identity
                await _schedule_one(env, admin, namespace)
                nursery.cancel_scope.cancel()

    with capture_all_logs() as logs:
        try:
            trio.run(main)
        except trio.TooSlowError:
            warnings = [e for e in logs if e.get("log_level") in ("warning", "error")]
            pytest.fail(f"the controller did not get there within {LIMIT}s: {warnings}")
    assert any(entry.get("event") == "leading" for entry in logs)  # the capture works
    refused = [entry for entry in logs if "forbidden" in str(entry).lower()]
    assert refused == []


async def _wait_runtimes_reconciled(
    store: KubeStore, namespace: str, names: set[str]
) -> list[Runtime]:
    """The Runtimes `names` once the controller has written each one's status."""

    def done(runtime: Runtime) -> bool:
        return any(c.type == READY for c in runtime.status.conditions)

    listing = await store.list_runtimes(namespace)
    seen = {r.metadata.name: r for r in listing.items if r.metadata.name in names}
    async with store.watch_runtimes(listing.resource_version, namespace) as events:
        while not (set(seen) == names and all(done(r) for r in seen.values())):
            event = await events.__anext__()
            runtime = event.object
            if event.type is EventType.BOOKMARK or not isinstance(runtime, Runtime):
                continue
            if runtime.metadata.name in names:
                seen[runtime.metadata.name] = runtime
    return list(seen.values())


async def _schedule_one(env: KubeTestEnv, admin: KubeStore, namespace: str) -> None:
    """A warm bash Pod (made as admin, playing kubelet) gets a Run bound by the controller,
    through a RunQueue whose status the controller then writes (its RBAC allows that)."""
    pod = runtime_pod_manifest("bash-warm-0", namespace, "bash", {"runs": 2})
    pods = f"/api/v1/namespaces/{namespace}/pods"
    created = env.request("POST", pods, pod)
    created["status"] = running_ready_status(time.time())
    env.request("PUT", f"{pods}/bash-warm-0/status", created)
    queue = await admin.create(make_queue("team", namespace=namespace, quota={"runs": 5}))
    run = await admin.create(make_run("hello", "bash", namespace=namespace, queue="team"))
    bound = await _wait_run(admin, run, lambda r: r.status.phase is Phase.SCHEDULED)
    assert bound.status.assigned_pod == "bash-warm-0"
    assert bound.status.assigned_pod_uid == created["metadata"]["uid"]
    async with admin.watch_run_queues(queue.metadata.resource_version, namespace) as events:
        while queue.status.admitted != 1:
            event = await events.__anext__()
            if isinstance(event.object, RunQueue):
                queue = event.object
    assert queue.status.usage == {"runs": 1}


async def _wait_run(store: KubeStore, run: Run, until: Any) -> Run:
    listing = await store.list_runs(run.metadata.namespace)
    current = next(r for r in listing.items if r.metadata.name == run.metadata.name)
    async with store.watch_runs(listing.resource_version, run.metadata.namespace) as events:
        while not until(current):
            event = await events.__anext__()
            if isinstance(event.object, Run) and event.object.metadata.name == run.metadata.name:
                current = event.object
    return current


def _refused(env: KubeTestEnv, token: str, method: str, path: str, body: Obj | None = None) -> int:
    """The HTTP status of one call as `token`, or 200 when it succeeded."""
    try:
        env.request(method, path, body, token=token)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


@pytest.mark.parametrize("release", [CLUSTER_WIDE, SCOPED])
def test_controller_identity_is_refused_what_it_does_not_need(
    installed: Installed, release: str
) -> None:
    env, chart = installed.env, installed.releases[release]
    watched = chart.namespaces[0] if chart.namespaces else installed.runtimes_namespace
    token = chart.token
    # What it needs, it has (a sanity check of the identity itself).
    assert (
        _refused(env, token, "GET", f"/apis/kruntimes.io/v1alpha1/namespaces/{watched}/runs") == 200
    )
    runtime = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "nope"},
        "spec": {},
    }
    queue = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "RunQueue",
        "metadata": {"name": "nope"},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "wider"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }
    forbidden = [
        ("GET", f"/api/v1/namespaces/{watched}/secrets", None),
        ("GET", f"/api/v1/namespaces/{watched}/secrets/anything", None),
        ("GET", f"/api/v1/namespaces/{RELEASE_NAMESPACE}/secrets", None),
        ("GET", "/api/v1/secrets", None),
        ("GET", f"/api/v1/namespaces/{watched}/configmaps", None),
        # It creates Runs (the children of array Runs), never Runtimes or RunQueues.
        ("POST", f"/apis/kruntimes.io/v1alpha1/namespaces/{watched}/runtimes", runtime),
        ("POST", f"/apis/kruntimes.io/v1alpha1/namespaces/{watched}/runqueues", queue),
        ("DELETE", f"/api/v1/namespaces/{watched}/pods/anything", None),
        (
            "POST",
            f"/api/v1/namespaces/{watched}/pods",
            runtime_pod_manifest("p", watched, "bash", None),
        ),
        # A Role granting what it lacks is an escalation, refused without `escalate`.
        ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{watched}/roles", role),
        (
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            {**role, "kind": "ClusterRole"},
        ),
        ("GET", f"/apis/coordination.k8s.io/v1/namespaces/{watched}/leases", None),
        ("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{RELEASE_NAMESPACE}/leases/x", None),
    ]
    if chart.namespaces:  # bound only where listed: nothing elsewhere
        forbidden += [
            (
                "GET",
                f"/apis/kruntimes.io/v1alpha1/namespaces/{installed.runtimes_namespace}/runs",
                None,
            ),
            ("GET", "/apis/kruntimes.io/v1alpha1/runs", None),
            ("GET", f"/api/v1/namespaces/{installed.runtimes_namespace}/pods", None),
        ]
    answers = {f"{m} {p}": _refused(env, token, m, p, b) for m, p, b in forbidden}
    assert answers == dict.fromkeys(answers, 403)
