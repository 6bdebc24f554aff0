"""How each decision and each agent report becomes a new `RunStatus`, as pure functions.

The scheduler loop and the agent write status only through these, and these
change phases only through the lifecycle table, so the wire always shows the
conditions the facts note describes (`Scheduled/Assigned`, `Running/Claimed`,
`Running/Retrying`, `Completed/RunCompleted`, or the failure reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import evolve

from kruntimes.model import (
    ArtifactRef,
    Condition,
    ConditionReason,
    ConditionStatus,
    ConditionType,
    Phase,
    Run,
    RunEvent,
    RunStatus,
    transition,
)

MAX_CONDITIONS = 16
MAX_MESSAGE = 4096


def timestamp(now: float) -> datetime:
    """`now` (seconds since the epoch) as the wire's UTC time, to the microsecond."""
    return datetime.fromtimestamp(round(now, 6), UTC)


def bounded_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    return message[: MAX_MESSAGE - 20] + " [... truncated]"


def with_condition(
    status: RunStatus,
    type: ConditionType,
    *,
    ok: bool,
    reason: str,
    message: str,
    now: float,
) -> tuple[Condition, ...]:
    """`status.conditions` with `type` set; the transition time moves only when `status` flips."""
    new_status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    old = status.condition(type)
    when = timestamp(now)
    if old is not None and old.status == new_status and old.last_transition_time is not None:
        when = old.last_transition_time
    if old is not None and old.reason == ConditionReason.RETRYING != reason:
        when = timestamp(now)
    cond = Condition(type, new_status, reason, bounded_message(message), when)
    others = tuple(c for c in status.conditions if c.type != type)
    return (*others, cond)[-MAX_CONDITIONS:]


def _move(run: Run, event: RunEvent, **changes: Any) -> Run:
    phase = transition(run.status.phase, event)
    return evolve(run, status=evolve(run.status, phase=phase, **changes))


def bound(run: Run, pod: str, pod_uid: str, now: float) -> Run:
    conditions = with_condition(
        run.status,
        ConditionType.SCHEDULED,
        ok=True,
        reason=ConditionReason.ASSIGNED,
        message=f"assigned to {pod}",
        now=now,
    )
    return _move(
        run,
        RunEvent.BIND,
        assigned_pod=pod,
        assigned_pod_uid=pod_uid,
        conditions=conditions,
        message="",
    )


def waiting(run: Run, code: str, message: str, now: float) -> Run:
    """A Pending Run's reason to wait, as a `Scheduled=False` condition (phase unchanged)."""
    conditions = with_condition(
        run.status, ConditionType.SCHEDULED, ok=False, reason=code, message=message, now=now
    )
    return evolve(
        run, status=evolve(run.status, conditions=conditions, message=bounded_message(message))
    )


def requeued(run: Run, attempt: int, reason: str, message: str, now: float) -> Run:
    """Back to Pending: `Unbind` when the attempt is unchanged (never started), else `Retry`."""
    event = RunEvent.UNBIND if attempt == run.status.attempt else RunEvent.RETRY
    conditions = run.status.conditions
    if event is RunEvent.RETRY:
        conditions = with_condition(
            run.status,
            ConditionType.RUNNING,
            ok=False,
            reason=ConditionReason.RETRYING,
            message=f"{reason}: {message}",
            now=now,
        )
        conditions = tuple(
            c if c.type != ConditionType.RUNNING else evolve(c, last_transition_time=timestamp(now))
            for c in conditions
        )
    return _move(
        run,
        event,
        assigned_pod=None,
        assigned_pod_uid=None,
        attempt=attempt,
        conditions=conditions,
        message=bounded_message(f"{reason}: {message}"),
    )


def claimed(run: Run, now: float) -> Run:
    conditions = with_condition(
        run.status,
        ConditionType.RUNNING,
        ok=True,
        reason=ConditionReason.CLAIMED,
        message="",
        now=now,
    )
    return _move(run, RunEvent.CLAIM, start_time=timestamp(now), conditions=conditions)


def succeeded(
    run: Run,
    now: float,
    outputs: Mapping[str, str] | None = None,
    artifacts: tuple[ArtifactRef, ...] = (),
    message: str = "",
) -> Run:
    conditions = with_condition(
        run.status,
        ConditionType.RUNNING,
        ok=False,
        reason=ConditionReason.COMPLETED,
        message="",
        now=now,
    )
    status = evolve(run.status, conditions=conditions)
    conditions = with_condition(
        status,
        ConditionType.COMPLETED,
        ok=True,
        reason=ConditionReason.RUN_COMPLETED,
        message="",
        now=now,
    )
    return _move(
        run,
        RunEvent.SUCCEED,
        completion_time=timestamp(now),
        conditions=conditions,
        outputs=dict(outputs or {}),
        artifact_refs=artifacts,
        message=bounded_message(message),
    )


_TERMINAL_EVENTS = {
    Phase.FAILED: RunEvent.FAIL,
    Phase.TIMEOUT: RunEvent.TIME_OUT,
    Phase.CANCELLED: RunEvent.CANCEL,
}


def finished_unsuccessfully(
    run: Run,
    phase: Phase,
    reason: str,
    message: str,
    now: float,
    *,
    outputs: Mapping[str, str] | None = None,
    artifacts: tuple[ArtifactRef, ...] = (),
) -> Run:
    """Failed, Timeout or Cancelled, with `reason` on `Completed=False` (and `Running=False`)."""
    status = run.status
    if status.condition(ConditionType.RUNNING) is not None:
        status = evolve(
            status,
            conditions=with_condition(
                status, ConditionType.RUNNING, ok=False, reason=reason, message="", now=now
            ),
        )
    conditions = with_condition(
        status, ConditionType.COMPLETED, ok=False, reason=reason, message=message, now=now
    )
    return _move(
        run,
        _TERMINAL_EVENTS[phase],
        completion_time=timestamp(now),
        conditions=conditions,
        outputs=dict(outputs or run.status.outputs),
        artifact_refs=artifacts or run.status.artifact_refs,
        message=bounded_message(f"{reason}: {message}" if message else reason),
    )
