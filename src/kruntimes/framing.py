"""Length-prefixed JSON frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.

One framing for every local hop (agent <-> Runtime Server, server <-> python
worker, `krt` <-> the engine's store socket):
it costs one `json` call and one slice per message, needs no delimiter
escaping, and a reader knows a frame's size before buffering it, so a
hostile or broken peer cannot make it buffer without bound.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_FRAME_BYTES = 16 * 1024 * 1024
"""Largest frame body accepted: an inline source (256 KiB), 256 args of 8 KiB and env fit easily."""

_HEADER = struct.Struct(">I")
_encoder = json.JSONEncoder(separators=(",", ":"))
"""ASCII output: lone surrogates and any text survive the trip, and encoding is a no-op."""
_decoder = json.JSONDecoder()


class FrameError(Exception):
    """The peer sent something that is not a valid frame; the connection cannot continue."""


def encode_frame(message: dict[str, Any], max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """The frame for `message`, header included."""
    body = _encoder.encode(message).encode("ascii")
    if len(body) > max_bytes:
        raise FrameError(f"frame of {len(body)} bytes exceeds the limit of {max_bytes} bytes")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes | memoryview) -> dict[str, Any]:
    try:
        message = _decoder.decode(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"frame is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame must hold a JSON object, got {type(message).__name__}")
    return message


class FrameDecoder:
    """Turns a byte stream into messages; feed it whatever `recv` returned."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_bytes = max_bytes

    @property
    def partial(self) -> bool:
        """Whether bytes of an unfinished frame are buffered (a close now cuts a frame)."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Every message completed by `data`, in order."""
        buffer = self._buffer
        buffer += data
        messages: list[dict[str, Any]] = []
        start = 0
        while len(buffer) - start >= 4:
            (size,) = _HEADER.unpack_from(buffer, start)
            if size > self._max_bytes:
                raise FrameError(f"frame of {size} bytes exceeds the limit of {self._max_bytes}")
            end = start + 4 + size
            if len(buffer) < end:
                break
            messages.append(decode_body(memoryview(buffer)[start + 4 : end]))
            start = end
        if start:
            del buffer[:start]
        return messages


def recv_frame(sock: socket.socket, max_bytes: int = MAX_FRAME_BYTES) -> dict[str, Any] | None:
    """Read one message from a blocking socket; None on a clean end of stream."""
    header = _recv_exactly(sock, 4)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > max_bytes:
        raise FrameError(f"frame of {size} bytes exceeds the limit of {max_bytes}")
    if size == 0:
        raise FrameError("empty frame")
    body = _recv_exactly(sock, size)
    if body is None:
        raise FrameError("connection closed in the middle of a frame")
    return decode_body(body)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = sock.recv(size)
    if not data:
        return None
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise FrameError("connection closed in the middle of a frame")
        data += more
    return data
