"""`SqliteStore`: the embedded store written through to one SQLite file.

Each write commits one transaction before the store changes its memory, so
an object whose `create` returned is in the file. With WAL and
`synchronous=NORMAL` a commit is a `write()` into the WAL, no `fsync`: it
survives the process being killed (SIGKILL included), not a power loss or
kernel crash; `synchronous="FULL"` fsyncs every commit for that, at a
much higher cost per write.

Calls run inline in the trio task: a commit takes tens of microseconds,
while a hop to a worker thread costs more (~150 us) and would let writes
reorder. The file is locked exclusively while open, so two engines can never
write the same file; other processes use the engine through `RemoteStore`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Literal

import platformdirs

from kruntimes.store.memory import MemoryStore, utc_now
from kruntimes.store.port import Invalid, StoreError
from kruntimes.store.wire import Stored, decode, encode, key_of, kind_of

SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS objects (
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        rv INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (kind, namespace, name)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    f"PRAGMA user_version={SCHEMA_VERSION}",
)
_LAST_RV = "lastResourceVersion"


def default_store_path() -> Path:
    """`<user state dir>/kruntimes/embedded.sqlite3`, e.g. `~/.local/state/kruntimes/...`."""
    return Path(platformdirs.user_state_dir("kruntimes")) / "embedded.sqlite3"


class SqlitePersistence:
    """One SQLite file: a row per object (kind, namespace, name, rv, JSON wire dict)."""

    def __init__(
        self, path: str | PathLike[str], *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("BEGIN EXCLUSIVE")
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer kruntimes (schema {version})")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise StoreError(
                    f"{self.path} is in use by another process: one engine owns the file, "
                    "other processes reach it through its socket (RemoteStore)"
                ) from None
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        except BaseException:
            self._db.close()
            raise

    def load(self) -> tuple[list[Stored], int]:
        objects: list[Stored] = []
        last = 0
        rows = self._db.execute("SELECT kind, namespace, name, rv, doc FROM objects")
        for kind, namespace, name, rv, doc in rows:
            try:
                objects.append(decode(kind, json.loads(doc)))
            except (Invalid, ValueError) as exc:
                raise StoreError(
                    f"{self.path}: stored {kind} {namespace}/{name} does not decode: {exc}"
                ) from None
            last = max(last, rv)
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_LAST_RV,)).fetchone()
        return objects, max(last, row[0] if row else 0)

    def save(self, obj: Stored, rv: int) -> None:
        try:
            doc = json.dumps(encode(obj), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"the object is not JSON: {exc}") from None
        namespace, name = key_of(obj)
        self._write(
            ("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
             (kind_of(obj), namespace, name, rv, doc)),
        )  # fmt: skip

    def remove(self, kind: str, namespace: str, name: str, rv: int) -> None:
        """Delete the row; the counter is kept in `meta` as the row held the latest version."""
        self._write(
            ("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
             (kind, namespace, name)),
            ("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_LAST_RV, rv)),
        )  # fmt: skip

    def close(self) -> None:
        self._db.close()

    def _write(self, *statements: tuple[str, tuple[object, ...]]) -> None:
        db = self._db
        try:
            if len(statements) == 1:  # one statement is its own transaction: no BEGIN/COMMIT
                db.execute(*statements[0])
                return
            db.execute("BEGIN")
            try:
                for sql, args in statements:
                    db.execute(sql, args)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write {self.path}: {exc}") from None


class SqliteStore(MemoryStore):
    """A `MemoryStore` persisted to `path` (default: `default_store_path()`), reloaded on open."""

    def __init__(
        self,
        path: str | PathLike[str] | None = None,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        clock: Callable[[], datetime] = utc_now,
        history: int = 10_000,
        watch_buffer: int | None = None,
        bookmark_interval: float = 30.0,
    ) -> None:
        self.path = default_store_path() if path is None else Path(path)
        persistence = SqlitePersistence(self.path, synchronous=synchronous)
        try:
            super().__init__(
                persistence=persistence,
                clock=clock,
                history=history,
                watch_buffer=watch_buffer,
                bookmark_interval=bookmark_interval,
            )
        except BaseException:
            persistence.close()
            raise
