"""The Run lifecycle: one table of (phase, event) -> phase, the only place phases change.

Every component that moves a Run (scheduler, agent, reaper, client cancel)
asks `transition` for the next phase; anything not in the table is refused
with `IllegalTransition`, so a bug shows up as a clear error instead of a Run
in an impossible state.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from kruntimes.model.enums import Phase


class RunEvent(StrEnum):
    BIND = "Bind"
    """The scheduler assigned a Pod."""
    UNBIND = "Unbind"
    """A binding was undone before the Run started (Pod gone, conflict); same attempt."""
    CLAIM = "Claim"
    """The Pod's agent took the Run and started it."""
    BECOME_READY = "BecomeReady"
    """A function-mode Run is serving."""
    SUCCEED = "Succeed"
    FAIL = "Fail"
    TIME_OUT = "TimeOut"
    CANCEL = "Cancel"
    RETRY = "Retry"
    """An attempt failed and the policy allows another: back to Pending, attempt + 1."""
    START_CHILDREN = "StartChildren"
    """An array Run's first child Run started (the array Run itself is never bound)."""


_P = Phase
_E = RunEvent

TRANSITIONS: Mapping[tuple[Phase, RunEvent], Phase] = {
    (_P.PENDING, _E.BIND): _P.SCHEDULED,
    (_P.PENDING, _E.FAIL): _P.FAILED,
    (_P.PENDING, _E.CANCEL): _P.CANCELLED,
    (_P.PENDING, _E.START_CHILDREN): _P.RUNNING,
    (_P.SCHEDULED, _E.UNBIND): _P.PENDING,
    (_P.SCHEDULED, _E.CLAIM): _P.RUNNING,
    (_P.SCHEDULED, _E.FAIL): _P.FAILED,
    (_P.SCHEDULED, _E.RETRY): _P.PENDING,
    (_P.SCHEDULED, _E.CANCEL): _P.CANCELLED,
    (_P.RUNNING, _E.BECOME_READY): _P.READY,
    (_P.RUNNING, _E.SUCCEED): _P.SUCCEEDED,
    (_P.RUNNING, _E.FAIL): _P.FAILED,
    (_P.RUNNING, _E.TIME_OUT): _P.TIMEOUT,
    (_P.RUNNING, _E.CANCEL): _P.CANCELLED,
    (_P.RUNNING, _E.RETRY): _P.PENDING,
    (_P.READY, _E.SUCCEED): _P.SUCCEEDED,
    (_P.READY, _E.FAIL): _P.FAILED,
    (_P.READY, _E.TIME_OUT): _P.TIMEOUT,
    (_P.READY, _E.CANCEL): _P.CANCELLED,
    (_P.READY, _E.RETRY): _P.PENDING,
}
"""Every legal move. Terminal phases have no way out."""


class IllegalTransition(ValueError):
    """A component tried to move a Run along an edge the lifecycle does not have."""

    def __init__(self, phase: Phase, event: RunEvent) -> None:
        allowed = sorted(e.value for (p, e) in TRANSITIONS if p is phase)
        hint = (
            f"allowed from {phase.value}: {', '.join(allowed)}"
            if allowed
            else (f"{phase.value} is terminal")
        )
        super().__init__(f"illegal Run transition: {event.value} in phase {phase.value} ({hint})")
        self.phase = phase
        self.event = event


def transition(phase: Phase, event: RunEvent) -> Phase:
    """The phase after `event`, or `IllegalTransition`."""
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        raise IllegalTransition(phase, event) from None


def can_transition(phase: Phase, event: RunEvent) -> bool:
    return (phase, event) in TRANSITIONS


def lifecycle_table_markdown() -> str:
    """The table as Markdown, for `docs/lifecycle.md` (a test keeps the doc in sync)."""
    events = list(RunEvent)
    header = "| phase \\ event | " + " | ".join(e.value for e in events) + " |"
    rule = "|" + "---|" * (len(events) + 1)
    rows = [header, rule]
    for phase in Phase:
        cells = [TRANSITIONS[(phase, e)].value if (phase, e) in TRANSITIONS else "" for e in events]
        rows.append(f"| **{phase.value}** | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
