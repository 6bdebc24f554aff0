"""Rules checked on model objects built in code, and the rules of updates."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from attrs import evolve
from wire_documents import bash_task

from kruntimes.codec import (
    FieldError,
    run_from_dict,
    run_to_dict,
    validate_run,
    validate_run_queue,
    validate_run_status,
    validate_run_update,
    validate_runtime,
)
from kruntimes.model import (
    Affinity,
    ArraySpec,
    EnvVar,
    FunctionMode,
    GangSpec,
    ObjectMeta,
    Phase,
    ResourceRequirements,
    RetryPolicy,
    Run,
    RunMode,
    RunQueue,
    RunQueueSpec,
    RunSource,
    RunSpec,
    RunStatus,
    Runtime,
    RuntimeSpec,
    WorkspaceRef,
)


def _run(**spec: Any) -> Run:
    return Run(ObjectMeta(name="r"), RunSpec(runtime="bash", **spec))


def test_a_minimal_run_is_valid() -> None:
    assert validate_run(_run()) == ()


def test_naive_datetimes_are_reported() -> None:
    run = evolve(
        _run(),
        metadata=ObjectMeta(name="r", creation_timestamp=datetime(2024, 1, 1)),
        status=RunStatus(start_time=datetime(2024, 1, 1), completion_time=datetime.now(UTC)),
    )
    assert validate_run(run) == (
        FieldError("metadata.creationTimestamp", "must be timezone-aware"),
        FieldError("status.startTime", "must be timezone-aware"),
    )


@pytest.mark.parametrize(
    ("seconds", "rule"),
    [
        (math.nan, "duration must be finite, got nan"),
        (math.inf, "duration must be finite, got inf"),
        (1e-10, "must be a positive duration"),
        (1e11, "duration out of range: 100000000000.0 s"),
    ],
)
def test_unwritable_timeouts_are_reported(seconds: float, rule: str) -> None:
    assert validate_run(_run(timeout_seconds=seconds)) == (FieldError("spec.timeout", rule),)


def test_negative_backoff_is_reported() -> None:
    run = _run(retry_policy=RetryPolicy(backoff_seconds=-0.5))
    assert validate_run(run) == (FieldError("spec.retryPolicy.backoff", "must not be negative"),)


def test_extra_must_not_shadow_known_fields() -> None:
    run = _run(extra={"runtime": "python", "tenant": "a"})
    assert validate_run(run) == (
        FieldError("spec.runtime", "is a known field and must not be in extra"),
    )
    assert run_to_dict(run)["spec"]["runtime"] == "bash"


def test_generate_name_stands_in_for_a_name() -> None:
    run = Run(ObjectMeta(extra={"generateName": "build-"}), RunSpec(runtime="bash"))
    assert validate_run(run) == ()
    assert validate_run(evolve(run, metadata=ObjectMeta())) == (
        FieldError("metadata.name", "required"),
    )


def test_status_rules_alone() -> None:
    status = RunStatus(phase=Phase.RUNNING, assigned_pod="p", attempt=0)
    assert validate_run_status(status) == (
        FieldError("status.assignedPodUID", "must be set together with assignedPod and "
                   "assignedPodUID"),
        FieldError("status.attempt", "must be >= 1, got 0"),
    )  # fmt: skip


def test_runtime_defaults_are_valid() -> None:
    assert validate_runtime(Runtime(ObjectMeta(name="bash"))) == ()
    bad = Runtime(ObjectMeta(name="bash"), RuntimeSpec(capacity={"runs": -1}, extra={"port": 1}))
    assert validate_runtime(bad) == (
        FieldError("spec.capacity.resources[runs]", "must be 0..9223372036854775807, got -1"),
        FieldError("spec.port", "is a known field and must not be in extra"),
    )


IMMUTABLE = [
    ("spec.runtime", {"runtime": "python"}),
    ("spec.source", {"source": RunSource(inline="echo changed")}),
    ("spec.mode", {"mode": RunMode(function=FunctionMode(handler="main"))}),
    ("spec.env", {"env": (EnvVar("CI", "false"),)}),
    ("spec.timeout", {"timeout_seconds": 1.0}),
    ("spec.retryPolicy", {"retry_policy": RetryPolicy(max_attempts=5)}),
    ("spec.resources", {"resources": ResourceRequirements({"runs": 3})}),
    ("spec.workspace", {"workspace": WorkspaceRef(name="other")}),
    ("spec.affinity", {"affinity": Affinity()}),
    ("spec.priority", {"priority": 7}),
    ("spec.priorityClassName", {"priority_class_name": "high"}),
    ("spec.queue", {"queue": "team-a"}),
    ("spec.gang", {"gang": GangSpec("g", 2)}),
    ("spec.array", {"array": ArraySpec(3)}),
]


@pytest.mark.parametrize(("path", "change"), IMMUTABLE, ids=[p for p, _ in IMMUTABLE])
def test_spec_fields_are_immutable(path: str, change: dict[str, Any]) -> None:
    old = run_from_dict(bash_task())
    new = evolve(old, spec=evolve(old.spec, **change))
    assert FieldError(path, "is immutable after create") in validate_run_update(old, new)


def test_mutable_fields_may_change() -> None:
    old = run_from_dict(bash_task())
    new = evolve(
        old,
        metadata=evolve(old.metadata, labels={"app": "api"}),
        spec=evolve(
            old.spec, cancel_requested=True, ttl_seconds_after_finished=60, extra={"tenant": "b"}
        ),
        status=RunStatus(phase=Phase.CANCELLED),
    )
    assert validate_run_update(old, new) == ()


def test_cancel_cannot_be_withdrawn() -> None:
    old = run_from_dict(bash_task())
    cancelled = evolve(old, spec=evolve(old.spec, cancel_requested=True))
    assert validate_run_update(cancelled, old) == (
        FieldError("spec.cancelRequested", "may only change from false to true"),
    )


def test_an_update_is_also_validated_as_a_run() -> None:
    old = run_from_dict(bash_task())
    new = evolve(old, status=RunStatus(attempt=0))
    assert validate_run_update(old, new) == (FieldError("status.attempt", "must be >= 1, got 0"),)


def test_field_error_paths_nest() -> None:
    assert FieldError("", "bad").under("spec") == FieldError("spec", "bad")
    assert FieldError("name", "bad").under("[3]").under("env") == FieldError("env[3].name", "bad")
    assert str(FieldError("spec.env[3].name", "bad")) == "spec.env[3].name: bad"
    assert str(FieldError("", "must be an object")) == "must be an object"


def test_run_queue_defaults_are_valid() -> None:
    assert validate_run_queue(RunQueue(ObjectMeta(name="default"))) == ()


def test_run_queue_numbers_built_in_code_are_checked() -> None:
    spec = RunQueueSpec(
        weight=math.inf,
        starvation_limit_seconds=math.nan,
        quota={"runs": -1},
        borrowing_limit={},
        extra={"cohort": "x"},
    )
    assert validate_run_queue(RunQueue(ObjectMeta(name="q"), spec)) == (
        FieldError("spec.quota[runs]", "must be 0..9223372036854775807, got -1"),
        FieldError("spec.weight", "must be a finite number > 0 and <= 1000000, got inf"),
        FieldError("spec.starvationLimitSeconds", "must be a finite number >= 0, got nan"),
        FieldError("spec.cohort", "is a known field and must not be in extra"),
    )


def test_gang_timeout_built_in_code_is_checked() -> None:
    run = _run(gang=GangSpec("g", 2, timeout_seconds=math.nan))
    assert validate_run(run) == (
        FieldError("spec.gang.timeoutSeconds", "must be a finite number > 0, got nan"),
    )
