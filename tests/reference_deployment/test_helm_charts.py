"""The reference deployment's Helm charts lint cleanly and render what they promise.

Both charts are linted with `helm lint --strict` and rendered with `helm template` under
several value sets; the rendered objects are checked for the properties the docs state:
restricted security contexts, probes, least-privilege RBAC with no Secrets, a namespaced
leader-election Role, Runtime objects shaped as the controller expects, and
app.kubernetes.io labels.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm import (
    DEFAULT_NAMESPACE,
    PLATFORM_CHART,
    REPO_ROOT,
    RUNTIMES_CHART,
    HelmError,
    render_chart,
    run_helm,
)

Obj = dict[str, Any]

# name -> (values, extra API versions, kube version)
PLATFORM_VARIANTS: dict[str, tuple[dict[str, Any], tuple[str, ...], str | None]] = {
    "defaults": ({}, (), None),
    "leader-election-off": ({"leaderElection": {"enabled": False}, "replicas": 1}, (), None),
    "namespaces": ({"namespaces": ["team-a", "team-b"]}, (), None),
    "service-monitor": (
        {"metrics": {"serviceMonitor": {"enabled": True}}},
        ("monitoring.coreos.com/v1",),
        None,
    ),
    "kubernetes-1.20": ({}, (), "1.20.2"),
    "custom-images": (
        {
            "image": {
                "controller": {"repository": "reg.example/kr/controller", "tag": "1.2.3"},
                "agent": {"repository": "reg.example/kr/agent", "tag": "1.2.4"},
            },
            "logFormat": "console",
            "extraArgs": ["--verbose"],
        },
        (),
        None,
    ),
}

RUNTIMES_VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "custom-list": {
        "runtimes": [
            {
                "name": "py-data",
                "server": "python",
                "image": {"repository": "reg.example/py"},
                "preload": ["json", "decimal"],
                "capacity": {"runs": 4, "gpu-slots": 1},
            },
            {
                "name": "upper",
                "server": "custom",
                "image": {"repository": "reg.example/upper", "tag": "2"},
                "command": ["/usr/local/bin/upper-server"],
                "replicas": 0,
                "runtimeClassName": "gvisor",
            },
        ]
    },
}

# (apiGroup, resource, verb) the controller holds, and no more.
CONTROLLER_PERMISSIONS = {
    *(
        ("kruntimes.io", "runs", v)
        for v in ("get", "list", "watch", "create", "update", "patch", "delete")
    ),
    *(("kruntimes.io", "runtimes", v) for v in ("get", "list", "watch", "update", "patch")),
    *(
        ("kruntimes.io", resource, verb)
        for resource in ("runs/status", "runtimes/status")
        for verb in ("get", "update", "patch")
    ),
    ("kruntimes.io", "runtimes/finalizers", "update"),
    *(("kruntimes.io", "runqueues", v) for v in ("get", "list", "watch")),
    ("kruntimes.io", "runqueues/status", "update"),
    *(("", "pods", v) for v in ("get", "list", "watch")),
    *(("", "pods/status", v) for v in ("get", "patch")),
    *(("", "events", v) for v in ("create", "patch")),
    *(
        (group, resource, verb)
        for group, resource in (
            ("apps", "deployments"),
            ("", "serviceaccounts"),
            ("networking.k8s.io", "networkpolicies"),
            ("rbac.authorization.k8s.io", "roles"),
            ("rbac.authorization.k8s.io", "rolebindings"),
        )
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete")
    ),
}

# What the controller grants each Runtime's agents in that Runtime's namespace: Kubernetes
# lets it grant only what it holds, so it must hold all of it (no escalate or bind verb).
AGENT_PERMISSIONS = {
    *(("kruntimes.io", "runs", v) for v in ("get", "list", "watch")),
    *(("kruntimes.io", "runs/status", v) for v in ("get", "update", "patch")),
    *(("", "pods", v) for v in ("get", "list", "watch")),
    *(("", "pods/status", v) for v in ("get", "patch")),
    *(("", "events", v) for v in ("create", "patch")),
}

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


def render_platform(variant: str) -> list[Obj]:
    values, api_versions, kube_version = PLATFORM_VARIANTS[variant]
    return render_chart(
        PLATFORM_CHART, values, api_versions=api_versions, kube_version=kube_version
    )


@pytest.fixture(scope="module", params=sorted(PLATFORM_VARIANTS))
def platform(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, render_platform(request.param)


@pytest.fixture(scope="module", params=sorted(RUNTIMES_VARIANTS))
def runtimes(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    values = RUNTIMES_VARIANTS[request.param]
    return request.param, render_chart(RUNTIMES_CHART, values, namespace="team-a", release="rt")


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def only(objects: list[Obj], kind: str) -> Obj:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def permissions(rules: list[Obj]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def assert_restricted(container: Obj, *, read_only_root: bool) -> None:
    sc = container.get("securityContext") or {}
    name = container["name"]
    assert sc.get("runAsNonRoot") is True, name
    assert sc.get("allowPrivilegeEscalation") is False, name
    assert sc.get("capabilities", {}).get("drop") == ["ALL"], name
    assert not sc.get("capabilities", {}).get("add"), name
    assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
    assert sc.get("readOnlyRootFilesystem") is read_only_root, name
    assert not sc.get("privileged"), name


# --- both charts -------------------------------------------------------------------------


@pytest.mark.parametrize("chart", [PLATFORM_CHART, RUNTIMES_CHART], ids=lambda p: p.name)
def test_chart_lints_strictly(chart: Path) -> None:
    result = run_helm("lint", "--strict", str(chart))
    assert "0 chart(s) failed" in result.stdout + result.stderr


def test_platform_chart_lints_with_other_values() -> None:
    run_helm(
        "lint",
        "--strict",
        str(PLATFORM_CHART),
        "--set",
        "namespaces={team-a,team-b},leaderElection.enabled=false,replicas=1",
    )


@pytest.mark.parametrize("chart", [PLATFORM_CHART, RUNTIMES_CHART], ids=lambda p: p.name)
def test_chart_metadata(chart: Path) -> None:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["version"] == "0.1.0"
    assert meta["appVersion"] == "0.1.0"
    assert meta["kubeVersion"] == ">=1.20.0-0"


def test_no_chart_renders_a_secret(
    platform: tuple[str, list[Obj]], runtimes: tuple[str, list[Obj]]
) -> None:
    for _, objects in (platform, runtimes):
        assert not of_kind(objects, "Secret")


def test_every_object_carries_the_recommended_labels(
    platform: tuple[str, list[Obj]], runtimes: tuple[str, list[Obj]]
) -> None:
    for _, objects in (platform, runtimes):
        for obj in objects:
            labels = obj["metadata"].get("labels", {})
            missing = [key for key in RECOMMENDED_LABELS if key not in labels]
            assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["app.kubernetes.io/part-of"] == "kruntimes"
            assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_crds_in_the_chart_are_rendered_first_when_asked() -> None:
    """Whatever crds/ holds (maybe nothing yet) comes out, before everything else."""
    crd_dir = PLATFORM_CHART / "crds"
    expected = [
        doc
        for path in sorted(crd_dir.glob("*.y*ml"))
        if crd_dir.is_dir()
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    objects = render_chart(PLATFORM_CHART, include_crds=True)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert len(crds) == len(expected)
    assert objects[: len(crds)] == crds
    for crd in crds:
        assert crd["spec"]["group"] == "kruntimes.io"
        assert crd["spec"]["names"]["plural"] in {"runs", "runtimes", "runqueues"}


# --- the platform chart ------------------------------------------------------------------


def test_namespaced_objects_are_in_the_release_namespace(platform: tuple[str, list[Obj]]) -> None:
    variant, objects = platform
    watched = set(PLATFORM_VARIANTS[variant][0].get("namespaces", []))
    for obj in objects:
        if obj["kind"] in {"ClusterRole", "ClusterRoleBinding"}:
            assert "namespace" not in obj["metadata"]
        elif obj["kind"] == "RoleBinding" and obj["metadata"]["namespace"] in watched:
            assert obj["roleRef"]["kind"] == "ClusterRole"
        else:
            assert obj["metadata"]["namespace"] == DEFAULT_NAMESPACE, obj["kind"]


def test_controller_container_is_restricted_and_probed(platform: tuple[str, list[Obj]]) -> None:
    _, objects = platform
    deployments = of_kind(objects, "Deployment")
    assert len(deployments) == 1
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host_namespace)
        for container in pod["containers"]:
            assert_restricted(container, read_only_root=True)
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports == {"metrics": 8080, "health": 8081}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = container[probe]["httpGet"]
                assert get["path"] == path
                assert ports.get(get["port"], get["port"]) == 8081
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]


def test_controller_arguments_follow_the_values(platform: tuple[str, list[Obj]]) -> None:
    variant, objects = platform
    values = PLATFORM_VARIANTS[variant][0]
    deployment = only(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    leader = values.get("leaderElection", {}).get("enabled", True)
    images = values.get("image", {})
    agent = images.get("agent", {"repository": "kruntimes/agent", "tag": "0.1.0"})
    controller = images.get("controller", {"repository": "kruntimes/controller", "tag": "0.1.0"})

    assert container["image"] == f"{controller['repository']}:{controller['tag']}"
    assert "--metrics-bind-address=:8080" in args
    assert "--health-probe-bind-address=:8081" in args
    assert f"--agent-image={agent['repository']}:{agent['tag']}" in args
    assert f"--log-format={values.get('logFormat', 'json')}" in args
    assert ("--leader-elect" in args) is leader
    assert (f"--leader-election-namespace={DEFAULT_NAMESPACE}" in args) is leader
    assert [a for a in args if a.startswith("--namespace=")] == [
        f"--namespace={ns}" for ns in values.get("namespaces", [])
    ]
    assert args[len(args) - len(values.get("extraArgs", [])) :] == values.get("extraArgs", [])
    assert deployment["spec"]["replicas"] == values.get("replicas", 2)
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_cluster_role_holds_exactly_what_the_controller_needs(
    platform: tuple[str, list[Obj]],
) -> None:
    _, objects = platform
    role = only(objects, "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule.get("verbs", [])
        assert "*" not in rule.get("resources", [])
        assert "*" not in rule.get("apiGroups", [])
        assert "secrets" not in rule.get("resources", [])
        assert not rule.get("nonResourceURLs")
        assert not {"escalate", "bind", "impersonate"} & set(rule.get("verbs", []))
    held = permissions(role["rules"])
    assert held == CONTROLLER_PERMISSIONS
    assert held >= AGENT_PERMISSIONS, "the controller cannot grant agents what it lacks"


def test_cluster_role_is_bound_to_the_controller_service_account(
    platform: tuple[str, list[Obj]],
) -> None:
    variant, objects = platform
    namespaces = PLATFORM_VARIANTS[variant][0].get("namespaces", [])
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account
    role_name = only(objects, "ClusterRole")["metadata"]["name"]
    bindings = of_kind(objects, "ClusterRoleBinding") + [
        b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"
    ]
    if namespaces:
        assert not of_kind(objects, "ClusterRoleBinding"), "namespaces listed: no cluster grant"
        assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(namespaces)
    else:
        assert [b["kind"] for b in bindings] == ["ClusterRoleBinding"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == role_name
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": DEFAULT_NAMESPACE}
        ]


def test_leader_election_role_is_namespaced_and_minimal(platform: tuple[str, list[Obj]]) -> None:
    variant, objects = platform
    leader = PLATFORM_VARIANTS[variant][0].get("leaderElection", {}).get("enabled", True)
    roles = of_kind(objects, "Role")
    if not leader:
        assert not roles
        return
    role = only(objects, "Role")
    assert role["metadata"]["namespace"] == DEFAULT_NAMESPACE
    assert permissions(role["rules"]) == {
        ("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")
    }
    (binding,) = [b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["kind"] == "Role"]
    assert binding["metadata"]["namespace"] == DEFAULT_NAMESPACE
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    assert binding["subjects"][0]["name"] == account


def test_metrics_service_selects_the_controller_pods(platform: tuple[str, list[Obj]]) -> None:
    _, objects = platform
    service = only(objects, "Service")
    deployment = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_service_monitor_needs_the_api_and_the_toggle(platform: tuple[str, list[Obj]]) -> None:
    variant, objects = platform
    monitors = of_kind(objects, "ServiceMonitor")
    if variant != "service-monitor":
        assert not monitors
        return
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = only(objects, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_service_monitor_is_skipped_without_the_prometheus_operator_api() -> None:
    objects = render_chart(PLATFORM_CHART, {"metrics": {"serviceMonitor": {"enabled": True}}})
    assert not of_kind(objects, "ServiceMonitor")


def test_pod_disruption_budget_follows_replicas_and_kubernetes_version(
    platform: tuple[str, list[Obj]],
) -> None:
    variant, objects = platform
    values, _, kube_version = PLATFORM_VARIANTS[variant]
    budgets = of_kind(objects, "PodDisruptionBudget")
    if values.get("replicas", 2) <= 1:
        assert not budgets
        return
    budget = only(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["apiVersion"] == ("policy/v1beta1" if kube_version == "1.20.2" else "policy/v1")
    selector = only(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"leaderElection": {"enabled": False}}, "leaderElection"),
        ({"logFormat": "xml"}, "logFormat"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name"),
    ],
    ids=["two-replicas-without-leader-election", "bad-log-format", "no-service-account-name"],
)
def test_platform_chart_refuses_settings_that_cannot_work(
    values: dict[str, Any], reason: str
) -> None:
    with pytest.raises(HelmError, match=re.escape(reason)):
        render_chart(PLATFORM_CHART, values)


# --- the runtimes chart ------------------------------------------------------------------


def test_runtimes_chart_renders_only_runtimes(runtimes: tuple[str, list[Obj]]) -> None:
    variant, objects = runtimes
    entries = RUNTIMES_VARIANTS[variant].get("runtimes") or [{"name": "bash"}, {"name": "python"}]
    assert [o["kind"] for o in objects] == ["Runtime"] * len(entries)
    assert [o["metadata"]["name"] for o in objects] == [e["name"] for e in entries]
    for obj in objects:
        assert obj["apiVersion"] == "kruntimes.io/v1alpha1"
        assert obj["metadata"]["namespace"] == "team-a"


def test_runtime_spec_has_the_shape_the_controller_expects(
    runtimes: tuple[str, list[Obj]],
) -> None:
    _, objects = runtimes
    for runtime in objects:
        spec = runtime["spec"]
        assert spec["port"] == 9091
        assert isinstance(spec["replicas"], int)
        runs = spec["capacity"]["resources"]["runs"]
        assert isinstance(runs, str)
        assert int(runs) >= 1
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        assert container["name"] == "runtime"
        assert len(pod["containers"]) == 1, "the controller injects the agent sidecar"
        assert "volumes" not in pod, "the controller injects the socket and workspace volumes"
        assert "volumeMounts" not in container
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["KRUNTIMES_CAPACITY"] == runs
        assert_restricted(container, read_only_root=False)
        assert pod["securityContext"]["runAsNonRoot"] is True
        labels = spec["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "runtime"
        assert labels["app.kubernetes.io/part-of"] == "kruntimes"


def test_default_runtimes_are_the_built_in_servers() -> None:
    objects = render_chart(RUNTIMES_CHART, namespace="team-a", release="rt")
    by_name = {o["metadata"]["name"]: o["spec"] for o in objects}
    assert sorted(by_name) == ["bash", "python"]
    for name, spec in by_name.items():
        container = spec["template"]["spec"]["containers"][0]
        assert spec["replicas"] == 2
        assert spec["capacity"]["resources"] == {"runs": "8"}
        assert container["image"] == f"kruntimes/runtime-{name}:0.1.0"
        assert container["command"] == ["python", "-m", f"kruntimes.runtimes.{name}_server"]
        # Kubernetes expands $(KRUNTIMES_CAPACITY) from the container's env.
        assert container["args"] == [
            "--socket",
            "/run/kruntimes/runtime.sock",
            "--capacity",
            "$(KRUNTIMES_CAPACITY)",
        ]


def test_runtime_entries_override_the_defaults() -> None:
    objects = render_chart(RUNTIMES_CHART, RUNTIMES_VARIANTS["custom-list"], namespace="team-a")
    by_name = {o["metadata"]["name"]: o["spec"] for o in objects}
    python = by_name["py-data"]
    container = python["template"]["spec"]["containers"][0]
    assert python["capacity"]["resources"] == {"runs": "4", "gpu-slots": "1"}
    assert container["args"][-2:] == ["--preload", "json,decimal"]
    assert container["image"] == "reg.example/py:0.1.0"
    assert container["resources"]["requests"]["cpu"] == "250m"  # from defaults
    custom = by_name["upper"]
    container = custom["template"]["spec"]["containers"][0]
    assert custom["replicas"] == 0
    assert custom["template"]["spec"]["runtimeClassName"] == "gvisor"
    assert "runtimeClassName" not in python["template"]["spec"]
    assert container["command"] == ["/usr/local/bin/upper-server"]
    assert "args" not in container
    assert container["image"] == "reg.example/upper:2"


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([{"name": "bash", "server": "bash"}] * 2, "listed twice"),
        ([{"name": "Bash_1", "server": "bash"}], "DNS label"),
        ([{"name": "x", "server": "custom", "image": {"repository": "r"}}], "needs command"),
        ([{"name": "x", "server": "ruby"}], "server must be"),
        ([{"name": "x", "server": "bash", "preload": ["json"]}], "python server only"),
        ([{"name": "x", "server": "bash", "capacity": {"runs": 0}}], "capacity.runs"),
    ],
    ids=["duplicate", "bad-name", "custom-without-command", "unknown-server", "preload", "zero"],
)
def test_runtimes_chart_refuses_entries_that_cannot_work(
    entries: list[dict[str, Any]], reason: str
) -> None:
    for entry in entries:
        entry.setdefault("image", {"repository": "kruntimes/runtime-bash"})
    with pytest.raises(HelmError, match=re.escape(reason)):
        render_chart(RUNTIMES_CHART, {"runtimes": entries}, namespace="team-a")


# --- the images the charts name ----------------------------------------------------------


@pytest.mark.parametrize("image", ["controller", "agent", "runtime-bash", "runtime-python"])
def test_each_image_has_a_dockerfile_running_as_the_charts_user(image: str) -> None:
    dockerfile = REPO_ROOT / "reference_deployment" / "docker" / f"{image}.Dockerfile"
    text = dockerfile.read_text()
    assert re.search(r"^USER 65532:65532$", text, re.M), "charts run as UID/GID 65532"
    assert re.search(r"^FROM python:3\.11-slim AS build$", text, re.M)
    assert (dockerfile.parent / f"{image}.Dockerfile.dockerignore").is_file()
    for source in re.findall(r"^COPY (?!--)(\S+) ", text, re.M):
        if "*" not in source:
            assert (REPO_ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
