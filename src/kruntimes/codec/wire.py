"""Whole `Run`, `Runtime` and `RunQueue` documents <-> model objects, with validation.

Decoding structures each part (metadata, spec, status) and runs the rules of
`validation.py` on every part that structured, so one `ValidationError` lists
every problem at once. Unknown fields are warnings in `Decoded.warnings`:
kept in `extra` at metadata/spec/status level, ignored deeper (as a
Kubernetes API server prunes them), or, with `strict=True`, errors.
Encoding does not validate: run `validate_run` on objects built in code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, cast

from attrs import frozen

from kruntimes.codec import hooks
from kruntimes.codec.checks import metadata_rules
from kruntimes.codec.converter import CONVERTER
from kruntimes.codec.errors import FieldError, Invalid, ValidationError
from kruntimes.codec.extensions import (
    array_name_rules,
    run_queue_metadata_rules,
    run_queue_spec_rules,
    run_queue_status_rules,
)
from kruntimes.codec.validation import (
    run_spec_rules,
    run_status_rules,
    runtime_metadata_rules,
    runtime_spec_rules,
    runtime_status_rules,
)
from kruntimes.model import (
    API_VERSION,
    RUN_KIND,
    RUN_QUEUE_KIND,
    RUNTIME_KIND,
    ObjectMeta,
    Run,
    RunQueue,
    RunQueueSpec,
    RunQueueStatus,
    RunSpec,
    RunStatus,
    Runtime,
    RuntimeSpec,
    RuntimeStatus,
)

T = TypeVar("T")


@frozen
class Decoded(Generic[T]):
    """A decoded object and the unknown fields met on the way."""

    value: T
    warnings: tuple[FieldError, ...] = ()
    """One per unknown field, its rule saying whether it was kept (in `extra`) or ignored."""


@frozen
class _Part:
    key: str
    cls: type
    required: bool
    rules: Callable[[Any], Iterable[FieldError]]


_RUN = (
    _Part("metadata", ObjectMeta, True, metadata_rules),
    _Part("spec", RunSpec, True, run_spec_rules),
    _Part("status", RunStatus, False, run_status_rules),
)
_RUNTIME = (
    _Part("metadata", ObjectMeta, True, runtime_metadata_rules),
    _Part("spec", RuntimeSpec, False, runtime_spec_rules),
    _Part("status", RuntimeStatus, False, runtime_status_rules),
)
_RUN_QUEUE = (
    _Part("metadata", ObjectMeta, True, run_queue_metadata_rules),
    _Part("spec", RunQueueSpec, False, run_queue_spec_rules),
    _Part("status", RunQueueStatus, False, run_queue_status_rules),
)
_RUN_STATUS = (_Part("status", RunStatus, False, run_status_rules),)
_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


def decode_run(document: Mapping[str, Any], *, strict: bool = False) -> Decoded[Run]:
    """A valid Run and the unknown fields of its wire dict, or `ValidationError`."""
    with _decoding(strict) as (errors, state):
        parts = _decode_document(document, RUN_KIND, _RUN, errors, state)
        if not errors:  # rules across parts, once each part is valid
            errors.extend(array_name_rules(Run(*parts)))
    return Decoded(Run(*parts), tuple(state.unknown))


def decode_runtime(document: Mapping[str, Any], *, strict: bool = False) -> Decoded[Runtime]:
    """A valid Runtime and the unknown fields of its wire dict, or `ValidationError`."""
    with _decoding(strict) as (errors, state):
        parts = _decode_document(document, RUNTIME_KIND, _RUNTIME, errors, state)
    return Decoded(Runtime(*parts), tuple(state.unknown))


def decode_run_queue(document: Mapping[str, Any], *, strict: bool = False) -> Decoded[RunQueue]:
    """A valid RunQueue and the unknown fields of its wire dict, or `ValidationError`."""
    with _decoding(strict) as (errors, state):
        parts = _decode_document(document, RUN_QUEUE_KIND, _RUN_QUEUE, errors, state)
    return Decoded(RunQueue(*parts), tuple(state.unknown))


def run_from_dict(document: Mapping[str, Any], *, strict: bool = False) -> Run:
    """`decode_run(...).value`, for callers that do not report unknown fields."""
    return decode_run(document, strict=strict).value


def runtime_from_dict(document: Mapping[str, Any], *, strict: bool = False) -> Runtime:
    """`decode_runtime(...).value`."""
    return decode_runtime(document, strict=strict).value


def run_queue_from_dict(document: Mapping[str, Any], *, strict: bool = False) -> RunQueue:
    """`decode_run_queue(...).value`."""
    return decode_run_queue(document, strict=strict).value


def run_status_from_dict(status: Mapping[str, Any], *, strict: bool = False) -> RunStatus:
    """A valid RunStatus from a `status` object alone; error paths start with `status`."""
    with _decoding(strict) as (errors, state):
        (result,) = _decode_parts({"status": status}, _RUN_STATUS, errors, state)
    return cast(RunStatus, result)


def run_to_dict(run: Run) -> dict[str, Any]:
    """The full wire object: apiVersion, kind, metadata, spec and status."""
    return _document(RUN_KIND, run.metadata, run.spec, run.status)


def runtime_to_dict(runtime: Runtime) -> dict[str, Any]:
    """The full wire object: apiVersion, kind, metadata, spec and status."""
    return _document(RUNTIME_KIND, runtime.metadata, runtime.spec, runtime.status)


def run_queue_to_dict(queue: RunQueue) -> dict[str, Any]:
    """The full wire object: apiVersion, kind, metadata, spec and status."""
    return _document(RUN_QUEUE_KIND, queue.metadata, queue.spec, queue.status)


def run_status_to_dict(status: RunStatus) -> dict[str, Any]:
    """The `status` object alone, as the engine writes it to the status subresource."""
    result: dict[str, Any] = CONVERTER.unstructure(status)
    return result


def _document(kind: str, metadata: Any, spec: Any, status: Any) -> dict[str, Any]:
    unstructure = CONVERTER.unstructure
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": unstructure(metadata),
        "spec": unstructure(spec),
        "status": unstructure(status),
    }


@contextmanager
def _decoding(strict: bool) -> Iterator[tuple[list[FieldError], hooks.DecodeState]]:
    """Run one decode with its own state; raise if it found errors (or, strictly, unknowns)."""
    state = hooks.DecodeState()
    errors: list[FieldError] = []
    token = hooks.STATE.set(state)
    try:
        yield errors, state
    finally:
        hooks.STATE.reset(token)
    if strict:
        errors += (FieldError(w.path, "unknown field") for w in state.unknown)
    if errors:
        raise ValidationError(errors)


def _decode_document(
    document: Any,
    kind: str,
    parts: tuple[_Part, ...],
    errors: list[FieldError],
    state: hooks.DecodeState,
) -> list[Any]:
    try:
        obj = hooks.as_object(document)
    except Invalid as exc:
        errors += exc.errors
        return []
    for key, expected in (("apiVersion", API_VERSION), ("kind", kind)):
        found = obj.get(key)
        if found is None:
            errors.append(FieldError(key, "required"))
        elif not isinstance(found, str) or found != expected:
            errors.append(FieldError(key, f"must be {expected}, got {hooks.show(found)}"))
    for key in obj:
        if key in _TOP_LEVEL:
            continue
        if isinstance(key, str):
            state.unknown.append(FieldError(hooks.field_segment(key), hooks.UNKNOWN_IGNORED))
        else:
            errors.append(FieldError("", f"keys must be strings, got {hooks.show(key)}"))
    return _decode_parts(obj, parts, errors, state)


def _decode_parts(
    obj: Mapping[Any, Any],
    parts: tuple[_Part, ...],
    errors: list[FieldError],
    state: hooks.DecodeState,
) -> list[Any]:
    """Structure each part, then check the rules of each part that structured."""
    values = []
    for part in parts:
        raw = obj.get(part.key)
        if raw is None:
            if part.required:
                errors.append(FieldError(part.key, "required"))
                values.append(hooks.FAILED)
                continue
            raw = {}
        hook = CONVERTER.get_structure_hook(part.cls)
        value = hooks.descend(hook, raw, part.cls, part.key, errors, state=state)
        if value is not hooks.FAILED:
            errors += part.rules(value)
        values.append(value)
    return values
