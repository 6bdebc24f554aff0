"""`needs_update`: whether a live object lacks what kruntimes wants in it, ignoring the rest.

A controller that writes only when this says so costs reads, not writes, in
a steady cluster; fields that the server defaults or others add never cause
a write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kruntimes.codec.quantities import parse_quantity


def needs_update(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the live object lacks something of `desired` in the fields kruntimes owns.

    Owned: every top-level field but apiVersion/kind/metadata/status (spec,
    rules, subjects, roleRef), our labels and annotations, our owner reference.
    Fields the server or others add are ignored. A field we stop setting is
    not noticed this way, which is why the Pod template carries a hash.
    """
    live_meta, want_meta = _mapping(existing.get("metadata")), _mapping(desired.get("metadata"))
    for key in ("labels", "annotations"):
        if not _covers(live_meta.get(key), want_meta.get(key, {})):
            return True
    live_refs = live_meta.get("ownerReferences")
    for ref in want_meta.get("ownerReferences", ()):
        if not (isinstance(live_refs, list) and any(_covers(r, ref) for r in live_refs)):
            return True
    skip = {"apiVersion", "kind", "metadata", "status"}
    return any(not _covers(existing.get(k), v) for k, v in desired.items() if k not in skip)


_QUANTITY_KEYS = frozenset({"requests", "limits", "sizeLimit", "overhead", "capacity"})


def _covers(live: object, want: object, quantities: bool = False) -> bool:
    """Whether `live` holds all of `want`: maps may have extra keys, lists match item by item.

    A zero value the server omits (empty map or list, "", 0, False) counts as
    present, and quantities under resource maps compare by value ("1Gi" is
    "1024Mi"), as the API server canonicalises them.
    """
    if isinstance(want, Mapping):
        if live is None and not want:
            return True
        return isinstance(live, Mapping) and all(
            _covers(live.get(k), v, quantities or k in _QUANTITY_KEYS)
            for k, v in want.items()
            if k in live or not _is_zero(v)
        )
    if isinstance(want, list | tuple):
        if live is None and not want:
            return True
        return (
            isinstance(live, list)
            and len(live) == len(want)
            and all(_covers(a, b, quantities) for a, b in zip(live, want, strict=True))
        )
    if quantities and isinstance(live, str) and isinstance(want, str) and live != want:
        return _same_quantity(live, want)
    return live == want and isinstance(live, bool) == isinstance(want, bool)


def _same_quantity(live: str, want: str) -> bool:
    """Whole-number quantities by value; "500m" against "0.5" still counts as a change."""
    try:
        return parse_quantity(live) == parse_quantity(want)
    except ValueError:
        return False


def _is_zero(value: object) -> bool:
    if isinstance(value, str | Mapping | list | tuple):
        return not value
    return value is None or value == 0


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
