"""Events the core consumes, as values (what store watches and agents report)."""

from __future__ import annotations

from attrs import frozen

from kruntimes.core.decisions import RunKey
from kruntimes.core.state import PodKey
from kruntimes.model import Run, RunQueue, RuntimePod


@frozen
class RunUpserted:
    """A Run was created or changed (its newest version)."""

    run: Run


@frozen
class RunDeleted:
    key: RunKey


@frozen
class PodUpserted:
    """A Runtime Pod appeared or changed (readiness, deletion, capacity, heartbeat)."""

    pod: RuntimePod


@frozen
class PodDeleted:
    key: PodKey


@frozen
class PodHeartbeat:
    """The Pod's agent reported alive at `at` (cheaper than a whole `PodUpserted`)."""

    key: PodKey
    at: float


@frozen
class QueueUpserted:
    """A RunQueue was created or changed."""

    queue: RunQueue


@frozen
class QueueDeleted:
    """A RunQueue is gone; its Runs wait (`NoQueue`) until it comes back."""

    key: tuple[str, str]


Event = (
    RunUpserted
    | RunDeleted
    | PodUpserted
    | PodDeleted
    | PodHeartbeat
    | QueueUpserted
    | QueueDeleted
)
