"""RFC 3339 timestamps <-> timezone-aware UTC datetimes.

Written as Kubernetes writes `metav1.Time` ("2024-01-01T00:00:00Z"), with
".ffffffZ" only when there are microseconds, so second-precision values from
the API server round-trip unchanged. Read strictly: a date alone, a missing
offset or non-ASCII digits are errors, not guesses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime; fractions beyond microseconds are truncated."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise _invalid(text)
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    try:
        tz = UTC
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid(text) from None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`; `ValueError` for a naive datetime (its zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp must be timezone-aware, got naive {moment.isoformat()}")
    d = moment.astimezone(UTC)
    frac = f".{d.microsecond:06d}" if d.microsecond else ""
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}{frac}Z"
    )


def _invalid(text: str) -> ValueError:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return ValueError(f"invalid timestamp {shown!r}: use RFC 3339 like 2024-01-01T00:00:00Z")
