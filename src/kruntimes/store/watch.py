"""Watch machinery of the embedded store: one bounded event history and per-watcher channels.

Every write bumps the one resource-version counter and appends exactly one
event, so the history holds the contiguous versions `floor+1 .. rv` and a
watch start is found by arithmetic, not search. Writers never wait for
watchers: each watcher has a bounded channel, and one that is full is cut off
(`Gone` on its next read: it must re-list) instead of slowing every write.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Generic

import trio

from kruntimes.store.port import EventType, Gone, Invalid, T, Unavailable, WatchEvent

_Entry = tuple[str, str, WatchEvent[Any]]
"""(kind, namespace, event)"""


class EventHub:
    """The history of recent events and the watchers to fan new ones out to."""

    def __init__(self, rv: int, history: int, watch_buffer: int, bookmark_interval: float):
        self.rv = rv
        """The version of the latest write."""
        self.closed = False
        self._history: deque[_Entry] = deque(maxlen=history)
        self._watchers: dict[str, set[_Watcher]] = {}
        self.watch_buffer = watch_buffer
        self.bookmark_interval = bookmark_interval

    def publish(self, kind: str, namespace: str, event: WatchEvent[Any], rv: int) -> None:
        """Record the event of the write that took version `rv` (always `self.rv + 1`)."""
        self.rv = rv
        self._history.append((kind, namespace, event))
        watchers = self._watchers.get(kind)
        if watchers:
            for watcher in tuple(watchers):
                if watcher.namespace is None or watcher.namespace == namespace:
                    watcher.offer(event)

    def watch(self, kind: str, resource_version: str, namespace: str | None) -> Watch[Any]:
        return Watch(self, kind, resource_version, namespace)

    def open(
        self, kind: str, resource_version: str, namespace: str | None
    ) -> tuple[_Watcher, list[WatchEvent[Any]], int]:
        """Register a watcher and collect the kept events after `resource_version` for it."""
        if self.closed:
            raise Unavailable("the store is closed")
        start = _parse_version(resource_version)
        floor = self.rv - len(self._history)
        if start < floor:
            raise Gone(f"resource version {start} is too old (oldest kept: {floor}): re-list")
        if start > self.rv:
            raise Gone(f"resource version {start} is newer than this store's ({self.rv}): re-list")
        backlog = itertools.islice(reversed(self._history), self.rv - start)
        replay = [e for k, ns, e in backlog if k == kind and namespace in (None, ns)]
        replay.reverse()
        watcher = _Watcher(self, kind, namespace)
        self._watchers.setdefault(kind, set()).add(watcher)
        return watcher, replay, start

    def close(self) -> None:
        """End every watch (their iteration stops)."""
        self.closed = True
        for watchers in tuple(self._watchers.values()):
            for watcher in tuple(watchers):
                watcher.stop()


class _Watcher:
    __slots__ = ("hub", "kind", "namespace", "overflowed", "receive", "send")

    def __init__(self, hub: EventHub, kind: str, namespace: str | None) -> None:
        self.hub = hub
        self.kind = kind
        self.namespace = namespace
        self.overflowed = False
        self.send, self.receive = trio.open_memory_channel[WatchEvent[Any]](hub.watch_buffer)

    def offer(self, event: WatchEvent[Any]) -> None:
        try:
            self.send.send_nowait(event)
        except trio.WouldBlock:
            self.overflowed = True
            self.stop()

    def stop(self) -> None:
        self.hub._watchers.get(self.kind, set()).discard(self)
        self.send.close()


class Watch(Generic[T]):
    """An open watch: async context manager and async iterator of `WatchEvent`s.

    Replayed events come from a list, so a long replay does not count against
    the channel bound. After `bookmark_interval` seconds without an event the
    watcher gets a `BOOKMARK` at the current version, if it moved (events of
    other namespaces), so that a later re-watch starts from a recent version.
    """

    def __init__(
        self, hub: EventHub, kind: str, resource_version: str, namespace: str | None
    ) -> None:
        self._hub = hub
        self._request = (kind, resource_version, namespace)
        self._watcher: _Watcher | None = None
        self._replay: deque[WatchEvent[T]] = deque()
        self._seen = 0

    async def __aenter__(self) -> AsyncIterator[WatchEvent[T]]:
        await trio.lowlevel.checkpoint()
        self._watcher, replay, self._seen = self._hub.open(*self._request)
        self._replay.extend(replay)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def __aiter__(self) -> AsyncIterator[WatchEvent[T]]:
        return self

    async def __anext__(self) -> WatchEvent[T]:
        if self._replay:
            await trio.lowlevel.checkpoint()
            return self._deliver(self._replay.popleft())
        watcher = self._watcher
        assert watcher is not None, "iterate inside `async with`"
        if watcher.overflowed:
            await trio.lowlevel.checkpoint()
            raise Gone("the watcher fell too far behind: re-list")
        try:
            event = watcher.receive.receive_nowait()
        except trio.WouldBlock:
            return await self._wait(watcher)
        except trio.EndOfChannel:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration from None
        await trio.lowlevel.checkpoint()
        return self._deliver(event)

    async def _wait(self, watcher: _Watcher) -> WatchEvent[T]:
        while True:
            with trio.move_on_after(self._hub.bookmark_interval):
                try:
                    return self._deliver(await watcher.receive.receive())
                except trio.EndOfChannel:
                    if watcher.overflowed:
                        raise Gone("the watcher fell too far behind: re-list") from None
                    raise StopAsyncIteration from None
            if self._hub.rv > self._seen:
                rv = str(self._hub.rv)
                return self._deliver(WatchEvent(EventType.BOOKMARK, None, rv))

    def _deliver(self, event: WatchEvent[T]) -> WatchEvent[T]:
        self._seen = int(event.resource_version)
        return event


def _parse_version(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise Invalid(f"resource version must be a non-negative integer, got {text!r}")
    return int(text)
