"""The engine socket's messages, in the shared framing of `kruntimes.framing`.

Every message is a JSON object. Store errors travel as
`{"error": {"type": "Conflict", "message": "..."}}` and are raised again on
the other side as the same `kruntimes.store.port` exception class.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from typing import Any, NoReturn

import trio

from kruntimes.framing import MAX_FRAME_BYTES, FrameDecoder, FrameError
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    StoreError,
    Unavailable,
    Unsupported,
)

MAX_FRAME = MAX_FRAME_BYTES
"""Largest frame either side accepts: a few maximal Runs; lists are sent in chunks below it."""
CHUNK = 1024 * 1024
"""Listed items are sent in frames of about this many bytes."""

_HEADER = struct.Struct(">I")
_ERRORS: dict[str, type[StoreError]] = {
    cls.__name__: cls
    for cls in (
        StoreError,
        NotFound,
        AlreadyExists,
        Conflict,
        Forbidden,
        Gone,
        Invalid,
        Unavailable,
        Unsupported,
    )
}


ProtocolError = FrameError
"""The peer broke the framing (bad length, bad JSON, closed mid-frame): drop the connection."""


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Connection:
    """Frames over one trio stream; one task may send while another receives."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._decoder = FrameDecoder(MAX_FRAME)
        self._ready: deque[dict[str, Any]] = deque()

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_encoded(dumps(message))

    async def send_encoded(self, body: bytes) -> None:
        if len(body) > MAX_FRAME:
            raise Invalid(f"message of {len(body)} bytes exceeds the {MAX_FRAME}-byte frame limit")
        await self.stream.send_all(_HEADER.pack(len(body)) + body)

    async def receive(self) -> dict[str, Any] | None:
        """The next message, or None when the peer closed cleanly between messages."""
        while not self._ready:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                if self._decoder.partial:
                    raise ProtocolError("connection closed in the middle of a frame")
                return None
            self._ready.extend(self._decoder.feed(bytes(chunk)))
        return self._ready.popleft()

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


def error_message(exc: StoreError) -> dict[str, Any]:
    """The message for `exc`, typed as its nearest port exception class."""
    name = next(c.__name__ for c in type(exc).__mro__ if _ERRORS.get(c.__name__) is c)
    return {"error": {"type": name, "message": str(exc)}}


def raise_error(error: Any) -> NoReturn:
    """Raise the store exception an `error` message stands for."""
    if not isinstance(error, dict):
        raise StoreError(f"malformed error from the engine: {error!r}")
    cls = _ERRORS.get(str(error.get("type")), StoreError)
    raise cls(str(error.get("message", "")))
