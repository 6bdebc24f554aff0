"""The objects a Runtime owns (RBAC, NetworkPolicy, Deployment), their diff, and its status."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from attrs import evolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruntimes.adapters.kubernetes.object_diff import needs_update
from kruntimes.adapters.kubernetes.runtime_objects import (
    AgentSettings,
    desired_objects,
    runtime_status_from,
    template_hash,
)
from kruntimes.codec import runtime_from_dict
from kruntimes.model import ConditionStatus, Runtime
from kruntimes.testing.hostile import hostile_trees, mutations

NOW = 1_700_000_000.0
USER_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"team": "ci"}, "annotations": {"team.io/owner": "ci"}},
    "spec": {
        "containers": [
            {
                "name": "runtime",
                "image": "ghcr.io/example/bash:1.2",
                "args": ["--listen", "127.0.0.1:9091"],
                "env": [{"name": "MODE", "value": "fast"}],
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            },
            {"name": "helper", "image": "example/helper:1"},
        ],
        "restartPolicy": "Always",
        "nodeSelector": {"pool": "runtimes"},
        "tolerations": [{"key": "runtimes", "operator": "Exists", "effect": "NoSchedule"}],
        "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
    },
}


def make_runtime(**spec: Any) -> Runtime:
    document = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "bash", "namespace": "ci", "uid": "rt-uid", "generation": 2},
        "spec": {
            "template": copy.deepcopy(USER_TEMPLATE),
            "replicas": 3,
            "capacity": {"resources": {"runs": "8"}},
            **spec,
        },
    }
    return runtime_from_dict(document)


def objects(runtime: Runtime | None = None, **settings: Any) -> dict[str, dict[str, Any]]:
    found = desired_objects(runtime or make_runtime(), AgentSettings(**settings))
    return {o["kind"]: o for o in found}


def deployment(runtime: Runtime | None = None, **settings: Any) -> dict[str, Any]:
    return objects(runtime, **settings)["Deployment"]


def pod_spec(runtime: Runtime | None = None, **settings: Any) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(runtime, **settings)["spec"]["template"]["spec"]
    return spec


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in spec["containers"] if c["name"] == name]
    assert len(found) == 1
    return found[0]


def served(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as the API server returns it: defaults, server metadata and status filled in."""
    live = copy.deepcopy(obj)
    meta = live["metadata"]
    meta.update(uid="u", resourceVersion="42", generation=1, managedFields=[{"manager": "x"}])
    meta["labels"]["someone.else/added"] = "yes"
    live["status"] = {"observedGeneration": 1}
    if live["kind"] == "Deployment":
        spec = live["spec"]
        spec.update(revisionHistoryLimit=10, progressDeadlineSeconds=600)
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
        pod = spec["template"]["spec"]
        pod.update(dnsPolicy="ClusterFirst", schedulerName="default-scheduler")
        pod["serviceAccount"] = pod["serviceAccountName"]
        spec["template"]["metadata"]["creationTimestamp"] = None
        for c in pod["containers"]:
            c.update(terminationMessagePath="/dev/termination-log")
            c.setdefault("imagePullPolicy", "Always")
            for env in c.get("env", []):
                if "valueFrom" in env:
                    env["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in c:
                    c[probe].update(periodSeconds=10, timeoutSeconds=1)
                    c[probe]["httpGet"]["scheme"] = "HTTP"
        limits = container(pod, "kruntimes-agent")["resources"].get("limits", {})
        if limits.get("memory") == "256Mi":
            limits["memory"] = "0.25Gi"  # the same quantity, spelled differently
    if live["kind"] == "RoleBinding":
        live["subjects"][0]["apiGroup"] = ""
    return live


# --- RBAC and NetworkPolicy ---------------------------------------------------------------


def test_objects_in_creation_order_with_owner_and_labels() -> None:
    found = desired_objects(make_runtime(), AgentSettings())
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in found] == [
        ("v1", "ServiceAccount", "bash-agent"),
        ("rbac.authorization.k8s.io/v1", "Role", "bash-agent"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "bash-agent"),
        ("networking.k8s.io/v1", "NetworkPolicy", "bash"),
        ("apps/v1", "Deployment", "bash"),
    ]
    for obj in found:
        meta = obj["metadata"]
        assert meta["namespace"] == "ci"
        assert meta["labels"] == {
            "app.kubernetes.io/managed-by": "kruntimes",
            "kruntimes.io/runtime": "bash",
        }
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "kruntimes.io/v1alpha1",
                "kind": "Runtime",
                "name": "bash",
                "uid": "rt-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


def test_role_is_least_privilege() -> None:
    role = objects()["Role"]
    assert role["kind"] == "Role"
    assert role["metadata"]["namespace"] == "ci"
    rules = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in role["rules"]}
    assert all(len(r["apiGroups"]) == len(r["resources"]) == 1 for r in role["rules"])
    assert rules == {
        ("kruntimes.io", "runs"): ["get", "list", "watch"],
        ("kruntimes.io", "runs/status"): ["get", "update", "patch"],
        ("", "pods"): ["get", "list", "watch"],
        ("", "pods/status"): ["get", "patch"],
        ("", "events"): ["create", "patch"],
    }
    text = repr(objects())
    assert "secrets" not in text
    assert "ClusterRole" not in text
    assert "'*'" not in text
    assert all("resourceNames" not in r and "nonResourceURLs" not in r for r in role["rules"])


def test_role_binding_binds_the_agent_account_to_the_role() -> None:
    binding = objects()["RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "bash-agent",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "bash-agent", "namespace": "ci"}
    ]
    assert "automountServiceAccountToken" not in objects()["ServiceAccount"]


def test_network_policy_lets_in_only_metrics_and_leaves_egress_open() -> None:
    spec = objects(metrics_port=9999)["NetworkPolicy"]["spec"]
    assert spec == {
        "podSelector": {"matchLabels": {"runtime": "bash"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 9999}]}],
    }


# --- Deployment and Pod template ---------------------------------------------------------


def test_deployment_spec() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"runtime": "bash"}}
    meta = spec["template"]["metadata"]
    assert meta["labels"] == {"team": "ci", "runtime": "bash"}
    assert meta["annotations"] == {
        "team.io/owner": "ci",
        "kruntimes.io/capacity.runs": "8",
        "kruntimes.io/template-hash": template_hash(make_runtime().spec),
    }


def test_capacity_annotations_only_for_declared_positive_capacity() -> None:
    runtime = make_runtime(capacity={"resources": {"example.com/gpu": "1", "runs": "0"}})
    annotations = deployment(runtime)["spec"]["template"]["metadata"]["annotations"]
    assert {k for k in annotations if k.startswith("kruntimes.io/capacity.")} == {
        "kruntimes.io/capacity.example.com/gpu"
    }
    empty = deployment(make_runtime(capacity={}))["spec"]["template"]["metadata"]["annotations"]
    assert not any(k.startswith("kruntimes.io/capacity.") for k in empty)


def _contains(big: Any, small: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _contains(big[k], v) for k, v in small.items()
        )
    if isinstance(small, list):
        return (
            isinstance(big, list)
            and len(big) >= len(small)
            and all(_contains(b, s) for b, s in zip(big, small, strict=False))
        )
    return bool(big == small)


def test_template_is_kept_verbatim_and_not_mutated() -> None:
    runtime = make_runtime()
    before = copy.deepcopy(dict(runtime.spec.template))
    template = deployment(runtime)["spec"]["template"]
    assert runtime.spec.template == before
    assert _contains(template, USER_TEMPLATE)
    spec = template["spec"]
    assert [c["name"] for c in spec["containers"]] == ["runtime", "helper", "kruntimes-agent"]
    assert spec["containers"][1] == USER_TEMPLATE["spec"]["containers"][1]
    main = spec["containers"][0]
    user_main = USER_TEMPLATE["spec"]["containers"][0]
    assert {k: main[k] for k in user_main if k != "volumeMounts"} == {
        k: v for k, v in user_main.items() if k != "volumeMounts"
    }
    assert main["volumeMounts"] == [
        {"name": "cache", "mountPath": "/cache"},
        {"name": "kruntimes-run", "mountPath": "/run/kruntimes"},
        {"name": "workspace", "mountPath": "/workspace"},
    ]
    template["spec"]["containers"][0]["image"] = "changed"
    assert deployment(runtime)["spec"]["template"]["spec"]["containers"][0]["image"] != "changed"


def test_pod_level_additions() -> None:
    spec = pod_spec()
    assert spec["serviceAccountName"] == "bash-agent"
    assert spec["automountServiceAccountToken"] is True
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["volumes"] == [
        {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "kruntimes-run", "emptyDir": {}},
        {"name": "workspace", "emptyDir": {}},
    ]


RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_agent_sidecar() -> None:
    agent = container(pod_spec(), "kruntimes-agent")
    assert agent["image"] == "ghcr.io/kruntimes/agent:0.1.0"
    assert agent["imagePullPolicy"] == "IfNotPresent"
    env = {e["name"]: e for e in agent["env"]}
    assert "HOSTNAME" not in env
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_UID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}
    assert env["KRUNTIMES_RUNTIME_SOCKET"]["value"] == "/run/kruntimes/runtime.sock"
    assert env["KRUNTIMES_RUNTIME_GRPC"]["value"] == "127.0.0.1:9091"
    assert env["KRUNTIMES_WORK_ROOT"]["value"] == "/workspace"
    assert {p["name"]: p["containerPort"] for p in agent["ports"]} == {
        "metrics": 9090,
        "health": 8081,
    }
    assert agent["readinessProbe"] == {"httpGet": {"path": "/readyz", "port": 8081}}
    assert agent["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": 8081}}
    assert agent["securityContext"] == {**RESTRICTED, "runAsNonRoot": True}
    assert agent["volumeMounts"] == [
        {"name": "kruntimes-run", "mountPath": "/run/kruntimes"},
        {"name": "workspace", "mountPath": "/workspace"},
    ]
    assert agent["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}


def test_agent_settings_and_daemon_image() -> None:
    custom = AgentSettings(
        image="registry.local/agent:2",
        image_pull_policy="Always",
        resources={"requests": {"cpu": "1"}},
        health_port=7000,
    )
    agent = container(pod_spec(**vars_of(custom)), "kruntimes-agent")
    assert (agent["image"], agent["imagePullPolicy"]) == ("registry.local/agent:2", "Always")
    assert agent["resources"] == {"requests": {"cpu": "1"}}
    assert agent["livenessProbe"]["httpGet"]["port"] == 7000
    daemon = make_runtime(daemonImage="ghcr.io/example/runtimed:0.3", port=7777)
    agent = container(pod_spec(daemon, **vars_of(custom)), "kruntimes-agent")
    assert agent["image"] == "ghcr.io/example/runtimed:0.3"
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert env["KRUNTIMES_RUNTIME_GRPC"] == "127.0.0.1:7777"


def vars_of(agent_settings: AgentSettings) -> dict[str, Any]:
    return {
        "image": agent_settings.image,
        "image_pull_policy": agent_settings.image_pull_policy,
        "resources": agent_settings.resources,
        "metrics_port": agent_settings.metrics_port,
        "health_port": agent_settings.health_port,
    }


def test_restricted_security_context_added_only_where_the_template_has_none() -> None:
    assert container(pod_spec(), "runtime")["securityContext"] == RESTRICTED
    assert "securityContext" not in container(pod_spec(), "helper")
    template = copy.deepcopy(USER_TEMPLATE)
    template["spec"]["containers"][0]["securityContext"] = {"runAsUser": 0, "privileged": True}
    template["spec"]["securityContext"] = {"runAsNonRoot": False, "fsGroup": 1000}
    spec = pod_spec(make_runtime(template=template))
    assert container(spec, "runtime")["securityContext"] == {"runAsUser": 0, "privileged": True}
    assert spec["securityContext"] == {
        "runAsNonRoot": False,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_workspace_volume_source_and_user_volumes_win() -> None:
    pvc = {"persistentVolumeClaim": {"claimName": "shared"}}
    volumes = pod_spec(make_runtime(workspace=pvc))["volumes"]
    assert {"name": "workspace", **pvc} in volumes
    template = copy.deepcopy(USER_TEMPLATE)
    template["spec"]["volumes"].append({"name": "workspace", "hostPath": {"path": "/w"}})
    template["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "scratch", "mountPath": "/workspace"}
    )
    spec = pod_spec(make_runtime(template=template, workspace=pvc))
    assert [v for v in spec["volumes"] if v["name"] == "workspace"] == [
        {"name": "workspace", "hostPath": {"path": "/w"}}
    ]
    mounts = container(spec, "runtime")["volumeMounts"]
    assert [m["name"] for m in mounts if m["mountPath"] == "/workspace"] == ["scratch"]


def test_an_injected_agent_in_the_template_is_replaced() -> None:
    template = copy.deepcopy(USER_TEMPLATE)
    template["spec"]["containers"].append({"name": "kruntimes-agent", "image": "old"})
    spec = pod_spec(make_runtime(template=template))
    assert [c["name"] for c in spec["containers"]].count("kruntimes-agent") == 1
    assert container(spec, "kruntimes-agent")["image"] != "old"


def test_an_empty_template_still_gets_a_working_pod() -> None:
    spec = pod_spec(make_runtime(template={}))
    assert [c["name"] for c in spec["containers"]] == ["kruntimes-agent"]
    assert [v["name"] for v in spec["volumes"]] == ["kruntimes-run", "workspace"]


# --- template hash and needs_update -------------------------------------------------------


def test_template_hash_is_stable_and_follows_pod_shaping_changes() -> None:
    base = make_runtime()
    assert template_hash(base.spec) == template_hash(make_runtime().spec)
    assert len(template_hash(base.spec)) == 10
    assert template_hash(evolve(base.spec, replicas=10)) == template_hash(base.spec)
    changed = [
        evolve(base.spec, port=7000),
        evolve(base.spec, daemon_image="x:1"),
        evolve(base.spec, capacity={"runs": 9}),
        evolve(base.spec, workspace={"persistentVolumeClaim": {"claimName": "w"}}),
        evolve(base.spec, artifact_store={"driver": "filesystem"}),
    ]
    template = copy.deepcopy(USER_TEMPLATE)
    template["spec"]["containers"][0]["image"] = "ghcr.io/example/bash:1.3"
    changed.append(make_runtime(template=template).spec)
    hashes = {template_hash(s) for s in changed}
    assert len(hashes) == len(changed)
    assert template_hash(base.spec) not in hashes


def test_no_update_when_only_the_server_added_things() -> None:
    for obj in desired_objects(make_runtime(), AgentSettings()):
        assert not needs_update(served(obj), obj), obj["kind"]
        assert not needs_update(obj, obj)


def test_spec_change_needs_an_update() -> None:
    live = served(deployment())
    template = copy.deepcopy(USER_TEMPLATE)
    template["spec"]["containers"][0]["image"] = "ghcr.io/example/bash:1.3"
    assert needs_update(live, deployment(make_runtime(template=template)))
    del template["spec"]["nodeSelector"]
    assert needs_update(live, deployment(make_runtime(template=template)))
    assert needs_update(live, deployment(make_runtime(replicas=5)))
    assert needs_update(live, deployment(make_runtime(capacity={"resources": {"runs": "4"}})))
    assert needs_update(live, deployment(image="agent:2"))


@pytest.mark.parametrize(
    "drift",
    [
        lambda o: o["rules"][0]["verbs"].remove("watch"),
        lambda o: o["rules"][0]["verbs"].append("delete"),
        lambda o: o["rules"].append(
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        ),
        lambda o: o["rules"].pop(),
        lambda o: o["metadata"]["labels"].pop("kruntimes.io/runtime"),
        lambda o: o["metadata"]["labels"].update({"app.kubernetes.io/managed-by": "helm"}),
        lambda o: o["metadata"].pop("ownerReferences"),
        lambda o: o["metadata"]["ownerReferences"][0].update(uid="other"),
        lambda o: o.pop("rules"),
    ],
)
def test_drift_of_what_we_own_needs_an_update(drift: Any) -> None:
    desired = objects()["Role"]
    live = served(desired)
    assert not needs_update(live, desired)
    drift(live)
    assert needs_update(live, desired)


def test_quantities_compare_by_value() -> None:
    desired = deployment(resources={"requests": {"memory": "1024Mi", "cpu": "1000m"}})
    live = served(desired)
    agent = container(live["spec"]["template"]["spec"], "kruntimes-agent")
    agent["resources"] = {"requests": {"memory": "1Gi", "cpu": "1"}}
    assert not needs_update(live, desired)
    agent["resources"] = {"requests": {"memory": "1Gi", "cpu": "2"}}
    assert needs_update(live, desired)


def test_network_policy_and_binding_drift() -> None:
    policy = objects()["NetworkPolicy"]
    live = served(policy)
    live["spec"]["policyTypes"] = ["Ingress", "Egress"]
    assert needs_update(live, policy)
    binding = objects()["RoleBinding"]
    live = served(binding)
    live["subjects"][0]["name"] = "default"
    assert needs_update(live, binding)


# --- status ------------------------------------------------------------------------------


def live_deployment(
    ready: int, updated: int, replicas: int, generation: int = 1, observed: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"name": "bash", "generation": generation},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
        },
    }


def conditions_of(runtime: Runtime, deployment_: Any, now: float = NOW) -> dict[str, Any]:
    status = runtime_status_from(runtime, deployment_, now)
    return {c.type: (c.status.value, c.reason) for c in status.conditions}


@pytest.mark.parametrize(
    ("deployment_", "ready", "progressing"),
    [
        (None, ("False", "NoDeployment"), ("False", "NoDeployment")),
        (live_deployment(3, 3, 3), ("True", "ReplicasReady"), ("False", "RolledOut")),
        (live_deployment(1, 3, 3), ("False", "ScalingUp"), ("False", "RolledOut")),
        (live_deployment(0, 0, 0), ("False", "ScalingUp"), ("True", "RollingOut")),
        (live_deployment(3, 3, 3, generation=2), ("True", "ReplicasReady"), ("True", "RollingOut")),
        (live_deployment(3, 1, 4), ("True", "ReplicasReady"), ("True", "RollingOut")),
        (live_deployment(3, 3, 4), ("True", "ReplicasReady"), ("True", "RollingOut")),
    ],
)
def test_status_conditions(deployment_: Any, ready: Any, progressing: Any) -> None:
    assert conditions_of(make_runtime(), deployment_) == {
        "Ready": ready,
        "Progressing": progressing,
    }


def test_ready_replicas_and_scaled_to_zero() -> None:
    status = runtime_status_from(make_runtime(), live_deployment(2, 3, 3), NOW)
    assert status.ready_replicas == 2
    zero = make_runtime(replicas=0)
    assert conditions_of(zero, live_deployment(0, 0, 0))["Ready"] == ("False", "ScaledToZero")


def test_deployment_failures_are_surfaced() -> None:
    stuck = live_deployment(1, 1, 3)
    stuck["status"]["conditions"] = [
        {"type": "ReplicaFailure", "status": "True", "message": "forbidden: exceeded quota"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
    ]
    status = runtime_status_from(make_runtime(), stuck, NOW)
    by_type = {c.type: c for c in status.conditions}
    assert by_type["Ready"].reason == "ReplicaFailure"
    assert "exceeded quota" in by_type["Ready"].message
    assert by_type["Progressing"].reason == "ProgressDeadlineExceeded"


def test_transition_time_moves_only_when_the_status_flips() -> None:
    runtime = make_runtime()

    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    def step(deployment_: Any, now: float) -> dict[str, Any]:
        nonlocal runtime
        runtime = evolve(runtime, status=runtime_status_from(runtime, deployment_, now))
        return {c.type: c.last_transition_time for c in runtime.status.conditions}

    assert step(None, NOW) == {"Ready": at(NOW), "Progressing": at(NOW)}
    assert step(live_deployment(1, 3, 3), NOW + 10) == {"Ready": at(NOW), "Progressing": at(NOW)}
    assert step(live_deployment(3, 3, 3), NOW + 20) == {
        "Ready": at(NOW + 20),
        "Progressing": at(NOW),
    }
    assert step(live_deployment(3, 3, 3), NOW + 30)["Ready"] == at(NOW + 20)
    rolling = step(live_deployment(3, 3, 3, generation=2), NOW + 40)
    assert rolling == {"Ready": at(NOW + 20), "Progressing": at(NOW + 40)}
    ready = {c.type: c for c in runtime.status.conditions}["Ready"]
    assert ready.status is ConditionStatus.TRUE
    assert ready.observed_generation == 2


def test_other_conditions_are_kept_in_place() -> None:
    document = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "bash", "namespace": "ci"},
        "spec": {"template": {}},
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "X"}]},
    }
    status = runtime_status_from(runtime_from_dict(document), None, NOW)
    assert [c.type for c in status.conditions] == ["Available", "Ready", "Progressing"]


_ODD = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_ODD
@given(mutations(st.just(live_deployment(3, 3, 3))) | hostile_trees())
def test_odd_deployments_never_raise(deployment_: Any) -> None:
    status = runtime_status_from(make_runtime(), deployment_, NOW)
    assert status.ready_replicas >= 0
    assert {c.type for c in status.conditions} == {"Ready", "Progressing"}


@_ODD
@given(hostile_trees(), hostile_trees())
def test_needs_update_never_raises(existing: Any, desired: Any) -> None:
    if isinstance(existing, dict) and isinstance(desired, dict):
        assert needs_update(existing, desired) in {True, False}
