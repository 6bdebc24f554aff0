"""The one cattrs Converter between model objects and `kruntimes.io/v1alpha1` dicts.

Wire names are the camelCase of model names except for the explicit renames
below; `wire_fields` is the resulting table, which docs and tests reuse.
Unstructuring uses cattrs' generated functions, omitting every field equal to
its model default except those the wire requires. Structuring uses the strict
hooks of `hooks.py`, so every error is collected with its wire path. The
converter is built once, at import.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from types import NoneType, UnionType
from typing import Any

import attrs
import cattrs
from attrs import frozen
from cattrs.gen import make_dict_unstructure_fn, override

from kruntimes.codec import hooks
from kruntimes.codec.durations import format_duration
from kruntimes.codec.errors import FieldError, Invalid
from kruntimes.codec.hooks import FAILED, Hook
from kruntimes.codec.quantities import format_quantity
from kruntimes.codec.timestamps import format_timestamp
from kruntimes.model import (
    ArtifactRef,
    Condition,
    ObjectMeta,
    ResourceRequirements,
    RetryPolicy,
    RunAffinityRules,
    RunAffinityTerm,
    RunQueueSpec,
    RunQueueStatus,
    RunSource,
    RunSpec,
    RunStatus,
    RuntimeSpec,
    WorkspaceRef,
)

_RENAMES: Mapping[tuple[type, str], str] = {
    (RunSource, "repo_url"): "repoURL",
    (RunSource, "commit_sha"): "commitSHA",
    (RunStatus, "assigned_pod_uid"): "assignedPodUID",
    (RunAffinityRules, "required"): "requiredDuringSchedulingIgnoredDuringExecution",
    (RunAffinityRules, "preferred"): "preferredDuringSchedulingIgnoredDuringExecution",
    (RunSpec, "timeout_seconds"): "timeout",
    (RetryPolicy, "backoff_seconds"): "backoff",
}
"""Wire names that are not the camelCase of the model name."""

_ALWAYS_WRITTEN: frozenset[tuple[type, str]] = frozenset(
    {
        (ObjectMeta, "namespace"),
        (RunSpec, "mode"),
        (RunStatus, "phase"),
        (WorkspaceRef, "kind"),
        (WorkspaceRef, "api_group"),
        (RunAffinityTerm, "topology_key"),
        (ArtifactRef, "driver"),
        (ArtifactRef, "type"),
        (Condition, "reason"),
        (Condition, "message"),
    }
)
"""Fields written even at their default: the wire requires them (or readers expect them)."""

_REQUIRED_ON_WIRE: frozenset[tuple[type, str]] = frozenset({(RunSpec, "mode")})
"""Fields with a model default that a wire document must still spell out."""


def _format_capacity(capacity: Mapping[str, int]) -> dict[str, Any]:
    return {"resources": _format_quantities(capacity)}


def _format_quantities(quantities: Mapping[str, int]) -> dict[str, str]:
    return {name: format_quantity(n) for name, n in quantities.items()}


def _capacity(value: Any, _typ: Any) -> dict[str, int]:
    """`capacity: {resources: ...}` on the wire is the model's flat `capacity` mapping."""
    obj = hooks.as_object(value)
    state = hooks.current_state()
    errors: list[FieldError] = []
    _unknown_fields(obj, frozenset({"resources"}), False, errors, state)
    resources = obj.get("resources")
    if resources is None:
        resources = {}
    result = hooks.descend(hooks.quantities, resources, None, "resources", errors, state=state)
    if errors:
        raise Invalid(errors)
    return dict(result)


_CODECS: Mapping[tuple[type, str], tuple[Hook, Callable[[Any], Any]]] = {
    (RunSpec, "timeout_seconds"): (hooks.duration, format_duration),
    (RetryPolicy, "backoff_seconds"): (hooks.duration, format_duration),
    (ResourceRequirements, "requests"): (hooks.quantities, _format_quantities),
    (RuntimeSpec, "capacity"): (_capacity, _format_capacity),
    (RunQueueSpec, "quota"): (hooks.quantities, _format_quantities),
    (RunQueueSpec, "borrowing_limit"): (hooks.quantities, _format_quantities),
    (RunQueueStatus, "usage"): (hooks.quantities, _format_quantities),
}
"""Fields whose wire form is not the plain form of their model type."""


@frozen
class WireField:
    """How one model attribute appears on the wire."""

    attr: str
    wire: str
    type: Any
    required: bool
    always_written: bool


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def wire_fields(cls: type) -> tuple[WireField, ...]:
    """The wire fields of a model class (its `extra` holds the unknown ones)."""
    attrs.resolve_types(cls)
    return tuple(
        WireField(
            attr=a.name,
            wire=_RENAMES.get((cls, a.name), _camel(a.name)),
            type=a.type,
            required=a.default is attrs.NOTHING or (cls, a.name) in _REQUIRED_ON_WIRE,
            always_written=(cls, a.name) in _ALWAYS_WRITTEN,
        )
        for a in attrs.fields(cls)
        if a.name != "extra"
    )


def _field_hook(converter: cattrs.Converter, cls: type, f: WireField) -> Hook:
    codec = _CODECS.get((cls, f.attr))
    return codec[0] if codec else converter.get_structure_hook(f.type)


def _keeps_extra(cls: type) -> bool:
    return any(a.name == "extra" for a in attrs.fields(cls))


def _object_structure_hook(converter: cattrs.Converter, cls: type) -> Hook:
    plan = tuple(
        (f.attr, f.wire, f.type, f.required, _field_hook(converter, cls, f))
        for f in wire_fields(cls)
    )
    known = frozenset(wire for _, wire, *_ in plan)
    keeps_extra = _keeps_extra(cls)

    def structure(value: Any, _typ: Any) -> Any:
        obj = hooks.as_object(value)
        state = hooks.current_state()
        errors: list[FieldError] = []
        kwargs: dict[str, Any] = {}
        for attr, wire, typ, required, hook in plan:
            raw = obj.get(wire)
            if raw is None:
                if required:
                    errors.append(FieldError(wire, "required"))
                continue
            result = hooks.descend(hook, raw, typ, wire, errors, state=state)
            if result is not FAILED:
                kwargs[attr] = result
        if not obj.keys() <= known:
            extra = _unknown_fields(obj, known, keeps_extra, errors, state)
            if extra:
                kwargs["extra"] = extra
        if errors:
            raise Invalid(errors)
        return cls(**kwargs)

    return structure


def _unknown_fields(
    obj: Mapping[Any, Any],
    known: frozenset[str],
    keep: bool,
    errors: list[FieldError],
    state: hooks.DecodeState,
) -> dict[str, Any]:
    """Record unknown keys; return them (checked as JSON) when the class keeps them."""
    kept: dict[str, Any] = {}
    for key, value in obj.items():
        if key in known:
            continue
        if not isinstance(key, str):
            errors.append(FieldError("", f"keys must be strings, got {hooks.show(key)}"))
            continue
        head = hooks.field_segment(key)
        rule = hooks.UNKNOWN_KEPT if keep else hooks.UNKNOWN_IGNORED
        state.unknown.append(FieldError(head, rule))
        if keep:
            result = hooks.descend(hooks.json_value, value, None, head, errors, state=state)
            if result is not FAILED:
                kept[key] = result
    return kept


def _object_unstructure_hook(converter: cattrs.Converter, cls: type) -> Callable[[Any], Any]:
    overrides: dict[str, Any] = {"extra": override(omit=True)} if _keeps_extra(cls) else {}
    for f in wire_fields(cls):
        codec = _CODECS.get((cls, f.attr))
        overrides[f.attr] = override(
            rename=f.wire,
            omit_if_default=False if f.always_written else None,
            unstruct_hook=codec[1] if codec else None,
        )
    generated: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=True, **overrides
    )
    if not _keeps_extra(cls):
        return generated

    def unstructure(obj: Any) -> dict[str, Any]:
        result = generated(obj)
        for key, value in obj.extra.items():
            result.setdefault(key, converter.unstructure(value))
        return result

    return unstructure


def _is_optional(typ: Any) -> bool:
    args = typing.get_args(typ)
    return (
        typing.get_origin(typ) in (typing.Union, UnionType) and len(args) == 2 and NoneType in args
    )


def _is_tuple(typ: Any) -> bool:
    args = typing.get_args(typ)
    return typing.get_origin(typ) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_mapping(typ: Any) -> bool:
    return typing.get_origin(typ) is Mapping


def _build() -> cattrs.Converter:
    c = cattrs.Converter()
    c.register_structure_hook(str, hooks.string)
    c.register_structure_hook(int, hooks.integer)
    c.register_structure_hook(float, hooks.number)
    c.register_structure_hook(bool, hooks.boolean)
    c.register_structure_hook(datetime, hooks.timestamp)
    c.register_structure_hook(StrEnum, hooks.enum_member)
    c.register_structure_hook_factory(_is_optional, lambda t: _optional(c, t))
    c.register_structure_hook_factory(_is_tuple, lambda t: _tuple(c, t))
    c.register_structure_hook_factory(_is_mapping, lambda t: _mapping(c, t))
    c.register_structure_hook_factory(attrs.has, lambda t: _object_structure_hook(c, t))
    c.register_unstructure_hook(datetime, format_timestamp)
    c.register_unstructure_hook(StrEnum, _enum_value)
    c.register_unstructure_hook_factory(attrs.has, lambda t: _object_unstructure_hook(c, t))
    return c


def _optional(c: cattrs.Converter, typ: Any) -> Hook:
    inner = next(a for a in typing.get_args(typ) if a is not NoneType)
    return hooks.optional_hook(c.get_structure_hook(inner), inner)


def _tuple(c: cattrs.Converter, typ: Any) -> Hook:
    item = typing.get_args(typ)[0]
    return hooks.tuple_hook(c.get_structure_hook(item), item)


def _mapping(c: cattrs.Converter, typ: Any) -> Hook:
    value = typing.get_args(typ)[1]
    if value is Any:
        return hooks.json_object
    return hooks.mapping_hook(c.get_structure_hook(value), value)


def _enum_value(member: StrEnum) -> str:
    return member.value


CONVERTER = _build()
"""Built once; hooks are generated on first use of each type and cached by cattrs."""
