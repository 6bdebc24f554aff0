"""Hostile inputs for decoders: random trees, and valid documents broken in a few places.

`kruntimes.testing.model_strategies.hostile_dicts()` combines them with valid
Run and Runtime documents; use these parts to attack other decoders.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st


@functools.cache
def _hostile_scalars() -> st.SearchStrategy[Any]:
    return (
        st.none()
        | st.booleans()
        | st.integers()
        | st.sampled_from([2**63, -(2**63) - 1, 10**400, -1, 0])
        | st.floats()
        | st.text(st.characters(codec=None), max_size=8)
        | st.sampled_from(["\ud800", "x" * 300_000, "1h", "500m", "Pending", "In"])
        | st.binary(max_size=4)
        | st.builds(object)
    )


@functools.cache
def hostile_trees() -> st.SearchStrategy[Any]:
    """Random trees of odd keys (known names, non-strings) and odd values."""
    keys = (
        st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status", "mode", "task"])
        | st.text(max_size=6)
        | st.integers()
        | st.none()
        | st.tuples(st.integers())
    )
    return st.recursive(
        _hostile_scalars(),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=3).map(tuple)
            | st.frozensets(st.integers(), max_size=2)
            | st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=12,
    )


def nested(depth: int) -> dict[str, Any]:
    """`{"spec": {"spec": ...}}`, `depth` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"spec": value}
    return value


@st.composite
def mutations(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid document with a few nodes replaced, removed, multiplied or added."""
    doc = copy.deepcopy(draw(documents))
    for _ in range(draw(st.integers(1, 3))):
        slots = list(_slots(doc))
        container, key = draw(st.sampled_from(slots))
        change = draw(st.sampled_from(_CHANGES))
        change(container, key, draw(hostile_trees()))
    return doc


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _slots(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield node, i
            yield from _slots(value)


def _replace(container: Any, key: Any, hostile: Any) -> None:
    container[key] = hostile


def _remove(container: Any, key: Any, _hostile: Any) -> None:
    del container[key]


def _grow(container: Any, key: Any, _hostile: Any) -> None:
    value = container[key]
    if isinstance(value, list):
        container[key] = value * 70
    elif isinstance(value, str):
        container[key] = "../" + value[:100] + "x" * 270_000
    elif isinstance(value, int) and not isinstance(value, bool):
        container[key] = -value - 1


def _add(container: Any, _key: Any, hostile: Any) -> None:
    if isinstance(container, dict):
        container["xAdded"] = hostile
    else:
        container.append(hostile)


_CHANGES: tuple[Callable[[Any, Any, Any], None], ...] = (_replace, _remove, _grow, _add)
