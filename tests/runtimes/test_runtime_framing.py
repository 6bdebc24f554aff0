"""Frames, wire validation and bounded output tails: the pure pieces under both servers."""

from __future__ import annotations

import socket

import pytest

from kruntimes.framing import FrameDecoder, FrameError, encode_frame, recv_frame
from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, ExecutionStatus
from kruntimes.runtimes.output import StreamCapture, tail_text, truncation_marker
from kruntimes.runtimes.wire import (
    WireError,
    request_from_wire,
    request_to_wire,
    status_from_wire,
    status_to_wire,
)


def test_frames_survive_any_split_and_odd_text() -> None:
    messages = [{"seq": 1, "text": "h\u00e9llo \udcff"}, {"n": list(range(100))}, {}]
    stream = b"".join(encode_frame(m) for m in messages)
    decoder = FrameDecoder()
    received = []
    for i in range(len(stream)):
        received += decoder.feed(stream[i : i + 1])
    assert received == messages


def test_frame_limits_and_garbage_are_clear_errors() -> None:
    with pytest.raises(FrameError, match="exceeds the limit"):
        encode_frame({"x": "y" * 100}, max_bytes=50)
    with pytest.raises(FrameError, match="exceeds the limit"):
        FrameDecoder(max_bytes=10).feed(b"\x00\x00\x01\x00")
    with pytest.raises(FrameError, match="not UTF-8 JSON"):
        FrameDecoder().feed(b"\x00\x00\x00\x03{x}")
    with pytest.raises(FrameError, match="JSON object"):
        FrameDecoder().feed(b"\x00\x00\x00\x02[]")


def test_recv_frame_on_a_blocking_socket() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(encode_frame({"k": 1}) + b"\x00\x00\x00\x05{")
        assert recv_frame(b) == {"k": 1}
        a.close()
        with pytest.raises(FrameError, match="middle of a frame"):
            recv_frame(b)


def test_recv_frame_reports_a_clean_end_as_none() -> None:
    a, b = socket.socketpair()
    with b:
        a.close()
        assert recv_frame(b) is None


def test_requests_and_statuses_round_trip() -> None:
    request = ExecuteRequest(
        id="r-1", args=["a"], env={"K": "V"}, timeout_seconds=3, source="x", input="1"
    )
    assert request_from_wire(request_to_wire(request)) == request
    status = ExecutionStatus(id="r-1", state=ExecutionState.FAILED, exit_code=2, result="[]")
    assert status_from_wire(status_to_wire(status)) == status


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": ""}, "request.id"),
        ({"id": "x", "args": "ls"}, "request.args"),
        ({"id": "x", "env": {"K": 1}}, "request.env"),
        ({"id": "x", "timeout_seconds": -1}, "timeout_seconds"),
        ({"id": "x", "timeout_seconds": True}, "timeout_seconds"),
        ({"id": "x", "entrypoint": 3}, "request.entrypoint"),
        ({"id": "x", "input": {}}, "request.input"),
        ([], "must be an object"),
    ],
)
def test_bad_requests_name_the_field(data: object, message: str) -> None:
    with pytest.raises(WireError, match=message):
        request_from_wire(data)


def test_tails_keep_the_end_and_say_how_much_was_cut() -> None:
    capture = StreamCapture(tail_bytes=8)
    for _ in range(10):
        capture.add(b"0123456789", for_log=False)
    assert capture.text() == truncation_marker(92) + "23456789"
    assert capture.pending == b""


def test_tails_do_not_show_half_a_character_and_replace_bad_bytes() -> None:
    snowmen = "\u2603".encode() * 3  # 9 bytes; a 4-byte tail starts inside a character
    assert tail_text(snowmen[-4:], len(snowmen)) == truncation_marker(6) + "\u2603"
    assert tail_text(b"ok\xff", 3) == "ok\ufffd"


def test_log_bytes_are_kept_until_taken() -> None:
    capture = StreamCapture()
    capture.add(b"a\xff", for_log=True)
    capture.add(b"b", for_log=True)
    assert capture.take_pending() == b"a\xffb"
    assert capture.take_pending() == b""
