"""A pool: the Pods of one runtime in one namespace, best-first, and its pending queue.

Available Pods with room sit in a binary heap keyed by the configured
ordering, so the best candidate is found in O(log pods) rather than by a
scan. Entries are invalidated lazily by a per-Pod version number, and carry
a per-pool serial number so that two entries never tie: a Pod deleted and
created again under its name gets a new `PodState` whose versions restart,
and heap comparisons must never reach the `PodState` objects themselves.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
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
        self.pending: dict[RunKey, RunState] = {}
        """Runs ready to place, in arrival order."""
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
