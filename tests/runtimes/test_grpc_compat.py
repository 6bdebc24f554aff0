"""`GrpcRuntimeClient` against an independent `executor.v1` server built from our proto file."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from runtime_helpers import STARTUP_TIMEOUT, run

from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, RuntimeError_
from kruntimes.runtimes.grpc_compat import GrpcRuntimeClient
from kruntimes.runtimes.grpc_schema import file_descriptor

ROOT = Path(__file__).resolve().parents[2]
PROTO = "executor/v1/executor.proto"
HERE = Path(__file__).resolve().parent


def protoc(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", *args, PROTO],
        check=True,
    )


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gen = tmp_path_factory.mktemp("gen")
    protoc(f"--python_out={gen}", f"--grpc_python_out={gen}")
    root = Path(tempfile.mkdtemp(prefix="krt-grpc-", dir="/tmp"))
    socket = str(root / "grpc.sock")
    ready_r, ready_w = os.pipe()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "independent_grpc_server.py"), str(gen), socket, str(ready_w)],
        pass_fds=[ready_w],
    )
    os.close(ready_w)
    try:
        readable, _, _ = select.select([ready_r], [], [], STARTUP_TIMEOUT)
        assert readable, "gRPC server did not start"
        assert os.read(ready_r, 16) == b"ready\n"
        yield socket
    finally:
        os.close(ready_r)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def test_python_built_descriptor_matches_protoc(tmp_path: Path) -> None:
    out = tmp_path / "set.pb"
    protoc(f"--descriptor_set_out={out}")
    expected = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    messages = list(expected.message_type)
    while messages:  # protoc adds json_name (a JSON mapping detail, not on the wire)
        message = messages.pop()
        messages.extend(message.nested_type)
        for field in message.field:
            field.ClearField("json_name")
    assert file_descriptor() == expected


def test_execute_and_poll_to_completion(grpc_server: str, tmp_path: Path) -> None:
    async def go():
        async with GrpcRuntimeClient(grpc_server, poll_initial=0.001) as client:
            assert not client.pushes_completion
            await client.execute(
                ExecuteRequest(
                    id="g-1",
                    args=["sh", "-c", 'echo "$GREETING" "$1" "$(pwd)"', "sh", "$(touch x)"],
                    env={"GREETING": "hi"},
                    working_dir=str(tmp_path),
                )
            )
            await client.execute(ExecuteRequest(id="g-2", args=["sh", "-c", "exit 3"]))
            ok, failed = await client.wait("g-1"), await client.wait("g-2")
            listed = {s.id for s in await client.list()}
            await client.forget("g-1")
            await client.forget("g-2")
            return ok, failed, listed, await client.list()

    ok, failed, listed, after = run(go)
    assert (ok.state, ok.stdout) == (ExecutionState.SUCCEEDED, f"hi $(touch x) {tmp_path}\n")
    assert (failed.state, failed.exit_code) == (ExecutionState.FAILED, 3)
    assert {"g-1", "g-2"} <= listed
    assert all(s.id not in ("g-1", "g-2") for s in after)


def test_cancel_forget_rules_and_errors(grpc_server: str) -> None:
    async def go():
        async with GrpcRuntimeClient(grpc_server) as client:
            await client.execute(ExecuteRequest(id="g-long", args=["sleep", "30"]))
            running = await client.status("g-long")
            with pytest.raises(RuntimeError_, match="FAILED_PRECONDITION"):
                await client.forget("g-long")
            await client.cancel("g-long")
            cancelled = await client.wait("g-long")
            await client.forget("g-long")
            with pytest.raises(RuntimeError_, match="NOT_FOUND"):
                await client.status("g-long")
            with pytest.raises(RuntimeError_, match="no inline source"):
                await client.execute(ExecuteRequest(id="g-src", source="echo hi"))
            return running, cancelled, await client.health()

    running, cancelled, health = run(go)
    assert running.state is ExecutionState.RUNNING
    assert (cancelled.state, cancelled.exit_code) == (ExecutionState.FAILED, -15)
    assert health == (True, "independent server ok")


def test_an_unreachable_server_is_a_runtime_error(tmp_path: Path) -> None:
    async def go():
        async with GrpcRuntimeClient(str(tmp_path / "nothing.sock"), rpc_timeout=2) as client:
            await client.health()

    with pytest.raises(RuntimeError_, match=r"UNAVAILABLE|DEADLINE_EXCEEDED"):
        run(go)
