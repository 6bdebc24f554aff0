"""Regressions found by the stateful model test (`kruntimes.testing.stateful`), one per bug.

Each test is the shrunk history hypothesis reported, replayed through the
harness, with the guarantee the core broke.
"""

from __future__ import annotations

from kruntimes.core import Bind, Requeue, Terminate, Wait
from kruntimes.model import FailureReason, Phase, WaitCode
from kruntimes.testing import Harness, affinity, make_run, retry_policy


def test_relabelling_a_holding_run_keeps_the_label_index_right() -> None:
    """A holder's labels changed: the index kept the old ones (KeyError on release, and
    required anti-affinity missed the Run under its new labels)."""
    h = Harness()
    h.add_pod("p1", capacity={"runs": 4})
    h.add_pod("p2", capacity={"runs": 4})
    h.submit(make_run("early", affinity=affinity(anti_required=[{"app": "web"}])))
    h.submit(make_run("holder"))
    h.step()
    h.update_run("holder", labels={"app": "db"})
    h.submit(make_run("loner", affinity=affinity(anti_required=[{"app": "db"}])))
    (bind,) = h.step().binds
    assert bind.pod != h.run("holder").status.assigned_pod
    h.delete_run("holder")  # used to raise KeyError in the index
    assert h.scheduler.statistics().holding == 2


def test_no_wakeup_at_now_when_a_heartbeat_is_exactly_fresh() -> None:
    """At exactly `heartbeat + 15 s` the Pod is still fresh; asking to be woken at that same
    instant made an engine spin without time passing."""
    h = Harness()
    h.add_pod("p1")
    first = h.step()
    assert first.next_wakeup == h.now + 15
    h.clock.set(first.next_wakeup)
    plan = h.step()
    assert plan.next_wakeup is not None
    assert plan.next_wakeup > h.now


def test_an_invalid_run_changed_before_its_failure_is_written_is_not_placed() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit(make_run("bad", requests={"runs": -1}))
    h.update_run("bad", labels={"edited": "yes"})
    plan = h.cycle()
    assert [type(d) for d in plan.decisions] == [Terminate]
    assert plan.terminations[0].reason is FailureReason.INVALID_RESOURCES
    h.apply(plan)
    assert h.phase("bad") is Phase.FAILED


def test_a_run_cancelled_while_its_bind_is_in_flight_is_cancelled_not_bound_again() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit("r1")
    plan = h.cycle()
    h.cancel("r1")  # the bind write now conflicts
    result = h.apply(plan)
    assert [type(d) for d in result.conflicted] == [Bind]
    again = h.step()
    assert [(type(d), d.run[1]) for d in again.decisions] == [(Terminate, "r1")]
    assert h.phase("r1") is Phase.CANCELLED


def test_a_bind_that_lands_after_its_pod_was_judged_is_reaped() -> None:
    """The Pod went stale while the bind was in flight; the cycle that noticed skipped the
    reserved Run, and nothing looked at the Pod again once the bind landed."""
    h = Harness()
    h.add_pod("p1")
    h.submit("r1")
    bind_plan = h.cycle()
    h.advance(20)  # the heartbeat is stale now
    h.cycle()  # a pipelined cycle: p1 judged while r1 is only reserved
    h.apply(bind_plan)
    h.apply()
    assert h.phase("r1") is Phase.SCHEDULED
    h.advance(15)  # 35 s after the last heartbeat
    plan = h.step()
    assert [(type(d), d.reason) for d in plan.requeues] == [(Requeue, FailureReason.POD_UNHEALTHY)]


def test_a_silent_unready_pod_is_reaped_30s_after_its_last_heartbeat() -> None:
    """Not ready since 15.5 s, last heartbeat at 15 s: the agent's silence is the earlier
    deadline (45 s), not 30 s after the Pod was first seen unready."""
    h = Harness()
    h.add_pod("p1")
    h.submit("r1")
    h.step()
    h.advance(15)
    h.heartbeat("p1")
    h.advance(0.5)
    h.update_pod("p1", ready=False)
    plan = h.step()
    assert plan.next_wakeup == h.now - 0.5 + 30
    h.clock.set(plan.next_wakeup)
    assert [d.run[1] for d in h.step().requeues] == ["r1"]


def test_runs_on_a_pod_deleting_without_a_deletion_time_are_reaped_after_the_grace() -> None:
    """With no deletion time the grace period restarted at every look and never ended."""
    h = Harness()
    h.add_pod("p1")
    h.submit(make_run("r1", retry=retry_policy(max_attempts=2, backoff=1)))
    h.step()
    h.start("r1")
    h.update_pod("p1", deleting=True, deletion_time=None)
    h.step()
    h.run_until(h.now + 31, heartbeat=True)
    assert h.phase("r1") is Phase.PENDING
    assert h.run("r1").status.attempt == 2


def test_unbinding_a_never_started_retry_does_not_back_off_again() -> None:
    """A Scheduled Run at attempt 2 whose Pod vanished goes back at once (Requeue says
    `not_before=now`), because the unbind leaves the `Retrying` condition alone."""
    h = Harness()
    h.add_pod("p1")
    h.add_pod("p2")
    h.submit(make_run("r1", retry=retry_policy(max_attempts=3, backoff=5)))
    h.step()
    h.start("r1")
    h.fail("r1")
    h.run_until(h.now + 5, heartbeat=True)
    assert h.phase("r1") is Phase.SCHEDULED
    h.kill_pod(h.run("r1").status.assigned_pod or "")
    plan = h.step()
    assert [(d.attempt, d.not_before) for d in plan.requeues] == [(2, h.now)]
    again = h.step()
    assert [b.run[1] for b in again.binds] == ["r1"]


def test_backoff_is_reported_until_the_exact_end() -> None:
    h = Harness()
    h.add_pod("p1")
    h.submit(make_run("r1", retry=retry_policy(max_attempts=3, backoff=2)))
    h.step()
    h.start("r1")
    h.fail("r1")
    why = h.why_waiting("r1")
    assert why is not None
    assert (why.code, why.until) == (WaitCode.BACKOFF, h.now + 2)
    assert h.scheduler.next_wakeup() == h.now + 2
    assert not h.step().binds
    h.advance(2)
    h.heartbeat("p1")
    assert [b.run[1] for b in h.step().binds] == ["r1"]
    assert all(not isinstance(d, Wait) for d in h.plans[-1].decisions)
