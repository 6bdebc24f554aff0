"""What the harness records of a scheduler's life, and how to replay it.

Every event, every `unreserve` and every `cycle(now)` the scheduler receives
is one `LogEntry`; feeding the same log into a fresh scheduler must give the
same plans (the core is deterministic), which is how the kit checks it.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from kruntimes.core import Event, Plan, RunKey, Scheduler


@frozen
class Unreserve:
    """Log entry: the engine called `scheduler.unreserve(key)` `times` times."""

    key: RunKey
    times: int = 1


@frozen
class CycleCall:
    """Log entry: `scheduler.cycle(now, max_binds=max_binds)`."""

    now: float
    max_binds: int | None = None


LogEntry = Event | Unreserve | CycleCall


def replay(
    log: Sequence[LogEntry], scheduler: Scheduler, *, unreserve_once: bool = False
) -> list[Plan]:
    """Feed a recorded log into `scheduler`; the plans of its cycles, in order."""
    plans = []
    for entry in log:
        if isinstance(entry, CycleCall):
            plans.append(scheduler.cycle(entry.now, max_binds=entry.max_binds))
        elif isinstance(entry, Unreserve):
            for _ in range(1 if unreserve_once else entry.times):
                scheduler.unreserve(entry.key)
        else:
            scheduler.handle(entry)
    return plans


__all__ = ["CycleCall", "LogEntry", "Unreserve", "replay"]
