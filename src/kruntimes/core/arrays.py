"""Array Runs as a pure planner: one parent Run stands for `completions` indexed child Runs.

`plan_array(parent, children, now)` looks at an array parent (`spec.array`)
and the children observed for it, and answers with an `ArrayPlan`: children
to create (lowest missing indexes first, never more than `parallelism`
unfinished), children to cancel (the parent was cancelled), children to
delete (compact mode: their result is folded into the parent), and the
parent's new status.

The parent's `status.array` is the source of truth for finished indexes:
a child's result is folded into it once, and a child seen again after its
index was folded (a stale watch event, a delete that did not land) is never
counted twice nor created again. So the caller must write the parent's
status before it deletes anything, and must create only after its deletes
landed; then the plan is safe to recompute from any observation, any number
of times. No I/O and no clock here: `now` is an argument.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import evolve, field, frozen

from kruntimes import status as run_status
from kruntimes.model import (
    API_VERSION,
    RUN_KIND,
    ArraySpec,
    ArrayStatus,
    ConditionType,
    EnvVar,
    FailureReason,
    ObjectMeta,
    Phase,
    Run,
    RunEvent,
    RunStatus,
    transition,
)

ARRAY_LABEL = "kruntimes.io/array"
"""On every child: the parent's name."""
ARRAY_INDEX_LABEL = "kruntimes.io/array-index"
"""On every child: its index, in decimal."""
ARRAY_INDEX_ENV = "KRUNTIMES_ARRAY_INDEX"
"""In every child's environment: its index, in decimal."""
INDEXES_FAILED = "IndexesFailed"
"""The reason of an array parent that failed because some indexes failed."""
INVALID_ARRAY = "InvalidArray"
"""The reason of an array parent that cannot be carried out (bad name, corrupt status)."""
ARRAY_STARTED = "ArrayStarted"
"""The parent's `Running` condition reason once a child runs."""
SHOWN_INDEXES_MAX = 512
"""Characters of failed index ranges a parent's message shows; the status has them all."""
INDEXES_MAX_CHARS = 64 * 1024
"""The longest index ranges `status.array` may hold (the codec's `ARRAY_INDEXES_MAX`)."""
LABEL_VALUE_MAX = 63
NAME_MAX = 253

Interval = tuple[int, int]
"""An inclusive range of indexes, `lo <= hi`."""


def _runs_tuple(runs: Iterable[Run]) -> tuple[Run, ...]:
    return tuple(runs)


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


@frozen
class ArrayPlan:
    """What to do for one array parent; empty when nothing changes.

    Apply in this order: `status` (conditional on the parent's version; a
    conflict voids the whole plan), then `cancel` and `delete`, then `create`
    only if every delete landed (or found the child gone already).
    """

    status: RunStatus | None = None
    """The parent's new status; None: unchanged."""
    cancel: tuple[Run, ...] = field(default=(), converter=_runs_tuple)
    """Children with `spec.cancel_requested` set, for a conditional spec update."""
    delete: tuple[str, ...] = field(default=(), converter=_names)
    """Names (in the parent's namespace) of finished children already folded (compact mode)."""
    create: tuple[Run, ...] = field(default=(), converter=_runs_tuple)
    """New children, lowest index first."""
    settled: tuple[str, ...] = field(default=(), converter=_names)
    """Finished children kept as objects (not compact) whose result the status holds: once
    the status is written, a caller may stop tracking them; no later plan needs them."""
    more: bool = False
    """`max_creates` held back creations: plan again once these are applied."""

    @property
    def empty(self) -> bool:
        """Nothing to write (`settled` needs no write)."""
        return self.status is None and not (self.cancel or self.delete or self.create or self.more)


# -- index sets as ranges ("0-3,7") ---------------------------------------------------


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, with overlapping and adjacent intervals joined."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def format_ranges(intervals: Iterable[Interval]) -> str:
    """`((0, 3), (7, 7))` -> `"0-3,7"` (merged first)."""
    return ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in merge_intervals(intervals))


def parse_ranges(text: str) -> tuple[Interval, ...]:
    """`"0-3,7"` -> `((0, 3), (7, 7))`, merged; `ValueError` names what is malformed."""
    intervals: list[Interval] = []
    for part in text.split(",") if text else ():
        lo_text, dash, hi_text = part.partition("-")
        if not _is_index(lo_text) or (dash and not _is_index(hi_text)):
            raise ValueError(f"{part!r} is not an index or a range like 3-5")
        lo, hi = int(lo_text), int(hi_text) if dash else int(lo_text)
        if hi < lo:
            raise ValueError(f"{part!r} ends before it starts")
        intervals.append((lo, hi))
    return merge_intervals(intervals)


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdecimal()


def encode_indexes(indexes: Iterable[int]) -> str:
    """A set of indexes as ranges: `{0, 1, 2, 3, 7}` -> `"0-3,7"`."""
    return format_ranges((i, i) for i in indexes)


def decode_indexes(text: str) -> frozenset[int]:
    """Ranges as a set of indexes; it expands every range, so use `parse_ranges` for big ones."""
    return frozenset(i for lo, hi in parse_ranges(text) for i in range(lo, hi + 1))


def count_indexes(intervals: Iterable[Interval]) -> int:
    return sum(hi - lo + 1 for lo, hi in intervals)


def contains(intervals: tuple[Interval, ...], index: int) -> bool:
    """Membership in merged intervals, by bisection."""
    at = bisect_right(intervals, (index, float("inf"))) - 1
    return at >= 0 and intervals[at][0] <= index <= intervals[at][1]


# -- children -------------------------------------------------------------------------


def child_name(parent: Run, index: int) -> str:
    return f"{parent.metadata.name}-{index}"


def owner_reference(parent: Run) -> Mapping[str, Any]:
    meta = parent.metadata
    return {
        "apiVersion": API_VERSION,
        "kind": RUN_KIND,
        "name": meta.name,
        "uid": meta.uid,
        "controller": True,
    }


def controller_uid(run: Run) -> str | None:
    """The uid of the Run that controls `run` (its controller owner reference), if any."""
    for ref in run.metadata.owner_references:
        if ref.get("kind") == RUN_KIND and ref.get("controller") is True:
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None


def parent_name(run: Run) -> str | None:
    """The name of the array `run` is a child of, when it is controlled by a Run."""
    name = run.metadata.labels.get(ARRAY_LABEL)
    return name if name and controller_uid(run) is not None else None


def child_index(parent: Run, child: Run) -> int | None:
    """`child`'s index in `parent`'s array, or None if it is not a child of this parent."""
    if parent.spec.array is None or controller_uid(child) != parent.metadata.uid:
        return None
    if child.metadata.labels.get(ARRAY_LABEL) != parent.metadata.name:
        return None
    text = child.metadata.labels.get(ARRAY_INDEX_LABEL, "")
    if not _is_index(text) or child.metadata.name != child_name(parent, int(text)):
        return None
    index = int(text)
    return index if index < parent.spec.array.completions else None


def child_run(parent: Run, index: int) -> Run:
    """Index `index` of `parent` as a Run to create: the parent's spec, without `array`.

    It keeps the parent's queue, priority, retry policy, resources and
    labels (so each index is admitted, placed and retried on its own), and
    drops its `ttl_seconds_after_finished`: the parent decides how long
    children live, and a child collected before its result is folded would
    run again.
    """
    meta = parent.metadata
    env = tuple(e for e in parent.spec.env if e.name != ARRAY_INDEX_ENV)
    return Run(
        ObjectMeta(
            name=child_name(parent, index),
            namespace=meta.namespace,
            labels={**meta.labels, ARRAY_LABEL: meta.name, ARRAY_INDEX_LABEL: str(index)},
            owner_references=(owner_reference(parent),),
        ),
        evolve(
            parent.spec,
            array=None,
            cancel_requested=False,
            ttl_seconds_after_finished=None,
            env=(*env, EnvVar(ARRAY_INDEX_ENV, str(index))),
        ),
    )


# -- planning -------------------------------------------------------------------------


@frozen
class _Fold:
    """The observed children sorted out against the parent's folded indexes."""

    succeeded: tuple[Interval, ...]
    failed: tuple[Interval, ...]
    unfinished: Mapping[int, Run]
    finished: tuple[str, ...]
    """Names of finished children, folded before or now, by index."""
    note: str
    """What the lowest newly failed index said, or ""."""

    @property
    def done(self) -> int:
        return count_indexes(self.succeeded) + count_indexes(self.failed)


def plan_array(
    parent: Run, children: Iterable[Run], now: float, *, max_creates: int | None = None
) -> ArrayPlan:
    """The next step for `parent`'s array, given the children observed now.

    Children that are not `parent`'s (another owner uid, a foreign name or
    index) are ignored. `max_creates` bounds the creations of one plan
    (`more` then says to plan again). A parent in another phase than
    Pending, Running or a terminal one (placed by a scheduler unaware of
    arrays) is left alone.
    """
    spec = parent.spec.array
    phase = parent.status.phase
    if spec is None or (phase not in (Phase.PENDING, Phase.RUNNING) and not phase.is_terminal):
        return ArrayPlan()
    observed: dict[int, Run] = {}
    for child in children:
        index = child_index(parent, child)
        if index is not None:
            observed[index] = child
    if phase.is_terminal:
        return _wind_down(parent, spec, observed)
    problem = _name_problem(parent, spec)
    try:
        fold = _fold(parent, spec, observed)
    except ValueError as corrupt:
        problem = problem or str(corrupt)
    else:
        problem = problem or _too_scattered(fold)
    if problem:
        return _invalid(parent, observed, problem, now)

    finished = fold.done == spec.completions
    cancelling = parent.spec.cancel_requested and not finished
    create: list[Run] = []
    more = False
    if not cancelling and not finished:
        limit = spec.completions if spec.parallelism is None else spec.parallelism
        slots = max(0, limit - len(fold.unfinished))
        if max_creates is not None and slots > max_creates:
            slots, more = max_creates, True
        folded = merge_intervals((*fold.succeeded, *fold.failed))
        missing = _lowest_missing(folded, fold.unfinished.keys(), spec.completions, slots)
        more = more and len(missing) == slots
        create = [child_run(parent, i) for i in missing]

    array = ArrayStatus(
        active=len(fold.unfinished) + len(create),
        succeeded=count_indexes(fold.succeeded),
        failed=count_indexes(fold.failed),
        completed_indexes=format_ranges(fold.succeeded),
        failed_indexes=format_ranges(fold.failed),
    )
    if finished:
        target = Phase.FAILED if fold.failed else Phase.SUCCEEDED
    elif cancelling and not fold.unfinished:
        target = Phase.CANCELLED
    elif phase is Phase.RUNNING or fold.done or any(map(_runs, fold.unfinished.values())):
        target = Phase.RUNNING
    else:
        target = Phase.PENDING
    note = fold.note or (parent.status.message if phase is Phase.RUNNING else "")
    new = _parent_status(parent, array, target, note, now)
    return ArrayPlan(
        status=None if new == parent.status else new,
        cancel=_cancellations(fold.unfinished.values()) if cancelling else (),
        delete=fold.finished if spec.compact_status else (),
        settled=() if spec.compact_status else fold.finished,
        create=create,
        more=more,
    )


def invalid_child(parent: Run, message: str, now: float) -> RunStatus | None:
    """The parent's status when the store refuses its children (e.g. too many env vars):
    Failed with reason `InvalidArray`; None if it has finished already. The next plan
    cancels the children that run."""
    if parent.status.phase.is_terminal or parent.spec.array is None:
        return None
    return _invalid(parent, {}, f"a child Run was refused: {message}", now).status


def _fold(parent: Run, spec: ArraySpec, observed: Mapping[int, Run]) -> _Fold:
    """Fold the finished children the parent's status does not hold yet; `ValueError` if
    that status is corrupt (an index out of range, or both completed and failed)."""
    array = parent.status.array or ArrayStatus()
    succeeded = parse_ranges(array.completed_indexes)
    failed = parse_ranges(array.failed_indexes)
    for intervals in (succeeded, failed):
        if intervals and intervals[-1][1] >= spec.completions:
            raise ValueError(f"status.array names index {intervals[-1][1]} of {spec.completions}")
    if _overlap(succeeded, failed):
        raise ValueError("status.array has an index both completed and failed")
    new_ok: list[Interval] = []
    new_failed: list[int] = []
    unfinished: dict[int, Run] = {}
    finished: list[str] = []
    for index in sorted(observed):
        child = observed[index]
        child_phase = child.status.phase
        if contains(succeeded, index) or contains(failed, index):
            pass  # folded before: a stale or lingering child, never counted again
        elif child_phase is Phase.SUCCEEDED:
            new_ok.append((index, index))
        elif child_phase.is_terminal:
            new_failed.append(index)
        else:
            unfinished[index] = child
        if child_phase.is_terminal:
            finished.append(child.metadata.name)
    note = ""
    if new_failed:
        first = observed[new_failed[0]].status
        note = run_status.bounded_message(
            f"index {new_failed[0]} failed: {first.message or first.phase.value}"
        )
    return _Fold(
        succeeded=merge_intervals((*succeeded, *new_ok)),
        failed=merge_intervals((*failed, *((i, i) for i in new_failed))),
        unfinished=unfinished,
        finished=tuple(finished),
        note=note,
    )


def _overlap(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def _too_scattered(fold: _Fold) -> str:
    """Ranges too long to store (e.g. every other index of 100k failed): the array fails
    with the status of its last fold, rather than retry a write that can never land."""
    longest = max(len(format_ranges(fold.succeeded)), len(format_ranges(fold.failed)))
    if longest <= INDEXES_MAX_CHARS:
        return ""
    return (
        f"index ranges would take {longest} characters, more than status.array holds "
        f"({INDEXES_MAX_CHARS}); counts and ranges are as of the last result that fit"
    )


def _name_problem(parent: Run, spec: ArraySpec) -> str:
    name = parent.metadata.name
    if spec.completions < 0 or (spec.parallelism is not None and spec.parallelism < 0):
        return "completions and parallelism must not be negative"
    if len(name) > LABEL_VALUE_MAX:
        return f"an array Run's name must be at most {LABEL_VALUE_MAX} characters (a label value)"
    if len(child_name(parent, max(spec.completions - 1, 0))) > NAME_MAX:
        return f"child names <name>-<index> must be at most {NAME_MAX} characters"
    return ""


def _lowest_missing(
    folded: tuple[Interval, ...], taken: Iterable[int], completions: int, limit: int
) -> list[int]:
    """Up to `limit` indexes below `completions`, neither folded nor taken, lowest first:
    O(len(folded) + len(taken) + limit), however many completions there are."""
    busy = set(taken)
    out: list[int] = []
    index, at = 0, 0
    while len(out) < limit and index < completions:
        while at < len(folded) and folded[at][1] < index:
            at += 1
        if at < len(folded) and folded[at][0] <= index:
            index = folded[at][1] + 1
            continue
        if index not in busy:
            out.append(index)
        index += 1
    return out


def _runs(child: Run) -> bool:
    return child.status.phase in (Phase.RUNNING, Phase.READY)


def _cancellations(children: Iterable[Run]) -> list[Run]:
    return [
        evolve(c, spec=evolve(c.spec, cancel_requested=True))
        for c in sorted(children, key=lambda c: c.metadata.name)
        if not c.spec.cancel_requested
    ]


def _wind_down(parent: Run, spec: ArraySpec, observed: Mapping[int, Run]) -> ArrayPlan:
    """A finished parent: its status stays; children that remain are cancelled or removed."""
    try:
        fold = _fold(parent, spec, observed)
        unfinished, finished = list(fold.unfinished.values()), list(fold.finished)
    except ValueError:  # a corrupt status: no index is known to be folded
        unfinished = [c for c in observed.values() if not c.status.phase.is_terminal]
        finished = [
            n.metadata.name for _, n in sorted(observed.items()) if n.status.phase.is_terminal
        ]
    return ArrayPlan(
        cancel=_cancellations(unfinished),
        delete=finished if spec.compact_status else (),
        settled=() if spec.compact_status else finished,
    )


def _invalid(parent: Run, observed: Mapping[int, Run], problem: str, now: float) -> ArrayPlan:
    unfinished = [c for c in observed.values() if not c.status.phase.is_terminal]
    run = _started(parent, now) if parent.status.phase is Phase.PENDING else parent
    run = run_status.finished_unsuccessfully(run, Phase.FAILED, INVALID_ARRAY, problem, now)
    return ArrayPlan(status=run.status, cancel=_cancellations(unfinished))


def _started(parent: Run, now: float) -> Run:
    """Pending -> Running by the lifecycle's `StartChildren` (a parent is never bound nor
    claimed)."""
    conditions = run_status.with_condition(
        parent.status, ConditionType.RUNNING, ok=True, reason=ARRAY_STARTED, message="", now=now
    )
    status = evolve(
        parent.status,
        phase=transition(parent.status.phase, RunEvent.START_CHILDREN),
        start_time=parent.status.start_time or run_status.timestamp(now),
        conditions=conditions,
        message="",
    )
    return evolve(parent, status=status)


def _parent_status(
    parent: Run, array: ArrayStatus, target: Phase, note: str, now: float
) -> RunStatus:
    """The parent's status with `array`, moved to `target` through the lifecycle table
    (Succeeded and Failed through Running; Cancelled may end it straight from Pending)."""
    run = evolve(parent, status=evolve(parent.status, array=array))
    if run.status.phase is Phase.PENDING and target in _STARTED:
        run = _started(run, now)
    total = array.active + array.succeeded + array.failed
    completions = parent.spec.array.completions if parent.spec.array else total
    if target is Phase.RUNNING:
        return evolve(run.status, message=note)
    if target is Phase.SUCCEEDED:
        done = f"{array.succeeded} of {completions} indexes succeeded"
        run = run_status.succeeded(run, now, message=done)
    elif target is Phase.FAILED:
        shown = _capped(array.failed_indexes, SHOWN_INDEXES_MAX)
        message = f"{array.failed} of {completions} indexes failed: {shown}"
        message += f" (last: {note})" if note else ""
        run = run_status.finished_unsuccessfully(run, Phase.FAILED, INDEXES_FAILED, message, now)
    elif target is Phase.CANCELLED:
        message = f"{array.succeeded + array.failed} of {completions} indexes finished"
        run = run_status.finished_unsuccessfully(
            run, Phase.CANCELLED, FailureReason.CANCELLED, message, now
        )
    return run.status


_STARTED = (Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED)


def _capped(ranges: str, limit: int) -> str:
    if len(ranges) <= limit:
        return ranges
    cut = ranges.rfind(",", 0, limit)
    return (ranges[:cut] if cut > 0 else ranges[:limit]) + ",..."
