"""Parse the `KRUNTIME_OUTPUTS` file: `KEY=VALUE` lines, `#` comments, last key wins.

Limits (facts note): at most 64 keys, a key at most 128 bytes, a value at
most 8 KiB, all of it at most 64 KiB. Breaking a limit fails the Run with
`OutputsTooLarge`; a malformed file with `OutputsInvalid`. Either way the
reason names the line, so the author can fix it.
"""

from __future__ import annotations

import re

from attrs import frozen

from kruntimes.model import FailureReason

MAX_KEYS = 64
MAX_KEY_BYTES = 128
MAX_VALUE_BYTES = 8 * 1024
MAX_TOTAL_BYTES = 64 * 1024
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@frozen
class OutputsResult:
    outputs: dict[str, str]
    error: FailureReason | None = None
    message: str = ""


def _fail(reason: FailureReason, message: str) -> OutputsResult:
    return OutputsResult({}, reason, message)


def parse_outputs(data: bytes) -> OutputsResult:
    if len(data) > MAX_TOTAL_BYTES:
        return _fail(
            FailureReason.OUTPUTS_TOO_LARGE,
            f"outputs file is {len(data)} bytes (limit {MAX_TOTAL_BYTES})",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail(FailureReason.OUTPUTS_INVALID, f"outputs file is not UTF-8 (byte {exc.start})")
    outputs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            return _fail(FailureReason.OUTPUTS_INVALID, f"line {number}: expected KEY=VALUE")
        if not _KEY.match(key):
            return _fail(
                FailureReason.OUTPUTS_INVALID,
                f"line {number}: key {key[:40]!r} must match [A-Za-z_][A-Za-z0-9_.-]*",
            )
        if len(key.encode()) > MAX_KEY_BYTES:
            return _fail(
                FailureReason.OUTPUTS_TOO_LARGE,
                f"line {number}: key longer than {MAX_KEY_BYTES} bytes",
            )
        if len(value.encode()) > MAX_VALUE_BYTES:
            return _fail(
                FailureReason.OUTPUTS_TOO_LARGE,
                f"line {number}: value of {key} longer than {MAX_VALUE_BYTES} bytes",
            )
        outputs.pop(key, None)  # last one wins, and keeps its position last
        outputs[key] = value
        if len(outputs) > MAX_KEYS:
            return _fail(FailureReason.OUTPUTS_TOO_LARGE, f"more than {MAX_KEYS} output keys")
    return OutputsResult(outputs)
