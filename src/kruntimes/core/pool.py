"""A pool: the Pods of one runtime in one namespace, best-first, and its pending queue.

Available Pods with room sit in a binary heap keyed by the configured
ordering, so the best candidate is found in O(log pods) rather than by a
scan. Entries are invalidated lazily by a per-Pod version number, and carry
a per-pool serial number so that two entries never tie: a Pod deleted and
created again under its name gets a new `PodState` whose versions restart,
and heap comparisons must never reach the `PodState` objects themselves.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kruntimes.core.state import PodState, PoolKey, RunState

if TYPE_CHECKING:
    from kruntimes.core.decisions import RunKey, WaitReason

PodOrder = Callable[[PodState], Any]
"""Sort key of a Pod in its pool, lower is better (e.g. `(max ratio, sum of ratios)`)."""

_HeapEntry = tuple[Any, str, int, int, PodState]
"""`(sort key, Pod name, serial, heap version, PodState)`."""


class Pool:
    __slots__ = (
        "_heap",
        "_order",
        "_serial",
        "available_count",
        "dirty",
        "key",
        "pending",
        "pods",
        "wait",
    )

    def __init__(self, key: PoolKey, order: PodOrder) -> None:
        self.key = key
        self._order = order
        self._heap: list[_HeapEntry] = []
        self._serial = itertools.count()
        self.pods: dict[str, PodState] = {}
        self.available_count = 0
        self.pending = PendingQueue()
        """Runs ready to place: highest priority first, arrival order among equals."""
        self.dirty = False
        self.wait: WaitReason | None = None
        """Why the Runs not examined in the last cycle wait (the pool was full)."""

    def touch(self, pod: PodState) -> None:
        """Re-rank `pod` after its usage or availability changed.

        Its older heap entries are stale now. If one of them is on top (the Pod
        was just chosen with `peek_best`), it is replaced in place: one sift
        instead of a pop now and a push.
        """
        version = pod.heap_version = pod.heap_version + 1
        heap = self._heap
        on_top = bool(heap) and heap[0][4] is pod
        if pod.available:
            spec = pod.pod  # inlined `pod.has_room()`: this runs for every bind and release
            if spec is not None and pod.used.get("runs", 0) < spec.capacity.get("runs", 0):
                entry = (self._order(pod), pod.key[1], next(self._serial), version, pod)
                if on_top:
                    heapq.heapreplace(heap, entry)
                    return
                heapq.heappush(heap, entry)
                if len(heap) > 2 * len(self.pods) + 64:
                    self._compact()
                return
        if on_top:
            heapq.heappop(heap)

    def offer(self, pod: PodState) -> None:
        if pod.available:
            spec = pod.pod
            if spec is not None and pod.used.get("runs", 0) < spec.capacity.get("runs", 0):
                heap = self._heap
                entry = (self._order(pod), pod.key[1], next(self._serial), pod.heap_version, pod)
                heapq.heappush(heap, entry)
                if len(heap) > 2 * len(self.pods) + 64:
                    self._compact()

    def pop_best(self) -> PodState | None:
        """Take the best available Pod with room off the heap (put it back with `offer`)."""
        heap = self._heap
        pop = heapq.heappop
        while heap:
            _, _, _, version, pod = pop(heap)
            if version == pod.heap_version and pod.available:
                spec = pod.pod
                if spec is not None and pod.used.get("runs", 0) < spec.capacity.get("runs", 0):
                    pod.heap_version = version + 1  # any other copy of this entry is now stale
                    return pod
        return None

    def peek_best(self) -> PodState | None:
        """The best available Pod with room, left on the heap: `touch` it once its usage
        changed, or `pop_best` it to walk on to the next."""
        heap = self._heap
        while heap:
            _, _, _, version, pod = heap[0]
            if version == pod.heap_version and pod.available:
                spec = pod.pod
                if spec is not None and pod.used.get("runs", 0) < spec.capacity.get("runs", 0):
                    return pod
            heapq.heappop(heap)
        return None

    def has_candidates(self) -> bool:
        heap = self._heap
        while heap:
            _, _, _, version, pod = heap[0]
            if version == pod.heap_version and pod.available and pod.has_room():
                return True
            heapq.heappop(heap)
        return False

    def ordered(self, pods: Iterator[PodState] | list[PodState]) -> list[PodState]:
        return sorted(pods, key=lambda p: (self._order(p), p.key[1]))

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if e[3] == e[4].heap_version]
        heapq.heapify(self._heap)


class PendingQueue:
    """Pending Runs in placement order: priority descending, then arrival (FIFO).

    One dict per priority level, so the common case (one level) costs what a
    plain dict does; a Run's priority (`RunState.priority`) is fixed when the
    core first sees it, so it never moves level.
    """

    __slots__ = ("_levels", "_order", "_where")

    def __init__(self) -> None:
        self._levels: dict[int, dict[RunKey, RunState]] = {}
        self._order: list[int] = []
        """Priorities present, as negatives in ascending order (highest priority first)."""
        self._where: dict[RunKey, int] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __bool__(self) -> bool:
        return bool(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def __setitem__(self, key: RunKey, st: RunState) -> None:
        priority = st.priority
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = {}
            bisect.insort(self._order, -priority)
        level[key] = st
        self._where[key] = priority

    def __delitem__(self, key: RunKey) -> None:
        priority = self._where.pop(key)
        level = self._levels[priority]
        del level[key]
        if not level:
            del self._levels[priority]
            self._order.remove(-priority)

    def pop(self, key: RunKey, default: RunState | None = None) -> RunState | None:
        priority = self._where.get(key)
        if priority is None:
            return default
        st = self._levels[priority][key]
        del self[key]
        return st

    def values(self) -> Iterable[RunState]:
        """In placement order; do not change the queue while iterating."""
        levels = self._levels
        if len(levels) == 1:
            return next(iter(levels.values())).values()
        return itertools.chain.from_iterable(levels[-p].values() for p in self._order)

    def highest(self) -> int | None:
        """The highest priority waiting here, if any."""
        return -self._order[0] if self._order else None

    def keys(self) -> Iterator[RunKey]:
        return (st.key for st in self.values())
