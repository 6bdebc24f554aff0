"""Kubernetes resource quantities ("8", "2k", "1Ki", "1e3") <-> non-negative integers.

Run requests and Pod capacities count logical things (runs, GPUs, licences),
so kruntimes keeps them as integers: a quantity that is not a whole number
("500m", "1.5") is rejected with a clear message instead of being rounded.
Written back as plain decimal strings, which every Kubernetes client reads.
"""

from __future__ import annotations

import re

MAX_QUANTITY = (1 << 63) - 1
"""Quantities are int64 in Kubernetes."""

_QUANTITY = re.compile(
    r"([+-]?)([0-9]*)(?:\.([0-9]*))?"
    r"(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?[0-9]{1,3})?"
)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_TEXT = 64


def parse_quantity(value: object) -> int:
    """The integer a quantity denotes; `ValueError` with the reason otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer or a quantity string like '8' or '1Ki'")
    if isinstance(value, int):
        return _checked(value)
    m = _QUANTITY.fullmatch(value) if len(value) <= _MAX_TEXT else None
    if m is None or not (m.group(2) or m.group(3)):
        shown = value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "..."
        raise ValueError(f"invalid quantity {shown!r}")
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4) or ""
    numerator, exp10, exp2 = int(whole + frac or "0"), -len(frac), 0
    if suffix in _BINARY:
        exp2 = _BINARY[suffix]
    elif suffix in _DECIMAL:
        exp10 += _DECIMAL[suffix]
    elif suffix:
        exp10 += int(suffix[1:])
    if numerator and exp10 + len(str(numerator)) > 30:
        raise ValueError(f"quantity {value!r} is too large")
    numerator <<= exp2
    if exp10 >= 0:
        result = numerator * 10**exp10
    else:
        result, rest = divmod(numerator, 10**-exp10)
        if rest:
            raise ValueError(f"must be a whole number (resources are integers), got {value!r}")
    return _checked(-result if sign == "-" else result)


def _checked(number: int) -> int:
    if number < 0:
        raise ValueError("must not be negative")
    if number > MAX_QUANTITY:
        raise ValueError("is too large (must fit in 64 bits)")
    return number


def format_quantity(number: int) -> str:
    """Plain decimal, as Kubernetes prints an integer quantity without a suffix."""
    return str(number)
