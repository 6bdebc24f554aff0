"""The log store: full stdout/stderr of every Run as JSON lines, never in Run status.

One file per Run (`<root>/<namespace>/<name>.jsonl`), one line per chunk:
`{"ts": 1700000000.123, "uid": "...", "attempt": 1, "stream": "stdout", "data": "..."}`.
Bytes that are not UTF-8 are kept losslessly as `\\udcXX` escapes
(surrogateescape) in `data`; `decode_data` turns a line back into bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import trio

from kruntimes.runtimes.api import LogChunk


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, namespace: str, name: str) -> Path:
        return self.root / namespace / f"{name}.jsonl"

    def append(self, namespace: str, name: str, uid: str, attempt: int, chunk: LogChunk) -> None:
        """Append one chunk. Small appends to a local file do not block the loop noticeably."""
        path = self.path(namespace, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "ts": round(time.time(), 6),
            "uid": uid,
            "attempt": attempt,
            "stream": chunk.stream,
            "data": chunk.data.decode("utf-8", "surrogateescape"),
        }
        with open(path, "a", encoding="utf-8", errors="surrogateescape") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    def read(self, namespace: str, name: str) -> Iterator[dict[str, object]]:
        path = self.path(namespace, name)
        if not path.exists():
            return
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                if line.endswith("\n"):
                    yield json.loads(line)

    async def follow(
        self, namespace: str, name: str, *, idle_interval: float = 0.1
    ) -> AsyncIterator[dict[str, object]]:
        """Every line, then new lines as they are written, until the caller stops iterating.

        A log file is a plain file (it may be written by another process), so
        following it re-reads at `idle_interval` when idle: not a hot path.
        """
        path = self.path(namespace, name)
        offset = 0
        while True:
            if path.exists():
                with open(path, encoding="utf-8", errors="surrogateescape") as f:
                    f.seek(offset)
                    while (line := f.readline()).endswith("\n"):
                        offset = f.tell()
                        yield json.loads(line)
            await trio.sleep(idle_interval)


def decode_data(entry: dict[str, object]) -> bytes:
    return str(entry["data"]).encode("utf-8", "surrogateescape")
