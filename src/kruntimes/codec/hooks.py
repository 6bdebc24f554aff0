"""Strict structuring hooks: JSON-shaped input in, model values out, every error collected.

Hooks take `(value, type)` as cattrs expects and raise `Invalid` with paths
relative to `value`; parents prefix their own path segment via `descend`.
They never coerce ("5" is not an int, 1 is not a bool) and never let a
Python error escape, whatever the input: cycles stop at a depth limit and
shared sub-objects (a "billion laughs") at a per-document node budget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from attrs import define, field

from kruntimes.codec.durations import SECOND, parse_duration_ns
from kruntimes.codec.errors import FieldError, Invalid
from kruntimes.codec.limits import INT_MAX, INT_MIN, JSON_DEPTH_MAX, JSON_NODES_MAX
from kruntimes.codec.quantities import parse_quantity
from kruntimes.codec.timestamps import parse_timestamp

Hook = Callable[[Any, Any], Any]

UNKNOWN_KEPT = "unknown field (kept as is)"
UNKNOWN_IGNORED = "unknown field (ignored)"


@define
class DecodeState:
    """What one decode accumulates besides errors."""

    unknown: list[FieldError] = field(factory=list)
    """Unknown fields met so far, with paths fixed up by `descend` on the way out."""
    nodes_left: int = JSON_NODES_MAX


STATE: ContextVar[DecodeState | None] = ContextVar("kruntimes_codec_decode", default=None)


def current_state() -> DecodeState:
    """The running decode's state, or a throwaway one when a hook is called directly."""
    state = STATE.get()
    return DecodeState() if state is None else state


class _Failed:
    """Marks a value whose errors are already recorded."""


FAILED: Final = _Failed()

_JSON_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (tuple, "array"),
    (Mapping, "object"),
)


def type_name(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    for kind, name in _JSON_NAMES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def show(value: object) -> str:
    """A short, safe rendering of a hostile value for a message."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)
    return f"a value of type {type_name(value)}"


def _plain(key: str, special: str) -> bool:
    return 0 < len(key) <= 64 and key.isprintable() and not any(c in key for c in special)


def key_segment(key: str) -> str:
    """`[key]` for a path; empty, long or unprintable keys are shortened and quoted."""
    return f"[{key}]" if _plain(key, "[]") else f"[{key[:64]!r}]"


def field_segment(key: str) -> str:
    """An unknown field's name as a path segment: `name`, or `[...]` when it needs quoting."""
    return key if _plain(key, ".[]") else key_segment(key)


def descend(
    hook: Hook, value: Any, typ: Any, head: str, errors: list[FieldError], *, state: DecodeState
) -> Any:
    """Run a child hook; its errors and unknown fields get `head` in front of their paths."""
    unknown = state.unknown
    mark = len(unknown)
    try:
        return hook(value, typ)
    except Invalid as exc:
        errors.extend(e.under(head) for e in exc.errors)
        return FAILED
    finally:
        if len(unknown) != mark:
            unknown[mark:] = [e.under(head) for e in unknown[mark:]]


def as_object(value: Any) -> Mapping[Any, Any]:
    if isinstance(value, Mapping):
        return value
    raise Invalid.at("", f"must be an object, got {type_name(value)}")


def string(value: Any, _typ: Any = None) -> str:
    if not isinstance(value, str):
        raise Invalid.at("", f"must be a string, got {type_name(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid.at("", "must be valid Unicode (no lone surrogates)") from None
    return value


def integer(value: Any, _typ: Any = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid.at("", f"must be an integer, got {type_name(value)}")
    if not INT_MIN <= value <= INT_MAX:
        raise Invalid.at("", "must fit in a 64-bit integer")
    return value


def number(value: Any, _typ: Any = None) -> float:
    """A JSON number as a float; integers too (`weight: 2`), within int64 as everywhere."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid.at("", f"must be a number, got {type_name(value)}")
    if isinstance(value, int):
        return float(integer(value))
    if not math.isfinite(value):
        raise Invalid.at("", "must be a finite number")
    return value


def boolean(value: Any, _typ: Any = None) -> bool:
    if not isinstance(value, bool):
        raise Invalid.at("", f"must be true or false, got {type_name(value)}")
    return value


def timestamp(value: Any, _typ: Any = None) -> datetime:
    try:
        return parse_timestamp(string(value))
    except ValueError as exc:
        raise Invalid.at("", str(exc)) from None


def duration(value: Any, _typ: Any = None) -> float:
    """Seconds of a Go duration string (`metav1.Duration` on the wire)."""
    try:
        return parse_duration_ns(string(value)) / SECOND
    except ValueError as exc:
        raise Invalid.at("", str(exc)) from None


def _quantity(value: Any) -> int:
    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise Invalid.at("", str(exc)) from None


def quantities(value: Any, _typ: Any = None) -> dict[str, int]:
    """A ResourceList: names to whole-number quantities."""
    return entries(value, _quantity)


def json_value(value: Any, _typ: Any = None) -> Any:
    """A deep copy of a JSON value (objects, arrays, strings, finite numbers, booleans, null).

    Stops at the first problem: a verbatim value gets one error, however broken,
    so a hostile value cannot multiply the work or the report.
    """
    return _json(value, 0, current_state())


def json_object(value: Any, _typ: Any = None) -> dict[str, Any]:
    """A JSON object kept verbatim (`valueFrom`, Pod templates, store configs)."""
    result: dict[str, Any] = _json(as_object(value), 0, current_state())
    return result


def _json(value: Any, depth: int, state: DecodeState) -> Any:
    state.nodes_left -= 1
    if state.nodes_left < 0:
        raise Invalid.at("", f"too large: more than {JSON_NODES_MAX} values kept verbatim")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return string(value)
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid.at("", "must be a finite number")
        return value
    if depth >= JSON_DEPTH_MAX:
        raise Invalid.at("", f"nested deeper than {JSON_DEPTH_MAX} levels")
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Invalid.at("", f"keys must be strings, got {show(key)}")
            try:
                copied[string(key)] = _json(item, depth + 1, state)
            except Invalid as exc:
                raise Invalid([exc.errors[0].under(field_segment(key))]) from None
        return copied
    if isinstance(value, list | tuple):
        result = []
        for i, item in enumerate(value):
            try:
                result.append(_json(item, depth + 1, state))
            except Invalid as exc:
                raise Invalid([exc.errors[0].under(f"[{i}]")]) from None
        return result
    raise Invalid.at("", f"must be a JSON value, got {type_name(value)}")


def entries(value: Any, convert: Callable[[Any], Any]) -> dict[str, Any]:
    """An object with string keys, each value converted; all errors at once."""
    obj = as_object(value)
    result: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, item in obj.items():
        if not isinstance(key, str):
            errors.append(FieldError("", f"keys must be strings, got {show(key)}"))
            continue
        try:
            result[string(key)] = convert(item)
        except Invalid as exc:
            errors.extend(e.under(key_segment(key)) for e in exc.errors)
    if errors:
        raise Invalid(errors)
    return result


@functools.cache
def _members(cls: type[StrEnum]) -> tuple[dict[str, StrEnum], str]:
    return {m.value: m for m in cls}, ", ".join(m.value for m in cls)


def enum_member(value: Any, cls: type[StrEnum]) -> StrEnum:
    """A member of a closed vocabulary; the error lists the allowed values."""
    by_value, allowed = _members(cls)
    member = by_value.get(value) if isinstance(value, str) else None
    if member is None:
        raise Invalid.at("", f"must be one of {allowed}, got {show(value)}")
    return member


def optional_hook(inner: Hook, inner_type: Any) -> Hook:
    def structure(value: Any, _typ: Any) -> Any:
        return None if value is None else inner(value, inner_type)

    return structure


def tuple_hook(item: Hook, item_type: Any) -> Hook:
    """Arrays of model objects or strings; unknown fields inside get `[i]` paths."""

    def structure(value: Any, _typ: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise Invalid.at("", f"must be an array, got {type_name(value)}")
        errors: list[FieldError] = []
        state = current_state()
        result = tuple(
            descend(item, v, item_type, f"[{i}]", errors, state=state) for i, v in enumerate(value)
        )
        if errors:
            raise Invalid(errors)
        return result

    return structure


def mapping_hook(item: Hook, item_type: Any) -> Hook:
    def structure(value: Any, _typ: Any) -> dict[str, Any]:
        return entries(value, lambda v: item(v, item_type))

    return structure
