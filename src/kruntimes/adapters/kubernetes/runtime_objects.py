"""The child objects a Runtime owns, and its status, as pure functions over plain dicts.

The controller computes `desired_objects`, compares each with the live one
through `needs_update` and writes only what differs, so a steady cluster
costs no writes. Everything here is deterministic: the same Runtime and
settings always give the same dicts (and the same template hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from kruntimes.codec.quantities import format_quantity
from kruntimes.model import (
    API_VERSION,
    CAPACITY_ANNOTATION_PREFIX,
    RUNTIME_KIND,
    RUNTIME_LABEL,
    Condition,
    ConditionStatus,
    Runtime,
    RuntimeSpec,
    RuntimeStatus,
)
from kruntimes.status import MAX_CONDITIONS, bounded_message, timestamp

DEFAULT_AGENT_IMAGE = "ghcr.io/kruntimes/agent:0.1.0"
AGENT_CONTAINER = "kruntimes-agent"
RUNTIME_CONTAINER = "runtime"
TEMPLATE_HASH_ANNOTATION = "kruntimes.io/template-hash"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
OWNER_LABEL = "kruntimes.io/runtime"
RUN_VOLUME, RUN_DIR = "kruntimes-run", "/run/kruntimes"
WORKSPACE_VOLUME, WORKSPACE_DIR = "workspace", "/workspace"
RUNTIME_SOCKET = f"{RUN_DIR}/runtime.sock"
READY, PROGRESSING = "Ready", "Progressing"
AGENT_RESOURCES: Mapping[str, Any] = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"memory": "256Mi"},
}


@frozen
class AgentSettings:
    """How the controller injects the `kruntimes-agent` sidecar; one per controller."""

    image: str = DEFAULT_AGENT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    resources: Mapping[str, Any] = AGENT_RESOURCES
    """Canonical quantities ("1Gi", not "1024Mi") keep `needs_update` exact."""
    metrics_port: int = 9090
    health_port: int = 8081


def agent_name(runtime: Runtime) -> str:
    """The ServiceAccount, Role and RoleBinding name of a Runtime's agents."""
    return f"{runtime.metadata.name}-agent"


def desired_objects(runtime: Runtime, settings: AgentSettings) -> list[dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding, NetworkPolicy and Deployment, in creation order."""
    role = _object("rbac.authorization.k8s.io/v1", "Role", agent_name(runtime), runtime)
    return [
        _object("v1", "ServiceAccount", agent_name(runtime), runtime),
        {**role, "rules": agent_rules()},
        _role_binding(runtime),
        _network_policy(runtime, settings),
        _deployment(runtime, settings),
    ]


def agent_rules() -> list[dict[str, Any]]:
    """Least privilege for the agent, in its own namespace only.

    It watches its Runs and its Pod, writes Run status, sets its heartbeat
    condition on its Pod's status and records Events; no Secrets, nothing
    cluster-wide, no create or delete of Runs or Pods.
    """
    return [
        _rule("kruntimes.io", "runs", "get", "list", "watch"),
        _rule("kruntimes.io", "runs/status", "get", "update", "patch"),
        _rule("", "pods", "get", "list", "watch"),
        _rule("", "pods/status", "get", "patch"),
        _rule("", "events", "create", "patch"),
    ]


def template_hash(spec: RuntimeSpec) -> str:
    """A short stable hash of everything in the spec that shapes a Pod.

    `replicas` is left out so scaling does not restart warm Pods; the rest
    (including `artifactStore`, which the agent reads at start) rolls them out.
    """
    shaping = {
        "template": spec.template,
        "port": spec.port,
        "daemonImage": spec.daemon_image,
        "capacity": spec.capacity,
        "artifactStore": spec.artifact_store,
        "workspace": spec.workspace,
        "extra": spec.extra,
    }
    text = json.dumps(_plain(shaping), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def pod_template(runtime: Runtime, settings: AgentSettings) -> dict[str, Any]:
    """The Runtime's `spec.template`, verbatim, plus what every Runtime Pod needs.

    Added: the `runtime` label, capacity and template-hash annotations, the
    agent's ServiceAccount, the agent sidecar and the two shared volumes.
    Where the user's template already sets a security context, a volume or a
    mount of the same name or path, the template wins.
    """
    template: dict[str, Any] = _plain(runtime.spec.template)
    meta = _child(template, "metadata")
    _child(meta, "labels")[RUNTIME_LABEL] = runtime.metadata.name
    _child(meta, "annotations").update(
        {
            **_capacity_annotations(runtime.spec),
            TEMPLATE_HASH_ANNOTATION: template_hash(runtime.spec),
        }
    )
    spec = _child(template, "spec")
    spec["serviceAccountName"] = agent_name(runtime)
    spec["automountServiceAccountToken"] = True
    security = _child(spec, "securityContext")
    security.setdefault("runAsNonRoot", True)
    security.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    containers = [
        c
        for c in _items(spec, "containers")
        if not isinstance(c, dict) or c.get("name") != AGENT_CONTAINER
    ]
    mounts = [
        {"name": RUN_VOLUME, "mountPath": RUN_DIR},
        {"name": WORKSPACE_VOLUME, "mountPath": WORKSPACE_DIR},
    ]
    named = [c for c in containers if isinstance(c, dict)]
    main = next((c for c in named if c.get("name") == RUNTIME_CONTAINER), None)
    if main is None and named:
        main = named[0]
    if main is not None:
        main.setdefault("securityContext", _restricted())
        _add_missing(_items(main, "volumeMounts"), mounts, "name", "mountPath")
    spec["containers"] = [*containers, _agent(runtime, settings, mounts)]
    workspace = {k: v for k, v in _plain(runtime.spec.workspace or {}).items() if k != "name"}
    volumes = [
        {"name": RUN_VOLUME, "emptyDir": {}},
        {"name": WORKSPACE_VOLUME, **(workspace or {"emptyDir": {}})},
    ]
    _add_missing(_items(spec, "volumes"), volumes, "name")
    return template


def runtime_status_from(
    runtime: Runtime, deployment: Mapping[str, Any] | None, now: float
) -> RuntimeStatus:
    """A Runtime's `status` from its Deployment; transition times move only when a status flips."""
    want = runtime.spec.replicas
    if not isinstance(deployment, Mapping):
        missing = f"Deployment {runtime.metadata.name} does not exist yet"
        ready_count = 0
        ready = (False, "NoDeployment", missing)
        progressing = (False, "NoDeployment", missing)
    else:
        status = _mapping(deployment.get("status"))
        ready_count = _count(status.get("readyReplicas"))
        ready = _readiness(want, ready_count, status)
        progressing = _progress(want, deployment, status)
    conditions = runtime.status.conditions
    generation = runtime.metadata.generation or None
    for type_, (ok, reason, message) in ((READY, ready), (PROGRESSING, progressing)):
        conditions = _set_condition(
            conditions, type_, ok=ok, reason=reason, message=message, now=now, generation=generation
        )
    return RuntimeStatus(
        ready_replicas=ready_count, conditions=conditions, extra=runtime.status.extra
    )


def _object(api_version: str, kind: str, name: str, runtime: Runtime) -> dict[str, Any]:
    meta = runtime.metadata
    owner = {"apiVersion": API_VERSION, "kind": RUNTIME_KIND, "name": meta.name, "uid": meta.uid}
    metadata = {
        "name": name,
        "namespace": meta.namespace,
        "labels": {MANAGED_BY_LABEL: "kruntimes", OWNER_LABEL: meta.name},
        "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
    }
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _rule(group: str, resource: str, *verbs: str) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}


def _role_binding(runtime: Runtime) -> dict[str, Any]:
    name = agent_name(runtime)
    return {
        **_object("rbac.authorization.k8s.io/v1", "RoleBinding", name, runtime),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [
            {"kind": "ServiceAccount", "name": name, "namespace": runtime.metadata.namespace}
        ],
    }


def _network_policy(runtime: Runtime, settings: AgentSettings) -> dict[str, Any]:
    """Ingress only to the agent's metrics port, from Pods of the same namespace.

    Runtime Servers are reached over localhost or the Unix socket inside the
    Pod, so nothing else needs to get in (kubelet probes come from the node,
    which CNIs let through). Egress stays open: Runs fetch sources, packages
    and talk to services, and the agent needs the API server.
    """
    metrics = {"from": [{"podSelector": {}}], "ports": [_port(settings.metrics_port)]}
    spec = {"podSelector": _selector(runtime), "policyTypes": ["Ingress"], "ingress": [metrics]}
    name = runtime.metadata.name
    return {**_object("networking.k8s.io/v1", "NetworkPolicy", name, runtime), "spec": spec}


def _deployment(runtime: Runtime, settings: AgentSettings) -> dict[str, Any]:
    return {
        **_object("apps/v1", "Deployment", runtime.metadata.name, runtime),
        "spec": {
            "replicas": runtime.spec.replicas,
            "selector": _selector(runtime),
            "template": pod_template(runtime, settings),
        },
    }


def _agent(
    runtime: Runtime, settings: AgentSettings, mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    def from_field(name: str, path: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    def probe(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": settings.health_port}}

    return {
        "name": AGENT_CONTAINER,
        "image": runtime.spec.daemon_image or settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "env": [
            from_field("POD_NAME", "metadata.name"),
            from_field("POD_NAMESPACE", "metadata.namespace"),
            from_field("POD_UID", "metadata.uid"),
            {"name": "KRUNTIMES_RUNTIME_SOCKET", "value": RUNTIME_SOCKET},
            {"name": "KRUNTIMES_RUNTIME_GRPC", "value": f"127.0.0.1:{runtime.spec.port}"},
            {"name": "KRUNTIMES_WORK_ROOT", "value": WORKSPACE_DIR},
        ],
        "ports": [
            {"name": "metrics", "containerPort": settings.metrics_port, "protocol": "TCP"},
            {"name": "health", "containerPort": settings.health_port, "protocol": "TCP"},
        ],
        "readinessProbe": probe("/readyz"),
        "livenessProbe": probe("/healthz"),
        "resources": _plain(settings.resources),
        "securityContext": {**_restricted(), "runAsNonRoot": True},
        "volumeMounts": _plain(mounts),
    }


def _restricted() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _capacity_annotations(spec: RuntimeSpec) -> dict[str, str]:
    """Positive capacities only: a Pod reader ignores zero, as the reference does."""
    return {
        CAPACITY_ANNOTATION_PREFIX + name: format_quantity(amount)
        for name, amount in sorted(spec.capacity.items())
        if amount > 0
    }


def _selector(runtime: Runtime) -> dict[str, Any]:
    return {"matchLabels": {RUNTIME_LABEL: runtime.metadata.name}}


def _port(number: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": number}


def _add_missing(into: list[Any], items: list[dict[str, Any]], *keys: str) -> None:
    """Append each item unless one already there shares a value of `keys` (the user's wins)."""
    for item in items:
        if not any(isinstance(o, dict) and o.get(k) == item[k] for o in into for k in keys):
            into.append(dict(item))


def _readiness(want: int, ready: int, status: Mapping[str, Any]) -> tuple[bool, str, str]:
    counted = f"{ready}/{want} Runtime Pods ready"
    if want == 0:
        return False, "ScaledToZero", "spec.replicas is 0"
    if ready >= want:
        return True, "ReplicasReady", counted
    failure = _deployment_condition(status, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return False, "ReplicaFailure", f"{counted}: {_text(failure.get('message'))}"
    return False, "ScalingUp", counted


def _progress(
    want: int, deployment: Mapping[str, Any], status: Mapping[str, Any]
) -> tuple[bool, str, str]:
    stuck = _deployment_condition(status, "Progressing")
    if stuck is not None and stuck.get("reason") == "ProgressDeadlineExceeded":
        return False, "ProgressDeadlineExceeded", _text(stuck.get("message"))
    generation = _count(_mapping(deployment.get("metadata")).get("generation"))
    updated, current = _count(status.get("updatedReplicas")), _count(status.get("replicas"))
    if _count(status.get("observedGeneration")) < generation:
        return True, "RollingOut", "the Deployment controller has not seen the new spec yet"
    if updated < want or current > updated:
        return True, "RollingOut", f"{updated}/{want} Runtime Pods updated, {current} in all"
    return False, "RolledOut", f"{updated}/{want} Runtime Pods updated"


def _set_condition(
    conditions: tuple[Condition, ...],
    type_: str,
    *,
    ok: bool,
    reason: str,
    message: str,
    now: float,
    generation: int | None,
) -> tuple[Condition, ...]:
    """Like `kruntimes.status.with_condition`, for any status: keyed by type, order kept."""
    new_status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    old = next((c for c in conditions if c.type == type_), None)
    when = timestamp(now)
    if old is not None and old.status == new_status and old.last_transition_time is not None:
        when = old.last_transition_time
    cond = Condition(type_, new_status, reason, bounded_message(message), when, None, generation)
    if old is None:
        return (*conditions, cond)[-MAX_CONDITIONS:]
    return tuple(cond if c.type == type_ else c for c in conditions)


def _deployment_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    found = status.get("conditions")
    items = found if isinstance(found, list) else []
    return next((c for c in items if isinstance(c, Mapping) and c.get("type") == type_), None)


def _plain(value: Any) -> Any:
    """A deep, JSON-shaped copy: mappings to dicts, tuples to lists; never the caller's objects."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _child(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """`parent[key]` as a dict, made one if missing or malformed."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def _items(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if not isinstance(value, list):
        value = parent[key] = []
    return value


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
