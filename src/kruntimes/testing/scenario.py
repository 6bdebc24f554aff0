"""Scenario steps as values, and `play` to run them on a `Harness`.

`kruntimes.testing.strategies.event_sequences()` generates lists of these;
`play` applies each one that makes sense in the current state and skips the
rest (starting a Run that is not Scheduled, killing a Pod that is gone), so
any generated sequence is a valid history. Steps carry names, not objects,
which keeps generated examples short and readable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from attrs import field, frozen

from kruntimes.core import Plan, Wait
from kruntimes.model import CAPACITY_PHASES, Phase, Run, RuntimePod
from kruntimes.testing.harness import Harness


@frozen
class AddPod:
    """A Pod appears (skipped if one of that name exists)."""

    pod: RuntimePod


@frozen
class Heartbeat:
    """One Pod's agent heartbeats at now; `None`: every live Pod does."""

    pod: str | None


@frozen
class SetReady:
    pod: str
    ready: bool


@frozen
class TerminatePod:
    """The Pod starts terminating, with a deletion time or (`timed=False`) without one."""

    pod: str
    timed: bool = True


@frozen
class KillPod:
    """The Pod is gone."""

    pod: str


@frozen
class ReplacePod:
    """The Pod comes back under a new UID."""

    pod: str


@frozen
class Submit:
    """A client creates the Run (skipped if the name is taken)."""

    run: Run


@frozen
class Start:
    """The agent of the Run's Pod claims it (only if Scheduled on a live, same-UID Pod)."""

    run: str


@frozen
class Finish:
    """The Run's attempt ends in a terminal phase (only if Running on a live Pod)."""

    run: str
    phase: Phase = Phase.SUCCEEDED


@frozen
class Fail:
    """The Run's attempt fails with `reason`; it is retried per policy or fails."""

    run: str
    reason: str


@frozen
class Cancel:
    run: str


@frozen
class DeleteRun:
    run: str


@frozen
class Relabel:
    """Another writer replaces the Run's labels."""

    run: str
    labels: dict[str, str] = field(factory=dict)


@frozen
class Advance:
    seconds: float


@frozen
class Conflict:
    """The next cycle's write of its decision number `index` (modulo) conflicts;
    the engine calls `unreserve` `times` times."""

    index: int
    times: int = 1


@frozen
class Cycle:
    """A scheduling cycle at now, then its writes (minus queued conflicts)."""

    max_binds: int | None = None


Step = (
    AddPod
    | Heartbeat
    | SetReady
    | TerminatePod
    | KillPod
    | ReplacePod
    | Submit
    | Start
    | Finish
    | Fail
    | Cancel
    | DeleteRun
    | Relabel
    | Advance
    | Conflict
    | Cycle
)

PlanCheck = Callable[[Harness, Plan], None]


def _agent_alive(h: Harness, run: Run) -> bool:
    key = (run.metadata.namespace, run.status.assigned_pod or "")
    pod = h.store.pods.get(key)
    return pod is not None and pod.uid == run.status.assigned_pod_uid


def play(h: Harness, steps: Sequence[Step], *, check: PlanCheck | None = None) -> list[Plan]:
    """Apply `steps` to `h`, skipping those that do not apply; the plans of its cycles.

    `check(h, plan)` runs right after each cycle, before the writes.
    """
    plans: list[Plan] = []
    conflicts: list[Conflict] = []
    for step in steps:
        ns = h.namespace
        if isinstance(step, AddPod):
            if step.pod.key not in h.store.pods:
                h.add_pods(step.pod)
        elif isinstance(step, Heartbeat):
            if step.pod is None:
                h.heartbeat_all()
            elif (ns, step.pod) in h.store.pods:
                h.heartbeat(step.pod)
        elif isinstance(step, SetReady | TerminatePod | KillPod | ReplacePod):
            pod = h.store.pods.get((ns, step.pod))
            if pod is None:
                continue
            if isinstance(step, SetReady):
                h.update_pod(step.pod, ready=step.ready)
            elif isinstance(step, TerminatePod):
                if not pod.deleting:
                    h.update_pod(
                        step.pod, deleting=True, deletion_time=h.now if step.timed else None
                    )
            elif isinstance(step, KillPod):
                h.kill_pod(step.pod)
            else:
                h.replace_pod(step.pod)
        elif isinstance(step, Submit):
            if step.run.key not in h.store.runs:
                h.submit(step.run)
        elif isinstance(step, Advance):
            h.advance(step.seconds)
        elif isinstance(step, Conflict):
            conflicts.append(step)
        elif isinstance(step, Cycle):
            plan = h.cycle(max_binds=step.max_binds)
            plans.append(plan)
            if check is not None:
                check(h, plan)
            writes = [d for d in plan.decisions if not isinstance(d, Wait)]
            for c in conflicts:
                if writes:
                    h.fail_write(writes.pop(c.index % len(writes)), unreserve_times=c.times)
            conflicts.clear()
            h.apply()
        else:
            _run_step(h, step)
    return plans


def _run_step(h: Harness, step: Start | Finish | Fail | Cancel | DeleteRun | Relabel) -> None:
    run = h.store.runs.get((h.namespace, step.run))
    if run is None:
        return
    phase = run.status.phase
    if isinstance(step, DeleteRun):
        h.delete_run(step.run)
    elif isinstance(step, Relabel):
        h.update_run(step.run, labels=step.labels)
    elif isinstance(step, Cancel):
        if not phase.is_terminal and not run.spec.cancel_requested:
            h.cancel(step.run)
    elif isinstance(step, Start):
        if phase is Phase.SCHEDULED and _agent_alive(h, run):
            h.start(step.run)
    elif phase in CAPACITY_PHASES - {Phase.SCHEDULED} and _agent_alive(h, run):
        if isinstance(step, Finish):
            h.finish(step.run, step.phase)
        else:
            h.fail(step.run, step.reason)


__all__ = [
    "AddPod",
    "Advance",
    "Cancel",
    "Conflict",
    "Cycle",
    "DeleteRun",
    "Fail",
    "Finish",
    "Heartbeat",
    "KillPod",
    "PlanCheck",
    "Relabel",
    "ReplacePod",
    "SetReady",
    "Start",
    "Step",
    "Submit",
    "TerminatePod",
    "play",
]
