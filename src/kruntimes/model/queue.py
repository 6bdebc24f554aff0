"""The RunQueue resource (kind `RunQueue`, a kruntimes extension): admission for Runs.

A RunQueue admits the Runs that name it (`spec.queue`) under a quota on what they
use concurrently, shares each runtime's capacity with the other queues of its
namespace in proportion to `weight` (dominant-resource fairness), and may borrow
idle quota from the queues of its `cohort`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from kruntimes.model import converters as convert
from kruntimes.model.enums import QueueingStrategy
from kruntimes.model.meta import Condition, ObjectMeta, _frozen_map

RUN_QUEUE_KIND = "RunQueue"
DEFAULT_QUEUE = "default"
"""The queue of Runs that name none. Without a RunQueue of that name, it admits everything."""
DEFAULT_STARVATION_LIMIT_SECONDS = 60.0


@frozen
class RunQueueSpec:
    quota: Mapping[str, int] = field(factory=dict, converter=_frozen_map)
    """Most of each resource the queue's Runs may hold at once (e.g. `runs: 100`, `gpu: 8`),
    borrowing aside; resources not named are not limited."""
    weight: float = 1.0
    """Share of contended capacity relative to the other queues of the namespace."""
    cohort: str | None = None
    """Queues of one cohort (in one namespace) lend each other quota they leave idle."""
    borrowing_limit: Mapping[str, int] | None = None
    """Most of each resource the queue may use beyond its quota, when borrowing; None: no limit."""
    max_pending: int | None = None
    """New Runs beyond this many waiting fail with reason `QueueFull`; None: no limit."""
    queueing_strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    starvation_limit_seconds: float = DEFAULT_STARVATION_LIMIT_SECONDS
    """With `BestEffortFIFO`: how long Runs behind may start while the head waits; after
    that the head's pool keeps room for it."""
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)


@frozen
class RunQueueStatus:
    pending: int = 0
    admitted: int = 0
    usage: Mapping[str, int] = field(factory=dict, converter=_frozen_map)
    conditions: tuple[Condition, ...] = field(default=(), converter=convert.conditions)
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)


@frozen
class RunQueue:
    metadata: ObjectMeta
    spec: RunQueueSpec = field(factory=RunQueueSpec)
    status: RunQueueStatus = field(factory=RunQueueStatus)

    @property
    def key(self) -> tuple[str, str]:
        return (self.metadata.namespace, self.metadata.name)
