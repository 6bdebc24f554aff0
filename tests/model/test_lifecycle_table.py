"""The Run lifecycle table: terminal phases are final, every other phase can finish."""

from __future__ import annotations

import pytest

from kruntimes.model import (
    TERMINAL_PHASES,
    TRANSITIONS,
    IllegalTransition,
    Phase,
    RunEvent,
    can_transition,
    transition,
)
from kruntimes.model.lifecycle import lifecycle_table_markdown


@pytest.mark.parametrize("phase", sorted(TERMINAL_PHASES))
def test_terminal_phases_have_no_exits(phase: Phase) -> None:
    assert phase.is_terminal
    for event in RunEvent:
        assert not can_transition(phase, event)
        with pytest.raises(IllegalTransition, match=f"{phase.value} is terminal"):
            transition(phase, event)


def test_every_phase_can_reach_a_terminal_phase() -> None:
    reachable = set(TERMINAL_PHASES)
    changed = True
    while changed:
        before = len(reachable)
        reachable |= {p for (p, _), q in TRANSITIONS.items() if q in reachable}
        changed = len(reachable) != before
    assert reachable == set(Phase)


def test_cancel_and_fail_work_from_every_live_phase() -> None:
    for phase in set(Phase) - TERMINAL_PHASES:
        assert transition(phase, RunEvent.CANCEL) is Phase.CANCELLED
        assert transition(phase, RunEvent.FAIL) is Phase.FAILED


@pytest.mark.parametrize(
    ("phase", "event", "after"),
    [
        (Phase.PENDING, RunEvent.BIND, Phase.SCHEDULED),
        (Phase.SCHEDULED, RunEvent.UNBIND, Phase.PENDING),
        (Phase.SCHEDULED, RunEvent.CLAIM, Phase.RUNNING),
        (Phase.RUNNING, RunEvent.BECOME_READY, Phase.READY),
        (Phase.RUNNING, RunEvent.SUCCEED, Phase.SUCCEEDED),
        (Phase.RUNNING, RunEvent.TIME_OUT, Phase.TIMEOUT),
        (Phase.RUNNING, RunEvent.RETRY, Phase.PENDING),
        (Phase.READY, RunEvent.SUCCEED, Phase.SUCCEEDED),
    ],
)
def test_the_happy_paths(phase: Phase, event: RunEvent, after: Phase) -> None:
    assert transition(phase, event) is after


def test_an_illegal_move_names_the_allowed_events() -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(Phase.PENDING, RunEvent.SUCCEED)
    assert str(info.value) == (
        "illegal Run transition: Succeed in phase Pending "
        "(allowed from Pending: Bind, Cancel, Fail, StartChildren)"
    )
    assert info.value.phase is Phase.PENDING
    assert info.value.event is RunEvent.SUCCEED
    assert isinstance(info.value, ValueError)


def test_pending_cannot_skip_scheduling() -> None:
    for event in (RunEvent.CLAIM, RunEvent.BECOME_READY, RunEvent.TIME_OUT, RunEvent.RETRY):
        assert not can_transition(Phase.PENDING, event)


def test_the_markdown_table_has_a_row_per_phase_and_a_cell_per_move() -> None:
    table = lifecycle_table_markdown()
    rows = table.splitlines()
    assert len(rows) == 2 + len(Phase)
    cells = sum(1 for row in rows[2:] for cell in row.split("|")[2:-1] if cell.strip())
    assert cells == len(TRANSITIONS)
