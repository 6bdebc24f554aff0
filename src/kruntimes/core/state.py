"""The core's indexed state: one entry per Run, per Pod and per pool.

Plain `__slots__` classes, mutated only by `Scheduler`; plugins receive them
read-only. A pending Run costs one `RunState` plus a slot in its pool's queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kruntimes.core.resources import Request, fits
from kruntimes.model import Run, RuntimePod

if TYPE_CHECKING:
    from kruntimes.core.admission import GangState, QueueState
    from kruntimes.core.decisions import RunKey, WaitReason

PodKey = tuple[str, str]
"""`(namespace, name)` of a Pod."""
PoolKey = tuple[str, str]
"""`(namespace, runtime)`: the Pods one Run may land on."""


class RunState:
    """A Run the core tracks (pending, in backoff, or holding capacity)."""

    __slots__ = (
        "attempt",
        "gang",
        "holds",
        "inflight",
        "key",
        "needs_slot",
        "not_before",
        "passed_since",
        "pending_at",
        "phase",
        "pod",
        "pod_uid",
        "pool",
        "priority",
        "queue",
        "queue_name",
        "request",
        "reserved",
        "run",
        "seq",
        "wait",
    )

    def __init__(
        self, key: RunKey, run: Run, pool: PoolKey, request: Request, seq: int, *, priority: int = 0
    ) -> None:
        self.key = key
        self.run = run
        self.priority = priority
        """Fixed when the core first sees the Run (`Policy.run_priority`)."""
        self.pool = pool
        self.request = request
        self.seq = seq
        needs_slot = False
        for name, qty in request:
            if name == "runs" and qty > 0:
                needs_slot = True
                break
        self.needs_slot = needs_slot
        self.phase = run.status.phase
        self.attempt = run.status.attempt
        self.pod: str | None = None
        """The Pod this Run holds capacity on (bound, or reserved by us)."""
        self.pod_uid: str | None = None
        self.holds = False
        self.reserved = False
        """We decided `Bind` and the write has not been seen yet."""
        self.inflight = False
        """We decided `Requeue`/`Terminate` and wait for the outcome."""
        self.not_before = 0.0
        self.wait: WaitReason | None = None
        """The last wait reason reported in a plan."""
        self.queue: QueueState | None = None
        """The RunQueue admitting the Run (None with admission off)."""
        self.queue_name = ""
        self.gang: GangState | None = None
        self.passed_since: float | None = None
        """When a Run behind this one first started while it could not (backfill)."""
        self.pending_at = -1
        """Where the Run sits in its pending queue's priority level (`pool.PendingQueue`)."""

    @property
    def labels(self) -> Mapping[str, str]:
        return self.run.metadata.labels

    def __repr__(self) -> str:
        return f"RunState({self.key!r}, phase={self.phase.value}, pod={self.pod!r})"


class PodState:
    """A Pod with the capacity its Runs use. `pod` is None while only Runs name it."""

    __slots__ = (
        "available",
        "deleting_since",
        "heap_version",
        "key",
        "pod",
        "runs",
        "timer_at",
        "unavailable_reason",
        "unready_since",
        "used",
    )

    def __init__(self, key: PodKey) -> None:
        self.key = key
        self.pod: RuntimePod | None = None
        self.used: dict[str, int] = {}
        self.runs: dict[RunKey, RunState] = {}
        """Runs holding capacity here, reserved ones included."""
        self.available = False
        self.unavailable_reason = "the Pod has not been seen"
        self.unready_since: float | None = None
        self.deleting_since: float | None = None
        """When the Pod was first seen deleting (its deletion time, if it has one)."""
        self.heap_version = 0
        self.timer_at: float | None = None

    @property
    def name(self) -> str:
        return self.key[1]

    @property
    def capacity(self) -> Mapping[str, int]:
        return self.pod.capacity if self.pod is not None else {}

    def free(self, resource: str = "runs") -> int:
        return self.capacity.get(resource, 0) - self.used.get(resource, 0)

    def fits(self, request: Request) -> bool:
        return self.pod is not None and fits(request, self.used, self.pod.capacity)

    def has_room(self) -> bool:
        """Room for at least one more default-sized Run."""
        pod = self.pod
        return pod is not None and self.used.get("runs", 0) < pod.capacity.get("runs", 0)

    def __repr__(self) -> str:
        return f"PodState({self.key!r}, used={self.used!r}, available={self.available})"
