"""model -> dict -> model and canonical dict -> model -> dict are identities."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_documents import MANIFESTS, bash_runtime, team_queue

from kruntimes.codec import (
    decode_run,
    decode_run_queue,
    run_from_dict,
    run_queue_from_dict,
    run_queue_to_dict,
    run_status_from_dict,
    run_status_to_dict,
    run_to_dict,
    runtime_from_dict,
    runtime_to_dict,
    validate_run,
    validate_run_queue,
    validate_runtime,
)
from kruntimes.codec.converter import wire_fields
from kruntimes.codec.reference import RUN_PARTS, RUN_QUEUE_PARTS, RUNTIME_PARTS
from kruntimes.model import (
    GangTimeoutAction,
    Phase,
    QueueingStrategy,
    Run,
    RunQueue,
    RunStatus,
    Runtime,
)
from kruntimes.testing.model_strategies import (
    index_ranges,
    run_dicts,
    run_queue_dicts,
    run_queues,
    run_statuses,
    runs,
    runtime_dicts,
    runtimes,
)

_SLOW_DATA = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Big examples: enough of them to reach every field, few enough to stay fast."""


@_SLOW_DATA
@given(runs())
def test_runs_survive_a_round_trip(run: Run) -> None:
    assert validate_run(run) == ()
    document = run_to_dict(run)
    assert run_from_dict(json.loads(json.dumps(document))) == run


@settings(_SLOW_DATA, max_examples=50)
@given(runtimes())
def test_runtimes_survive_a_round_trip(runtime: Runtime) -> None:
    assert validate_runtime(runtime) == ()
    assert runtime_from_dict(runtime_to_dict(runtime)) == runtime


@settings(_SLOW_DATA, max_examples=50)
@given(run_queues())
def test_run_queues_survive_a_round_trip(queue: RunQueue) -> None:
    assert validate_run_queue(queue) == ()
    document = run_queue_to_dict(queue)
    assert run_queue_from_dict(json.loads(json.dumps(document))) == queue


@settings(_SLOW_DATA, max_examples=30)
@given(run_queue_dicts())
def test_canonical_run_queue_dicts_survive_a_round_trip(document: dict[str, Any]) -> None:
    assert run_queue_to_dict(run_queue_from_dict(document)) == document


@settings(_SLOW_DATA, max_examples=30)
@given(run_dicts())
def test_canonical_run_dicts_survive_a_round_trip(document: dict[str, Any]) -> None:
    assert run_to_dict(run_from_dict(document)) == document


@settings(_SLOW_DATA, max_examples=30)
@given(runtime_dicts())
def test_canonical_runtime_dicts_survive_a_round_trip(document: dict[str, Any]) -> None:
    assert runtime_to_dict(runtime_from_dict(document)) == document


@settings(_SLOW_DATA, max_examples=50)
@given(run_statuses())
def test_status_alone_round_trips(status: RunStatus) -> None:
    assert run_status_from_dict(run_status_to_dict(status)) == status


@pytest.mark.parametrize("make", MANIFESTS.values(), ids=list(MANIFESTS))
def test_upstream_style_manifests_round_trip(make: Callable[[], dict[str, Any]]) -> None:
    document = make()
    assert run_to_dict(run_from_dict(document)) == make()


def test_a_runtime_manifest_round_trips() -> None:
    assert runtime_to_dict(runtime_from_dict(bash_runtime())) == bash_runtime()


def test_a_run_queue_manifest_round_trips() -> None:
    assert run_queue_to_dict(run_queue_from_dict(team_queue())) == team_queue()


def test_run_queue_fields_land_on_the_right_model_fields() -> None:
    queue = decode_run_queue(team_queue(), strict=True).value
    spec = queue.spec
    assert spec.quota == {"runs": 100, "example.com/gpu": 8}
    assert spec.borrowing_limit == {"example.com/gpu": 4}
    assert (spec.weight, spec.cohort, spec.max_pending) == (2.0, "research", 1000)
    assert spec.queueing_strategy is QueueingStrategy.STRICT_FIFO
    assert spec.starvation_limit_seconds == 30.0
    assert (queue.status.pending, queue.status.admitted) == (12, 40)
    assert queue.status.usage == {"runs": 40, "example.com/gpu": 6}


def test_a_minimal_run_queue_is_written_compactly() -> None:
    document = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "RunQueue",
        "metadata": {"name": "default"},
        "spec": {"weight": 1, "quota": {}, "queueingStrategy": "BestEffortFIFO"},
    }
    queue = run_queue_from_dict(document)
    assert queue.spec.weight == 1.0
    assert isinstance(queue.spec.weight, float)
    assert run_queue_to_dict(queue) == {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "RunQueue",
        "metadata": {"name": "default", "namespace": "default"},
        "spec": {},
        "status": {},
    }


def test_numbers_may_be_written_as_integers() -> None:
    document = MANIFESTS["gang_member"]()
    document["spec"]["gang"]["timeoutSeconds"] = 300
    gang = run_from_dict(document).spec.gang
    assert gang is not None
    assert gang.timeout_seconds == 300.0
    assert gang.on_timeout is GangTimeoutAction.KEEP_WAITING


def test_extension_fields_land_on_the_right_model_fields() -> None:
    spec = run_from_dict(MANIFESTS["gang_member"]()).spec
    assert (spec.priority, spec.priority_class_name, spec.queue) == (0, "high", "team-a")
    assert spec.gang is not None
    assert (spec.gang.name, spec.gang.size) == ("train", 4)
    array = run_from_dict(MANIFESTS["array_run"]())
    assert array.spec.array is not None
    assert array.spec.array.parallelism == 50
    assert array.spec.array.compact_status
    assert array.status.array is not None
    assert array.status.array.completed_indexes == "0-119"


def test_older_manifests_know_nothing_of_the_extensions(run_doc: dict[str, Any]) -> None:
    """A manifest of the Go project decodes with every extension at its neutral default."""
    spec = decode_run(run_doc, strict=True).value.spec
    assert (spec.priority, spec.priority_class_name, spec.queue) == (0, None, None)
    assert (spec.gang, spec.array) == (None, None)
    written = run_to_dict(run_from_dict(run_doc))["spec"]
    assert not {"priority", "priorityClassName", "queue", "gang", "array"} & written.keys()


@pytest.mark.parametrize(
    ("indexes", "text"),
    [([], ""), ([3], "3"), ([1, 3, 4, 5, 7], "1,3-5,7"), ([2, 1, 0, 9, 8], "0-2,8-9")],
)
def test_index_ranges(indexes: list[int], text: str) -> None:
    assert index_ranges(indexes) == text


def test_manifest_fields_land_on_the_right_model_fields(run_doc: dict[str, Any]) -> None:
    spec = run_from_dict(run_doc).spec
    assert spec.timeout_seconds == 600.0
    assert spec.retry_policy.backoff_seconds == 2.0
    assert spec.retry_policy.max_attempts == 3
    assert spec.resources.requests == {"runs": 2, "example.com/gpu": 1}
    assert spec.source is not None
    assert spec.source.inline_path == "steps/test.sh"
    assert spec.env[1].value_from == {"secretKeyRef": {"name": "ci", "key": "token"}}
    assert spec.affinity is not None
    assert spec.affinity.run_affinity is not None
    (term,) = spec.affinity.run_affinity.required
    assert term.label_selector.matches({"app": "api"})
    assert not term.label_selector.matches({"app": "api", "canary": "1"})
    assert spec.affinity.run_anti_affinity is not None
    assert spec.affinity.run_anti_affinity.preferred[0].weight == 50


def test_irregular_wire_names(run_doc: dict[str, Any]) -> None:
    document = MANIFESTS["python_function"]()
    run = run_from_dict(document)
    assert run.spec.source is not None
    assert run.spec.source.repo_url == "https://git.example.com/media/resize.git"
    assert run.spec.source.commit_sha == document["spec"]["source"]["commitSHA"]
    assert run.status.assigned_pod_uid == "0d9e8f7a-1111-2222-3333-444455556666"
    assert run.metadata.resource_version == "81234"
    assert run.metadata.extra == {"managedFields": [{"manager": "krt", "operation": "Update"}]}
    assert bash_runtime()["spec"]["capacity"] == {"resources": {"runs": "8"}}
    assert runtime_from_dict(bash_runtime()).spec.capacity == {"runs": 8}


def test_defaults_are_omitted_and_required_fields_written() -> None:
    document = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "tiny"},
        "spec": {
            "runtime": "bash",
            "mode": {"task": {}},
            "resources": {"requests": {"runs": 1}},
            "retryPolicy": {"maxAttempts": 1, "backoff": "1s"},
            "cancelRequested": False,
            "env": [],
            "timeout": None,
        },
        "status": {"phase": "Pending", "attempt": 1, "outputs": {}},
    }
    assert run_to_dict(run_from_dict(document)) == {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "tiny", "namespace": "default"},
        "spec": {"runtime": "bash", "mode": {"task": {}}},
        "status": {"phase": "Pending"},
    }


def test_missing_status_decodes_as_pending(run_doc: dict[str, Any]) -> None:
    del run_doc["status"]
    run = decode_run(run_doc).value
    assert run.status.phase is Phase.PENDING
    assert run.status.attempt == 1


def test_quantities_are_written_as_decimal_strings(run_doc: dict[str, Any]) -> None:
    run_doc["spec"]["resources"]["requests"] = {"runs": "1Ki", "cpu": 3}
    requests = run_to_dict(run_from_dict(run_doc))["spec"]["resources"]["requests"]
    assert requests == {"runs": "1024", "cpu": "3"}


def _wire_paths(prefix: str, cls: type) -> dict[str, tuple[str, bool]]:
    """Every wire path of `cls` (array items as `[]`) -> (`Class.field`, holds an object)."""
    paths = {}
    for f in wire_fields(cls):
        args = [a for a in typing.get_args(f.type) if a is not type(None) and a is not Ellipsis]
        array = typing.get_origin(f.type) is tuple
        inner = args[0] if args and (array or type(None) in typing.get_args(f.type)) else f.type
        path = f"{prefix}.{f.wire}" + ("[]" if array else "")
        nested = attrs.has(inner) and f.attr not in ("capacity", "requests")
        paths[path] = (f"{cls.__name__}.{f.attr}", nested)
        if nested:
            paths |= _wire_paths(path, inner)
    return paths


def _document_paths(prefix: str, node: Any, objects: set[str]) -> set[str]:
    """Paths present in `node`, descending only into what the model holds as objects."""
    paths = {prefix}
    if isinstance(node, list):
        for item in node:
            paths |= _document_paths(prefix, item, objects)
    elif isinstance(node, dict) and (prefix in objects or "." not in prefix):
        for key, value in node.items():
            child = f"{prefix}.{key}" + ("[]" if isinstance(value, list) else "")
            paths |= _document_paths(child, value, objects)
    return paths


@pytest.mark.parametrize(
    ("strategy", "parts"),
    [
        (run_dicts(), RUN_PARTS),
        (runtime_dicts(), RUNTIME_PARTS),
        (run_queue_dicts(), RUN_QUEUE_PARTS),
    ],
    ids=["runs", "runtimes", "run_queues"],
)
def test_strategies_reach_every_wire_field(
    strategy: st.SearchStrategy[dict[str, Any]], parts: dict[str, type]
) -> None:
    """Every field of every model class appears somewhere, and unknown fields at every part."""
    wire = {}
    for part, cls in parts.items():
        wire |= _wire_paths(part, cls)
    objects = {path for path, (_, nested) in wire.items() if nested}
    seen: set[str] = set()

    @settings(_SLOW_DATA, max_examples=300, database=None, derandomize=True)
    @given(strategy)
    def collect(document: dict[str, Any]) -> None:
        for part in parts:
            seen.update(_document_paths(part, document[part], objects))

    collect()
    fields = {field for field, _ in wire.values()}
    assert fields - {wire[path][0] for path in seen if path in wire} == set()
    assert {part for part in parts if any(p.startswith(f"{part}.x") for p in seen)} == set(parts)
