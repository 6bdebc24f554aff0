"""RunQueues in the core: quota, fair share, cohorts, strict FIFO, starvation, max pending."""

from __future__ import annotations

from kruntimes import new_scheduler
from kruntimes.core import Bind, QueueDeleted, QueueUpserted, SchedulerConfig, Terminate, Wait
from kruntimes.core.scheduler import Scheduler
from kruntimes.model import FailureReason, Phase, WaitCode
from kruntimes.testing.builders import make_pod, make_queue, make_run
from kruntimes.testing.fairness import saturate

NOW = 1_000.0


def bound(plan: object) -> list[str]:
    return [d.run[1] for d in plan.decisions if isinstance(d, Bind)]  # type: ignore[attr-defined]


def waits(plan: object) -> dict[str, WaitCode]:
    return {d.run[1]: d.reason.code for d in plan.decisions if isinstance(d, Wait)}  # type: ignore[attr-defined]


def scheduler_with(*pods: tuple[str, int], **config: object) -> Scheduler:
    scheduler = new_scheduler(SchedulerConfig(**config), load_entry_points=False)  # type: ignore[arg-type]
    for name, runs in pods:
        scheduler.pod_upserted(make_pod(name, capacity={"runs": runs}, heartbeat=NOW))
    return scheduler


def finish(scheduler: Scheduler, name: str) -> None:
    scheduler.run_deleted(("default", name))


def test_quota_caps_what_a_queue_holds_at_once() -> None:
    s = scheduler_with(("p0", 10))
    s.handle(QueueUpserted(make_queue("team", quota={"runs": 2})))
    for i in range(4):
        s.run_upserted(make_run(f"r{i}", queue="team"))
    plan = s.cycle(NOW)
    assert bound(plan) == ["r0", "r1"]
    assert waits(plan) == {"r2": WaitCode.QUOTA_EXCEEDED, "r3": WaitCode.QUOTA_EXCEEDED}
    reason = s.why_waiting(("default", "r2"))
    assert reason is not None
    assert "has no room left in its quota of runs (2) for the Run's 1" in reason.message
    finish(s, "r0")
    assert bound(s.cycle(NOW + 1)) == ["r2"]
    stats = s.queue_statistics("default", "team")
    assert stats is not None
    assert (stats.pending, stats.admitted, stats.usage) == (1, 2, {"runs": 2})


def test_quota_is_a_vector_over_the_requested_resources() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("p0", capacity={"runs": 10, "gpu": 8}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("ml", quota={"gpu": 4})))
    s.run_upserted(make_run("big", queue="ml", requests={"gpu": 3}))
    s.run_upserted(make_run("more", queue="ml", requests={"gpu": 2}))
    s.run_upserted(make_run("cpu-only", queue="ml"))
    plan = s.cycle(NOW)
    assert bound(plan) == ["big", "cpu-only"]
    assert waits(plan) == {"more": WaitCode.QUOTA_EXCEEDED}


def test_a_run_naming_a_missing_queue_waits_until_it_exists() -> None:
    s = scheduler_with(("p0", 4))
    s.run_upserted(make_run("r", queue="later"))
    assert waits(s.cycle(NOW)) == {"r": WaitCode.NO_QUEUE}
    reason = s.why_waiting(("default", "r"))
    assert reason is not None
    assert "RunQueue later does not exist" in reason.message
    s.handle(QueueUpserted(make_queue("later")))
    assert bound(s.cycle(NOW + 1)) == ["r"]


def test_deleting_a_queue_stops_admission_but_keeps_running_runs() -> None:
    s = scheduler_with(("p0", 4))
    s.handle(QueueUpserted(make_queue("q")))
    s.run_upserted(make_run("a", queue="q"))
    assert bound(s.cycle(NOW)) == ["a"]
    s.handle(QueueDeleted(("default", "q")))
    s.run_upserted(make_run("b", queue="q"))
    assert waits(s.cycle(NOW + 1)) == {"b": WaitCode.NO_QUEUE}
    stats = s.queue_statistics("default", "q")
    assert stats is not None
    assert stats.admitted == 1


def test_the_default_queue_admits_everything_until_it_is_defined() -> None:
    s = scheduler_with(("p0", 4))
    for i in range(3):
        s.run_upserted(make_run(f"r{i}"))
    assert len(bound(s.cycle(NOW))) == 3
    s.handle(QueueUpserted(make_queue("default", quota={"runs": 3})))
    s.run_upserted(make_run("r3"))
    assert waits(s.cycle(NOW + 1)) == {"r3": WaitCode.QUOTA_EXCEEDED}


def test_weighted_fair_share_under_saturation() -> None:
    shares = saturate(new_scheduler(load_entry_points=False), {"a": 1.0, "b": 2.0, "c": 3.0})
    assert shares == {"a": 1 / 6, "b": 2 / 6, "c": 3 / 6}


def test_a_queue_over_its_share_says_so_when_the_pool_is_full() -> None:
    s = scheduler_with(("p0", 4))
    s.handle(QueueUpserted(make_queue("a")))
    s.handle(QueueUpserted(make_queue("b")))
    for i in range(4):
        s.run_upserted(make_run(f"a{i}", queue="a"))
    assert len(bound(s.cycle(NOW))) == 4
    s.run_upserted(make_run("b0", queue="b"))
    s.run_upserted(make_run("a4", queue="a"))
    s.cycle(NOW + 1)
    reason = s.why_waiting(("default", "a4"))
    assert reason is not None
    assert reason.code is WaitCode.FAIR_SHARE
    finish(s, "a0")
    assert bound(s.cycle(NOW + 2)) == ["b0"]


def test_cohort_lends_idle_quota_and_owners_get_it_back() -> None:
    s = scheduler_with(("p0", 20))
    s.handle(QueueUpserted(make_queue("a", quota={"runs": 2}, cohort="c")))
    s.handle(QueueUpserted(make_queue("b", quota={"runs": 2}, cohort="c")))
    for i in range(5):
        s.run_upserted(make_run(f"a{i}", queue="a"))
    plan = s.cycle(NOW)
    assert bound(plan) == ["a0", "a1", "a2", "a3"]  # borrows b's idle quota
    assert waits(plan) == {"a4": WaitCode.QUOTA_EXCEEDED}
    s.run_upserted(make_run("b0", queue="b"))
    plan = s.cycle(NOW + 1)
    assert bound(plan) == []
    reason = s.why_waiting(("default", "b0"))
    assert reason is not None
    assert "lent it out" in reason.message
    finish(s, "a0")
    plan = s.cycle(NOW + 2)
    assert bound(plan) == ["b0"]  # the owner first, not the borrower's a4
    finish(s, "a1")
    s.run_upserted(make_run("b1", queue="b"))
    assert bound(s.cycle(NOW + 3)) == ["b1"]


def test_borrowing_limit_caps_what_a_queue_borrows() -> None:
    s = scheduler_with(("p0", 20))
    s.handle(
        QueueUpserted(make_queue("a", quota={"runs": 2}, cohort="c", borrowing_limit={"runs": 1}))
    )
    s.handle(QueueUpserted(make_queue("b", quota={"runs": 5}, cohort="c")))
    for i in range(5):
        s.run_upserted(make_run(f"a{i}", queue="a"))
    assert bound(s.cycle(NOW)) == ["a0", "a1", "a2"]


def test_strict_fifo_keeps_later_runs_behind_the_head() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("p0", capacity={"runs": 4, "cpu": 4}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("strict", strict=True)))
    s.handle(QueueUpserted(make_queue("loose")))
    s.run_upserted(make_run("s-small", queue="strict", requests={"cpu": 2}))
    s.run_upserted(make_run("s-big", queue="strict", requests={"cpu": 4}))
    s.run_upserted(make_run("s-after", queue="strict", requests={"cpu": 1}))
    s.run_upserted(make_run("l-big", queue="loose", requests={"cpu": 5}))
    s.run_upserted(make_run("l-after", queue="loose", requests={"cpu": 1}))
    plan = s.cycle(NOW)
    assert sorted(bound(plan)) == ["l-after", "s-small"]
    assert waits(plan)["s-big"] is WaitCode.NO_CAPACITY
    behind = s.why_waiting(("default", "s-after"))
    assert behind is not None
    assert behind.code is WaitCode.QUEUE_BLOCKED
    assert "Run s-big ahead starts first" in behind.message


def test_strict_fifo_steps_over_a_run_that_can_never_start() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("p0", capacity={"runs": 4, "cpu": 4}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("strict", strict=True, quota={"cpu": 6})))
    s.run_upserted(make_run("too-big", queue="strict", requests={"cpu": 5}))
    s.run_upserted(make_run("over-quota", queue="strict", requests={"cpu": 7}))
    s.run_upserted(make_run("after", queue="strict", requests={"cpu": 1}))
    plan = s.cycle(NOW)
    assert bound(plan) == ["after"]
    assert waits(plan) == {"too-big": WaitCode.NO_CAPACITY, "over-quota": WaitCode.QUOTA_EXCEEDED}


def test_backfill_passes_a_large_run_only_until_its_starvation_limit() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("p0", capacity={"runs": 10, "cpu": 4}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("q", starvation_limit_seconds=30)))
    s.run_upserted(make_run("small-0", queue="q", requests={"cpu": 2}))
    assert bound(s.cycle(NOW)) == ["small-0"]
    s.run_upserted(make_run("big", queue="q", requests={"cpu": 4}))
    s.run_upserted(make_run("small-1", queue="q", requests={"cpu": 2}))
    assert bound(s.cycle(NOW + 1)) == ["small-1"]  # backfill: big does not fit now
    # small Runs keep coming and finishing: without a bound, big would never fit
    t = NOW + 2.0
    running = ["small-0", "small-1"]
    i = 2
    while t < NOW + 1 + 30:
        finish(s, running.pop(0))
        s.run_upserted(make_run(f"small-{i}", queue="q", requests={"cpu": 2}))
        s.pod_heartbeat(("default", "p0"), t)
        assert bound(s.cycle(t)) == [f"small-{i}"]
        running.append(f"small-{i}")
        i += 1
        t += 4
    # past the limit: the room freed is kept for big, nothing else starts
    finish(s, running.pop(0))
    s.run_upserted(make_run("late", queue="q", requests={"cpu": 2}))
    s.pod_heartbeat(("default", "p0"), t)
    assert bound(s.cycle(t)) == []
    blocked = s.why_waiting(("default", "late"))
    assert blocked is not None
    assert blocked.code is WaitCode.QUEUE_BLOCKED
    assert "Run big was passed over" in blocked.message
    finish(s, running.pop(0))
    assert bound(s.cycle(t + 1)) == ["big"]
    assert bound(s.cycle(t + 1)) == []  # big holds all the cpu; late waits for room again
    assert s.why_waiting(("default", "late")).code is WaitCode.NO_CAPACITY  # type: ignore[union-attr]


def test_max_pending_refuses_new_runs_with_a_clear_reason() -> None:
    s = scheduler_with(("p0", 1))
    s.handle(QueueUpserted(make_queue("q", max_pending=2)))
    s.run_upserted(make_run("r0", queue="q"))
    assert bound(s.cycle(NOW)) == ["r0"]  # holding capacity: no longer pending
    for i in range(1, 5):
        s.run_upserted(make_run(f"r{i}", queue="q"))
    plan = s.cycle(NOW)
    ended = {d.run[1]: d for d in plan.decisions if isinstance(d, Terminate)}
    assert list(ended) == ["r3", "r4"]
    assert ended["r3"].reason is FailureReason.QUEUE_FULL
    assert "maximum of 2 waiting Runs" in ended["r3"].message
    assert waits(plan) == {"r1": WaitCode.NO_CAPACITY}


def test_priority_classes_resolve_and_unknown_ones_fail() -> None:
    s = scheduler_with(("p0", 1), priority_classes={"high": 100})
    s.run_upserted(make_run("plain"))
    s.run_upserted(make_run("urgent", priority_class_name="high"))
    s.run_upserted(make_run("typo", priority_class_name="hihg"))
    plan = s.cycle(NOW)
    assert bound(plan) == ["urgent"]
    (ended,) = [d for d in plan.decisions if isinstance(d, Terminate)]
    assert ended.run[1] == "typo"
    assert ended.reason is FailureReason.UNKNOWN_PRIORITY_CLASS
    assert ended.phase is Phase.FAILED
    assert "known: high" in ended.message


def test_admission_off_ignores_queues() -> None:
    s = scheduler_with(("p0", 4), admission=False)
    s.handle(QueueUpserted(make_queue("q", quota={"runs": 1})))
    s.run_upserted(make_run("a", queue="q"))
    s.run_upserted(make_run("b", queue="nowhere"))
    assert bound(s.cycle(NOW)) == ["a", "b"]


def test_quota_freed_on_one_runtime_wakes_the_queue_on_another() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("b0", "bash", capacity={"runs": 4}, heartbeat=NOW))
    s.pod_upserted(make_pod("p0", "python", capacity={"runs": 4}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("q", quota={"runs": 1})))
    s.run_upserted(make_run("on-bash", "bash", queue="q"))
    assert bound(s.cycle(NOW)) == ["on-bash"]
    s.run_upserted(make_run("on-python", "python", queue="q"))
    assert waits(s.cycle(NOW)) == {"on-python": WaitCode.QUOTA_EXCEEDED}
    finish(s, "on-bash")
    assert bound(s.cycle(NOW + 1)) == ["on-python"]


def test_a_run_that_can_never_fit_does_not_keep_its_queues_quota() -> None:
    """Regression (found by the cohort state machine's drain): a Run passed over for its
    starvation limit while its queue was at its quota kept the queue's quota for itself, but
    no Pod has the cpu it asks for, so the queue's other Runs waited behind it forever."""
    s = scheduler_with(("p0", 2))
    s.handle(QueueUpserted(make_queue("q", quota={"runs": 1}, starvation_limit_seconds=5)))
    s.run_upserted(make_run("never", queue="q", requests={"runs": 1, "cpu": 1}))
    s.run_upserted(make_run("r1", queue="q"))
    s.run_upserted(make_run("r2", queue="q"))
    assert bound(s.cycle(NOW)) == ["r1"]  # passes "never", which fits no Pod
    s.pod_heartbeat(("default", "p0"), NOW + 5)
    assert bound(s.cycle(NOW + 5)) == []  # its starvation limit: the queue is at its quota
    assert s.why_waiting(("default", "r2")).code is WaitCode.QUOTA_EXCEEDED  # type: ignore[union-attr]
    finish(s, "r1")
    assert bound(s.cycle(NOW + 6)) == ["r2"]
    assert s.why_waiting(("default", "never")).code is WaitCode.NO_CAPACITY  # type: ignore[union-attr]


def test_a_starving_queue_keeps_its_quota_from_the_cohorts_borrowers() -> None:
    """A Run passed over for its starvation limit while waiting for quota gets the quota its
    queue's Runs free: another queue of the cohort may not borrow it meanwhile."""
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("p0", capacity={"runs": 10, "cpu": 10}, heartbeat=NOW))
    a = make_queue(
        "a", quota={"cpu": 2}, cohort="c", borrowing_limit={"cpu": 0}, starvation_limit_seconds=5
    )
    s.handle(QueueUpserted(a))
    s.handle(QueueUpserted(make_queue("b", quota={"cpu": 2}, cohort="c")))
    s.run_upserted(make_run("a0", queue="a", requests={"cpu": 1}))
    s.run_upserted(make_run("a-big", queue="a", requests={"cpu": 2}))
    s.run_upserted(make_run("a1", queue="a", requests={"cpu": 1}))
    assert bound(s.cycle(NOW)) == ["a0", "a1"]  # a-big waits for a's quota, passed over
    for i in range(3):
        s.run_upserted(make_run(f"b{i}", queue="b", requests={"cpu": 1}))
    s.pod_heartbeat(("default", "p0"), NOW + 5)
    assert bound(s.cycle(NOW + 5)) == ["b0", "b1"]  # a-big starves now; b2 may not borrow
    finish(s, "a0")
    assert bound(s.cycle(NOW + 6)) == []  # the cpu a0 freed stays with a
    reason = s.why_waiting(("default", "b2"))
    assert reason is not None
    assert "kept for its queues waiting for their own quota" in reason.message
    finish(s, "a1")
    assert bound(s.cycle(NOW + 7)) == ["a-big"]
    finish(s, "b0")
    assert bound(s.cycle(NOW + 8)) == ["b2"]


def test_a_starving_run_keeps_quota_and_room_only_while_a_pod_could_host_it() -> None:
    """Once its queue's quota frees, a starving Run that waits for room keeps both (nothing
    else of its queue starts); if the only Pod that could host it leaves, its queue goes on."""
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(make_pod("big", capacity={"runs": 1, "cpu": 1}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("other")))
    s.run_upserted(make_run("o", queue="other", requests={"runs": 1, "cpu": 1}))
    assert bound(s.cycle(NOW)) == ["o"]
    s.pod_upserted(make_pod("p0", capacity={"runs": 2}, heartbeat=NOW))
    s.handle(QueueUpserted(make_queue("q", quota={"runs": 1}, starvation_limit_seconds=5)))
    s.run_upserted(make_run("y", queue="q", requests={"runs": 1, "cpu": 1}))
    s.run_upserted(make_run("r1", queue="q"))
    s.run_upserted(make_run("r2", queue="q"))
    assert bound(s.cycle(NOW)) == ["r1"]  # passes y, which waits for room on "big"
    for pod in ("p0", "big"):
        s.pod_heartbeat(("default", pod), NOW + 5)
    assert bound(s.cycle(NOW + 5)) == []  # y's starvation limit: q keeps its quota for y
    finish(s, "r1")
    assert bound(s.cycle(NOW + 6)) == []  # y has the quota, not the room yet: r2 still waits
    assert s.why_waiting(("default", "r2")).code is WaitCode.QUEUE_BLOCKED  # type: ignore[union-attr]
    s.pod_deleted(("default", "big"))  # y can never fit now
    s.pod_heartbeat(("default", "p0"), NOW + 7)
    assert bound(s.cycle(NOW + 7)) == ["r2"]
    assert s.why_waiting(("default", "y")).code is WaitCode.NO_CAPACITY  # type: ignore[union-attr]
