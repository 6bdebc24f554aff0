"""SqliteStore: the contract, reopening, exclusive ownership and surviving SIGKILL."""

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest
import trio
from attrs import evolve

from kruntimes.model import ObjectMeta, Phase, RunQueue, RunQueueSpec, RunQueueStatus, Runtime
from kruntimes.store import Gone, Kind, SqliteStore, StoreError, default_store_path
from kruntimes.testing.builders import make_pod, make_run
from kruntimes.testing.store_contract import StoreContract, next_event, scheduled


class TestSqliteStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "store.sqlite3"

    @asynccontextmanager
    async def store(self) -> AsyncIterator[SqliteStore]:
        store = SqliteStore(self.path, history=32, watch_buffer=16)
        try:
            yield store
        finally:
            await store.aclose()


def test_reopening_restores_objects_and_continues_versions(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def write() -> tuple[object, ...]:
        store = SqliteStore(path)
        a = await store.create(make_run("a"))
        await store.update_status(scheduled(a))
        await store.create(make_run("b", namespace="other"))
        await store.create(Runtime(metadata=ObjectMeta(name="bash")))
        await store.put_pod(make_pod("p1", heartbeat=12.5))
        await store.put_pod(make_pod("p2"))
        await store.delete_pod("default", "p2")
        await store.delete(Kind.RUN, "other", "b")
        state = (await store.list_runs(), await store.list_runtimes(), await store.list_pods())
        await store.aclose()
        return state

    async def reopen(before: tuple[object, ...]) -> None:
        store = SqliteStore(path)
        after = (await store.list_runs(), await store.list_runtimes(), await store.list_pods())
        assert after == before
        (run,) = after[0].items
        assert run.status.phase is Phase.SCHEDULED
        created = await store.create(make_run("c"))
        assert created.metadata.resource_version == "9", "the counter goes on past the deletion"
        await store.aclose()

    before = trio.run(write)
    trio.run(reopen, before)


def test_run_queues_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def write() -> RunQueue:
        store = SqliteStore(path)
        spec = RunQueueSpec(quota={"runs": 5}, weight=1.5, cohort="c", borrowing_limit={})
        created = await store.create(RunQueue(ObjectMeta(name="q"), spec))
        await store.create(RunQueue(ObjectMeta(name="gone")))
        await store.delete(Kind.RUN_QUEUE, "default", "gone")
        status = RunQueueStatus(pending=1, admitted=2, usage={"runs": 2})
        busy = await store.update_status(evolve(created, status=status))
        await store.aclose()
        return busy

    async def reopen(before: RunQueue) -> None:
        store = SqliteStore(path)
        assert (await store.list_run_queues()).items == (before,)
        assert (await store.get_run_queue("default", "q")).spec.borrowing_limit == {}
        await store.aclose()

    trio.run(reopen, trio.run(write))


def test_watches_resume_only_from_the_version_at_open(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def main() -> None:
        store = SqliteStore(path)
        for name in ("a", "b"):
            await store.create(make_run(name))
        await store.aclose()
        store = SqliteStore(path)
        with pytest.raises(Gone):
            async with store.watch_runs("1"):
                pass
        async with store.watch_runs("2") as events:
            await store.create(make_run("c"))
            assert (await next_event(events)).resource_version == "3"
        await store.aclose()

    trio.run(main)


def test_one_process_owns_the_file(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    owner = SqliteStore(path)
    child = f"from kruntimes.store import SqliteStore; SqliteStore({str(path)!r})"
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "in use by another process" in result.stderr
    trio.run(owner.aclose)
    trio.run(SqliteStore(path).aclose)


def test_default_path_is_under_the_user_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    expected = tmp_path / "state" / "kruntimes" / "embedded.sqlite3"
    assert default_store_path() == expected
    store = SqliteStore()
    assert store.path == expected
    assert expected.exists()
    trio.run(store.aclose)


def test_full_sync_is_an_option(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "full.sqlite3", synchronous="FULL")
        await store.create(make_run("a"))
        await store.aclose()

    trio.run(main)
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        SqliteStore(tmp_path / "x.sqlite3", synchronous="OFF")  # type: ignore[arg-type]


def test_an_undecodable_row_is_reported_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    trio.run(SqliteStore(path).aclose)
    doc = json.dumps({"apiVersion": "kruntimes.io/v1alpha1", "kind": "Run", "metadata": {}})
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO objects VALUES ('Run', 'default', 'bad', 1, ?)", (doc,))
    with pytest.raises(StoreError, match=r"Run default/bad does not decode: .*metadata\.name"):
        SqliteStore(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="newer kruntimes"):
        SqliteStore(path)


WRITER = textwrap.dedent(
    """
    import sys, trio
    from kruntimes.store import SqliteStore
    from kruntimes.testing.builders import make_run

    async def main():
        store = SqliteStore(sys.argv[1])
        for i in range(1_000_000):
            await store.create(make_run(f"run-{i}"))
            print(f"run-{i}", flush=True)

    trio.run(main)
    """
)


def test_sigkill_loses_no_created_run(tmp_path: Path) -> None:
    """Every Run whose create returned in a process killed with SIGKILL is in the file."""
    path = tmp_path / "store.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    acknowledged = [writer.stdout.readline().strip() for _ in range(500)]
    writer.send_signal(signal.SIGKILL)
    acknowledged += writer.stdout.read().split()
    assert writer.wait() == -signal.SIGKILL
    assert len(acknowledged) >= 500

    async def reopen() -> set[str]:
        store = SqliteStore(path)
        names = {run.metadata.name for run in (await store.list_runs()).items}
        await store.aclose()
        return names

    stored = trio.run(reopen)
    assert set(acknowledged) <= stored
    assert len(stored) - len(acknowledged) <= 1, "at most the create in flight when killed"


def test_objects_roundtrip_unchanged_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def main() -> None:
        store = SqliteStore(path)
        run = make_run("a", labels={"app": "web"}, requests={"gpu": 1})
        run = evolve(run, spec=evolve(run.spec, timeout_seconds=90.0, cancel_requested=True))
        created = await store.create(run)
        bound = await store.update_status(scheduled(created))
        await store.aclose()
        store = SqliteStore(path)
        assert await store.get_run("default", "a") == bound
        await store.aclose()

    trio.run(main)
