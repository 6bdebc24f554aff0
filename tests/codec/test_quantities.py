"""Resource quantities are Kubernetes quantities that must denote whole numbers."""

from __future__ import annotations

import pytest

from kruntimes.codec import parse_quantity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8, 8),
        ("8", 8),
        ("+8", 8),
        ("0", 0),
        ("-0", 0),
        ("2k", 2000),
        ("1.5k", 1500),
        ("1Ki", 1024),
        ("3Mi", 3 * 2**20),
        ("1Ei", 2**60),
        ("1e3", 1000),
        ("1E3", 1000),
        ("1E", 10**18),
        ("5.", 5),
        ("2000m", 2),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_whole_number_quantities(value: int | str, expected: int) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("500m", "whole number"),
        ("1.5", "whole number"),
        ("1e-1", "whole number"),
        ("-1", "negative"),
        (-1, "negative"),
        ("10E", "too large"),
        (2**63, "too large"),
        ("1e999", "too large"),
        ("", "invalid quantity"),
        (".", "invalid quantity"),
        ("1 k", "invalid quantity"),
        ("1kk", "invalid quantity"),
        ("1ki", "invalid quantity"),
        ("e3", "invalid quantity"),
        ("1e1000", "invalid quantity"),
        ("٣", "invalid quantity"),
        ("1" * 65, "invalid quantity"),
        (1.0, "integer or a quantity string"),
        (True, "integer or a quantity string"),
        (None, "integer or a quantity string"),
    ],
)
def test_other_values_are_rejected_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_quantity(value)
