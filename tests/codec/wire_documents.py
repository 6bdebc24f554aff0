"""Realistic wire documents (canonical form) and helpers to break them, for the codec tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kruntimes.codec import ValidationError, decode_run, decode_run_queue, decode_runtime


def bash_task() -> dict[str, Any]:
    """A CI step as a user writes it: inline bash, retries, affinity, env, a deadline."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "build-42", "namespace": "ci", "labels": {"app": "web"}},
        "spec": {
            "runtime": "bash",
            "source": {"inline": "set -e\nmake test\n", "inlinePath": "steps/test.sh"},
            "mode": {"task": {"entrypoint": "/bin/bash", "args": ["steps/test.sh", "--fast"]}},
            "env": [
                {"name": "CI", "value": "true"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "ci", "key": "token"}}},
            ],
            "timeout": "10m0s",
            "retryPolicy": {
                "maxAttempts": 3,
                "backoff": "2s",
                "retryableReasons": ["PodGone", "ExecutionLost"],
            },
            "resources": {"requests": {"runs": "2", "example.com/gpu": "1"}},
            "affinity": {
                "runAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["web", "api"]},
                                    {"key": "canary", "operator": "DoesNotExist"},
                                ]
                            },
                            "topologyKey": "kruntimes.io/runtime-pod",
                        }
                    ]
                },
                "runAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 50,
                            "runAffinityTerm": {
                                "labelSelector": {"matchLabels": {"app": "web"}},
                                "topologyKey": "kruntimes.io/runtime-pod",
                            },
                        }
                    ]
                },
            },
        },
        "status": {"phase": "Pending"},
    }


def python_function() -> dict[str, Any]:
    """A function-mode Run from a repository, with a workspace, as the API server returns it."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {
            "name": "resize-images",
            "namespace": "media",
            "uid": "5f0c2d1e-8b7a-4c3d-9e2f-1a2b3c4d5e6f",
            "resourceVersion": "81234",
            "generation": 1,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "managedFields": [{"manager": "krt", "operation": "Update"}],
        },
        "spec": {
            "runtime": "python",
            "source": {
                "repoURL": "https://git.example.com/media/resize.git",
                "commitSHA": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            },
            "mode": {"function": {"handler": "resize.main.handle", "idleTimeoutSeconds": 300}},
            "workspace": {
                "name": "media-cache",
                "kind": "PersistentWorkspace",
                "apiGroup": "kruntimes.io/v1alpha1",
            },
            "ttlSecondsAfterFinished": 3600,
        },
        "status": {
            "phase": "Ready",
            "assignedPod": "python-pool-0",
            "assignedPodUID": "0d9e8f7a-1111-2222-3333-444455556666",
            "startTime": "2024-05-01T10:00:01.250000Z",
            "endpoint": "http://10.0.3.7:8080",
            "conditions": [
                {
                    "type": "Scheduled",
                    "status": "True",
                    "reason": "Assigned",
                    "message": "",
                    "lastTransitionTime": "2024-05-01T10:00:00Z",
                },
                {
                    "type": "Running",
                    "status": "True",
                    "reason": "Claimed",
                    "message": "",
                    "lastTransitionTime": "2024-05-01T10:00:01Z",
                },
            ],
        },
    }


def finished_run() -> dict[str, Any]:
    """A Run that succeeded on its second attempt and stored artifacts."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {
            "name": "nightly-report",
            "namespace": "default",
            "finalizers": ["kruntimes.io/artifact-cleanup"],
        },
        "spec": {"runtime": "bash", "mode": {"task": {"entrypoint": "report.sh"}}},
        "status": {
            "phase": "Succeeded",
            "assignedPod": "bash-pool-1",
            "assignedPodUID": "abc",
            "message": "exit code 0",
            "startTime": "2024-05-02T01:00:00Z",
            "completionTime": "2024-05-02T01:00:03.500000Z",
            "outputs": {"ROWS": "1204", "REPORT_URL": "s3://reports/2024-05-02.html"},
            "artifactRefs": [
                {
                    "name": "report.html",
                    "driver": "s3",
                    "type": "file",
                    "location": "s3://reports/2024-05-02.html",
                    "sizeBytes": 48213,
                    "digest": "sha256:" + "ab" * 32,
                    "contentType": "text/html",
                    "createdAt": "2024-05-02T01:00:03Z",
                }
            ],
            "attempt": 2,
            "artifactStore": {"driver": "s3", "s3": {"bucket": "reports", "region": "eu-west-1"}},
            "conditions": [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "RunCompleted",
                    "message": "",
                    "lastTransitionTime": "2024-05-02T01:00:03Z",
                    "observedGeneration": 1,
                }
            ],
        },
    }


def bash_runtime() -> dict[str, Any]:
    """A warm pool of 3 bash Pods with 8 slots each and an S3 artifact store."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "bash", "namespace": "ci"},
        "spec": {
            "template": {
                "metadata": {"labels": {"team": "ci"}},
                "spec": {
                    "containers": [{"name": "runtime", "image": "ghcr.io/example/bash:1.2"}],
                    "restartPolicy": "Always",
                },
            },
            "replicas": 3,
            "daemonImage": "ghcr.io/example/runtimed:0.3",
            "capacity": {"resources": {"runs": "8"}},
            "artifactStore": {
                "driver": "s3",
                "s3": {"bucket": "artifacts", "prefix": "ci/", "forcePathStyle": True},
            },
            "workspace": {"emptyDir": {}},
        },
        "status": {
            "readyReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "AllReady", "message": ""}
            ],
        },
    }


def gang_member() -> dict[str, Any]:
    """One of four workers that start together, in queue `team-a`, with a named priority."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "train-0", "namespace": "ml"},
        "spec": {
            "runtime": "python",
            "mode": {"task": {"entrypoint": "train.py"}},
            "priorityClassName": "high",
            "queue": "team-a",
            "gang": {
                "name": "train",
                "size": 4,
                "timeoutSeconds": 300.0,
                "onTimeout": "KeepWaiting",
            },
        },
        "status": {"phase": "Pending"},
    }


def array_run() -> dict[str, Any]:
    """1000 indexed executions, 50 at a time, finished children counted and deleted."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "render", "namespace": "media"},
        "spec": {
            "runtime": "bash",
            "mode": {"task": {"entrypoint": "render.sh"}},
            "queue": "batch",
            "array": {"completions": 1000, "parallelism": 50, "compactStatus": True},
        },
        "status": {
            "phase": "Running",
            "array": {
                "active": 50,
                "succeeded": 120,
                "failed": 2,
                "completedIndexes": "0-119",
                "failedIndexes": "120,125",
            },
        },
    }


def team_queue() -> dict[str, Any]:
    """A RunQueue with every spec field set, as the scheduler has written its status."""
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "RunQueue",
        "metadata": {"name": "team-a", "namespace": "ml"},
        "spec": {
            "quota": {"runs": "100", "example.com/gpu": "8"},
            "weight": 2.0,
            "cohort": "research",
            "borrowingLimit": {"example.com/gpu": "4"},
            "maxPending": 1000,
            "queueingStrategy": "StrictFIFO",
            "starvationLimitSeconds": 30.0,
        },
        "status": {
            "pending": 12,
            "admitted": 40,
            "usage": {"runs": "40", "example.com/gpu": "6"},
            "conditions": [{"type": "Active", "status": "True", "reason": "Ready", "message": ""}],
        },
    }


MANIFESTS: dict[str, Callable[[], dict[str, Any]]] = {
    "bash_task": bash_task,
    "python_function": python_function,
    "finished_run": finished_run,
    "gang_member": gang_member,
    "array_run": array_run,
}

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def put(doc: Any, path: str, value: Any) -> Any:
    """Set `value` at a wire path like `spec.env[1].name` (creating objects on the way)."""
    steps = [name or int(index) for name, index in _STEP.findall(path)]
    node = doc
    for step in steps[:-1]:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    node[steps[-1]] = value
    return doc


def remove(doc: Any, path: str) -> Any:
    steps = [name or int(index) for name, index in _STEP.findall(path)]
    node = doc
    for step in steps[:-1]:
        node = node[step]
    del node[steps[-1]]
    return doc


def errors_of(
    doc: Any, *, runtime: bool = False, queue: bool = False, strict: bool = False
) -> dict[str, str]:
    """Path -> rule of every error decoding `doc` reports (empty if it decodes)."""
    decode: Callable[..., Any] = decode_run
    if runtime:
        decode = decode_runtime
    elif queue:
        decode = decode_run_queue
    try:
        decode(doc, strict=strict)
    except ValidationError as exc:
        found: dict[str, str] = {}
        for e in exc.errors:
            found[e.path] = f"{found[e.path]}; {e.rule}" if e.path in found else e.rule
        return found
    return {}
