"""RemoteStore over a StoreServer: the contract, plus the socket's own failure modes."""

import socket
import stat
import struct
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from attrs import evolve
from store_serving import serving

from kruntimes.model import Run
from kruntimes.store import (
    AlreadyExists,
    Conflict,
    Gone,
    Invalid,
    MemoryStore,
    NotFound,
    RemoteStore,
    StoreError,
    StoreServer,
    Unavailable,
    Unsupported,
)
from kruntimes.store.framing import Connection, error_message, raise_error
from kruntimes.testing.builders import make_run
from kruntimes.testing.store_contract import StoreContract, next_event


@pytest.fixture
def sock_path() -> AsyncIterator[Path]:
    """A short socket path: pytest's tmp_path can exceed the 107 bytes Unix sockets allow."""
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp) / "engine.sock"


class TestRemoteStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _socket(self, sock_path: Path) -> None:
        self.sock_path = sock_path

    @asynccontextmanager
    async def store(self) -> AsyncIterator[RemoteStore]:
        backing = MemoryStore(history=32, watch_buffer=16)
        async with serving(backing, self.sock_path) as client:
            yield client
        await backing.aclose()


def test_no_engine_is_unavailable(sock_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(Unavailable, match="krt up"):
            await RemoteStore(sock_path).get_run("default", "a")

    trio.run(main)


def test_socket_is_private_and_removed_on_stop(sock_path: Path) -> None:
    async def main() -> None:
        async with serving(MemoryStore(), sock_path):
            mode = sock_path.stat().st_mode
            assert stat.S_ISSOCK(mode)
            assert stat.S_IMODE(mode) == 0o600
        assert not sock_path.exists()

    trio.run(main)


def test_a_stale_socket_is_replaced_and_a_live_one_is_not(sock_path: Path) -> None:
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(sock_path))
    dead.close()

    async def main() -> None:
        async with serving(MemoryStore(), sock_path) as client:
            await client.create(make_run("a"))
            with pytest.raises(StoreError, match="already serving"):
                await StoreServer(MemoryStore(), sock_path).serve()
            assert (await client.get_run("default", "a")).metadata.name == "a"

    trio.run(main)


async def raw_request(path: Path, payload: bytes) -> dict | None:
    conn = Connection(await trio.open_unix_socket(str(path)))
    await conn.stream.send_all(payload)
    try:
        return await conn.receive()
    finally:
        await conn.aclose()


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def test_bad_requests_get_errors_and_the_server_goes_on(sock_path: Path) -> None:
    async def main() -> None:
        async with serving(MemoryStore(), sock_path) as client:
            cases = {
                frame(b"not json"): "protocol error",
                frame(b"[1]"): "protocol error",
                struct.pack(">I", 1 << 30): "protocol error",
                frame(b'{"op": "explode"}'): "unknown operation",
                frame(b'{"op": "get", "kind": "Pod", "namespace": "a", "name": "b"}'): "kind",
                frame(b'{"op": "create", "object": {"kind": "Run"}}'): "metadata",
                frame(b'{"op": "watch", "kind": "Run", "resourceVersion": 7}'): "string",
            }
            for payload, message in cases.items():
                reply = await raw_request(sock_path, payload)
                assert reply is not None
                assert message in reply["error"]["message"]
            await client.create(make_run("a"))

    trio.run(main)


@pytest.mark.parametrize(
    "error", [NotFound, AlreadyExists, Conflict, Gone, Invalid, Unavailable, Unsupported]
)
def test_errors_keep_their_class(error: type[StoreError]) -> None:
    with pytest.raises(error, match=r"^why$"):
        raise_error(error_message(error("why"))["error"])


def test_errors_of_other_classes_travel_as_their_nearest_port_class() -> None:
    class Stale(Conflict):
        pass

    with pytest.raises(Conflict) as caught:
        raise_error(error_message(Stale("old"))["error"])
    assert type(caught.value) is Conflict
    with pytest.raises(StoreError, match="malformed"):
        raise_error("boom")


class BrokenStore(MemoryStore):
    async def get_run(self, namespace: str, name: str) -> Run:
        raise RuntimeError("bug")


def test_a_store_bug_is_an_error_reply_not_a_crash(sock_path: Path) -> None:
    async def main() -> None:
        async with serving(BrokenStore(), sock_path) as client:
            with pytest.raises(StoreError, match="internal error"):
                await client.get_run("default", "a")
            await client.create(make_run("a"))

    trio.run(main)


def test_calls_reconnect_after_an_engine_restart(sock_path: Path) -> None:
    async def main() -> None:
        store = MemoryStore()
        client = RemoteStore(sock_path)
        async with serving(store, sock_path):
            await client.create(make_run("a"))
        with pytest.raises(Unavailable):
            await client.get_run("default", "a")
        async with serving(store, sock_path):
            assert (await client.get_run("default", "a")).metadata.name == "a"

    trio.run(main)


def test_a_watch_fails_when_the_engine_goes_away(sock_path: Path) -> None:
    async def main() -> None:
        server = StoreServer(MemoryStore(), sock_path)
        server_scope = trio.CancelScope()

        async def serve(task_status: trio.TaskStatus[Path]) -> None:
            with server_scope:
                await server.serve(task_status=task_status)

        async with trio.open_nursery() as nursery:
            await nursery.start(serve)
            async with RemoteStore(sock_path).watch_runs("0") as events:
                server_scope.cancel()
                with pytest.raises(Unavailable, match="closed the watch"):
                    await next_event(events)

    trio.run(main)


def test_a_watch_ends_when_the_store_closes(sock_path: Path) -> None:
    async def main() -> None:
        store = MemoryStore()
        async with serving(store, sock_path) as client, client.watch_runs("0") as events:
            await store.aclose()
            assert [e async for e in events] == []

    trio.run(main)


def test_large_listings_arrive_in_chunks(sock_path: Path) -> None:
    async def main() -> None:
        store = MemoryStore()
        for i in range(1500):
            run = make_run(f"r{i:04}")
            padded = evolve(run.metadata, annotations={"example.com/pad": "x" * 2048})
            await store.create(evolve(run, metadata=padded))
        async with serving(store, sock_path) as client:
            assert await client.list_runs() == await store.list_runs()
            conn = Connection(await trio.open_unix_socket(str(sock_path)))
            await conn.send({"op": "list", "kind": "Run"})
            frames = []
            while "items" in (reply := await conn.receive() or {}):
                frames.append(len(reply["items"]))
            await conn.aclose()
        assert sum(frames) == 1500
        assert len(frames) > 2

    trio.run(main)
