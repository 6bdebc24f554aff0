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
        "blocked",
        "capacity",
        "dirty",
        "key",
        "pending",
        "pods",
        "shares",
        "starving",
        "usage",
        "wait",
    )

    def __init__(self, key: PoolKey, order: PodOrder) -> None:
        self.key = key
        self._order = order
        self._heap: list[_HeapEntry] = []
        self._serial = itertools.count()
        self.pods: dict[str, PodState] = {}
        self.available_count = 0
        self.pending = PoolPending()
        """Runs ready to place, per queue: highest priority first, arrival order among equals."""
        self.capacity: dict[str, int] = {}
        """Sum of the capacity of the pool's Pods: what fair shares are fractions of."""
        self.usage: dict[str, dict[str, int]] = {}
        """Resources held on the pool's Pods, per queue name."""
        self.shares = ShareHeap()
        """The queues with Runs pending here, lowest weighted share first (admission)."""
        self.blocked: dict[str, RunState] = {}
        """Per strict FIFO queue, the Run at its head that kept the rest waiting last cycle."""
        self.starving: list[RunState] = []
        """Runs passed over past their queue's starvation limit, oldest first: until the
        first of them is bound, nothing else binds here."""
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


class ShareHeap:
    """Queue names by share, lowest first, kept across cycles.

    A queue's entry is replaced (`push` again) whenever its share changes; older
    entries are skipped by version when they surface, so a cycle costs a log per
    decision rather than a pass over every queue of the pool.
    """

    __slots__ = ("_heap", "_version", "stale")

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, int]] = []
        self._version: dict[str, int] = {}
        self.stale = True
        """Every share changed (capacity, weights): rebuild before the next cycle."""

    def __contains__(self, name: object) -> bool:
        return name in self._version

    def clear(self) -> None:
        self._heap.clear()
        self._version.clear()
        self.stale = False

    def push(self, name: str, share: float) -> None:
        version = self._version.get(name, 0) + 1
        self._version[name] = version
        heapq.heappush(self._heap, (share, name, version))

    def pop(self) -> str | None:
        """The queue with the lowest share, off the heap (`push` it back with its new share)."""
        heap = self._heap
        version = self._version
        pop = heapq.heappop
        while heap:
            _, name, v = pop(heap)
            if version.get(name) == v:
                return name
        return None

    def peek(self) -> tuple[float, str] | None:
        heap = self._heap
        version = self._version
        while heap:
            share, name, v = heap[0]
            if version.get(name) == v:
                return share, name
            heapq.heappop(heap)
        return None

    def discard(self, name: str) -> None:
        self._version.pop(name, None)


class PoolPending:
    """A pool's pending Runs: one `PendingQueue` per RunQueue name ("" with admission off)."""

    __slots__ = ("_queue_of", "added", "queues")

    def __init__(self) -> None:
        self.queues: dict[str, PendingQueue] = {}
        self._queue_of: dict[RunKey, str] = {}
        self.added: list[str] = []
        """Queues that got their first pending Run here since the last admitted cycle."""

    def __len__(self) -> int:
        return len(self._queue_of)

    def __bool__(self) -> bool:
        return bool(self._queue_of)

    def __contains__(self, key: object) -> bool:
        return key in self._queue_of

    def __setitem__(self, key: RunKey, st: RunState) -> None:
        name = st.queue_name
        sub = self.queues.get(name)
        if sub is None:
            sub = self.queues[name] = PendingQueue()
            self.added.append(name)
        sub[key] = st
        self._queue_of[key] = name

    def __delitem__(self, key: RunKey) -> None:
        name = self._queue_of.pop(key)
        sub = self.queues[name]
        del sub[key]
        if not sub:
            del self.queues[name]

    def discard(self, keys: list[RunKey]) -> None:
        """Remove these keys, those still here (a cycle's binds, at its end)."""
        queue_of = self._queue_of
        queues = self.queues
        for key in keys:
            name = queue_of.pop(key, None)
            if name is not None:
                sub = queues[name]
                del sub[key]
                if not sub:
                    del queues[name]

    def pop(self, key: RunKey, default: RunState | None = None) -> RunState | None:
        name = self._queue_of.get(key)
        if name is None:
            return default
        st = self.queues[name].pop(key)
        del self._queue_of[key]
        if not self.queues[name]:
            del self.queues[name]
        return st

    def values(self) -> Iterable[RunState]:
        """Queue by queue (in name order), each in placement order; do not change meanwhile."""
        queues = self.queues
        if len(queues) == 1:
            return next(iter(queues.values())).values()
        return itertools.chain.from_iterable(queues[n].values() for n in sorted(queues))

    def keys(self) -> Iterator[RunKey]:
        return (st.key for st in self.values())

    def highest(self, queue: str | None = None) -> int | None:
        """The highest priority waiting in `queue` (None: in any queue)."""
        if queue is not None:
            sub = self.queues.get(queue)
            return None if sub is None else sub.highest()
        levels = [h for sub in self.queues.values() if (h := sub.highest()) is not None]
        return max(levels) if levels else None


class PendingQueue:
    """Pending Runs in placement order: priority descending, then arrival (FIFO).

    One dict per priority level, so the common case (one level) costs what a
    plain dict does; a Run's priority (`RunState.priority`) is fixed when the
    core first sees it, so it never moves level.
    """

    __slots__ = ("_descending", "_levels", "_order", "_where")

    def __init__(self) -> None:
        self._levels: dict[int, dict[RunKey, RunState]] = {}
        self._order: list[int] = []
        """Priorities present, as negatives in ascending order (highest priority first)."""
        self._descending: list[int] = []
        """The same priorities, as they are (highest first)."""
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
            at = bisect.bisect(self._order, -priority)
            self._order.insert(at, -priority)
            self._descending.insert(at, priority)
        level[key] = st
        self._where[key] = priority

    def __delitem__(self, key: RunKey) -> None:
        priority = self._where.pop(key)
        level = self._levels[priority]
        del level[key]
        if not level:
            del self._levels[priority]
            at = self._order.index(-priority)
            del self._order[at]
            del self._descending[at]

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
        # maps and a chain, no generator frame: a queue's walk starts once per cycle
        return itertools.chain.from_iterable(
            map(dict.values, map(levels.__getitem__, self._descending))
        )

    def highest(self) -> int | None:
        """The highest priority waiting here, if any."""
        return -self._order[0] if self._order else None

    def keys(self) -> Iterator[RunKey]:
        return (st.key for st in self.values())
