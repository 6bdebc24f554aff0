"""Captured output of one stream of one execution: a bounded tail for the status, chunks for logs.

The status must stay small (it ends up in the API server), so it keeps only
the last `tail_bytes`; the full output goes to the agent as `log` events,
coalesced so that a chatty program costs one event per 64 KiB or 20 ms,
not one per write.
"""

from __future__ import annotations

DEFAULT_TAIL_BYTES = 4096
LOG_FLUSH_BYTES = 64 * 1024
LOG_FLUSH_SECONDS = 0.020


def truncation_marker(dropped: int) -> str:
    return f"\n[... {dropped} bytes truncated ...]\n"


def tail_text(tail: bytes, total: int) -> str:
    """`tail` (the last bytes of `total`) as text, with a marker when bytes were dropped.

    Non-UTF-8 bytes become U+FFFD; a multi-byte character cut by the bound is
    dropped whole rather than shown as garbage.
    """
    skip = 0
    if total > len(tail):
        while skip < min(3, len(tail)) and 0x80 <= tail[skip] < 0xC0:
            skip += 1
    text = tail[skip:].decode("utf-8", errors="replace")
    dropped = total - len(tail) + skip
    return truncation_marker(dropped) + text if dropped else text


class StreamCapture:
    """One stream (stdout or stderr): bounded tail plus the bytes not yet sent as a log event."""

    __slots__ = ("_tail", "pending", "tail_bytes", "total")

    def __init__(self, tail_bytes: int = DEFAULT_TAIL_BYTES) -> None:
        self.tail_bytes = tail_bytes
        self.total = 0
        self._tail = bytearray()
        self.pending = bytearray()

    def add(self, data: bytes, *, for_log: bool) -> None:
        self.total += len(data)
        tail = self._tail
        tail += data
        if len(tail) > 2 * self.tail_bytes:
            del tail[: len(tail) - self.tail_bytes]
        if for_log:
            self.pending += data

    def take_pending(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data

    def text(self) -> str:
        tail = bytes(self._tail[-self.tail_bytes :]) if self.tail_bytes else b""
        return tail_text(tail, self.total)
