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
import sys
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

    def update(self, name: str, share: float) -> None:
        """`push` the queue's new share if it is ranked here (else nothing)."""
        version = self._version.get(name)
        if version is not None:
            self._version[name] = version = version + 1
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

    __slots__ = ("_runs", "_walks", "added", "queues")

    def __init__(self) -> None:
        self.queues: dict[str, PendingQueue] = {}
        self._runs: dict[RunKey, RunState] = {}
        self.added: list[str] = []
        """Queues that got their first pending Run here since the last admitted cycle."""
        self._walks = 0

    def __len__(self) -> int:
        return len(self._runs)

    def __bool__(self) -> bool:
        return bool(self._runs)

    def __contains__(self, key: object) -> bool:
        return key in self._runs

    def __setitem__(self, key: RunKey, st: RunState) -> None:
        old = self._runs.get(key)
        if old is not None:
            if old.queue_name == st.queue_name and old.priority == st.priority:
                self.queues[old.queue_name].replace(old, st)  # keeps its place
                self._runs[key] = st
                return
            del self[key]
        name = st.queue_name
        sub = self.queues.get(name)
        if sub is None:
            sub = self.queues[name] = PendingQueue()
            self.added.append(name)
        sub.add(st)
        self._runs[key] = st

    def __delitem__(self, key: RunKey) -> None:
        st = self._runs.pop(key)
        name = st.queue_name
        if self.queues[name].remove(st):
            del self.queues[name]

    def discard(self, keys: list[RunKey]) -> None:
        """Remove these keys, those still here (a cycle's binds, at its end)."""
        runs = self._runs
        queues = self.queues
        for key in keys:
            st = runs.pop(key, None)
            if st is not None:
                name = st.queue_name
                if queues[name].remove(st):
                    del queues[name]

    def pop(self, key: RunKey, default: RunState | None = None) -> RunState | None:
        st = self._runs.get(key)
        if st is None:
            return default
        del self[key]
        return st

    def begin_walk(self) -> int:
        """A new mark for `PendingQueue.walk`: every queue's walk starts again at its head."""
        self._walks += 1
        return self._walks

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


_SLACK = 64
"""Holes a level keeps before it is trimmed or compacted (besides one per Run)."""
_PAST_THE_END = sys.maxsize
"""`PendingQueue._at` once a walk went past the last Run."""


class _Level:
    """The Runs of one priority of a `PendingQueue`, in arrival order.

    A Run that leaves leaves a hole (None) rather than shifting the others, so
    removal is O(1) and a walk's position stays valid. Holes at the front are
    stepped over once (`head`); the list is trimmed or compacted when holes
    outnumber Runs, so each hole costs O(1) amortized.
    """

    __slots__ = ("base", "head", "live", "priority", "runs")

    def __init__(self, priority: int) -> None:
        self.priority = priority
        self.runs: list[RunState | None] = []
        self.base = 0
        """The position (`RunState.pending_at`) of `runs[0]`: trimming the front keeps
        positions."""
        self.head = 0
        """Index in `runs` of the first Run: only holes before it."""
        self.live = 0

    def entries(self) -> Iterator[RunState]:
        runs = self.runs
        head = self.head
        if len(runs) - head == self.live:
            return itertools.islice(runs, head, None) if head else iter(runs)  # type: ignore[arg-type]
        return filter(None, itertools.islice(runs, head, None))


_NOWHERE = _Level(0)
"""`PendingQueue._at_level` before its first walk."""


class PendingQueue:
    """Pending Runs in placement order: priority descending, then arrival (FIFO).

    One `_Level` per priority; a Run's priority (`RunState.priority`) is fixed
    when the core first sees it, so it never moves level. `walk` gives a
    cycle's Runs one at a time from a position kept here (no iterator objects:
    with 1,000 queues a cycle starts a walk per queue, and iterators kept alive
    for the cycle cost the garbage collector a pass every few hundred binds).
    """

    __slots__ = ("_at", "_at_level", "_descending", "_first", "_levels", "_mark", "_order")

    def __init__(self) -> None:
        self._levels: dict[int, _Level] = {}
        self._order: list[int] = []
        """Priorities present, as negatives in ascending order (highest priority first)."""
        self._descending: list[int] = []
        """The same priorities, as they are (highest first)."""
        self._first: _Level | None = None
        """The level of the highest priority."""
        self._mark = 0
        """The walk `_at_level` and `_at` belong to (`PoolPending.begin_walk`)."""
        self._at_level = _NOWHERE
        self._at = -1
        """Index in `_at_level.runs` of the Run the walk gave last."""

    def __len__(self) -> int:
        return sum(level.live for level in self._levels.values())

    def __bool__(self) -> bool:
        return bool(self._levels)

    def add(self, st: RunState) -> None:
        """Queue `st` behind the Runs of its priority."""
        priority = st.priority
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = _Level(priority)
            at = bisect.bisect(self._order, -priority)
            self._order.insert(at, -priority)
            self._descending.insert(at, priority)
            if not at:
                self._first = level
        runs = level.runs
        st.pending_at = level.base + len(runs)
        runs.append(st)
        level.live += 1

    def replace(self, old: RunState, st: RunState) -> None:
        """`st` takes the place of `old` (a new state of the same Run, same priority)."""
        level = self._levels[old.priority]
        level.runs[old.pending_at - level.base] = st
        st.pending_at = old.pending_at

    def remove(self, st: RunState) -> bool:
        """Take `st` out of the queue (it is in it); True if the queue is empty now."""
        priority = st.priority
        level = self._levels[priority]
        runs = level.runs
        index = st.pending_at - level.base
        runs[index] = None
        live = level.live - 1
        level.live = live
        if not live:
            del self._levels[priority]
            at = self._order.index(-priority)
            del self._order[at]
            del self._descending[at]
            if not at:
                self._first = self._levels[self._descending[0]] if self._descending else None
            return not self._levels
        head = level.head
        if index == head:
            head += 1
            while runs[head] is None:
                head += 1
            if head > live + _SLACK:  # trim the front: positions stay, `base` moves
                del runs[:head]
                level.base += head
                if self._at_level is level:
                    self._at = max(self._at - head, -1)
                head = 0
            level.head = head
        elif len(runs) - head - live > live + _SLACK:
            self._compact(level)
        return False

    def _compact(self, level: _Level) -> None:
        """Drop the holes of `level`: its Runs get new positions (and a walk in it, too)."""
        runs = level.runs
        if self._at_level is level and self._at < len(runs):
            given = itertools.islice(runs, self._at + 1)  # the walk is past these
            self._at = sum(1 for st in given if st is not None) - 1
        kept = [st for st in runs if st is not None]
        for position, st in enumerate(kept):
            st.pending_at = position
        level.runs = kept  # type: ignore[assignment]
        level.base = 0
        level.head = 0

    def walk(self, mark: int) -> RunState | None:
        """The next Run of walk `mark`: the head first, then the Run after the one given last,
        None past the end. A new mark starts a new walk; the queue must not change while
        a walk goes on (binds leave it at the end of the cycle)."""
        if self._mark == mark:
            index = self._at + 1
            runs = self._at_level.runs
            if index < len(runs):
                st = runs[index]
                if st is not None:
                    self._at = index
                    return st
            return self._walk_on(self._at_level, index)
        self._mark = mark
        level = self._first
        if level is None:
            return None
        self._at_level = level
        self._at = index = level.head
        return level.runs[index]  # never a hole (`remove` moves `head` on)

    def _walk_on(self, level: _Level, index: int) -> RunState | None:
        """`walk` past holes, and on to the next levels."""
        while True:
            runs = level.runs
            for at in range(max(index, level.head), len(runs)):
                st = runs[at]
                if st is not None:
                    self._at_level = level
                    self._at = at
                    return st
            at = bisect.bisect(self._order, -level.priority)
            if at == len(self._order):
                self._at_level = level
                self._at = _PAST_THE_END
                return None
            level = self._levels[self._descending[at]]
            index = level.head

    def values(self) -> Iterable[RunState]:
        """In placement order; do not change the queue while iterating."""
        levels = self._levels
        if len(levels) == 1:
            return next(iter(levels.values())).entries()
        return itertools.chain.from_iterable(
            map(_Level.entries, map(levels.__getitem__, self._descending))
        )

    def highest(self) -> int | None:
        """The highest priority waiting here, if any."""
        return -self._order[0] if self._order else None

    def keys(self) -> Iterator[RunKey]:
        return (st.key for st in self.values())
