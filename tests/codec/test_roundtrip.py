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
from wire_documents import MANIFESTS, bash_runtime

from kruntimes.codec import (
    decode_run,
    run_from_dict,
    run_status_from_dict,
    run_status_to_dict,
    run_to_dict,
    runtime_from_dict,
    runtime_to_dict,
    validate_run,
    validate_runtime,
)
from kruntimes.codec.converter import wire_fields
from kruntimes.codec.reference import RUN_PARTS, RUNTIME_PARTS
from kruntimes.model import Phase, Run, RunStatus, Runtime
from kruntimes.testing.model_strategies import (
    run_dicts,
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
    [(run_dicts(), RUN_PARTS), (runtime_dicts(), RUNTIME_PARTS)],
    ids=["runs", "runtimes"],
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
