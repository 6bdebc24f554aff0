"""`WorkQueue`: keys to reconcile, deduplicated, one worker per key, delays for backoff.

The shape of client-go's work queue, on trio: several events for one object
make one reconcile, and a key that changes while a worker has it is handed
out again once that worker is `done`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

import trio

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Keys to process, deduplicated; a key is handed to one worker at a time.

    `add` makes a key ready (or, while a worker has it, ready again once it
    is `done`); `add_after` makes it ready after a delay (backoff);
    `forget` drops a pending delay. `run_delays` must run for delays to fire.
    """

    def __init__(self) -> None:
        self._ready: dict[K, None] = {}
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._delayed: dict[K, float] = {}
        self._lot = trio.lowlevel.ParkingLot()
        self._delays_changed = trio.Event()

    def __len__(self) -> int:
        return len(self._ready.keys() | self._delayed.keys() | self._dirty)

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._ready:
            self._ready[key] = None
            self._lot.unpark()

    def add_after(self, key: K, delay: float) -> None:
        due = trio.current_time() + max(0.0, delay)
        current = self._delayed.get(key)
        if current is None or due < current:
            earliest = min(self._delayed.values(), default=float("inf"))
            self._delayed[key] = due
            if due < earliest:
                self._delays_changed.set()

    def forget(self, key: K) -> None:
        self._delayed.pop(key, None)

    async def get(self) -> K:
        while not self._ready:
            await self._lot.park()
        key = next(iter(self._ready))
        del self._ready[key]
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
        elif self._ready:
            self._lot.unpark()  # a worker parked while this one held the only key

    async def run_delays(self) -> None:
        """Move delayed keys to ready when due; until cancelled. Sleeps between due times."""
        while True:
            self._delays_changed = trio.Event()
            now = trio.current_time()
            for key in [k for k, due in self._delayed.items() if due <= now]:
                del self._delayed[key]
                self.add(key)
            with trio.move_on_at(min(self._delayed.values(), default=float("inf"))):
                await self._delays_changed.wait()
