"""Gangs: all `size` Runs bound together or none, with a timeout."""

from __future__ import annotations

from kruntimes import new_scheduler
from kruntimes.core import Bind, QueueUpserted, Terminate, Wait
from kruntimes.core.scheduler import Scheduler
from kruntimes.model import FailureReason, GangSpec, GangTimeoutAction, Phase, WaitCode
from kruntimes.testing.builders import make_pod, make_queue, make_run

NOW = 1_000.0


def bound(plan: object) -> list[str]:
    return sorted(d.run[1] for d in plan.decisions if isinstance(d, Bind))  # type: ignore[attr-defined]


def reasons(plan: object) -> dict[str, WaitCode]:
    return {d.run[1]: d.reason.code for d in plan.decisions if isinstance(d, Wait)}  # type: ignore[attr-defined]


def cluster(*capacities: int) -> Scheduler:
    s = new_scheduler(load_entry_points=False)
    for i, runs in enumerate(capacities):
        s.pod_upserted(make_pod(f"p{i}", capacity={"runs": runs}, heartbeat=NOW))
    return s


def test_a_gang_waits_for_all_its_runs_then_binds_them_together() -> None:
    s = cluster(2, 2)
    for i in range(3):
        s.run_upserted(make_run(f"w{i}", gang=("train", 4)))
    plan = s.cycle(NOW)
    assert bound(plan) == []
    assert set(reasons(plan).values()) == {WaitCode.WAITING_FOR_GANG}
    why = s.why_waiting(("default", "w0"))
    assert why is not None
    assert "3 of the 4 Runs of gang train" in why.message
    s.run_upserted(make_run("w3", gang=("train", 4)))
    assert bound(s.cycle(NOW + 1)) == ["w0", "w1", "w2", "w3"]


def test_a_gang_that_does_not_fit_binds_nothing_and_lets_others_through() -> None:
    s = cluster(2, 1)
    s.run_upserted(make_run("busy", requests={"runs": 1}))
    assert bound(s.cycle(NOW)) == ["busy"]
    for i in range(3):
        s.run_upserted(make_run(f"g{i}", gang=("g", 3)))
    s.run_upserted(make_run("solo"))
    plan = s.cycle(NOW + 1)
    assert bound(plan) == ["solo"]  # 2 slots were free: the gang of 3 takes none of them
    why = s.why_waiting(("default", "g0"))
    assert why is not None
    assert why.code is WaitCode.WAITING_FOR_GANG
    assert "fit now" in why.message
    s.run_deleted(("default", "busy"))
    s.run_deleted(("default", "solo"))
    assert bound(s.cycle(NOW + 2)) == ["g0", "g1", "g2"]


def test_a_gang_spans_runtimes() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("bash-0", runtime="bash", capacity={"runs": 1}, heartbeat=NOW))
    s.pod_upserted(make_pod("py-0", runtime="python", capacity={"runs": 1}, heartbeat=NOW))
    s.run_upserted(make_run("driver", "python", gang=("job", 2)))
    s.run_upserted(make_run("worker", "bash", gang=("job", 2)))
    plan = s.cycle(NOW)
    assert bound(plan) == ["driver", "worker"]
    assert s.statistics().pending == 0


def test_gang_quota_counts_the_whole_gang() -> None:
    s = cluster(8)
    s.handle(QueueUpserted(make_queue("q", quota={"runs": 3})))
    for i in range(4):
        s.run_upserted(make_run(f"g{i}", queue="q", gang=("big", 4)))
    plan = s.cycle(NOW)
    assert bound(plan) == []
    assert set(reasons(plan).values()) == {WaitCode.QUOTA_EXCEEDED}


def test_gang_runs_must_agree_on_size_and_queue() -> None:
    s = cluster(8)
    s.handle(QueueUpserted(make_queue("other")))
    s.run_upserted(make_run("a", gang=("g", 2)))
    s.run_upserted(make_run("b", gang=("g", 3)))
    s.run_upserted(make_run("c", queue="other", gang=("g", 2)))
    s.run_upserted(make_run("d", gang=("g", 2)))
    s.run_upserted(make_run("e", gang=("g", 2)))
    plan = s.cycle(NOW)
    ended = {d.run[1]: d.message for d in plan.decisions if isinstance(d, Terminate)}
    assert set(ended) == {"b", "c", "e"}
    assert "has size 2; this Run says 3" in ended["b"]
    assert "admitted by queue default" in ended["c"]
    assert "already has its 2 Runs" in ended["e"]
    assert bound(plan) == ["a", "d"]


def test_a_gang_times_out_and_fails_with_a_clear_reason() -> None:
    s = cluster(8)
    spec = GangSpec("g", 3, timeout_seconds=60)
    s.run_upserted(make_run("a", gang=spec, created=NOW))
    s.run_upserted(make_run("b", gang=spec, created=NOW + 5))
    assert bound(s.cycle(NOW + 10)) == []
    assert s.next_wakeup() is not None
    assert s.next_wakeup() <= NOW + 60
    s.pod_heartbeat(("default", "p0"), NOW + 60)
    plan = s.cycle(NOW + 60)
    ended = [d for d in plan.decisions if isinstance(d, Terminate)]
    assert sorted(d.run[1] for d in ended) == ["a", "b"]
    assert {d.reason for d in ended} == {FailureReason.GANG_TIMEOUT}
    assert {d.phase for d in ended} == {Phase.FAILED}
    assert "not placed within 60s (2 of its 3 Runs were submitted)" in ended[0].message


def test_a_gang_may_keep_waiting_past_its_timeout() -> None:
    s = cluster(8)
    spec = GangSpec("g", 2, timeout_seconds=30, on_timeout=GangTimeoutAction.KEEP_WAITING)
    s.run_upserted(make_run("a", gang=spec, created=NOW))
    s.cycle(NOW)
    s.pod_heartbeat(("default", "p0"), NOW + 40)
    plan = s.cycle(NOW + 40)
    assert not [d for d in plan.decisions if isinstance(d, Terminate)]
    why = s.why_waiting(("default", "a"))
    assert why is not None
    assert "keeps waiting" in why.message
    s.run_upserted(make_run("b", gang=spec, created=NOW + 41))
    assert bound(s.cycle(NOW + 41)) == ["a", "b"]


def test_a_restarted_core_sees_a_running_gang_as_formed() -> None:
    s = cluster(4)
    s.run_upserted(make_run("a", gang=("g", 2), phase=Phase.RUNNING, pod="p0"))
    s.run_upserted(make_run("b", gang=("g", 2), attempt=2))
    assert bound(s.cycle(NOW)) == ["b"]


def test_a_formed_gang_places_a_retried_member_alone() -> None:
    s = cluster(4)
    s.run_upserted(make_run("a", gang=("g", 2)))
    s.run_upserted(make_run("b", gang=("g", 2)))
    assert bound(s.cycle(NOW)) == ["a", "b"]
    s.run_upserted(make_run("a", gang=("g", 2), phase=Phase.RUNNING, pod="p0"))
    s.run_upserted(make_run("b", gang=("g", 2), phase=Phase.RUNNING, pod="p0"))
    s.run_upserted(make_run("b", gang=("g", 2), attempt=2))  # its Pod was lost: retried
    assert bound(s.cycle(NOW + 1)) == ["b"]


def test_a_gang_bind_write_that_fails_is_undone_per_run() -> None:
    s = cluster(4)
    s.run_upserted(make_run("a", gang=("g", 2)))
    s.run_upserted(make_run("b", gang=("g", 2)))
    plan = s.cycle(NOW)
    assert bound(plan) == ["a", "b"]
    s.unreserve(("default", "a"))
    s.unreserve(("default", "a"))  # idempotent
    # the gang formed: `a` is placed again on its own
    assert bound(s.cycle(NOW + 1)) == ["a"]
