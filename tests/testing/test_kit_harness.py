"""The harness plays the engine's protocol around a real scheduler, on virtual time."""

from __future__ import annotations

import pytest

from kruntimes.core import Bind, Requeue, Terminate, Wait
from kruntimes.model import ConditionReason, ConditionType, FailureReason, Phase, WaitCode
from kruntimes.testing import Harness, make_pod, make_run, retry_policy
from kruntimes.testing.harness import CycleCall, Unreserve


def test_a_bind_lands_as_scheduled_and_is_fed_back() -> None:
    h = Harness()
    h.add_pod("p1", capacity={"runs": 1})
    h.submit("r1", "r2")
    plan = h.cycle()
    assert [type(d) for d in plan.decisions] == [Bind, Wait]
    result = h.apply(plan)
    assert result.conflicted == ()
    run = h.run("r1")
    assert (run.status.phase, run.status.assigned_pod) == (Phase.SCHEDULED, "p1")
    assert h.runs_on("p1") == ["r1"]
    scheduled = h.run("r2").status.condition(ConditionType.SCHEDULED)
    assert scheduled is not None
    assert scheduled.reason == WaitCode.NO_CAPACITY
    assert h.scheduler.statistics().reserved == 0


def test_a_write_that_conflicts_unreserves_and_the_run_is_placed_again() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit("r1")
    plan = h.cycle()
    assert h.usage("p1") == {"runs": 1}  # the reservation counts
    h.fail_write(plan.decisions[0], unreserve_times=2)
    assert h.usage("p1") == {}
    assert h.log[-1] == Unreserve(("default", "r1"), 2)
    assert [type(d) for d in h.step().decisions] == [Bind]


def test_a_change_between_cycle_and_write_makes_the_write_conflict() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit("r1")
    plan = h.cycle()
    h.update_run("r1", labels={"edited": "yes"})
    assert h.apply(plan).conflicted == plan.decisions
    assert h.phase("r1") is Phase.PENDING


def test_agents_move_runs_and_failures_retry_with_backoff() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit(make_run("r1", retry=retry_policy(max_attempts=2, backoff=3)))
    h.step()
    assert h.start("r1").status.phase is Phase.RUNNING
    retried = h.fail("r1")
    assert (retried.status.phase, retried.status.attempt) == (Phase.PENDING, 2)
    cond = retried.status.condition(ConditionType.RUNNING)
    assert cond is not None
    assert cond.reason == ConditionReason.RETRYING
    why = h.why_waiting("r1")
    assert why is not None
    assert (why.code, why.until) == (WaitCode.BACKOFF, h.now + 3)
    h.run_until(h.now + 3, heartbeat=True)
    h.start("r1")
    assert h.fail("r1").status.phase is Phase.FAILED


def test_killing_a_pod_requeues_its_runs() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit(make_run("r1", retry=retry_policy(max_attempts=3, backoff=1)), "r2")
    h.step()
    h.start("r1")
    h.kill_pod("p1")
    plan = h.step()
    by_run = {d.run[1]: d for d in plan.decisions}
    assert by_run["r1"] == Requeue(
        ("default", "r1"), 2, h.now + 1, FailureReason.POD_GONE, "the Runtime Pod is gone"
    )
    assert isinstance(by_run["r2"], Requeue)
    assert by_run["r2"].attempt == 1  # never started: no attempt spent
    assert h.phase("r1") is Phase.PENDING


def test_replaced_pods_and_terminating_pods() -> None:
    h = Harness()
    h.add_pod("p1")
    h.add_pod("p2")
    h.submit("r1", "r2")
    h.step()
    h.replace_pod("p1")
    h.terminate_pod("p2")
    plan = h.step()
    reasons = sorted(d.reason for d in plan.decisions if isinstance(d, Requeue | Terminate))
    assert reasons == [FailureReason.POD_GONE, FailureReason.POD_TERMINATING]


def test_cancelling_a_pending_run_terminates_it() -> None:
    h = Harness()
    h.submit("r1")
    h.cancel("r1")
    plan = h.step()
    assert [(type(d), d.run[1]) for d in plan.decisions] == [(Terminate, "r1")]
    assert h.phase("r1") is Phase.CANCELLED
    assert h.scheduler.run_state(("default", "r1")) is None


def test_the_log_replays_to_the_same_plans() -> None:
    h = Harness()
    h.add_pods(make_pod("p1", heartbeat=h.now), make_pod("p2", heartbeat=h.now))
    h.submit(*[f"r{i}" for i in range(5)])
    h.step()
    h.advance(40)
    h.heartbeat("p1")
    h.step()
    assert sum(isinstance(e, CycleCall) for e in h.log) == 2
    assert h.replay() == h.plans
    h.assert_deterministic()


def test_time_never_goes_backwards() -> None:
    h = Harness()
    h.advance(5)
    with pytest.raises(ValueError, match="backwards"):
        h.cycle(h.now - 1)
    with pytest.raises(ValueError, match="backwards"):
        h.advance(-1)


def test_settle_reports_a_scheduler_that_never_quiesces() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit("r1")
    assert len(h.settle()) == 2  # a bind, then nothing to do
