"""Stored objects <-> JSON-ready dicts, shared by the SQLite file and the socket protocol.

Runs, Runtimes and RunQueues use the codec's `kruntimes.io/v1alpha1` wire dicts. Pods have
no wire format of their own (a Kubernetes Pod is far bigger), so `RuntimePod`
gets a small camelCase dict here, checked field by field on the way in: it
arrives from other processes and must fail with `Invalid`, not store garbage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kruntimes.codec import (
    ValidationError,
    run_from_dict,
    run_queue_from_dict,
    run_queue_to_dict,
    run_to_dict,
    runtime_from_dict,
    runtime_to_dict,
)
from kruntimes.model import RUN_QUEUE_KIND, Run, RunQueue, Runtime, RuntimePod
from kruntimes.store.port import Invalid

POD = "Pod"
"""The kind name of `RuntimePod` in stores (`Kind` covers the API resources only)."""

Stored = Run | Runtime | RunQueue | RuntimePod
API_KINDS = ("Run", "Runtime", RUN_QUEUE_KIND)
"""The kinds with a wire format (`Kind`'s values), in the order stores keep their tables."""


def kind_of(obj: Stored) -> str:
    if isinstance(obj, Run):
        return "Run"
    if isinstance(obj, Runtime):
        return "Runtime"
    if isinstance(obj, RunQueue):
        return RUN_QUEUE_KIND
    if isinstance(obj, RuntimePod):
        return POD
    raise TypeError(f"not a stored object: {type(obj).__name__}")


def key_of(obj: Stored) -> tuple[str, str]:
    """`(namespace, name)` of any stored object."""
    if isinstance(obj, RuntimePod):
        return obj.namespace, obj.name
    return obj.metadata.namespace, obj.metadata.name


def encode(obj: Stored) -> dict[str, Any]:
    if isinstance(obj, Run):
        return run_to_dict(obj)
    if isinstance(obj, Runtime):
        return runtime_to_dict(obj)
    if isinstance(obj, RunQueue):
        return run_queue_to_dict(obj)
    return pod_to_dict(obj)


def decode(kind: str, document: Any) -> Stored:
    """The object of `kind` in `document`; `Invalid` with every problem if it is not one."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise Invalid(f"unknown kind {kind!r}")
    try:
        return decoder(document)
    except ValidationError as exc:
        raise Invalid(str(exc)) from None


def pod_to_dict(pod: RuntimePod) -> dict[str, Any]:
    return {
        "name": pod.name,
        "namespace": pod.namespace,
        "runtime": pod.runtime,
        "uid": pod.uid,
        "labels": dict(pod.labels),
        "capacity": dict(pod.capacity),
        "ready": pod.ready,
        "deleting": pod.deleting,
        "deletionTime": pod.deletion_time,
        "heartbeat": pod.heartbeat,
    }


def pod_from_dict(document: Any) -> RuntimePod:
    if not isinstance(document, Mapping):
        raise Invalid("pod: must be an object")
    d = document
    problems: list[str] = []

    def get(key: str, check: Callable[[Any], bool], what: str, default: Any = None) -> Any:
        value = d.get(key, default)
        if not check(value):
            problems.append(f"pod.{key}: must be {what}")
        return value

    pod = RuntimePod(
        name=get("name", _nonempty, "a non-empty string"),
        namespace=get("namespace", _nonempty, "a non-empty string"),
        runtime=get("runtime", _nonempty, "a non-empty string"),
        uid=get("uid", _str, "a string", ""),
        labels=get("labels", _str_map, "a map of strings", {}),
        capacity=get("capacity", _int_map, "a map of non-negative integers", {}),
        ready=get("ready", _bool, "a boolean", True),
        deleting=get("deleting", _bool, "a boolean", False),
        deletion_time=get("deletionTime", _time, "a number or null"),
        heartbeat=get("heartbeat", _time, "a number or null"),
    )
    if problems:
        raise Invalid("; ".join(problems))
    return pod


def pod_problems(pod: RuntimePod) -> str | None:
    """Why `pod` cannot be stored, or None: the same checks as `pod_from_dict`."""
    try:
        pod_from_dict(pod_to_dict(pod))
    except Invalid as exc:
        return str(exc)
    return None


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _nonempty(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _time(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def _str_map(v: Any) -> bool:
    return isinstance(v, Mapping) and all(_str(k) and _str(x) for k, x in v.items())


def _int_map(v: Any) -> bool:
    return isinstance(v, Mapping) and all(
        _str(k) and isinstance(x, int) and not isinstance(x, bool) and x >= 0 for k, x in v.items()
    )


_DECODERS: dict[str, Callable[[Any], Stored]] = {
    "Run": run_from_dict,
    "Runtime": runtime_from_dict,
    RUN_QUEUE_KIND: run_queue_from_dict,
    POD: pod_from_dict,
}
