"""Reading a Run's log file incrementally, and following it until the Run ends.

The agent appends JSON lines (`kruntimes.agent.logs`); a reader keeps its byte
offset so following a long log never re-reads what it already returned, and
ignores a last line that is still being written.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path

import trio

from kruntimes.client._types import LogEntry
from kruntimes.client._watching import fresh_version
from kruntimes.store import EventType, Gone, Store, Unavailable

IDLE_SECONDS = 0.1
"""How often a followed log file is re-read while nothing else happens (files do not notify)."""


class LogTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read_new(self) -> list[LogEntry]:
        """The complete lines written since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        return [_entry(line) for line in data[:end].splitlines() if line.strip()]


def _entry(line: bytes) -> LogEntry:
    record = json.loads(line.decode("utf-8", "surrogateescape"))
    return LogEntry(
        time=float(record.get("ts", 0.0)),
        stream=str(record.get("stream", "stdout")),
        data=str(record.get("data", "")),
        attempt=int(record.get("attempt", 1)),
    )


async def follow_log(
    store: Store, namespace: str, name: str, tail: LogTail
) -> AsyncGenerator[LogEntry, None]:
    """The Run's log as it grows, until the Run is terminal (or deleted), then the rest.

    The Run's phase comes from a store watch; the file, which cannot notify, is
    re-read every `IDLE_SECONDS` in between. Only the watch's own `__anext__`
    is ever cancelled (it is safe to), never this generator.
    """
    rv = await fresh_version(store, namespace)
    ended = (await store.get_run(namespace, name)).status.phase.is_terminal
    while not ended:
        try:
            async with store.watch_runs(rv, namespace) as events:
                updates = aiter(events)
                while not ended:
                    for entry in tail.read_new():
                        yield entry
                    with trio.move_on_after(IDLE_SECONDS):
                        event = await anext(updates, None)
                        if event is None:
                            raise Unavailable("the store ended the watch")
                        rv = event.resource_version
                        run = event.object
                        if run is not None and run.metadata.name == name:
                            deleted = event.type is EventType.DELETED
                            ended = deleted or run.status.phase.is_terminal
        except Gone:
            rv = await fresh_version(store, namespace)
            ended = (await store.get_run(namespace, name)).status.phase.is_terminal
    for entry in tail.read_new():
        yield entry
