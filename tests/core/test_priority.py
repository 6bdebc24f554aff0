"""`spec.priority`: a pool places its highest-priority Runs first, FIFO among equals."""

from __future__ import annotations

from typing import ClassVar

import pytest
from attrs import evolve

from kruntimes import hookimpl, new_scheduler
from kruntimes.codec import validate_run, validate_run_update
from kruntimes.core import Bind, Wait
from kruntimes.model import Run, WaitCode
from kruntimes.testing.builders import make_pod, make_run

NOW = 1_000.0


def bound(plan: object) -> list[str]:
    return [d.run[1] for d in plan.decisions if isinstance(d, Bind)]  # type: ignore[attr-defined]


def test_the_highest_priority_runs_take_the_free_slots() -> None:
    scheduler = new_scheduler()
    scheduler.pod_upserted(make_pod("p0", capacity={"runs": 2}, heartbeat=NOW))
    for name, priority in [("low-a", 0), ("high", 10), ("low-b", 0), ("mid", 5), ("neg", -3)]:
        scheduler.run_upserted(make_run(name, priority=priority))
    plan = scheduler.cycle(NOW)
    assert bound(plan) == ["high", "mid"]
    waiting = {d.run[1]: d.reason.code for d in plan.decisions if isinstance(d, Wait)}
    assert set(waiting) <= {"low-a", "low-b", "neg"}
    assert set(waiting.values()) <= {WaitCode.NO_CAPACITY}


def test_equal_priorities_keep_arrival_order() -> None:
    scheduler = new_scheduler()
    scheduler.pod_upserted(make_pod("p0", capacity={"runs": 3}, heartbeat=NOW))
    for name in ["c", "a", "b", "d"]:
        scheduler.run_upserted(make_run(name, priority=1))
    scheduler.run_upserted(make_run("first", priority=2))
    assert bound(scheduler.cycle(NOW)) == ["first", "c", "a"]


def test_a_freed_slot_goes_to_the_highest_waiting_priority() -> None:
    scheduler = new_scheduler()
    scheduler.pod_upserted(make_pod("p0", capacity={"runs": 1}, heartbeat=NOW))
    scheduler.run_upserted(make_run("running", priority=0))
    (bind,) = scheduler.cycle(NOW).binds
    scheduler.run_upserted(make_run("later-low", priority=0))
    scheduler.run_upserted(make_run("later-high", priority=7))
    assert bound(scheduler.cycle(NOW)) == []
    scheduler.run_deleted(bind.run)
    assert bound(scheduler.cycle(NOW + 1)) == ["later-high"]


def test_priority_is_an_int32_and_immutable() -> None:
    assert validate_run(make_run("a", priority=2**31 - 1)) == ()
    (error,) = validate_run(make_run("a", priority=2**31))
    assert error.path == "spec.priority"
    old = make_run("a", priority=1)
    (change,) = validate_run_update(old, evolve(old, spec=evolve(old.spec, priority=2)))
    assert change.path == "spec.priority"


@pytest.mark.parametrize("priorities", [[0, 0, 0], [3, 1, 2], [-1, 5, -1, 5]])
def test_every_run_binds_once_capacity_allows(priorities: list[int]) -> None:
    scheduler = new_scheduler()
    scheduler.pod_upserted(make_pod("p0", capacity={"runs": len(priorities)}, heartbeat=NOW))
    for i, priority in enumerate(priorities):
        scheduler.run_upserted(make_run(f"r{i}", priority=priority))
    order = bound(scheduler.cycle(NOW))
    expected = sorted(range(len(priorities)), key=lambda i: (-priorities[i], i))
    assert order == [f"r{i}" for i in expected]


class PriorityClasses:
    """Resolves the label `priority-class` to a number, as a platform's plugin would."""

    CLASSES: ClassVar[dict[str, int]] = {"critical": 1000, "batch": -10}

    @hookimpl
    def kruntimes_run_priority(self, run: Run) -> int | None:
        name = run.metadata.labels.get("priority-class")
        return self.CLASSES.get(name) if name is not None else None


def test_a_plugin_resolves_priority_classes() -> None:
    scheduler = new_scheduler(plugins=[PriorityClasses()])
    scheduler.pod_upserted(make_pod("p0", capacity={"runs": 2}, heartbeat=NOW))
    scheduler.run_upserted(make_run("plain", priority=5))
    scheduler.run_upserted(make_run("nightly", labels={"priority-class": "batch"}))
    scheduler.run_upserted(make_run("pager", labels={"priority-class": "critical"}))
    assert bound(scheduler.cycle(NOW)) == ["pager", "plain"]


def test_runs_behind_a_full_pool_say_that_higher_priorities_wait_ahead() -> None:
    scheduler = new_scheduler()
    scheduler.pod_upserted(make_pod("p0", capacity={"runs": 1}, heartbeat=NOW))
    scheduler.run_upserted(make_run("running"))
    scheduler.cycle(NOW)
    for name, priority in [("low", 0), ("high", 5), ("also-high", 5)]:
        scheduler.run_upserted(make_run(name, priority=priority))
    scheduler.cycle(NOW + 1)
    high = scheduler.why_waiting(("default", "high"))
    low = scheduler.why_waiting(("default", "low"))
    assert high is not None
    assert high.code is WaitCode.NO_CAPACITY
    assert low is not None
    assert low.code is WaitCode.LOWER_PRIORITY
    assert "priority 5" in low.message
