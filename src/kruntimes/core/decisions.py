"""What a scheduling cycle decides, as values: the `Plan` the engine applies.

Expected outcomes (no room, backoff, a failed attempt) are values with a code
and a reason, never exceptions; the engine turns each decision into one
conditional status write.
"""

from __future__ import annotations

from attrs import frozen

from kruntimes.model import FailureReason, Phase, WaitCode

RunKey = tuple[str, str]
"""`(namespace, name)` of a Run."""


@frozen
class WaitReason:
    """Why a Pending Run is not bound, e.g. `NoCapacity` or `Backoff` until `until`."""

    code: WaitCode
    message: str = ""
    until: float | None = None


@frozen
class Bind:
    """Assign `run` to `pod`; the capacity is reserved until the write lands or is undone."""

    run: RunKey
    pod: str
    pod_uid: str
    attempt: int


@frozen
class Wait:
    """`run` keeps waiting; emitted only when its reason changed since the last plan."""

    run: RunKey
    reason: WaitReason


@frozen
class Requeue:
    """Send `run` back to Pending (stale Pod), at `attempt`, not before `not_before`.

    `attempt` is the old attempt when the Run never started (it was only
    Scheduled), and attempt + 1 when an execution was lost.
    """

    run: RunKey
    attempt: int
    not_before: float
    reason: FailureReason
    message: str


@frozen
class Terminate:
    """Move `run` to a terminal `phase` (Failed or Cancelled) with `reason`."""

    run: RunKey
    phase: Phase
    reason: FailureReason
    message: str


Decision = Bind | Wait | Requeue | Terminate


@frozen
class Plan:
    """The decisions of one cycle, in the order they were made.

    `next_wakeup` is the earliest time at which something time-based changes
    (a backoff ends, a heartbeat goes stale): the engine sleeps until then or
    until the next event, and never polls.
    """

    decisions: tuple[Decision, ...]
    next_wakeup: float | None

    @property
    def binds(self) -> tuple[Bind, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Bind))

    @property
    def waits(self) -> tuple[Wait, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Wait))

    @property
    def requeues(self) -> tuple[Requeue, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Requeue))

    @property
    def terminations(self) -> tuple[Terminate, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Terminate))
