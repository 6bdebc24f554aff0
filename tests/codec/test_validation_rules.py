"""One case per rule of the wire format: a valid document broken in one place reports that place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from wire_documents import (
    array_run,
    bash_runtime,
    bash_task,
    errors_of,
    finished_run,
    gang_member,
    put,
    remove,
    team_queue,
)

from kruntimes.codec import ValidationError, run_from_dict

Doc = dict[str, Any]

_TERM = "spec.affinity.runAffinity.requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "spec.affinity.runAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"
_EXPR = f"{_TERM}[0].labelSelector.matchExpressions"


def _set(path: str, value: Any) -> Callable[[Doc], Any]:
    return lambda doc: put(doc, path, value)


def _drop(path: str) -> Callable[[Doc], Any]:
    return lambda doc: remove(doc, path)


def _both(*changes: Callable[[Doc], Any]) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        for one in changes:
            one(doc)

    return change


def _outputs(count: int, key: str = "K", value: str = "v") -> dict[str, str]:
    return {f"{key}{i}": value for i in range(count)}


RUN_RULES: list[tuple[str, Callable[[Doc], Any], str, str]] = [
    # (case, change, path, words of the rule)
    ("apiVersion", _set("apiVersion", "v1"), "apiVersion", "must be kruntimes.io/v1alpha1"),
    ("kind", _set("kind", "Pod"), "kind", "must be Run, got 'Pod'"),
    ("kind missing", _drop("kind"), "kind", "required"),
    ("metadata missing", _drop("metadata"), "metadata", "required"),
    ("spec missing", _drop("spec"), "spec", "required"),
    ("name missing", _drop("metadata.name"), "metadata.name", "required"),
    ("name syntax", _set("metadata.name", "Build_42"), "metadata.name", "DNS-1123 subdomain"),
    ("name length", _set("metadata.name", "a" * 254), "metadata.name", "at most 253"),
    ("namespace", _set("metadata.namespace", "a.b"), "metadata.namespace", "DNS-1123 label"),
    ("label key", _set("metadata.labels", {"a b": "x"}), "metadata.labels[a b]", "key must be"),
    ("label value", _set("metadata.labels", {"app": "-x"}), "metadata.labels[app]", "label value"),
    (
        "annotation key",
        _set("metadata.annotations", {"/x": ""}),
        "metadata.annotations[/x]",
        "prefix",
    ),
    ("generation", _set("metadata.generation", -1), "metadata.generation", "must be >= 0"),
    ("runtime missing", _drop("spec.runtime"), "spec.runtime", "required"),
    ("runtime empty", _set("spec.runtime", ""), "spec.runtime", "required"),
    ("runtime syntax", _set("spec.runtime", "bash!"), "spec.runtime", "label value"),
    ("runtime length", _set("spec.runtime", "b" * 64), "spec.runtime", "at most 63"),
    (
        "inline size",
        _set("spec.source.inline", "é" * (128 * 1024 + 1)),
        "spec.source.inline",
        "at most 262144 bytes, got 262146",
    ),
    (
        "inline and repo",
        _set("spec.source.repoURL", "https://x"),
        "spec.source",
        "inline and repoURL are mutually exclusive",
    ),
    (
        "inlinePath absolute",
        _set("spec.source.inlinePath", "/etc/x"),
        "spec.source.inlinePath",
        "relative",
    ),
    (
        "inlinePath empty segment",
        _set("spec.source.inlinePath", "a//b"),
        "spec.source.inlinePath",
        "empty or '.'",
    ),
    (
        "inlinePath dot",
        _set("spec.source.inlinePath", "a/./b"),
        "spec.source.inlinePath",
        "empty or '.'",
    ),
    (
        "inlinePath dotdot",
        _set("spec.source.inlinePath", "a/../b"),
        "spec.source.inlinePath",
        "'..'",
    ),
    (
        "inlinePath length",
        _set("spec.source.inlinePath", "a/" * 2048 + "b"),
        "spec.source.inlinePath",
        "at most 4096",
    ),
    (
        "repoURL length",
        _both(_drop("spec.source.inline"), _set("spec.source.repoURL", "h" * 2049)),
        "spec.source.repoURL",
        "at most 2048",
    ),
    (
        "commitSHA length",
        _both(
            _drop("spec.source.inline"),
            _set("spec.source.repoURL", "h"),
            _set("spec.source.commitSHA", "f" * 257),
        ),
        "spec.source.commitSHA",
        "at most 256",
    ),
    (
        "commitSHA alone",
        _set("spec.source.commitSHA", "abc"),
        "spec.source.commitSHA",
        "requires repoURL",
    ),
    ("mode missing", _drop("spec.mode"), "spec.mode", "required"),
    ("mode empty", _set("spec.mode", {}), "spec.mode", "exactly one of task or function"),
    (
        "mode both",
        _set("spec.mode.function", {"handler": "h"}),
        "spec.mode",
        "exactly one of task or function",
    ),
    (
        "entrypoint length",
        _set("spec.mode.task.entrypoint", "e" * 4097),
        "spec.mode.task.entrypoint",
        "at most 4096",
    ),
    (
        "entrypoint absolute",
        _both(_drop("spec.source"), _set("spec.mode.task.entrypoint", "/x")),
        "spec.mode.task.entrypoint",
        "relative",
    ),
    (
        "entrypoint dotdot",
        _both(_drop("spec.source"), _set("spec.mode.task.entrypoint", "../x")),
        "spec.mode.task.entrypoint",
        "'..'",
    ),
    (
        "args count",
        _set("spec.mode.task.args", ["a"] * 257),
        "spec.mode.task.args",
        "at most 256 items, got 257",
    ),
    (
        "arg length",
        _set("spec.mode.task.args", ["a", "b" * 8193]),
        "spec.mode.task.args[1]",
        "at most 8192",
    ),
    (
        "handler empty",
        _set("spec.mode", {"function": {}}),
        "spec.mode.function.handler",
        "required",
    ),
    (
        "handler length",
        _set("spec.mode", {"function": {"handler": "h" * 513}}),
        "spec.mode.function.handler",
        "at most 512",
    ),
    (
        "idle timeout",
        _set("spec.mode", {"function": {"handler": "h", "idleTimeoutSeconds": 0}}),
        "spec.mode.function.idleTimeoutSeconds",
        "must be >= 1",
    ),
    (
        "workspace name",
        _set("spec.workspace", {"name": "Cache"}),
        "spec.workspace.name",
        "DNS-1123 subdomain",
    ),
    (
        "workspace kind",
        _set("spec.workspace", {"name": "c", "kind": "PVC"}),
        "spec.workspace.kind",
        "must be one of PersistentWorkspace",
    ),
    (
        "workspace apiGroup",
        _set("spec.workspace", {"name": "c", "apiGroup": "v1"}),
        "spec.workspace.apiGroup",
        "must be one of kruntimes.io/v1alpha1",
    ),
    (
        "required terms",
        lambda d: put(d, _TERM, get(d, _TERM) * 33),
        _TERM,
        "at most 32 items, got 33",
    ),
    (
        "preferred terms",
        lambda d: put(d, _PREFERRED, get(d, _PREFERRED) * 33),
        _PREFERRED,
        "at most 32 items, got 33",
    ),
    (
        "weight low",
        _set(f"{_PREFERRED}[0].weight", 0),
        f"{_PREFERRED}[0].weight",
        "must be 1..100, got 0",
    ),
    (
        "weight high",
        _set(f"{_PREFERRED}[0].weight", 101),
        f"{_PREFERRED}[0].weight",
        "must be 1..100, got 101",
    ),
    (
        "selector empty",
        _set(f"{_TERM}[0].labelSelector", {}),
        f"{_TERM}[0].labelSelector",
        "must not be empty",
    ),
    (
        "selector missing",
        _drop(f"{_PREFERRED}[0].runAffinityTerm.labelSelector"),
        f"{_PREFERRED}[0].runAffinityTerm.labelSelector",
        "required",
    ),
    (
        "topologyKey",
        _set(f"{_TERM}[0].topologyKey", "kubernetes.io/hostname"),
        f"{_TERM}[0].topologyKey",
        "must be one of kruntimes.io/runtime-pod",
    ),
    (
        "In without values",
        _set(f"{_EXPR}[0].values", []),
        f"{_EXPR}[0].values",
        "must not be empty for operator In",
    ),
    (
        "Exists with values",
        _set(f"{_EXPR}[1].values", ["x"]),
        f"{_EXPR}[1].values",
        "must be empty for operator DoesNotExist",
    ),
    (
        "operator",
        _set(f"{_EXPR}[0].operator", "Gt"),
        f"{_EXPR}[0].operator",
        "must be one of In, NotIn, Exists, DoesNotExist, got 'Gt'",
    ),
    ("expression key", _set(f"{_EXPR}[0].key", "a/b/c"), f"{_EXPR}[0].key", "prefix"),
    (
        "expression value",
        _set(f"{_EXPR}[0].values", ["ok", "not ok"]),
        f"{_EXPR}[0].values[1]",
        "label value",
    ),
    (
        "matchLabels key",
        _set(f"{_PREFERRED}[0].runAffinityTerm.labelSelector.matchLabels", {"-app": "web"}),
        f"{_PREFERRED}[0].runAffinityTerm.labelSelector.matchLabels[-app]",
        "key must be",
    ),
    (
        "matchLabels value",
        _set(f"{_PREFERRED}[0].runAffinityTerm.labelSelector.matchLabels", {"app": "w" * 64}),
        f"{_PREFERRED}[0].runAffinityTerm.labelSelector.matchLabels[app]",
        "label value",
    ),
    (
        "request negative",
        _set("spec.resources.requests.runs", "-1"),
        "spec.resources.requests[runs]",
        "must not be negative",
    ),
    (
        "request fraction",
        _set("spec.resources.requests.runs", "500m"),
        "spec.resources.requests[runs]",
        "whole number",
    ),
    (
        "request name",
        _set("spec.resources.requests", {"bad name": 1}),
        "spec.resources.requests[bad name]",
        "resource name",
    ),
    (
        "env count",
        _set("spec.env", [{"name": f"V{i}"} for i in range(257)]),
        "spec.env",
        "at most 256 items, got 257",
    ),
    ("env name syntax", _set("spec.env[0].name", "A=B"), "spec.env[0].name", "without '='"),
    ("env name empty", _set("spec.env[0].name", ""), "spec.env[0].name", "not empty"),
    ("env name missing", _drop("spec.env[0].name"), "spec.env[0].name", "required"),
    (
        "env duplicate",
        _set("spec.env[1]", {"name": "CI"}),
        "spec.env[1].name",
        "duplicate name (first at spec.env[0])",
    ),
    (
        "env value and valueFrom",
        _set("spec.env[1].value", "x"),
        "spec.env[1]",
        "value and valueFrom are mutually exclusive",
    ),
    (
        "env valueFrom type",
        _set("spec.env[1].valueFrom", "secret"),
        "spec.env[1].valueFrom",
        "must be an object, got string",
    ),
    ("timeout zero", _set("spec.timeout", "0s"), "spec.timeout", "must be a positive duration"),
    (
        "timeout negative",
        _set("spec.timeout", "-5s"),
        "spec.timeout",
        "must be a positive duration",
    ),
    ("timeout syntax", _set("spec.timeout", "5 minutes"), "spec.timeout", "invalid duration"),
    ("timeout number", _set("spec.timeout", 30), "spec.timeout", "must be a string, got integer"),
    (
        "maxAttempts low",
        _set("spec.retryPolicy.maxAttempts", 0),
        "spec.retryPolicy.maxAttempts",
        "must be 1..100, got 0",
    ),
    (
        "maxAttempts high",
        _set("spec.retryPolicy.maxAttempts", 101),
        "spec.retryPolicy.maxAttempts",
        "must be 1..100, got 101",
    ),
    (
        "backoff negative",
        _set("spec.retryPolicy.backoff", "-1s"),
        "spec.retryPolicy.backoff",
        "must not be negative",
    ),
    (
        "backoff syntax",
        _set("spec.retryPolicy.backoff", "1 s"),
        "spec.retryPolicy.backoff",
        "invalid duration",
    ),
    (
        "reason unknown",
        _set("spec.retryPolicy.retryableReasons", ["PodGone", "Flaky"]),
        "spec.retryPolicy.retryableReasons[1]",
        "must be one of Timeout, PrepareSource",
    ),
    (
        "reasons count",
        _set("spec.retryPolicy.retryableReasons", ["PodGone"] * 33),
        "spec.retryPolicy.retryableReasons",
        "at most 32 items, got 33",
    ),
    (
        "ttl",
        _set("spec.ttlSecondsAfterFinished", -1),
        "spec.ttlSecondsAfterFinished",
        "must be >= 0, got -1",
    ),
    (
        "cancelRequested type",
        _set("spec.cancelRequested", "yes"),
        "spec.cancelRequested",
        "must be true or false, got string",
    ),
    (
        "phase",
        _set("status.phase", "Done"),
        "status.phase",
        "must be one of Pending, Scheduled, Running, Ready, Succeeded, Failed, Timeout, Cancelled",
    ),
    (
        "assignedPod alone",
        _set("status.assignedPod", "p"),
        "status.assignedPodUID",
        "must be set together",
    ),
    (
        "assignedPodUID alone",
        _set("status.assignedPodUID", "u"),
        "status.assignedPod",
        "must be set together",
    ),
    ("message", _set("status.message", "m" * 4097), "status.message", "at most 4096"),
    (
        "outputs count",
        _set("status.outputs", _outputs(65)),
        "status.outputs",
        "at most 64 keys, got 65",
    ),
    (
        "output key size",
        _set("status.outputs", {"k" * 129: "v"}),
        f"status.outputs[{'k' * 64!r}]",
        "key must be at most 128 bytes, got 129",
    ),
    (
        "output key empty",
        _set("status.outputs", {"": "v"}),
        "status.outputs['']",
        "key must not be empty",
    ),
    (
        "output value size",
        _set("status.outputs", {"K": "v" * 8193}),
        "status.outputs[K]",
        "at most 8192 bytes, got 8193",
    ),
    (
        "outputs total",
        _set("status.outputs", _outputs(9, value="v" * 8000)),
        "status.outputs",
        "at most 65536 bytes in all",
    ),
    (
        "outputs value type",
        _set("status.outputs", {"K": 1}),
        "status.outputs[K]",
        "must be a string, got integer",
    ),
    ("startTime", _set("status.startTime", "yesterday"), "status.startTime", "invalid timestamp"),
    ("attempt", _set("status.attempt", 0), "status.attempt", "must be >= 1, got 0"),
    (
        "attempt type",
        _set("status.attempt", True),
        "status.attempt",
        "must be an integer, got boolean",
    ),
    (
        "artifactStore driver",
        _set("status.artifactStore", {"driver": "gcs"}),
        "status.artifactStore.driver",
        "must be one of filesystem, s3, got 'gcs'",
    ),
    ("status extra", _set("status.xNote", float("inf")), "status.xNote", "must be a finite number"),
]

FINISHED_RULES: list[tuple[str, Callable[[Doc], Any], str, str]] = [
    (
        "refs count",
        lambda d: put(d, "status.artifactRefs", get(d, "status.artifactRefs") * 33),
        "status.artifactRefs",
        "at most 32 items, got 33",
    ),
    (
        "ref driver",
        _set("status.artifactRefs[0].driver", "gcs"),
        "status.artifactRefs[0].driver",
        "must be one of filesystem, s3",
    ),
    (
        "ref type",
        _set("status.artifactRefs[0].type", "dir"),
        "status.artifactRefs[0].type",
        "must be one of file, directory, archive, blob",
    ),
    (
        "ref size",
        _set("status.artifactRefs[0].sizeBytes", -1),
        "status.artifactRefs[0].sizeBytes",
        "must be >= 0",
    ),
    ("ref name", _drop("status.artifactRefs[0].name"), "status.artifactRefs[0].name", "required"),
    (
        "conditions count",
        _set("status.conditions", [{"type": f"T{i}", "status": "True"} for i in range(17)]),
        "status.conditions",
        "at most 16 items, got 17",
    ),
    (
        "condition duplicate",
        lambda d: put(d, "status.conditions", get(d, "status.conditions") * 2),
        "status.conditions[1].type",
        "duplicate condition type 'Completed'",
    ),
    (
        "condition type empty",
        _set("status.conditions[0].type", ""),
        "status.conditions[0].type",
        "required",
    ),
    (
        "condition status",
        _set("status.conditions[0].status", "Yes"),
        "status.conditions[0].status",
        "must be one of True, False, Unknown",
    ),
    (
        "condition time",
        _set("status.conditions[0].lastTransitionTime", "2024-05-02"),
        "status.conditions[0].lastTransitionTime",
        "invalid timestamp",
    ),
]

RUNTIME_RULES: list[tuple[str, Callable[[Doc], Any], str, str]] = [
    ("kind", _set("kind", "Run"), "kind", "must be Runtime"),
    ("name length", _set("metadata.name", "r" * 64), "metadata.name",
     "at most 63 characters: it is the runtime label of its Pods"),
    ("replicas", _set("spec.replicas", -1), "spec.replicas", "must be >= 0, got -1"),
    ("port low", _set("spec.port", 0), "spec.port", "must be 1..65535, got 0"),
    ("port high", _set("spec.port", 65536), "spec.port", "must be 1..65535, got 65536"),
    ("capacity fraction", _set("spec.capacity.resources.runs", "1.5"),
     "spec.capacity.resources[runs]", "whole number"),
    ("capacity negative", _set("spec.capacity.resources.runs", -2),
     "spec.capacity.resources[runs]", "must not be negative"),
    ("capacity name", _set("spec.capacity.resources", {"a/b/c": 1}),
     "spec.capacity.resources[a/b/c]", "resource name"),
    ("capacity unknown", _set("spec.capacity.limits", {}), "spec.capacity.limits",
     "unknown field"),
    ("artifactStore driver", _set("spec.artifactStore.driver", "gcs"),
     "spec.artifactStore.driver", "must be one of filesystem, s3"),
    ("template type", _set("spec.template", []), "spec.template", "must be an object, got array"),
    ("readyReplicas", _set("status.readyReplicas", -1), "status.readyReplicas", "must be >= 0"),
    ("conditions duplicate", lambda d: put(d, "status.conditions", get(d, "status.conditions") * 2),
     "status.conditions[1].type", "duplicate condition type"),
]  # fmt: skip


EXTENSION_RULES: list[tuple[str, Callable[[Doc], Any], str, str]] = [
    # (case, change, path, words of the rule), on a gang member in a queue
    ("priorityClassName syntax", _set("spec.priorityClassName", "High"),
     "spec.priorityClassName", "DNS-1123 subdomain"),
    ("priority and class", _set("spec.priority", 5), "spec.priorityClassName",
     "excludes a non-zero spec.priority: give either priorityClassName (a named priority) or "
     "priority (a number)"),
    ("queue syntax", _set("spec.queue", "team.a"), "spec.queue", "DNS-1123 label"),
    ("queue length", _set("spec.queue", "q" * 64), "spec.queue", "at most 63"),
    ("queue type", _set("spec.queue", {"name": "a"}), "spec.queue", "must be a string, got object"),
    ("gang name", _set("spec.gang.name", "Train"), "spec.gang.name", "DNS-1123 label"),
    ("gang name missing", _drop("spec.gang.name"), "spec.gang.name", "required"),
    ("gang size missing", _drop("spec.gang.size"), "spec.gang.size", "required"),
    ("gang size low", _set("spec.gang.size", 0), "spec.gang.size", "must be 1..10000, got 0"),
    ("gang size high", _set("spec.gang.size", 10_001), "spec.gang.size",
     "must be 1..10000, got 10001"),
    ("gang timeout zero", _set("spec.gang.timeoutSeconds", 0), "spec.gang.timeoutSeconds",
     "must be a finite number > 0, got 0.0"),
    ("gang timeout inf", _set("spec.gang.timeoutSeconds", float("inf")),
     "spec.gang.timeoutSeconds", "must be a finite number"),
    ("gang timeout string", _set("spec.gang.timeoutSeconds", "5m"), "spec.gang.timeoutSeconds",
     "must be a number, got string"),
    ("gang onTimeout", _set("spec.gang.onTimeout", "Retry"), "spec.gang.onTimeout",
     "must be one of Fail, KeepWaiting, got 'Retry'"),
    ("gang and array", _set("spec.array", {"completions": 2}), "spec",
     "array and gang are mutually exclusive"),
]  # fmt: skip

ARRAY_RULES: list[tuple[str, Callable[[Doc], Any], str, str]] = [
    ("completions low", _set("spec.array.completions", 0), "spec.array.completions",
     "must be 1..1000000, got 0"),
    ("completions high", _set("spec.array.completions", 1_000_001), "spec.array.completions",
     "must be 1..1000000, got 1000001"),
    ("completions missing", _drop("spec.array.completions"), "spec.array.completions",
     "required"),
    ("parallelism zero", _set("spec.array.parallelism", 0), "spec.array.parallelism",
     "must be 1..1000 (at most completions), got 0"),
    ("parallelism above completions", _set("spec.array.parallelism", 1001),
     "spec.array.parallelism", "must be 1..1000 (at most completions), got 1001"),
    ("compactStatus type", _set("spec.array.compactStatus", "yes"), "spec.array.compactStatus",
     "must be true or false"),
    ("active negative", _set("status.array.active", -1), "status.array.active", "must be >= 0"),
    ("failed negative", _set("status.array.failed", -3), "status.array.failed", "must be >= 0"),
    ("indexes syntax", _set("status.array.completedIndexes", "0..119"),
     "status.array.completedIndexes", "must be ascending indexes and ranges like 1,3-5,7"),
    ("indexes descending", _set("status.array.failedIndexes", "125,120"),
     "status.array.failedIndexes", "(no overlaps)"),
    ("indexes overlap", _set("status.array.completedIndexes", "0-10,5-12"),
     "status.array.completedIndexes", "(no overlaps)"),
    ("indexes reversed range", _set("status.array.completedIndexes", "9-3"),
     "status.array.completedIndexes", "(no overlaps)"),
    ("indexes length", _set("status.array.completedIndexes", "1," * 40_000 + "2"),
     "status.array.completedIndexes", "at most 65536 characters"),
    ("name too long for its children", _set("metadata.name", "r" * 250), "metadata.name",
     "must be at most 249 characters, got 250"),
]  # fmt: skip

QUEUE_RULES: list[tuple[str, Callable[[Doc], Any], str, str]] = [
    ("kind", _set("kind", "Queue"), "kind", "must be RunQueue, got 'Queue'"),
    ("name label", _set("metadata.name", "team.a"), "metadata.name",
     "must be a DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending "
     "with an alphanumeric: Runs name it in spec.queue"),
    ("name syntax", _set("metadata.name", "Team"), "metadata.name", "DNS-1123 subdomain"),
    ("quota negative", _set("spec.quota.runs", -1), "spec.quota[runs]", "must not be negative"),
    ("quota fraction", _set("spec.quota.runs", "0.5"), "spec.quota[runs]", "whole number"),
    ("quota name", _set("spec.quota", {"a/b/c": 1}), "spec.quota[a/b/c]", "resource name"),
    ("borrowing name", _set("spec.borrowingLimit", {"bad name": 1}),
     "spec.borrowingLimit[bad name]", "resource name"),
    ("borrowing negative", _set("spec.borrowingLimit.gpu", "-2"), "spec.borrowingLimit[gpu]",
     "must not be negative"),
    ("weight zero", _set("spec.weight", 0), "spec.weight",
     "must be a finite number > 0 and <= 1000000, got 0.0"),
    ("weight negative", _set("spec.weight", -1.5), "spec.weight", "> 0"),
    ("weight high", _set("spec.weight", 1e6 + 1), "spec.weight", "<= 1000000"),
    ("weight nan", _set("spec.weight", float("nan")), "spec.weight", "must be a finite number"),
    ("weight type", _set("spec.weight", "2"), "spec.weight", "must be a number, got string"),
    ("weight bool", _set("spec.weight", True), "spec.weight", "must be a number, got boolean"),
    ("cohort", _set("spec.cohort", "Research"), "spec.cohort", "DNS-1123 label"),
    ("maxPending", _set("spec.maxPending", -1), "spec.maxPending", "must be >= 0, got -1"),
    ("strategy", _set("spec.queueingStrategy", "FIFO"), "spec.queueingStrategy",
     "must be one of StrictFIFO, BestEffortFIFO, got 'FIFO'"),
    ("starvation negative", _set("spec.starvationLimitSeconds", -1),
     "spec.starvationLimitSeconds", "must be a finite number >= 0, got -1.0"),
    ("starvation inf", _set("spec.starvationLimitSeconds", float("inf")),
     "spec.starvationLimitSeconds", "must be a finite number"),
    ("pending", _set("status.pending", -1), "status.pending", "must be >= 0, got -1"),
    ("admitted", _set("status.admitted", -2), "status.admitted", "must be >= 0, got -2"),
    ("usage", _set("status.usage.runs", "1.5"), "status.usage[runs]", "whole number"),
    ("conditions duplicate",
     lambda d: put(d, "status.conditions", get(d, "status.conditions") * 2),
     "status.conditions[1].type", "duplicate condition type"),
    ("spec unknown", _set("spec.xTenant", "a"), "spec.xTenant", "unknown field"),
]  # fmt: skip


def get(doc: Doc, path: str) -> Any:
    node: Any = doc
    for step in path.split("."):
        node = node[step]
    return node


def _check(document: Doc, change: Callable[[Doc], Any], path: str, words: str, **kw: Any) -> None:
    assert errors_of(document, **kw) == {}, "the starting document must be valid"
    change(document)
    errors = errors_of(document, strict=True, **kw)
    assert path in errors, f"{path} not in {sorted(errors)}"
    assert words in errors[path]


@pytest.mark.parametrize(("change", "path", "words"), [r[1:] for r in RUN_RULES],
                         ids=[r[0] for r in RUN_RULES])  # fmt: skip
def test_run_rule(change: Callable[[Doc], Any], path: str, words: str) -> None:
    _check(bash_task(), change, path, words)


@pytest.mark.parametrize(("change", "path", "words"), [r[1:] for r in FINISHED_RULES],
                         ids=[r[0] for r in FINISHED_RULES])  # fmt: skip
def test_status_rule(change: Callable[[Doc], Any], path: str, words: str) -> None:
    _check(finished_run(), change, path, words)


@pytest.mark.parametrize(("change", "path", "words"), [r[1:] for r in RUNTIME_RULES],
                         ids=[r[0] for r in RUNTIME_RULES])  # fmt: skip
def test_runtime_rule(change: Callable[[Doc], Any], path: str, words: str) -> None:
    _check(bash_runtime(), change, path, words, runtime=True)


@pytest.mark.parametrize(("change", "path", "words"), [r[1:] for r in EXTENSION_RULES],
                         ids=[r[0] for r in EXTENSION_RULES])  # fmt: skip
def test_extension_rule(change: Callable[[Doc], Any], path: str, words: str) -> None:
    _check(gang_member(), change, path, words)


@pytest.mark.parametrize(("change", "path", "words"), [r[1:] for r in ARRAY_RULES],
                         ids=[r[0] for r in ARRAY_RULES])  # fmt: skip
def test_array_rule(change: Callable[[Doc], Any], path: str, words: str) -> None:
    _check(array_run(), change, path, words)


@pytest.mark.parametrize(("change", "path", "words"), [r[1:] for r in QUEUE_RULES],
                         ids=[r[0] for r in QUEUE_RULES])  # fmt: skip
def test_run_queue_rule(change: Callable[[Doc], Any], path: str, words: str) -> None:
    _check(team_queue(), change, path, words, queue=True)


def test_priority_zero_goes_with_a_class_name() -> None:
    document = gang_member()
    document["spec"]["priority"] = 0
    assert errors_of(document) == {}


def test_a_run_queue_needs_no_spec() -> None:
    document = {"apiVersion": "kruntimes.io/v1alpha1", "kind": "RunQueue",
                "metadata": {"name": "default"}}  # fmt: skip
    assert errors_of(document, queue=True) == {}


def test_an_absolute_entrypoint_is_fine_with_inline_source() -> None:
    document = bash_task()
    assert document["spec"]["mode"]["task"]["entrypoint"] == "/bin/bash"
    assert errors_of(document) == {}


def test_every_problem_is_reported_at_once() -> None:
    document = bash_task()
    document["spec"]["mode"]["function"] = {"handler": "main"}
    document["spec"]["retryPolicy"]["maxAttempts"] = 0
    document["spec"]["env"][0]["name"] = "A=B"
    document["status"]["attempt"] = 0
    with pytest.raises(ValidationError) as info:
        run_from_dict(document)
    assert str(info.value) == (
        "spec.mode: exactly one of task or function; "
        "spec.env[0].name: must be printable ASCII without '=' and not empty; "
        "spec.retryPolicy.maxAttempts: must be 1..100, got 0; "
        "status.attempt: must be >= 1, got 0"
    )
    assert len(info.value.errors) == 4
    assert isinstance(info.value, ValueError)


def test_shape_errors_and_rule_errors_of_other_parts_come_together() -> None:
    document = bash_task()
    document["metadata"]["labels"] = {"app": 7}
    document["spec"]["timeout"] = "forever"
    document["spec"]["env"] = {"CI": "true"}
    document["status"]["attempt"] = 0
    errors = errors_of(document)
    assert errors == {
        "metadata.labels[app]": "must be a string, got integer",
        "spec.timeout": "invalid duration 'forever': use Go syntax like 30s, 1m30s or 500ms",
        "spec.env": "must be an array, got object",
        "status.attempt": "must be >= 1, got 0",
    }


def test_null_means_absent() -> None:
    document = bash_task()
    document["spec"]["timeout"] = None
    document["spec"]["retryPolicy"] = None
    document["status"] = None
    run = run_from_dict(document)
    assert run.spec.timeout_seconds is None
    assert run.spec.retry_policy.max_attempts == 1
    document["spec"]["runtime"] = None
    assert errors_of(document) == {"spec.runtime": "required"}


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (None, "must be an object, got null"),
        ([], "must be an object, got array"),
        ("apiVersion: kruntimes.io/v1alpha1", "must be an object, got string"),
    ],
)
def test_a_document_must_be_an_object(document: Any, rule: str) -> None:
    assert errors_of(document) == {"": rule}


def test_keys_must_be_strings() -> None:
    document: Any = bash_task()
    document[1] = "x"
    document["spec"][None] = "x"
    document["metadata"]["labels"][("a",)] = "x"
    errors = errors_of(document)
    assert errors[""] == "keys must be strings, got 1"
    assert errors["spec"] == "keys must be strings, got a value of type null"
    assert errors["metadata.labels"] == "keys must be strings, got a value of type array"
