"""Regression tests for the core's fast paths (see docs/benchmarks.md, core_placement).

Each one pins a behaviour that a shortcut must keep: the heap walked from its top
without taking the chosen Pod off, indexes built on first use, Pod copies made
without `attrs.evolve`.
"""

from __future__ import annotations

from attrs import evolve

from kruntimes import hookimpl, new_scheduler
from kruntimes.core import Bind, Scheduler, Wait
from kruntimes.model import (
    Affinity,
    LabelSelector,
    ObjectMeta,
    Phase,
    ResourceRequirements,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunSpec,
    RuntimePod,
    WaitCode,
)

NOW = 1_000.0


def pod(name: str, runs: int = 2, uid: str = "", **capacity: int) -> RuntimePod:
    return RuntimePod(
        name=name,
        runtime="bash",
        uid=uid or f"uid-{name}",
        capacity={"runs": runs, **capacity},
        heartbeat=NOW,
    )


def run(name: str, labels: dict[str, str] | None = None, **spec: object) -> Run:
    return Run(ObjectMeta(name=name, labels=labels or {}), RunSpec(runtime="bash", **spec))  # type: ignore[arg-type]


def land(s: Scheduler, r: Run, b: Bind, phase: Phase = Phase.SCHEDULED) -> Run:
    new = evolve(
        r, status=evolve(r.status, phase=phase, assigned_pod=b.pod, assigned_pod_uid=b.pod_uid)
    )
    s.run_upserted(new)
    return new


def binds(s: Scheduler, now: float = NOW) -> list[Bind]:
    return list(s.cycle(now).binds)


def test_a_pod_deleted_and_created_again_under_its_name_is_used() -> None:
    s = new_scheduler(load_entry_points=False)
    first = pod("p1", uid="u1")
    s.pod_upserted(first)
    s.cycle(NOW)
    s.pod_deleted(first.key)
    s.cycle(NOW + 1)
    s.pod_upserted(evolve(pod("p1", uid="u2"), heartbeat=NOW + 1))
    s.cycle(NOW + 2)  # used to raise TypeError: two heap entries tied up to the PodState
    s.run_upserted(run("r"))
    assert binds(s, NOW + 3) == [Bind(("default", "r"), "p1", "u2", 1)]


def test_label_index_built_late_sees_runs_bound_before() -> None:
    s = new_scheduler(load_entry_points=False)
    for name in ("p1", "p2", "p3"):
        s.pod_upserted(pod(name, runs=4))
    db = run("db", labels={"app": "db"})
    s.run_upserted(db)
    (b,) = binds(s)
    land(s, db, b)
    for i in range(3):  # more Runs, no affinity: nothing asks the index yet
        r = run(f"w{i}", labels={"app": "web"})
        s.run_upserted(r)
        (bw,) = binds(s)
        land(s, r, bw, Phase.RUNNING)
    near = RunAffinityTerm(label_selector=LabelSelector(match_labels={"app": "db"}))
    s.run_upserted(run("cache", affinity=Affinity(run_affinity=RunAffinityRules(required=(near,)))))
    (bc,) = binds(s)
    assert bc.pod == b.pod
    away = RunAffinityTerm(label_selector=LabelSelector(match_labels={"app": "web"}))
    s.run_upserted(run("lone", affinity=Affinity(run_anti_affinity=RunAffinityRules((away,)))))
    web_pods = s.pods_hosting("default", LabelSelector(match_labels={"app": "web"}))
    assert web_pods
    placed = binds(s)
    assert all(b.pod not in web_pods for b in placed)


def test_heartbeat_copy_equals_evolve() -> None:
    s = new_scheduler(load_entry_points=False)
    p = evolve(pod("p1"), labels={"zone": "a"}, deletion_time=None)
    s.pod_upserted(p)
    s.pod_heartbeat(p.key, NOW + 3)
    state = s.pod("default", "p1")
    assert state is not None
    assert state.pod == evolve(p, heartbeat=NOW + 3)
    assert type(state.pod) is RuntimePod


class RefuseFirst:
    def __init__(self) -> None:
        self.refused = 0

    @hookimpl
    def kruntimes_reserve(self, run: Run, pod: object) -> str | None:
        if self.refused == 0:
            self.refused += 1
            return "not now"
        return None


def test_a_refused_reservation_leaves_the_pod_to_the_next_run() -> None:
    refuse = RefuseFirst()
    s = new_scheduler(plugins=[refuse], load_entry_points=False)
    s.pod_upserted(pod("p1", runs=1))
    s.run_upserted(run("a"))
    s.run_upserted(run("b"))
    plan = s.cycle(NOW)
    assert [type(d) for d in plan.decisions] == [Wait, Bind]
    wait, bind = plan.decisions
    assert isinstance(wait, Wait)
    assert wait.reason.code is WaitCode.RESERVE_REJECTED
    assert bind == Bind(("default", "b"), "p1", "uid-p1", 1)


def test_pods_that_do_not_fit_are_skipped_and_stay_candidates() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(pod("a-small", runs=2))
    s.pod_upserted(pod("b-gpu", runs=2, gpu=1))
    gpu = run("gpu", resources=ResourceRequirements({"gpu": 1}))
    s.run_upserted(gpu)
    assert [b.pod for b in binds(s)] == ["b-gpu"]
    s.run_upserted(run("plain"))
    assert [b.pod for b in binds(s)] == ["a-small"]


def test_a_request_with_a_bool_or_float_quantity_does_not_stand_for_integer_ones() -> None:
    s = new_scheduler(load_entry_points=False)
    s.pod_upserted(pod("p1", runs=4))
    s.run_upserted(run("odd", resources=ResourceRequirements({"runs": True})))  # type: ignore[dict-item]
    s.run_upserted(run("fine", resources=ResourceRequirements({"runs": 1})))
    plan = s.cycle(NOW)
    terminated = [d.run for d in plan.terminations]
    assert terminated == [("default", "odd")]
    assert [b.run for b in plan.binds] == [("default", "fine")]
