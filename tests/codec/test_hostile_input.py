"""Whatever a decoder is given, it returns a valid object or raises ValidationError."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from wire_documents import bash_task

from kruntimes.codec import (
    ValidationError,
    decode_run,
    decode_run_queue,
    decode_runtime,
    run_queue_to_dict,
    run_status_from_dict,
    run_to_dict,
    runtime_to_dict,
    validate_run,
    validate_run_queue,
    validate_runtime,
)
from kruntimes.codec.limits import JSON_DEPTH_MAX, JSON_NODES_MAX
from kruntimes.testing.model_strategies import hostile_dicts

_HOSTILE = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _survives(decode: Any, encode: Any, validate: Any, document: Any) -> None:
    """Rejected with ValidationError only; or accepted, valid and stable through a round trip."""
    try:
        decoded = decode(document)
    except ValidationError as exc:
        error = exc
    else:
        assert validate(decoded.value) == ()
        assert decode(encode(decoded.value)).value == decoded.value
        return
    assert error.errors
    assert str(error) == "; ".join(str(e) for e in error.errors)


@_HOSTILE
@given(hostile_dicts())
def test_runs_decode_or_fail_cleanly(document: Any) -> None:
    _survives(decode_run, run_to_dict, validate_run, document)


@settings(_HOSTILE, max_examples=80)
@given(hostile_dicts())
def test_runtimes_decode_or_fail_cleanly(document: Any) -> None:
    _survives(decode_runtime, runtime_to_dict, validate_runtime, document)


@settings(_HOSTILE, max_examples=80)
@given(hostile_dicts())
def test_run_queues_decode_or_fail_cleanly(document: Any) -> None:
    _survives(decode_run_queue, run_queue_to_dict, validate_run_queue, document)


@settings(_HOSTILE, max_examples=80)
@given(hostile_dicts())
def test_a_status_alone_decodes_or_fails_cleanly(document: Any) -> None:
    with contextlib.suppress(ValidationError):
        run_status_from_dict(document)


def _chain(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth):
        node = {"a": node}
    return node


def test_deep_nesting_stops_at_the_depth_limit() -> None:
    document = bash_task()
    document["spec"]["xDeep"] = _chain(10_000)
    with pytest.raises(ValidationError) as info:
        decode_run(document)
    (error,) = info.value.errors
    assert error.path.startswith("spec.xDeep.a.a.a")
    assert error.rule == f"nested deeper than {JSON_DEPTH_MAX} levels"


def test_cycles_are_reported_not_followed() -> None:
    document = bash_task()
    document["spec"]["env"][1]["valueFrom"]["loop"] = document
    document["metadata"]["labels"] = document["metadata"]
    with pytest.raises(ValidationError) as info:
        decode_run(document)
    paths = [e.path for e in info.value.errors]
    assert "metadata.labels[labels]" in paths
    assert any(p.startswith("spec.env[1].valueFrom.loop.") for p in paths)


def test_shared_subtrees_hit_the_node_budget() -> None:
    laughs: list[Any] = ["lol"]
    for _ in range(50):
        laughs = [laughs, laughs]
    document = bash_task()
    document["status"]["xLaughs"] = laughs
    with pytest.raises(ValidationError, match=f"more than {JSON_NODES_MAX} values"):
        decode_run(document)


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        ("spec.ttlSecondsAfterFinished", 10**5000, "must fit in a 64-bit integer"),
        ("spec.ttlSecondsAfterFinished", 2**63, "must fit in a 64-bit integer"),
        ("spec.xHuge", -(2**64), "must fit in a 64-bit integer"),
        ("spec.xNan", float("nan"), "must be a finite number"),
        ("spec.runtime", "\ud800", "lone surrogates"),
        ("spec.xBytes", b"\x00", "must be a JSON value, got bytes"),
        ("spec.xSet", {1, 2}, "must be a JSON value, got set"),
        ("spec.env", "A=1", "must be an array, got string"),
    ],
    ids=["huge-int", "int64", "negative", "nan", "surrogate", "bytes", "set", "str"],
)
def test_odd_python_values_are_field_errors(path: str, value: Any, rule: str) -> None:
    document = bash_task()
    parent, _, key = path.rpartition(".")
    node = document
    for step in parent.split("."):
        node = node[step]
    node[key] = value
    with pytest.raises(ValidationError) as info:
        decode_run(document)
    assert any(e.path == path and rule in e.rule for e in info.value.errors), info.value


@pytest.mark.parametrize(
    ("value", "rule"),
    [(10**400, "must fit in a 64-bit integer"), (float("nan"), "must be a finite number"),
     (float("-inf"), "must be a finite number"), ("1e3", "must be a number, got string")],
    ids=["huge", "nan", "inf", "string"],
)  # fmt: skip
def test_odd_numbers_are_field_errors(value: Any, rule: str) -> None:
    document = bash_task()
    document["spec"]["gang"] = {"name": "g", "size": 2, "timeoutSeconds": value}
    with pytest.raises(ValidationError) as info:
        decode_run(document)
    assert [(e.path, e.rule) for e in info.value.errors] == [("spec.gang.timeoutSeconds", rule)]


def test_huge_strings_are_measured_not_echoed() -> None:
    document = bash_task()
    document["spec"]["runtime"] = "x" * 1_000_000
    with pytest.raises(ValidationError) as info:
        decode_run(document)
    assert len(str(info.value)) < 300


def test_decoding_never_mutates_its_input() -> None:
    document = bash_task()
    document["spec"]["xFuture"] = {"nested": [1, 2]}
    snapshot = copy.deepcopy(document)
    run = decode_run(document).value
    assert document == snapshot
    document["spec"]["xFuture"]["nested"].append(3)
    assert run.spec.extra["xFuture"] == {"nested": [1, 2]}
