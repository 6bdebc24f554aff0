"""The array planner: children lowest index first, within parallelism, each index folded once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from attrs import evolve, frozen
from hypothesis import given, settings
from hypothesis import strategies as st

from kruntimes.codec import limits
from kruntimes.core.arrays import (
    ARRAY_INDEX_ENV,
    ARRAY_INDEX_LABEL,
    ARRAY_LABEL,
    INDEXES_FAILED,
    INDEXES_MAX_CHARS,
    INVALID_ARRAY,
    ArrayPlan,
    child_index,
    child_run,
    decode_indexes,
    encode_indexes,
    format_ranges,
    parse_ranges,
    plan_array,
)
from kruntimes.model import (
    ArraySpec,
    ArrayStatus,
    ConditionType,
    EnvVar,
    ObjectMeta,
    Phase,
    RetryPolicy,
    Run,
    RunSpec,
    RunStatus,
)

UID = "parent-uid"


def parent(
    completions: int,
    parallelism: int | None = None,
    *,
    compact: bool = False,
    name: str = "job",
    **spec: Any,
) -> Run:
    return Run(
        ObjectMeta(name=name, uid=UID, resource_version="1", labels={"team": "a"}),
        RunSpec(runtime="bash", array=ArraySpec(completions, parallelism, compact), **spec),
    )


def with_phase(run: Run, phase: Phase, message: str = "") -> Run:
    return evolve(run, status=evolve(run.status, phase=phase, message=message))


def names(runs: tuple[Run, ...]) -> list[str]:
    return [r.metadata.name for r in runs]


def step(p: Run, plan: ArrayPlan) -> Run:
    return p if plan.status is None else evolve(p, status=plan.status)


# -- index ranges ----------------------------------------------------------------------


@given(st.frozensets(st.integers(0, 300)))
def test_index_sets_round_trip_through_ranges(indexes: frozenset[int]) -> None:
    text = encode_indexes(indexes)
    assert decode_indexes(text) == indexes
    assert encode_indexes(decode_indexes(text)) == text  # canonical
    assert format_ranges(parse_ranges(text)) == text


@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 20))))
def test_ranges_in_any_order_and_overlap_parse_to_their_union(spans: list[tuple[int, int]]) -> None:
    text = ",".join(f"{lo}-{lo + n}" if n else str(lo) for lo, n in spans)
    expected = {i for lo, n in spans for i in range(lo, lo + n + 1)}
    assert decode_indexes(text) == expected


def test_ranges_are_compact() -> None:
    assert encode_indexes([7, 0, 1, 2, 3, 9, 10]) == "0-3,7,9-10"
    assert encode_indexes([]) == ""
    assert parse_ranges("5,0-2,3") == ((0, 3), (5, 5))


@pytest.mark.parametrize("text", ["a", "3-1", "-1", "1-", "1,,2", "1-2-3", " 1", "1.5", "\u0663"])
def test_malformed_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"index|range|ends"):
        parse_ranges(text)


# -- children --------------------------------------------------------------------------


def test_a_child_is_the_parent_without_array_plus_its_index() -> None:
    p = parent(
        4,
        queue="batch",
        priority=7,
        retry_policy=RetryPolicy(max_attempts=3),
        env=(EnvVar("A", "1"), EnvVar(ARRAY_INDEX_ENV, "ignored")),
        ttl_seconds_after_finished=60,
    )
    child = child_run(p, 2)
    assert child.metadata.name == "job-2"
    assert child.metadata.labels == {"team": "a", ARRAY_LABEL: "job", ARRAY_INDEX_LABEL: "2"}
    assert child.metadata.owner_references == (
        {
            "apiVersion": "kruntimes.io/v1alpha1",
            "kind": "Run",
            "name": "job",
            "uid": UID,
            "controller": True,
        },
    )
    assert child.spec.env == (EnvVar("A", "1"), EnvVar(ARRAY_INDEX_ENV, "2"))
    assert child.spec.array is None
    assert child.spec.ttl_seconds_after_finished is None
    assert (child.spec.queue, child.spec.priority, child.spec.retry_policy.max_attempts) == (
        "batch",
        7,
        3,
    )
    assert child_index(p, child) == 2


def test_runs_of_another_owner_or_name_are_not_children() -> None:
    p = parent(4)
    child = child_run(p, 1)
    other_uid = evolve(child, metadata=evolve(child.metadata, owner_references=()))
    renamed = evolve(child, metadata=evolve(child.metadata, name="job-3"))
    out_of_range = child_run(parent(9), 7)
    assert [child_index(p, c) for c in (other_uid, renamed, out_of_range)] == [None] * 3
    plan = plan_array(p, [other_uid, renamed, out_of_range], 0.0)
    assert names(plan.create) == ["job-0", "job-1", "job-2", "job-3"]


# -- planning, by example ----------------------------------------------------------------


def test_lowest_indexes_first_within_parallelism_and_pending_until_one_runs() -> None:
    p = parent(5, 2)
    plan = plan_array(p, [], 0.0)
    assert names(plan.create) == ["job-0", "job-1"]
    assert plan.status is not None
    assert plan.status.phase is Phase.PENDING
    assert plan.status.array == ArrayStatus(active=2)
    p = step(p, plan)
    kids = list(plan.create)
    assert plan_array(p, kids, 1.0).empty
    kids[1] = with_phase(kids[1], Phase.RUNNING)
    plan = plan_array(p, kids, 2.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.RUNNING
    running = plan.status.condition(ConditionType.RUNNING)
    assert running is not None
    assert running.reason == "ArrayStarted"
    kids[1] = with_phase(kids[1], Phase.SUCCEEDED)
    plan = plan_array(step(p, plan), kids, 3.0)
    assert names(plan.create) == ["job-2"]
    assert plan.settled == ("job-1",)
    assert plan.status is not None
    assert plan.status.array == ArrayStatus(active=2, succeeded=1, completed_indexes="1")


def test_compact_mode_deletes_what_it_folded_and_never_counts_it_twice() -> None:
    p = parent(3, 1, compact=True)
    p = step(p, plan := plan_array(p, [], 0.0))
    done = with_phase(plan.create[0], Phase.SUCCEEDED)
    plan = plan_array(p, [done], 1.0)
    assert plan.delete == ("job-0",)
    assert names(plan.create) == ["job-1"]
    p = step(p, plan)
    again = plan_array(p, [done, *plan.create], 2.0)  # the delete did not land yet
    assert again.status is None
    assert again.delete == ("job-0",)
    assert again.create == ()


def test_failed_indexes_fail_the_parent_with_a_capped_message() -> None:
    n = 2000
    p = parent(n, compact=True)
    even = encode_indexes(range(0, n, 2))
    odd = encode_indexes(range(1, n - 1, 2))
    p = evolve(
        p,
        status=RunStatus(
            phase=Phase.RUNNING,
            array=ArrayStatus(completed_indexes=even, failed_indexes=odd),
        ),
    )
    last = with_phase(child_run(p, n - 1), Phase.FAILED, "RuntimeError: exited with code 1")
    plan = plan_array(p, [last], 5.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.FAILED
    assert plan.status.array is not None
    assert plan.status.array.failed == n // 2
    message = plan.status.message
    assert message.startswith(f"{INDEXES_FAILED}: 1000 of 2000 indexes failed: 1,3,5,")
    assert ",... (last: index" in message
    assert message.endswith(f"(last: index {n - 1} failed: RuntimeError: exited with code 1)")
    assert len(message) < 800


def test_cancelling_stops_creating_cancels_children_then_ends_cancelled() -> None:
    p = parent(6, 2)
    p = step(p, plan := plan_array(p, [], 0.0))
    kids = [with_phase(plan.create[0], Phase.RUNNING), plan.create[1]]
    p = evolve(p, spec=evolve(p.spec, cancel_requested=True))
    plan = plan_array(p, kids, 1.0)
    assert plan.create == ()
    assert names(plan.cancel) == ["job-0", "job-1"]
    assert all(c.spec.cancel_requested for c in plan.cancel)
    assert plan.status is not None
    assert plan.status.phase is Phase.RUNNING
    p = step(p, plan)
    kids = [with_phase(c, Phase.CANCELLED) for c in plan.cancel]
    plan = plan_array(p, kids, 2.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.CANCELLED
    assert plan.status.message == "Cancelled: 2 of 6 indexes finished"
    assert plan.status.array == ArrayStatus(failed=2, failed_indexes="0-1")


def test_a_cancelled_array_with_no_child_ends_at_once() -> None:
    p = parent(3)
    p = evolve(p, spec=evolve(p.spec, cancel_requested=True))
    plan = plan_array(p, [], 0.0)
    assert plan.create == ()
    assert plan.status is not None
    assert plan.status.phase is Phase.CANCELLED


def test_zero_completions_succeed_at_once() -> None:
    plan = plan_array(parent(0), [], 0.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.SUCCEEDED
    assert plan.create == ()


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ArrayStatus(completed_indexes="0-x"), "not an index"),
        (ArrayStatus(completed_indexes="0-9"), "names index 9 of 4"),
        (ArrayStatus(completed_indexes="0-1", failed_indexes="1"), "both completed and failed"),
    ],
)
def test_a_corrupt_status_fails_the_array_instead_of_guessing(
    status: ArrayStatus, reason: str
) -> None:
    p = evolve(parent(4), status=RunStatus(array=status))
    running = with_phase(child_run(p, 3), Phase.RUNNING)
    plan = plan_array(p, [running], 0.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.FAILED
    assert plan.status.message.startswith(INVALID_ARRAY)
    assert reason in plan.status.message
    assert names(plan.cancel) == ["job-3"]


def test_ranges_too_long_to_store_fail_the_array_with_its_last_status() -> None:
    assert INDEXES_MAX_CHARS == limits.ARRAY_INDEXES_MAX
    odd = list(range(1, 30_000, 2))
    while len(encode_indexes(odd)) < INDEXES_MAX_CHARS - 4:
        odd.append(odd[-1] + 2)
    last = ArrayStatus(failed=len(odd), failed_indexes=encode_indexes(odd))
    p = evolve(parent(1_000_000), status=RunStatus(phase=Phase.RUNNING, array=last))
    failing = with_phase(child_run(p, odd[-1] + 2), Phase.FAILED)
    running = with_phase(child_run(p, odd[-1] + 4), Phase.RUNNING)
    plan = plan_array(p, [failing, running], 0.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.FAILED
    assert plan.status.array == last
    assert "more than status.array holds" in plan.status.message
    assert names(plan.cancel) == [running.metadata.name]


def test_a_name_too_long_for_the_label_fails_the_array() -> None:
    plan = plan_array(parent(2, name="x" * 64), [], 0.0)
    assert plan.status is not None
    assert plan.status.phase is Phase.FAILED
    assert "at most 63 characters" in plan.status.message


def test_a_parent_placed_by_an_older_scheduler_is_left_alone() -> None:
    assert plan_array(with_phase(parent(2), Phase.SCHEDULED), [], 0.0) == ArrayPlan()


def test_a_million_completions_plan_in_little_work() -> None:
    n = 1_000_000
    p = evolve(
        parent(n, 3, compact=True),
        status=RunStatus(
            phase=Phase.RUNNING, array=ArrayStatus(completed_indexes=f"0-{n - 5},{n - 3}")
        ),
    )
    plan = plan_array(p, [with_phase(child_run(p, n - 4), Phase.RUNNING)], 0.0)
    assert names(plan.create) == [f"job-{n - 2}", f"job-{n - 1}"]


def test_max_creates_bounds_one_plan() -> None:
    p = parent(10)
    plan = plan_array(p, [], 0.0, max_creates=4)
    assert names(plan.create) == ["job-0", "job-1", "job-2", "job-3"]
    assert plan.more
    plan = plan_array(step(p, plan), plan.create, 0.0, max_creates=6)
    assert len(plan.create) == 6
    assert not plan.more  # nothing left to create


# -- planning, as a property: a simulated world of children ---------------------------


@frozen
class Shape:
    completions: int
    parallelism: int | None
    compact: bool
    max_creates: int | None


shapes = st.builds(
    Shape,
    completions=st.integers(0, 24),
    parallelism=st.none() | st.integers(1, 6),
    compact=st.booleans(),
    max_creates=st.none() | st.integers(1, 4),
)

FAULTS = ("none", "none", "none", "conflict", "deletes-fail", "stale")


class World:
    """The parent, its children as a store would hold them, and what each index did."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.parent = parent(shape.completions, shape.parallelism, compact=shape.compact)
        self.children: dict[str, Run] = {}
        self.history: dict[str, list[Run]] = {}
        """Every version of every child ever seen, deleted ones included (for stale views)."""
        self.created: Counter[int] = Counter()
        self.outcomes: dict[int, Phase] = {}
        self.now = 0.0

    def plan(self, children: list[Run] | None = None) -> ArrayPlan:
        seen = list(self.children.values()) if children is None else children
        plan = plan_array(self.parent, seen, self.now, max_creates=self.shape.max_creates)
        assert plan == plan_array(self.parent, seen, self.now, max_creates=self.shape.max_creates)
        return plan

    def stale_view(self) -> list[Run]:
        """Old versions of children whose index the parent holds, and deleted children."""
        array = self.parent.status.array or ArrayStatus()
        folded = decode_indexes(array.completed_indexes) | decode_indexes(array.failed_indexes)
        view = dict(self.children)
        for name, versions in self.history.items():
            if int(name.rsplit("-", 1)[1]) in folded:
                view[name] = versions[0]
        return list(view.values())

    def apply(self, plan: ArrayPlan, fault: str) -> None:
        if fault == "conflict":
            return
        if plan.status is not None:
            self.parent = evolve(self.parent, status=plan.status)
        for child in plan.cancel:
            self.put(child)
        if fault == "deletes-fail" and plan.delete:
            return  # and so no creation either
        for name in plan.delete:
            self.children.pop(name, None)
        for child in plan.create:
            index = int(child.metadata.labels[ARRAY_INDEX_LABEL])
            assert child.metadata.name not in self.children
            self.created[index] += 1
            self.put(child)

    def put(self, child: Run) -> None:
        self.children[child.metadata.name] = child
        self.history.setdefault(child.metadata.name, []).append(child)

    def unfinished(self) -> list[Run]:
        return [c for c in self.children.values() if not c.status.phase.is_terminal]

    def check(self) -> None:
        shape, status = self.shape, self.parent.status
        limit = shape.completions if shape.parallelism is None else shape.parallelism
        assert len(self.unfinished()) <= limit
        if shape.compact:
            assert len(self.children) <= limit
        assert all(n == 1 for n in self.created.values()), self.created
        array = status.array or ArrayStatus()
        ok, bad = decode_indexes(array.completed_indexes), decode_indexes(array.failed_indexes)
        assert (array.succeeded, array.failed) == (len(ok), len(bad))
        assert not ok & bad
        assert ok == {i for i in ok if self.outcomes.get(i) is Phase.SUCCEEDED}
        assert bad == {i for i in bad if self.outcomes.get(i) not in (None, Phase.SUCCEEDED)}
        if status.phase is not Phase.PENDING and status.phase is not Phase.RUNNING:
            assert status.phase.is_terminal
        if status.phase is Phase.PENDING:
            assert not ok
            assert not bad

    def advance(self, child: Run, phase: Phase) -> None:
        self.put(with_phase(child, phase))
        if phase.is_terminal:
            self.outcomes[int(child.metadata.labels[ARRAY_INDEX_LABEL])] = phase


NEXT = {Phase.PENDING: Phase.SCHEDULED, Phase.SCHEDULED: Phase.RUNNING}
ENDINGS = (Phase.SUCCEEDED, Phase.SUCCEEDED, Phase.FAILED, Phase.TIMEOUT)


@settings(max_examples=150, deadline=None)
@given(shapes, st.data())
def test_every_index_ends_exactly_once_within_parallelism(
    shape: Shape, data: st.DataObject
) -> None:
    world = World(shape)
    cancel_at = data.draw(st.none() | st.integers(0, 60), label="cancel at step")
    for steps in range(2000):
        world.now += 1
        if steps == cancel_at:
            p = world.parent
            world.parent = evolve(p, spec=evolve(p.spec, cancel_requested=True))
        fault = data.draw(st.sampled_from(FAULTS), label="fault")
        plan = world.plan()
        if fault == "stale":  # what the parent holds is never counted again
            stale = world.plan(world.stale_view())
            assert (stale.status, stale.create, stale.cancel) == (
                plan.status,
                plan.create,
                plan.cancel,
            )
            fault = "none"
        world.apply(plan, fault)
        world.check()
        if fault == "none" and not plan.more:  # applied in full: nothing left to do
            assert world.plan().empty
        if world.parent.status.phase.is_terminal and world.plan().empty:
            break
        unfinished = world.unfinished()
        if not unfinished:
            continue
        child = data.draw(st.sampled_from(sorted(unfinished, key=lambda c: c.metadata.name)))
        if child.spec.cancel_requested:
            world.advance(child, Phase.CANCELLED)
        elif child.status.phase in NEXT:
            world.advance(child, NEXT[child.status.phase])
        else:
            world.advance(child, data.draw(st.sampled_from(ENDINGS), label="ending"))
    else:
        raise AssertionError("the array never finished")

    status = world.parent.status
    array = status.array or ArrayStatus()
    ok, bad = decode_indexes(array.completed_indexes), decode_indexes(array.failed_indexes)
    assert not world.unfinished()
    if status.phase is Phase.CANCELLED:
        assert cancel_at is not None
        assert len(ok | bad) < shape.completions
    else:
        assert ok | bad == set(range(shape.completions))
        assert set(world.created) == set(range(shape.completions))
        assert status.phase is (Phase.FAILED if bad else Phase.SUCCEEDED)
    assert ok == {i for i, phase in world.outcomes.items() if phase is Phase.SUCCEEDED}
    assert bad == {i for i, phase in world.outcomes.items() if phase is not Phase.SUCCEEDED}
    if shape.compact:
        assert world.plan().delete == ()
        assert not world.children
