import pytest

from kruntimes.agent.outputs import MAX_KEYS, MAX_TOTAL_BYTES, MAX_VALUE_BYTES, parse_outputs
from kruntimes.model import FailureReason


def test_key_value_lines_comments_and_last_key_wins() -> None:
    result = parse_outputs(b"# a comment\nA=1\n\nB = two words\nA=3\nEMPTY=\nURL=http://x?a=b\n")
    assert result.error is None
    assert result.outputs == {"B": " two words", "A": "3", "EMPTY": "", "URL": "http://x?a=b"}


@pytest.mark.parametrize(
    ("data", "reason", "fragment"),
    [
        (b"novalue\n", FailureReason.OUTPUTS_INVALID, "line 1: expected KEY=VALUE"),
        (b"A=1\n9BAD=x\n", FailureReason.OUTPUTS_INVALID, "line 2"),
        (b"A=\xff\n", FailureReason.OUTPUTS_INVALID, "not UTF-8"),
        (b"K" * 129 + b"=v", FailureReason.OUTPUTS_TOO_LARGE, "key longer than 128"),
        (b"A=" + b"v" * (MAX_VALUE_BYTES + 1), FailureReason.OUTPUTS_TOO_LARGE, "value of A"),
        (
            b"".join(b"K%d=v\n" % i for i in range(MAX_KEYS + 1)),
            FailureReason.OUTPUTS_TOO_LARGE,
            "64",
        ),
        (b"#" * (MAX_TOTAL_BYTES + 1), FailureReason.OUTPUTS_TOO_LARGE, "bytes (limit 65536)"),
    ],
)
def test_limits_and_malformed_files_fail_with_a_reason(
    data: bytes, reason: FailureReason, fragment: str
) -> None:
    result = parse_outputs(data)
    assert result.error is reason
    assert fragment in result.message
    assert result.outputs == {}


def test_sixty_four_keys_are_fine() -> None:
    data = b"".join(b"K%d=v\n" % i for i in range(MAX_KEYS))
    assert len(parse_outputs(data).outputs) == MAX_KEYS
