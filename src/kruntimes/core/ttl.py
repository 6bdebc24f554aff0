"""When a finished Run may be deleted (`spec.ttlSecondsAfterFinished`), as a pure function.

Like a Job's TTL: the clock starts at the Run's completion. Unset or 0
means keep the Run (the reference's rule, unlike Jobs, where 0 deletes at
once). No clock here: the caller compares the answer with its own `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kruntimes.model import ConditionType, Run


def expires_at(run: Run) -> float | None:
    """Seconds since the epoch at which `run` may be deleted; None to keep it.

    Only a Run in a terminal phase with a positive TTL expires. Its
    completion is `status.completionTime`, or, for a Run finished by a
    writer that did not set it, when its `Completed` condition last changed;
    a terminal Run with neither is kept (there is no moment to count from).
    A naive datetime (which the codec never produces) is read as UTC, so the
    answer never depends on the host's time zone.
    """
    ttl = run.spec.ttl_seconds_after_finished
    if ttl is None or ttl <= 0 or not run.status.phase.is_terminal:
        return None
    finished = run.status.completion_time
    if finished is None:
        completed = run.status.condition(ConditionType.COMPLETED)
        finished = None if completed is None else completed.last_transition_time
    if finished is None:
        return None
    return _epoch_seconds(finished) + ttl


def _epoch_seconds(moment: datetime) -> float:
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
