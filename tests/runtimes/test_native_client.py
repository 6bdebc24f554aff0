"""The native protocol's edges: lost connections, other connections' executions, bad peers."""

from __future__ import annotations

import signal
import socket

import pytest
import trio
from runtime_helpers import ServerProcess, run, server_process

from kruntimes.framing import encode_frame, recv_frame
from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, RuntimeError_
from kruntimes.runtimes.native import NativeRuntimeClient


def test_wait_works_for_an_execution_started_elsewhere(bash_server: ServerProcess) -> None:
    async def go():
        async with bash_server.client() as starter, bash_server.client() as watcher:
            await starter.execute(ExecuteRequest(id="else-1", args=["sleep", "30"]))
            async with trio.open_nursery() as nursery:
                result = []

                async def watch() -> None:
                    result.append(await watcher.wait("else-1"))

                nursery.start_soon(watch)
                await trio.testing.wait_all_tasks_blocked()
                await starter.cancel("else-1")
            await watcher.forget("else-1")
            return result[0]

    status = run(go)
    assert status.error_message.startswith("Cancelled:")


def test_the_client_connects_on_first_use(bash_server: ServerProcess) -> None:
    async def go():
        client = NativeRuntimeClient(bash_server.socket)
        try:
            return await client.health()
        finally:
            await client.aclose()

    assert run(go)[0]


def test_a_dying_server_fails_waiters_with_a_runtime_error() -> None:
    with server_process("bash") as server:

        async def go():
            async with server.client() as client:
                await client.execute(ExecuteRequest(id="lost-1", args=["sleep", "30"]))
                server.process.send_signal(signal.SIGKILL)
                with pytest.raises(RuntimeError_, match="connection"):
                    await client.wait("lost-1")
                with pytest.raises(RuntimeError_):
                    await client.health()

        run(go)


def test_unreachable_socket_is_a_runtime_error(tmp_path) -> None:
    async def go():
        await NativeRuntimeClient(str(tmp_path / "none.sock")).connect()

    with pytest.raises(RuntimeError_, match="cannot connect"):
        run(go)


def test_bad_requests_get_errors_and_a_broken_peer_does_not_hurt_the_server(
    bash_server: ServerProcess,
) -> None:
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(bash_server.socket)
        raw.sendall(encode_frame({"seq": 1, "op": "launch"}))
        assert recv_frame(raw) == {"seq": 1, "ok": False, "error": "unknown op 'launch'"}
        raw.sendall(encode_frame({"seq": 2, "op": "execute", "request": {"id": 5}}))
        assert recv_frame(raw)["error"] == "request.id must be a non-empty string"
        raw.sendall(b"\xff\xff\xff\xff")
        assert "exceeds the limit" in recv_frame(raw)["error"]
        assert recv_frame(raw) is None

    async def go():
        async with bash_server.client() as client:
            await client.execute(ExecuteRequest(id="after-bad", args=["true"]))
            status = await client.wait("after-bad")
            await client.forget("after-bad")
            return status

    assert run(go).state is ExecutionState.SUCCEEDED


def test_a_connection_without_hello_gets_no_events(bash_server: ServerProcess) -> None:
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(bash_server.socket)
        request = {"id": "quiet-1", "source": "echo hi"}
        raw.sendall(encode_frame({"seq": 1, "op": "execute", "request": request}))
        reply = recv_frame(raw)
        assert reply["ok"]
        assert reply["status"]["state"] in ("RUNNING", "SUCCEEDED")
        raw.sendall(encode_frame({"seq": 2, "op": "cancel", "id": "quiet-1"}))
        assert recv_frame(raw) == {"seq": 2, "ok": True}


def test_a_queued_execution_pushes_started_when_it_starts() -> None:
    with server_process("bash", "--capacity", "1") as server, socket.socket(socket.AF_UNIX) as raw:
        raw.connect(server.socket)
        raw.sendall(encode_frame({"seq": 1, "op": "hello"}))
        assert recv_frame(raw) == {
            "seq": 1,
            "ok": True,
            "protocol": 1,
            "server": "bash",
            "capacity": 1,
        }
        for seq, request in enumerate(({"id": "q-1", "args": ["sleep", "30"]}, {"id": "q-2"}), 2):
            raw.sendall(encode_frame({"seq": seq, "op": "execute", "request": request}))
        assert recv_frame(raw)["status"]["state"] == "RUNNING"
        assert recv_frame(raw)["status"]["state"] == "PENDING"
        raw.sendall(encode_frame({"seq": 4, "op": "cancel", "id": "q-1"}))
        assert recv_frame(raw) == {"seq": 4, "ok": True}
        events = [recv_frame(raw) for _ in range(3)]
        assert [e["event"] for e in events] == ["finished", "started", "finished"]
        assert [events[0]["status"]["id"], events[1]["id"], events[2]["status"]["id"]] == [
            "q-1",
            "q-2",
            "q-2",
        ]
        assert events[2]["status"]["error_message"].startswith("nothing to run")
