"""Resource vectors as the core stores them: interned tuples of `(name, quantity)`.

Most Runs request exactly `{"runs": 1}`; interning makes all of them share
one tuple, which keeps a pending Run small and makes equality a pointer test.
"""

from __future__ import annotations

from collections.abc import Mapping

Request = tuple[tuple[str, int], ...]

_interned: dict[Request, Request] = {}


def request_of(requests: Mapping[str, int]) -> Request:
    """The canonical, interned form of a request (sorted by resource name)."""
    key = tuple(requests.items()) if len(requests) == 1 else tuple(sorted(requests.items()))
    for _, qty in key:
        if type(qty) is not int:
            # `True` and `1.0` are equal to `1` (same hash): interned, such a request would
            # stand for every later `{"runs": 1}` (or the reverse), and the type check of
            # `invalid_request` would judge the wrong one.
            return key
    found = _interned.get(key)
    if found is None:
        if len(_interned) < 4096:
            _interned[key] = key
        found = key
    return found


def invalid_request(request: Request) -> str | None:
    """Why a request cannot be placed at all, or None (the codec validates; this is a guard)."""
    for name, qty in request:
        if type(qty) is not int or qty < 0:
            return f"resources.requests.{name}: must be a non-negative integer, got {qty!r}"
    return None


def fits(request: Request, used: dict[str, int], capacity: Mapping[str, int]) -> bool:
    for name, qty in request:
        if qty and used.get(name, 0) + qty > capacity.get(name, 0):
            return False
    return True


def add(used: dict[str, int], request: Request) -> None:
    for name, qty in request:
        used[name] = used.get(name, 0) + qty


def subtract(used: dict[str, int], request: Request) -> None:
    for name, qty in request:
        left = used.get(name, 0) - qty
        if left:
            used[name] = left
        else:
            used.pop(name, None)


def load_ratios(used: Mapping[str, int], capacity: Mapping[str, int]) -> tuple[float, float]:
    """`(max ratio, sum of ratios)` of used over capacity, over the Pod's resources."""
    top = 0.0
    total = 0.0
    for name, cap in capacity.items():
        if cap > 0:
            ratio = used.get(name, 0) / cap
            total += ratio
            if ratio > top:  # noqa: PLR1730 - max(top, ratio) without the call
                top = ratio
    return top, total
