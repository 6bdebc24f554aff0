"""Kubernetes Pod dicts (camelCase, as the API server sends them) <-> `RuntimePod`.

Pure and total: a Pod from a watch stream is untrusted input, so every field
is read defensively and anything odd (missing, wrong type, bad timestamp or
quantity) falls back to "not known" instead of raising. A crash here would
stop the whole Pod watch, not just the odd Pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kruntimes.codec.quantities import parse_quantity
from kruntimes.codec.timestamps import format_timestamp, parse_timestamp
from kruntimes.model.pod import (
    CAPACITY_ANNOTATION_PREFIX,
    HEARTBEAT_CONDITION,
    RUNTIME_LABEL,
    RuntimePod,
)
from kruntimes.model.runtime import DEFAULT_POD_CAPACITY
from kruntimes.status import timestamp

HEARTBEAT_REASON = "Heartbeat"

__all__ = [
    "CAPACITY_ANNOTATION_PREFIX",
    "HEARTBEAT_CONDITION",
    "HEARTBEAT_REASON",
    "RUNTIME_LABEL",
    "capacity_from_annotations",
    "heartbeat_condition",
    "heartbeat_status_patch",
    "pod_from_v1",
]


def pod_from_v1(pod: Mapping[str, Any]) -> RuntimePod | None:
    """The scheduler's view of a Pod; None when it is not a Runtime Pod (no `runtime` label)."""
    if not isinstance(pod, Mapping):
        return None
    metadata = _mapping(pod.get("metadata"))
    labels = _strings(metadata.get("labels"))
    runtime = labels.get(RUNTIME_LABEL)
    if not runtime:
        return None
    status = _mapping(pod.get("status"))
    conditions = _conditions(status.get("conditions"))
    deletion = metadata.get("deletionTimestamp")
    return RuntimePod(
        name=_string(metadata.get("name")),
        runtime=runtime,
        namespace=_string(metadata.get("namespace")) or "default",
        uid=_string(metadata.get("uid")),
        labels=labels,
        capacity=capacity_from_annotations(_strings(metadata.get("annotations"))),
        ready=status.get("phase") == "Running" and _status_of(conditions, "Ready") == "True",
        deleting=deletion is not None,
        deletion_time=_seconds(deletion),
        heartbeat=_heartbeat(conditions),
    )


def capacity_from_annotations(annotations: Mapping[str, str]) -> dict[str, int]:
    """`kruntimes.io/capacity.<resource>` annotations over the default capacity.

    Like the reference implementation, a quantity that does not parse or is
    not positive is ignored, and `runs` falls back to its default (2) when no
    usable annotation declares it, so Pods of an older controller still work.
    """
    capacity = dict(DEFAULT_POD_CAPACITY)
    for key, raw in annotations.items():
        if not key.startswith(CAPACITY_ANNOTATION_PREFIX):
            continue
        resource = key[len(CAPACITY_ANNOTATION_PREFIX) :]
        try:
            amount = parse_quantity(raw)
        except ValueError:
            continue
        if resource and amount > 0:
            capacity[resource] = amount
    return capacity


def heartbeat_condition(at: float, *, since: float | None = None) -> dict[str, Any]:
    """The `kruntimes.io/RuntimedReady` Pod condition an agent sets at time `at`.

    `since` is when it became True (defaults to `at`); an agent that remembers
    it keeps `lastTransitionTime` honest across heartbeats.
    """
    probe = format_timestamp(timestamp(at))
    return {
        "type": HEARTBEAT_CONDITION,
        "status": "True",
        "reason": HEARTBEAT_REASON,
        "lastProbeTime": probe,
        "lastTransitionTime": probe if since is None else format_timestamp(timestamp(since)),
    }


def heartbeat_status_patch(at: float, *, since: float | None = None) -> dict[str, Any]:
    """A strategic-merge patch body for `pods/<name>/status` that sets the heartbeat condition.

    Strategic merge keys `status.conditions` by `type`, so the patch carries
    only our condition and leaves the kubelet's ones alone. The API server
    stores `metav1.Time` to the second, which is fine for a 5 s heartbeat.
    """
    return {"status": {"conditions": [heartbeat_condition(at, since=since)]}}


def _heartbeat(conditions: list[Mapping[str, Any]]) -> float | None:
    for cond in conditions:
        if cond.get("type") == HEARTBEAT_CONDITION:
            return _seconds(cond.get("lastProbeTime")) if cond.get("status") == "True" else None
    return None


def _status_of(conditions: list[Mapping[str, Any]], type_: str) -> object:
    for cond in conditions:
        if cond.get("type") == type_:
            return cond.get("status")
    return None


def _seconds(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value).timestamp()
    except (ValueError, OverflowError):
        return None


def _conditions(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [c for c in value if isinstance(c, Mapping)]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> dict[str, str]:
    """A label or annotation map with anything that is not str -> str dropped."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""
