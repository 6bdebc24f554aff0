from datetime import UTC, datetime

import pytest

from kruntimes import status
from kruntimes.core import backoff_delay
from kruntimes.model import (
    ConditionReason,
    ConditionStatus,
    ConditionType,
    IllegalTransition,
    ObjectMeta,
    Phase,
    RetryPolicy,
    Run,
    RunSpec,
)

RUN = Run(
    ObjectMeta(name="r", uid="u"), RunSpec(runtime="bash", retry_policy=RetryPolicy(max_attempts=3))
)


def test_bind_claim_succeed_writes_the_documented_conditions() -> None:
    run = status.bound(RUN, "pod-a", "uid-a", 10.0)
    assert (run.status.phase, run.status.assigned_pod, run.status.assigned_pod_uid) == (
        Phase.SCHEDULED,
        "pod-a",
        "uid-a",
    )
    sched = run.status.condition(ConditionType.SCHEDULED)
    assert sched is not None
    assert (sched.status, sched.reason) == (ConditionStatus.TRUE, ConditionReason.ASSIGNED)
    run = status.claimed(run, 11.0)
    assert run.status.phase is Phase.RUNNING
    assert run.status.start_time == datetime.fromtimestamp(11.0, UTC)
    run = status.succeeded(run, 12.5, {"A": "1"})
    assert run.status.phase is Phase.SUCCEEDED
    assert run.status.outputs == {"A": "1"}
    done = run.status.condition(ConditionType.COMPLETED)
    assert done is not None
    assert (done.status, done.reason) == (ConditionStatus.TRUE, ConditionReason.RUN_COMPLETED)
    with pytest.raises(IllegalTransition, match="Succeeded is terminal"):
        status.claimed(run, 13.0)


def test_retry_condition_dates_the_backoff() -> None:
    running = status.claimed(status.bound(RUN, "p", "u", 1.0), 2.0)
    retried = status.requeued(running, 2, "RuntimeError", "exit code 1", 5.0)
    assert retried.status.phase is Phase.PENDING
    assert retried.status.attempt == 2
    assert retried.status.assigned_pod is None
    cond = retried.status.condition(ConditionType.RUNNING)
    assert cond is not None
    assert cond.reason == ConditionReason.RETRYING
    assert cond.last_transition_time == datetime.fromtimestamp(5.0, UTC)
    assert backoff_delay(RUN.spec.retry_policy, 2) == 1.0


def test_unbind_keeps_the_attempt() -> None:
    scheduled = status.bound(RUN, "p", "u", 1.0)
    back = status.requeued(scheduled, 1, "PodGone", "gone", 2.0)
    assert (back.status.phase, back.status.attempt) == (Phase.PENDING, 1)


def test_waiting_sets_a_false_scheduled_condition_and_keeps_the_phase() -> None:
    run = status.waiting(RUN, "NoCapacity", "full", 3.0)
    assert run.status.phase is Phase.PENDING
    cond = run.status.condition(ConditionType.SCHEDULED)
    assert cond is not None
    assert (cond.status, cond.reason, cond.message) == (ConditionStatus.FALSE, "NoCapacity", "full")


@pytest.mark.parametrize("phase", [Phase.FAILED, Phase.TIMEOUT, Phase.CANCELLED])
def test_unsuccessful_endings(phase: Phase) -> None:
    running = status.claimed(status.bound(RUN, "p", "u", 1.0), 2.0)
    done = status.finished_unsuccessfully(running, phase, "Why", "details", 3.0)
    assert done.status.phase is phase
    assert done.status.message == "Why: details"
    cond = done.status.condition(ConditionType.COMPLETED)
    assert cond is not None
    assert (cond.status, cond.reason) == (ConditionStatus.FALSE, "Why")


def test_messages_are_bounded() -> None:
    run = status.waiting(RUN, "X", "m" * 10_000, 1.0)
    assert len(run.status.message) <= status.MAX_MESSAGE
