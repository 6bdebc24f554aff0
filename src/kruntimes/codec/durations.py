"""Go `time.Duration` strings ("1m30s", "500ms") <-> seconds, exactly as Go reads and writes them.

The wire uses Go's syntax (upstream fields are `metav1.Duration`), so parsing
follows `time.ParseDuration` step by step, including its float arithmetic for
fractions and its int64 overflow limits, and formatting follows
`Duration.String`. The model keeps durations as float seconds.
"""

from __future__ import annotations

import math
from fractions import Fraction

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

MAX_DURATION_NS = (1 << 63) - 1
"""The longest duration Go can represent (about 292 years)."""

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_LIMIT = 1 << 63


def _invalid(text: str) -> ValueError:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return ValueError(f"invalid duration {shown!r}: use Go syntax like 30s, 1m30s or 500ms")


def _leading_int(s: str, i: int) -> tuple[int, int]:
    """Digits at `i` as an int (error past 2**63, as in Go) and the index after them."""
    x = 0
    while i < len(s) and "0" <= s[i] <= "9":
        x = x * 10 + ord(s[i]) - 48
        if x > _LIMIT:
            raise OverflowError
        i += 1
    return x, i


def _leading_fraction(s: str, i: int) -> tuple[int, float, int]:
    """Fraction digits at `i`; digits past int64 precision are skipped, as in Go."""
    x, scale, overflow = 0, 1.0, False
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            y = x * 10 + ord(s[i]) - 48
            if x > (_LIMIT - 1) // 10 or y > _LIMIT:
                overflow = True
            else:
                x, scale = y, scale * 10
        i += 1
    return x, scale, i


def parse_duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration string; `ValueError` for anything Go would reject."""
    s, neg = text, False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise _invalid(text)
    total, i = 0, 0
    try:
        while i < len(s):
            if not (s[i] == "." or "0" <= s[i] <= "9"):
                raise _invalid(text)
            start = i
            whole, i = _leading_int(s, i)
            has_whole = i != start
            frac, scale, has_frac = 0, 1.0, False
            if i < len(s) and s[i] == ".":
                start = i + 1
                frac, scale, i = _leading_fraction(s, start)
                has_frac = i != start
            if not (has_whole or has_frac):
                raise _invalid(text)
            start = i
            while i < len(s) and s[i] != "." and not ("0" <= s[i] <= "9"):
                i += 1
            unit = _UNITS.get(s[start:i])
            if unit is None:
                raise _invalid(text)
            if whole > _LIMIT // unit:
                raise OverflowError
            value = whole * unit
            if frac:
                value += int(float(frac) * (float(unit) / scale))
            total += value
            if value > _LIMIT or total > _LIMIT:
                raise OverflowError
    except OverflowError:
        raise _invalid(text) from None
    if neg:
        return -total
    if total > MAX_DURATION_NS:
        raise _invalid(text)
    return total


def format_duration_ns(ns: int) -> str:
    """Go's `Duration.String`: "1h0m0s", "1m30s", "1.5s", "500ms", "1.5µs", "0s"."""
    u = abs(ns)
    sign = "-" if ns < 0 else ""
    if u == 0:
        return "0s"
    if u < SECOND:
        if u < MICROSECOND:
            return f"{sign}{u}ns"
        if u < MILLISECOND:
            return f"{sign}{_frac(u, 3)}\u00b5s"
        return f"{sign}{_frac(u, 6)}ms"
    seconds = _frac(u % MINUTE, 9)
    minutes, hours = (u // MINUTE) % 60, u // HOUR
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _frac(u: int, prec: int) -> str:
    """`u / 10**prec` in decimal without trailing zeros."""
    whole, rest = divmod(u, 10**prec)
    digits = f"{rest:0{prec}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def seconds_to_ns(seconds: float) -> int:
    """Nearest nanosecond; `ValueError` for NaN, infinities and values Go cannot hold."""
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be finite, got {seconds}")
    ns = round(Fraction(seconds) * SECOND)
    if not -MAX_DURATION_NS - 1 <= ns <= MAX_DURATION_NS:
        raise ValueError(f"duration out of range: {seconds} s")
    return ns


def parse_duration(text: str) -> float:
    """Seconds of a Go duration string."""
    return parse_duration_ns(text) / SECOND


def format_duration(seconds: float) -> str:
    """The Go duration string of `seconds`, rounded to the nanosecond."""
    return format_duration_ns(seconds_to_ns(seconds))
