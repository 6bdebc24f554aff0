"""Pod dicts as the API server would hold them, for tests that play kubelet.

Tests against a kube-apiserver (no kubelet, no controllers) create Runtime
Pods with `runtime_pod_manifest` and then set `running_ready_status` on the
status subresource, so the scheduler sees warm, heartbeating Pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kruntimes.adapters.kubernetes.pods import heartbeat_condition
from kruntimes.codec.quantities import format_quantity
from kruntimes.codec.timestamps import format_timestamp
from kruntimes.model.pod import CAPACITY_ANNOTATION_PREFIX, RUNTIME_LABEL
from kruntimes.status import timestamp

RUNTIME_IMAGE = "example/runtime"


def runtime_pod_manifest(
    name: str,
    namespace: str,
    runtime: str,
    capacity: Mapping[str, int] | None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Runtime Pod of `runtime`; `capacity=None` leaves the default (no annotations)."""
    annotations = {
        CAPACITY_ANNOTATION_PREFIX + resource: format_quantity(amount)
        for resource, amount in (capacity or {}).items()
    }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {**(labels or {}), RUNTIME_LABEL: runtime},
    }
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "runtime", "image": RUNTIME_IMAGE}]},
    }


def running_ready_status(at: float, heartbeat: bool = True) -> dict[str, Any]:
    """A `status` of a Running, Ready Pod; with the agent's heartbeat at `at` unless told not."""
    when = format_timestamp(timestamp(at))
    conditions: list[dict[str, Any]] = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": when}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    if heartbeat:
        conditions.append(heartbeat_condition(at))
    return {"phase": "Running", "conditions": conditions, "startTime": when}
