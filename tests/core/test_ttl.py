"""`expires_at`: completion time + ttlSecondsAfterFinished, for finished Runs only."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from attrs import evolve

from kruntimes.core.ttl import expires_at
from kruntimes.model import Condition, ConditionStatus, ConditionType, Phase, Run
from kruntimes.testing.builders import make_run

DONE = datetime(2024, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def finished(
    phase: Phase = Phase.SUCCEEDED, ttl: int | None = 30, done: datetime | None = DONE
) -> Run:
    run = make_run("r", phase=phase)
    spec = evolve(run.spec, ttl_seconds_after_finished=ttl)
    return evolve(run, spec=spec, status=evolve(run.status, completion_time=done))


@pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.FAILED, Phase.TIMEOUT, Phase.CANCELLED])
def test_terminal_runs_expire_ttl_after_completion(phase: Phase) -> None:
    assert expires_at(finished(phase)) == DONE.timestamp() + 30


@pytest.mark.parametrize("phase", [Phase.PENDING, Phase.SCHEDULED, Phase.RUNNING, Phase.READY])
def test_unfinished_runs_never_expire(phase: Phase) -> None:
    assert expires_at(finished(phase)) is None


@pytest.mark.parametrize("ttl", [None, 0, -5])
def test_unset_or_zero_ttl_keeps_the_run(ttl: int | None) -> None:
    assert expires_at(finished(ttl=ttl)) is None


def test_completed_condition_when_completion_time_is_missing() -> None:
    run = finished(done=None)
    assert expires_at(run) is None
    cond = Condition(ConditionType.COMPLETED, ConditionStatus.FALSE, "Timeout", "", DONE)
    with_cond = evolve(run, status=evolve(run.status, conditions=(cond,)))
    assert expires_at(with_cond) == DONE.timestamp() + 30


def test_times_in_other_zones_and_naive_times_are_absolute() -> None:
    plus_two = DONE.astimezone(timezone(timedelta(hours=2)))
    assert expires_at(finished(done=plus_two)) == DONE.timestamp() + 30
    naive = DONE.replace(tzinfo=None)  # read as UTC, whatever the host's zone
    assert expires_at(finished(done=naive)) == DONE.timestamp() + 30
