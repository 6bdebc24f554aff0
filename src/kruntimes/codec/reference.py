"""Markdown tables of the wire format, generated from the codec's own tables.

`docs/wire-format.md` embeds them between `<!-- name -->` and `<!-- /name -->`
markers and a test keeps them current, so the doc cannot drift from the code.
Regenerate with `python -m kruntimes.codec.reference docs/wire-format.md`.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import NoneType
from typing import Any

import attrs

from kruntimes.codec.converter import wire_fields
from kruntimes.codec.durations import format_duration
from kruntimes.codec.limits import LIMITS
from kruntimes.model import (
    ObjectMeta,
    ResourceRequirements,
    RetryPolicy,
    RunQueueSpec,
    RunQueueStatus,
    RunSpec,
    RunStatus,
    RuntimeSpec,
    RuntimeStatus,
)

_PLAIN = {str: "string", int: "integer", float: "number", bool: "boolean", datetime: "timestamp"}
_DURATIONS = {(RunSpec, "timeout_seconds"), (RetryPolicy, "backoff_seconds")}
_SPECIAL = {
    (ResourceRequirements, "requests"): "map of quantities",
    (RuntimeSpec, "capacity"): "`{resources: map of quantities}`",
    (RunQueueSpec, "quota"): "map of quantities",
    (RunQueueSpec, "borrowing_limit"): "map of quantities",
    (RunQueueStatus, "usage"): "map of quantities",
    **dict.fromkeys(_DURATIONS, "duration"),
}


def limits_table_markdown() -> str:
    rows = ["| field | limit |", "|---|---|"]
    rows += [f"| `{limit.field}` | {limit.rule} |" for limit in LIMITS]
    return "\n".join(rows) + "\n"


def fields_table_markdown(parts: Mapping[str, type]) -> str:
    """One row per wire field: its path, the model attribute, its wire type and default."""
    rows = ["| wire path | model attribute | wire type | default |", "|---|---|---|---|"]
    seen: dict[type, str] = {}
    for part, cls in parts.items():
        rows += _rows(part, cls, seen)
    return "\n".join(rows) + "\n"


RUN_PARTS: Mapping[str, type] = {"metadata": ObjectMeta, "spec": RunSpec, "status": RunStatus}
RUNTIME_PARTS: Mapping[str, type] = {"spec": RuntimeSpec, "status": RuntimeStatus}
RUN_QUEUE_PARTS: Mapping[str, type] = {"spec": RunQueueSpec, "status": RunQueueStatus}


def _rows(path: str, cls: type, seen: dict[type, str]) -> Iterator[str]:
    """Rows of `cls` at `path`; a class met before is referred to, not repeated."""
    seen[cls] = path
    for f in wire_fields(cls):
        inner, array = element_type(f.type)
        here = f"{path}.{f.wire}" + ("[]" if array else "")
        kind = _SPECIAL.get((cls, f.attr)) or _kind(inner, array)
        if attrs.has(inner) and inner in seen:
            kind += f", as `{seen[inner]}`"
        yield (
            f"| `{here}` | `{cls.__name__}.{f.attr}` | {kind} "
            f"| {_default(cls, f.attr, f.required)} |"
        )
        if attrs.has(inner) and inner not in seen:
            yield from _rows(here, inner, seen)


def element_type(typ: Any) -> tuple[Any, bool]:
    """The type inside `X | None` and `tuple[X, ...]`, and whether it was an array."""
    args = [a for a in typing.get_args(typ) if a is not NoneType and a is not Ellipsis]
    if typing.get_origin(typ) is tuple:
        return args[0], True
    if NoneType in typing.get_args(typ):
        return args[0], False
    return typ, False


def _kind(typ: Any, array: bool) -> str:
    if isinstance(typ, type) and issubclass(typ, StrEnum):
        name = " \\| ".join(m.value for m in typ)
    elif typing.get_origin(typ) is Mapping:
        value = typing.get_args(typ)[1]
        name = "object (kept verbatim)" if value is Any else f"map of {_PLAIN[value]}s"
    elif attrs.has(typ):
        name = "object"
    else:
        name = _PLAIN[typ]
    return f"array of {name}" if array else name


def _default(cls: type, attr: str, required: bool) -> str:
    if required:
        return "required"
    default: Any = attrs.fields_dict(cls)[attr].default
    value = default.factory() if hasattr(default, "factory") else default
    if value is None or value in ((), {}, ""):
        return ""
    if (cls, attr) in _DURATIONS:
        return f"`{format_duration(value)}`"
    if isinstance(value, StrEnum):
        return f"`{value.value}`"
    if attrs.has(type(value)) or isinstance(value, Mapping):
        return "see below" if attrs.has(type(value)) else f"`{dict(value)}`"
    return f"`{value}`"


DOC_SECTIONS: Mapping[str, Callable[[], str]] = {
    "wire-run-fields": lambda: fields_table_markdown(RUN_PARTS),
    "wire-runtime-fields": lambda: fields_table_markdown(RUNTIME_PARTS),
    "wire-run-queue-fields": lambda: fields_table_markdown(RUN_QUEUE_PARTS),
    "wire-limits": limits_table_markdown,
}
"""Marker name -> generator of the text between `<!-- name -->` and `<!-- /name -->`."""


def update_doc(text: str) -> str:
    """`text` with every generated section regenerated."""
    return replace_sections(text, DOC_SECTIONS)


def replace_sections(text: str, sections: Mapping[str, Callable[[], str]]) -> str:
    """`text` with the part between `<!-- name -->` and `<!-- /name -->` regenerated, for
    every `name` of `sections`."""
    for name, generate in sections.items():
        start = text.index(f"<!-- {name} -->\n") + len(f"<!-- {name} -->\n")
        end = text.index(f"<!-- /{name} -->")
        text = text[:start] + generate() + text[end:]
    return text


if __name__ == "__main__":
    doc = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/wire-format.md")
    doc.write_text(update_doc(doc.read_text()))
