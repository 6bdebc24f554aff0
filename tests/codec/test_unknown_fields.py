"""Unknown fields: kept at metadata/spec/status level, ignored deeper, always reported."""

from __future__ import annotations

from typing import Any

import pytest
from wire_documents import bash_runtime, errors_of

from kruntimes.codec import (
    FieldError,
    ValidationError,
    decode_run,
    decode_runtime,
    run_from_dict,
    run_status_from_dict,
    run_to_dict,
    runtime_to_dict,
)

KEPT = "unknown field (kept as is)"
IGNORED = "unknown field (ignored)"


def test_part_level_fields_survive_a_round_trip(run_doc: dict[str, Any]) -> None:
    run_doc["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    run_doc["spec"]["tenantClass"] = 7
    run_doc["spec"]["tenant"] = {"name": "batch", "team": "team-a"}
    run_doc["status"]["pushCompletion"] = True
    decoded = decode_run(run_doc)
    assert decoded.value.spec.extra == {
        "tenantClass": 7,
        "tenant": {"name": "batch", "team": "team-a"},
    }
    assert decoded.value.status.extra == {"pushCompletion": True}
    assert run_to_dict(decoded.value) == run_doc
    assert decoded.warnings == (
        FieldError("metadata.managedFields", KEPT),
        FieldError("spec.tenantClass", KEPT),
        FieldError("spec.tenant", KEPT),
        FieldError("status.pushCompletion", KEPT),
    )


def test_runtime_part_level_fields_survive_a_round_trip() -> None:
    document = bash_runtime()
    document["spec"]["autoscaling"] = {"min": 1, "max": 10}
    document["status"]["observedGeneration"] = 4
    assert runtime_to_dict(decode_runtime(document).value) == document


def test_deeper_fields_are_ignored_and_named(run_doc: dict[str, Any]) -> None:
    run_doc["spec"]["retryPolicy"]["maxBackoff"] = "1m"
    run_doc["spec"]["mode"]["task"]["workingDir"] = "src"
    run_doc["spec"]["env"][1]["valueFrom"]["secretKeyRef"]["optional"] = True
    run_doc["spec"]["affinity"]["runAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "namespaces"
    ] = ["ci"]
    run_doc["extraTopLevel"] = 1
    decoded = decode_run(run_doc)
    assert decoded.warnings == (
        FieldError("extraTopLevel", IGNORED),
        FieldError("spec.mode.task.workingDir", IGNORED),
        FieldError(
            "spec.affinity.runAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces",
            IGNORED,
        ),
        FieldError("spec.retryPolicy.maxBackoff", IGNORED),
    )
    written = run_to_dict(decoded.value)
    assert "maxBackoff" not in written["spec"]["retryPolicy"]
    assert "extraTopLevel" not in written
    assert written["spec"]["env"][1]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_strict_mode_rejects_every_unknown_field(run_doc: dict[str, Any]) -> None:
    run_doc["spec"]["retrypolicy"] = {"maxAttempts": 3}
    run_doc["spec"]["retryPolicy"]["maxBackoff"] = "1m"
    assert errors_of(run_doc) == {}
    with pytest.raises(ValidationError) as info:
        run_from_dict(run_doc, strict=True)
    assert info.value.errors == (
        FieldError("spec.retryPolicy.maxBackoff", "unknown field"),
        FieldError("spec.retrypolicy", "unknown field"),
    )


def test_strict_mode_reports_unknown_fields_with_the_other_errors(
    run_doc: dict[str, Any],
) -> None:
    run_doc["spec"]["retryPolicy"]["maxBackoff"] = "1m"
    run_doc["spec"]["retryPolicy"]["maxAttempts"] = 0
    assert errors_of(run_doc, strict=True) == {
        "spec.retryPolicy.maxAttempts": "must be 1..100, got 0",
        "spec.retryPolicy.maxBackoff": "unknown field",
    }


def test_odd_field_names_are_quoted_in_paths(run_doc: dict[str, Any]) -> None:
    run_doc["spec"]["retryPolicy"]["a.b"] = 1
    run_doc["spec"]["retryPolicy"][""] = 1
    paths = [w.path for w in decode_run(run_doc).warnings]
    assert paths == ["spec.retryPolicy[a.b]", "spec.retryPolicy['']"]


def test_a_status_alone_reports_with_status_paths() -> None:
    with pytest.raises(ValidationError) as info:
        run_status_from_dict({"phase": "Running", "attempt": 0, "future": 1}, strict=True)
    assert [str(e) for e in info.value.errors] == [
        "status.attempt: must be >= 1, got 0",
        "status.future: unknown field",
    ]
    assert run_status_from_dict({"phase": "Running", "future": 1}).extra == {"future": 1}
