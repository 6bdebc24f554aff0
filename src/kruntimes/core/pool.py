"""A pool: the Pods of one runtime in one namespace, best-first, and its pending queue.

Available Pods with room sit in a binary heap keyed by the configured
ordering, so the best candidate is found in O(log pods) rather than by a
scan. Entries are invalidated lazily by a per-Pod version number.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kruntimes.core.state import PodState, PoolKey, RunState

if TYPE_CHECKING:
    from kruntimes.core.decisions import RunKey, WaitReason

PodOrder = Callable[[PodState], Any]
"""Sort key of a Pod in its pool, lower is better (e.g. `(max ratio, sum of ratios)`)."""

_HeapEntry = tuple[Any, str, int, PodState]


class Pool:
    __slots__ = ("_heap", "_order", "available_count", "dirty", "key", "pending", "pods", "wait")

    def __init__(self, key: PoolKey, order: PodOrder) -> None:
        self.key = key
        self._order = order
        self._heap: list[_HeapEntry] = []
        self.pods: dict[str, PodState] = {}
        self.available_count = 0
        self.pending: dict[RunKey, RunState] = {}
        """Runs ready to place, in arrival order."""
        self.dirty = False
        self.wait: WaitReason | None = None
        """Why the Runs not examined in the last cycle wait (the pool was full)."""

    def touch(self, pod: PodState) -> None:
        """Re-rank `pod` after its usage or availability changed."""
        pod.heap_version += 1
        self.offer(pod)

    def offer(self, pod: PodState) -> None:
        if pod.available and pod.has_room():
            heapq.heappush(self._heap, (self._order(pod), pod.key[1], pod.heap_version, pod))
            if len(self._heap) > 2 * len(self.pods) + 64:
                self._compact()

    def pop_best(self) -> PodState | None:
        """Take the best available Pod with room off the heap (put it back with `offer`)."""
        heap = self._heap
        while heap:
            _, _, version, pod = heapq.heappop(heap)
            if version == pod.heap_version and pod.available and pod.has_room():
                pod.heap_version += 1  # any other copy of this entry is now stale
                return pod
        return None

    def has_candidates(self) -> bool:
        heap = self._heap
        while heap:
            _, _, version, pod = heap[0]
            if version == pod.heap_version and pod.available and pod.has_room():
                return True
            heapq.heappop(heap)
        return False

    def ordered(self, pods: Iterator[PodState] | list[PodState]) -> list[PodState]:
        return sorted(pods, key=lambda p: (self._order(p), p.key[1]))

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if e[2] == e[3].heap_version]
        heapq.heapify(self._heap)
