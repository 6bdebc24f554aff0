"""Durations read and write exactly as Go's time.ParseDuration and Duration.String do."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruntimes.codec import format_duration, parse_duration
from kruntimes.codec.durations import MAX_DURATION_NS, format_duration_ns, parse_duration_ns

MS, SEC, MIN, HOUR = 10**6, 10**9, 60 * 10**9, 3600 * 10**9


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1100, "1.1µs"),
        (2200 * 1000, "2.2ms"),
        (3300 * MS, "3.3s"),
        (4 * MIN + 5 * SEC, "4m5s"),
        (4 * MIN + 5001 * MS, "4m5.001s"),
        (5 * HOUR + 6 * MIN + 7001 * MS, "5h6m7.001s"),
        (8 * MIN + 1, "8m0.000000001s"),
        (HOUR, "1h0m0s"),
        (90 * SEC, "1m30s"),
        (500 * MS, "500ms"),
        (-SEC, "-1s"),
        (MAX_DURATION_NS, "2562047h47m16.854775807s"),
        (-MAX_DURATION_NS - 1, "-2562047h47m16.854775808s"),
    ],
)
def test_formats_like_go(ns: int, text: str) -> None:
    assert format_duration_ns(ns) == text


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("5s", 5 * SEC),
        ("30s", 30 * SEC),
        ("1478s", 1478 * SEC),
        ("-5s", -5 * SEC),
        ("+5s", 5 * SEC),
        ("-0", 0),
        ("+0", 0),
        ("5.0s", 5 * SEC),
        ("5.6s", 5 * SEC + 600 * MS),
        ("5.s", 5 * SEC),
        (".5s", 500 * MS),
        ("1.004s", SEC + 4 * MS),
        ("100.00100s", 100 * SEC + MS),
        ("10ns", 10),
        ("11us", 11 * 1000),
        ("12µs", 12 * 1000),
        ("12μs", 12 * 1000),
        ("13ms", 13 * MS),
        ("15m", 15 * MIN),
        ("16h", 16 * HOUR),
        ("3h30m", 3 * HOUR + 30 * MIN),
        ("10.5s4m", 4 * MIN + 10 * SEC + 500 * MS),
        ("-2m3.4s", -(2 * MIN + 3 * SEC + 400 * MS)),
        ("1h2m3s4ms5us6ns", HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5000 + 6),
        ("39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS),
        ("52763797000ns", 52763797000),
        ("0.3333333333333333333h", 20 * MIN),
        ("9007199254740993ns", (1 << 53) + 1),
        ("9223372036854775807ns", MAX_DURATION_NS),
        ("9223372036854775.807us", MAX_DURATION_NS),
        ("9223372036s854ms775us807ns", MAX_DURATION_NS),
        ("-9223372036854775808ns", -MAX_DURATION_NS - 1),
        ("0.100000000000000000000h", 6 * MIN),
        ("0.830103483285477580700h", 49 * MIN + 48 * SEC + 372539827),
    ],
)
def test_parses_like_go(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "1 s",
        "1s ",
        "\x85\x85",
        "hello \xffff world",
        "٣s",
        "9223372036854775808ns",
        "9223372036854775.808us",
        "-9223372036854775809ns",
        "3000000h",
        "1" * 100 + "s",
    ],
)
def test_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_ns(text)


@given(st.integers(-MAX_DURATION_NS - 1, MAX_DURATION_NS))
def test_nanoseconds_round_trip(ns: int) -> None:
    assert parse_duration_ns(format_duration_ns(ns)) == ns


@given(st.integers(0, 10**15))
def test_float_seconds_round_trip_to_the_nanosecond(ns: int) -> None:
    seconds = ns / 1e9
    assert parse_duration(format_duration(seconds)) == seconds


def test_float_seconds_are_rounded_to_the_nanosecond() -> None:
    assert format_duration(1.5) == "1.5s"
    assert format_duration(0.1) == "100ms"
    assert format_duration(1e-10) == "0s"


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf, 1e12])
def test_unrepresentable_seconds_are_value_errors(seconds: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        format_duration(seconds)
