"""Behaviour of the core, one scenario at a time (the stateful suite covers combinations)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from attrs import evolve

from kruntimes import SchedulerConfig, hookimpl, new_scheduler
from kruntimes.core import Bind, Requeue, Scheduler, Terminate, Wait
from kruntimes.model import (
    Affinity,
    Condition,
    ConditionReason,
    ConditionStatus,
    ConditionType,
    FailureReason,
    LabelSelector,
    ObjectMeta,
    Phase,
    ResourceRequirements,
    RetryPolicy,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunSpec,
    RuntimePod,
    WaitCode,
    WeightedRunAffinityTerm,
)

NOW = 1_000.0


def pod(name: str, runs: int = 2, runtime: str = "bash", **kw: object) -> RuntimePod:
    kw.setdefault("heartbeat", NOW)
    kw.setdefault("uid", f"uid-{name}")
    return RuntimePod(
        name=name, runtime=runtime, capacity={"runs": runs, **kw.pop("extra", {})}, **kw
    )  # type: ignore[arg-type]


def run(
    name: str, runtime: str = "bash", labels: dict[str, str] | None = None, **spec: object
) -> Run:
    return Run(ObjectMeta(name=name, labels=labels or {}), RunSpec(runtime=runtime, **spec))  # type: ignore[arg-type]


def with_status(r: Run, **status: object) -> Run:
    return evolve(r, status=evolve(r.status, **status))


def landed(s: Scheduler, r: Run, b: Bind) -> Run:
    """Play the store: the Bind was written; feed the new version back."""
    new = with_status(r, phase=Phase.SCHEDULED, assigned_pod=b.pod, assigned_pod_uid=b.pod_uid)
    s.run_upserted(new)
    return new


def sched(**config: object) -> Scheduler:
    return new_scheduler(SchedulerConfig(**config), load_entry_points=False)  # type: ignore[arg-type]


def test_least_loaded_spreads_and_most_allocated_packs() -> None:
    for ordering, expected in [
        ("least-loaded", {"a": 2, "b": 2, "c": 2}),
        ("most-allocated", {"a": 3, "b": 3}),
    ]:
        s = sched(ordering=ordering)
        for name in "abc":
            s.pod_upserted(pod(name, runs=3))
        for i in range(6):
            s.run_upserted(run(f"r{i}"))
        plan = s.cycle(NOW)
        assert Counter(b.pod for b in plan.binds) == expected


def test_capacity_is_respected_and_released_capacity_wakes_the_pool() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=2))
    runs = [run(f"r{i}") for i in range(3)]
    for r in runs:
        s.run_upserted(r)
    plan = s.cycle(NOW)
    assert [b.run[1] for b in plan.binds] == ["r0", "r1"]
    assert plan.waits == (Wait(("default", "r2"), plan.waits[0].reason),)
    assert plan.waits[0].reason.code is WaitCode.NO_CAPACITY
    first = landed(s, runs[0], plan.binds[0])
    assert s.cycle(NOW).decisions == ()  # nothing changed, nothing decided
    s.run_upserted(with_status(first, phase=Phase.SUCCEEDED))
    assert [b.run[1] for b in s.cycle(NOW).binds] == ["r2"]
    assert s.statistics().wakeups["capacity"] >= 1


def test_no_pod_for_runtime_then_a_pod_arrives() -> None:
    s = sched()
    s.run_upserted(run("r", runtime="python"))
    (wait,) = s.cycle(NOW).waits
    assert wait.reason.code is WaitCode.NO_POD_FOR_RUNTIME
    assert "runtime=python" in wait.reason.message
    s.pod_upserted(pod("p", runtime="python"))
    assert [b.pod for b in s.cycle(NOW).binds] == ["p"]


def test_pods_without_fresh_heartbeat_get_no_runs() -> None:
    s = sched()
    s.pod_upserted(pod("a", heartbeat=NOW - 16))
    s.run_upserted(run("r"))
    (wait,) = s.cycle(NOW).waits
    assert wait.reason.code is WaitCode.NO_AVAILABLE_POD
    assert "heartbeat" in wait.reason.message
    s.pod_heartbeat(("default", "a"), NOW)
    assert len(s.cycle(NOW).binds) == 1


@pytest.mark.parametrize("change", [{"ready": False}, {"deleting": True, "deletion_time": NOW}])
def test_unready_or_deleting_pods_get_no_runs(change: dict[str, object]) -> None:
    s = sched()
    s.pod_upserted(evolve(pod("a"), **change))
    s.run_upserted(run("r"))
    assert s.cycle(NOW).waits[0].reason.code is WaitCode.NO_AVAILABLE_POD


def test_unreserve_is_idempotent_and_requeues() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=1))
    s.run_upserted(run("r"))
    (b,) = s.cycle(NOW).binds
    assert s.pod("default", "a").used == {"runs": 1}  # type: ignore[union-attr]
    s.unreserve(b.run)
    s.unreserve(b.run)
    assert s.pod("default", "a").used == {}  # type: ignore[union-attr]
    assert s.cycle(NOW).binds == (b,)


def test_a_stale_pending_event_does_not_drop_a_reservation() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=1))
    r = run("r")
    s.run_upserted(r)
    s.cycle(NOW)
    s.run_upserted(r)  # an older version still in the watch pipeline
    s.run_upserted(run("other"))
    assert s.cycle(NOW).binds == ()


def test_bound_elsewhere_by_another_writer_releases_our_reservation() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=1))
    s.pod_upserted(pod("b", runs=1))
    r = run("r")
    s.run_upserted(r)
    (b,) = s.cycle(NOW).binds
    other = "b" if b.pod == "a" else "a"
    s.run_upserted(
        with_status(r, phase=Phase.SCHEDULED, assigned_pod=other, assigned_pod_uid=f"uid-{other}")
    )
    assert s.pod("default", b.pod).used == {}  # type: ignore[union-attr]
    assert s.pod("default", other).used == {"runs": 1}  # type: ignore[union-attr]


def test_lost_execution_is_retried_with_backoff() -> None:
    s = sched()
    s.pod_upserted(pod("a"))
    r = run("r", retry_policy=RetryPolicy(max_attempts=3, backoff_seconds=2.0))
    s.run_upserted(r)
    (b,) = s.cycle(NOW).binds
    running = with_status(landed(s, r, b), phase=Phase.RUNNING)
    s.run_upserted(running)
    s.pod_deleted(("default", "a"))
    (requeue,) = s.cycle(NOW + 1).decisions
    assert requeue == Requeue(r.key, 2, NOW + 1 + 2.0, FailureReason.POD_GONE, requeue.message)  # type: ignore[union-attr]
    assert s.cycle(NOW + 1).decisions == ()  # in flight: not decided twice
    retrying = Condition(
        type=ConditionType.RUNNING,
        status=ConditionStatus.FALSE,
        reason=ConditionReason.RETRYING,
        last_transition_time=datetime.fromtimestamp(NOW + 1, UTC),
    )
    s.run_upserted(
        with_status(
            running,
            phase=Phase.PENDING,
            assigned_pod=None,
            assigned_pod_uid=None,
            attempt=2,
            conditions=(retrying,),
        )
    )
    s.pod_upserted(pod("b"))
    why = s.why_waiting(r.key)
    assert why is not None
    assert why.code is WaitCode.BACKOFF
    assert why.until == NOW + 3
    plan = s.cycle(NOW + 2)
    assert plan.binds == ()
    assert plan.next_wakeup == NOW + 3
    assert [(b.pod, b.attempt) for b in s.cycle(NOW + 3).binds] == [("b", 2)]


def test_lost_execution_without_retries_fails() -> None:
    s = sched()
    s.pod_upserted(pod("a"))
    r = run("r")
    s.run_upserted(r)
    (b,) = s.cycle(NOW).binds
    s.run_upserted(with_status(landed(s, r, b), phase=Phase.RUNNING))
    s.pod_upserted(evolve(pod("a"), uid="new-uid"))  # replaced
    (term,) = s.cycle(NOW).decisions
    assert isinstance(term, Terminate)
    assert (term.phase, term.reason) == (Phase.FAILED, FailureReason.POD_GONE)


def test_scheduled_run_on_gone_pod_is_unbound_without_spending_an_attempt() -> None:
    s = sched()
    s.pod_upserted(pod("a"))
    r = run("r")
    s.run_upserted(r)
    (b,) = s.cycle(NOW).binds
    landed(s, r, b)
    s.pod_deleted(("default", "a"))
    (requeue,) = s.cycle(NOW).decisions
    assert isinstance(requeue, Requeue)
    assert requeue.attempt == 1


def test_silent_pod_loses_its_runs_after_the_stale_threshold() -> None:
    s = sched()
    s.pod_upserted(pod("a"))
    r = run("r", retry_policy=RetryPolicy(max_attempts=2))
    s.run_upserted(r)
    (b,) = s.cycle(NOW).binds
    s.run_upserted(with_status(landed(s, r, b), phase=Phase.RUNNING))
    plan = s.cycle(NOW + 20)  # heartbeat 20 s old: no new Runs, but not stale yet
    assert plan.decisions == ()
    assert plan.next_wakeup == NOW + 30
    (requeue,) = s.cycle(NOW + 30).decisions
    assert isinstance(requeue, Requeue)
    assert requeue.reason is FailureReason.POD_UNHEALTHY


def test_pending_cancel_and_invalid_resources_terminate() -> None:
    s = sched()
    s.pod_upserted(pod("a"))
    s.run_upserted(run("c", cancel_requested=True))
    s.run_upserted(run("bad", resources=ResourceRequirements({"runs": -1})))
    decisions = {d.run[1]: d for d in s.cycle(NOW).decisions}
    assert isinstance(decisions["c"], Terminate)
    assert decisions["c"].phase is Phase.CANCELLED
    assert isinstance(decisions["bad"], Terminate)
    assert decisions["bad"].reason is FailureReason.INVALID_RESOURCES
    s.unreserve(("default", "c"))  # the write failed: decided again
    assert [d.run[1] for d in s.cycle(NOW).decisions] == ["c"]


def test_extended_resources_must_fit() -> None:
    s = sched()
    s.pod_upserted(pod("cpu-only", runs=8))
    s.pod_upserted(pod("gpu", runs=8, extra={"gpu": 1}))
    s.run_upserted(run("g1", resources=ResourceRequirements({"gpu": 1})))
    s.run_upserted(run("g2", resources=ResourceRequirements({"gpu": 1})))
    plan = s.cycle(NOW)
    assert [(b.run[1], b.pod) for b in plan.binds] == [("g1", "gpu")]
    assert plan.waits[0].reason.code is WaitCode.NO_CAPACITY


def _selector(**labels: str) -> LabelSelector:
    return LabelSelector(match_labels=labels)


def test_required_affinity_anti_affinity_and_bootstrap() -> None:
    s = sched()
    for name in "abc":
        s.pod_upserted(pod(name, runs=4))
    together = Affinity(
        run_affinity=RunAffinityRules(required=[RunAffinityTerm(_selector(app="db"))])
    )
    first = run("db-0", labels={"app": "db"}, affinity=together)  # bootstrap: matches itself
    s.run_upserted(first)
    (b0,) = s.cycle(NOW).binds
    landed(s, first, b0)
    s.run_upserted(run("db-1", labels={"app": "db"}, affinity=together))
    s.run_upserted(run("web", affinity=together))
    assert {b.run[1]: b.pod for b in s.cycle(NOW).binds} == {"db-1": b0.pod, "web": b0.pod}
    apart = Affinity(
        run_anti_affinity=RunAffinityRules(required=[RunAffinityTerm(_selector(app="db"))])
    )
    s.run_upserted(run("loner", affinity=apart))
    (b,) = s.cycle(NOW).binds
    assert b.pod != b0.pod


def test_required_anti_affinity_is_symmetric() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=4))
    s.pod_upserted(pod("b", runs=4))
    apart = Affinity(
        run_anti_affinity=RunAffinityRules(required=[RunAffinityTerm(_selector(team="x"))])
    )
    picky = run("picky", affinity=apart)
    s.run_upserted(picky)
    (b,) = s.cycle(NOW).binds
    landed(s, picky, b)
    for i in range(3):
        s.run_upserted(run(f"x{i}", labels={"team": "x"}))
    assert {bb.pod for bb in s.cycle(NOW).binds} == {"b" if b.pod == "a" else "a"}


def test_affinity_without_target_waits_with_reason() -> None:
    s = sched()
    s.pod_upserted(pod("a"))
    need = Affinity(
        run_affinity=RunAffinityRules(required=[RunAffinityTerm(_selector(app="cache"))])
    )
    s.run_upserted(run("r", affinity=need))
    (wait,) = s.cycle(NOW).waits
    assert wait.reason.code is WaitCode.AFFINITY_UNSATISFIED


def test_preferred_affinity_beats_load() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=8))
    s.pod_upserted(pod("b", runs=8))
    cache = run("cache", labels={"app": "cache"})
    s.run_upserted(cache)
    (b0,) = s.cycle(NOW).binds
    landed(s, cache, b0)
    likes = Affinity(
        run_affinity=RunAffinityRules(
            preferred=[WeightedRunAffinityTerm(100, RunAffinityTerm(_selector(app="cache")))]
        )
    )
    s.run_upserted(run("client", affinity=likes))
    (b,) = s.cycle(NOW).binds
    assert b.pod == b0.pod  # the other Pod is emptier, but the preference wins


def test_max_binds_bounds_a_cycle_and_the_next_continues() -> None:
    s = sched()
    s.pod_upserted(pod("a", runs=10))
    for i in range(5):
        s.run_upserted(run(f"r{i}"))
    assert len(s.cycle(NOW, max_binds=2).binds) == 2
    assert len(s.cycle(NOW, max_binds=2).binds) == 2
    assert len(s.cycle(NOW).binds) == 1


def test_same_events_same_plans() -> None:
    def script() -> list[object]:
        s = sched()
        plans = []
        for i in range(6):
            s.pod_upserted(pod(f"p{5 - i}", runs=i % 3 + 1))
        for i in range(20):
            s.run_upserted(run(f"r{i}", labels={"k": str(i % 3)}))
        plans.append(s.cycle(NOW))
        s.pod_deleted(("default", "p3"))
        plans.append(s.cycle(NOW + 1))
        return plans

    assert script() == script()


class OnlyEvenPods:
    @hookimpl
    def kruntimes_filter(self, pods):  # type: ignore[no-untyped-def]
        return {p.name: "odd" for p in pods if int(p.name[1:]) % 2}


class RefuseFirst:
    def __init__(self) -> None:
        self.unreserved: list[str] = []
        self.refused = False

    @hookimpl
    def kruntimes_reserve(self, pod):  # type: ignore[no-untyped-def]
        if not self.refused:
            self.refused = True
            return "quota"
        return None

    @hookimpl
    def kruntimes_unreserve(self, pod):  # type: ignore[no-untyped-def]
        self.unreserved.append(pod)


def test_filter_hook_and_reserve_refusal() -> None:
    refuse = RefuseFirst()
    s = new_scheduler(plugins=[OnlyEvenPods(), refuse], load_entry_points=False)
    for i in range(4):
        s.pod_upserted(pod(f"p{i}"))
    s.run_upserted(run("r0"))
    (wait,) = s.cycle(NOW).waits
    assert wait.reason.code is WaitCode.RESERVE_REJECTED
    assert refuse.unreserved == ["p0"]
    for i in range(1, 5):
        s.run_upserted(run(f"r{i}"))
    plan = s.cycle(NOW)
    assert {b.pod for b in plan.binds} == {"p0", "p2"}
    assert plan.waits[0].reason.code is WaitCode.FILTERED
