"""Small reusable checks: each yields `FieldError`s for one value at one wire path."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sized
from datetime import datetime
from typing import Any

from kruntimes.codec import limits
from kruntimes.codec.converter import wire_fields
from kruntimes.codec.durations import seconds_to_ns
from kruntimes.codec.errors import FieldError
from kruntimes.codec.hooks import key_segment, show
from kruntimes.codec.syntax import (
    dns_label_problem,
    dns_subdomain_problem,
    label_value_problem,
    qualified_name_problem,
)
from kruntimes.model import Condition, ObjectMeta

_E = FieldError


@functools.cache
def wire_names(cls: type) -> Mapping[str, str]:
    return {f.attr: f.wire for f in wire_fields(cls)}


def utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def max_chars(path: str, text: str, limit: int) -> Iterator[FieldError]:
    if len(text) > limit:
        yield _E(path, f"must be at most {limit} characters, got {len(text)}")


def max_bytes(path: str, text: str, limit: int) -> Iterator[FieldError]:
    if (size := utf8_len(text)) > limit:
        yield _E(path, f"must be at most {limit} bytes, got {size}")


def max_items(path: str, items: Sized, limit: int) -> Iterator[FieldError]:
    if (count := len(items)) > limit:
        yield _E(path, f"must have at most {limit} items, got {count}")


def within(path: str, value: int, low: int, high: int) -> Iterator[FieldError]:
    if not low <= value <= high:
        yield _E(path, f"must be {low}..{high}, got {show(value)}")


def at_least(path: str, value: int | None, low: int) -> Iterator[FieldError]:
    if value is not None and value < low:
        yield _E(path, f"must be >= {low}, got {show(value)}")


def one_of(path: str, value: object, allowed: tuple[str, ...]) -> Iterator[FieldError]:
    if value not in allowed:
        yield _E(path, f"must be one of {', '.join(allowed)}, got {show(value)}")


def syntax(path: str, problem: str | None) -> Iterator[FieldError]:
    if problem:
        yield _E(path, problem)


def aware(path: str, moment: datetime | None) -> Iterator[FieldError]:
    if moment is not None and moment.utcoffset() is None:
        yield _E(path, "must be timezone-aware")


def duration(path: str, seconds: float | None, minimum_ns: int) -> Iterator[FieldError]:
    if seconds is None:
        return
    try:
        ns = seconds_to_ns(seconds)
    except ValueError as exc:
        yield _E(path, str(exc))
        return
    if ns < minimum_ns:
        yield _E(path, "must be a positive duration" if minimum_ns else "must not be negative")


def extra(path: str, fields: Mapping[str, Any], cls: type) -> Iterator[FieldError]:
    """Unknown fields kept in `extra` must not collide with known ones (known ones win)."""
    known = set(wire_names(cls).values())
    for key in fields:
        if key in known:
            yield _E(f"{path}.{key}", "is a known field and must not be in extra")


def labels(path: str, mapping: Mapping[str, str], check_values: bool) -> Iterator[FieldError]:
    for key, value in mapping.items():
        at = f"{path}{key_segment(key)}"
        if problem := qualified_name_problem(key):
            yield _E(at, f"key {problem}")
        if check_values:
            yield from syntax(at, label_value_problem(value))


def quantities(path: str, amounts: Mapping[str, int]) -> Iterator[FieldError]:
    for name, amount in amounts.items():
        at = f"{path}{key_segment(name)}"
        if problem := qualified_name_problem(name):
            yield _E(at, f"resource name {problem}")
        yield from within(at, amount, 0, limits.INT_MAX)


def metadata_rules(meta: ObjectMeta) -> Iterator[FieldError]:
    if meta.name:
        yield from syntax("metadata.name", dns_subdomain_problem(meta.name))
    elif "generateName" not in meta.extra:
        yield _E("metadata.name", "required")
    yield from syntax("metadata.namespace", dns_label_problem(meta.namespace))
    yield from labels("metadata.labels", meta.labels, check_values=True)
    yield from labels("metadata.annotations", meta.annotations, check_values=False)
    yield from at_least("metadata.generation", meta.generation, 0)
    yield from aware("metadata.creationTimestamp", meta.creation_timestamp)
    yield from aware("metadata.deletionTimestamp", meta.deletion_timestamp)
    yield from extra("metadata", meta.extra, ObjectMeta)


def conditions(path: str, items: tuple[Condition, ...]) -> Iterator[FieldError]:
    yield from max_items(path, items, limits.CONDITIONS_MAX)
    seen: set[str] = set()
    for i, cond in enumerate(items):
        if not cond.type:
            yield _E(f"{path}[{i}].type", "required")
        elif cond.type in seen:
            yield _E(f"{path}[{i}].type", f"duplicate condition type {show(cond.type)}")
        seen.add(cond.type)
        yield from aware(f"{path}[{i}].lastTransitionTime", cond.last_transition_time)
        yield from aware(f"{path}[{i}].lastProbeTime", cond.last_probe_time)
