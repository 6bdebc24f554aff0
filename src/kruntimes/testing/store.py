"""A fake store for the harness: Runs and Pods with resourceVersions and conditional writes.

It plays what the engine and the real store do with a `Plan`: each decision
becomes one status write that lands only if the Run is still at the version
the scheduler decided on (optimistic concurrency), turning into a new Run
version exactly as the engine's protocol says. How a decision lands is a pure
function (`landed`), so tests can also use it on their own.
"""

from __future__ import annotations

from attrs import evolve

from kruntimes import status
from kruntimes.core import Bind, Decision, Requeue, RunKey, Terminate, Wait
from kruntimes.core.state import PodKey
from kruntimes.model import Phase, Run, RunEvent, RuntimePod

_TERMINAL_EVENT = {
    Phase.SUCCEEDED: RunEvent.SUCCEED,
    Phase.FAILED: RunEvent.FAIL,
    Phase.TIMEOUT: RunEvent.TIME_OUT,
    Phase.CANCELLED: RunEvent.CANCEL,
}


def terminal_event(phase: Phase) -> RunEvent:
    """The lifecycle event that ends a Run in `phase` (Succeeded -> Succeed, ...)."""
    try:
        return _TERMINAL_EVENT[phase]
    except KeyError:
        raise ValueError(f"{phase.value} is not a terminal phase") from None


def landed(run: Run, decision: Decision, at: float) -> Run:
    """The Run version a successful write of `decision` (decided at `at`) produces.

    Exactly what the engine writes, through the same `kruntimes.status`
    functions: Bind -> Scheduled on the Pod; Requeue -> Pending at the
    decision's attempt, unassigned (a retry re-dates the `Running`/`Retrying`
    condition the core derives the backoff from; an unbind of a never-started
    Run leaves it alone); Terminate -> the terminal phase; Wait -> only a
    `Scheduled=False` condition. Phases move through the lifecycle table, so
    an impossible decision raises `IllegalTransition`.
    """
    if isinstance(decision, Bind):
        return status.bound(run, decision.pod, decision.pod_uid, at)
    if isinstance(decision, Requeue):
        return status.requeued(run, decision.attempt, decision.reason, decision.message, at)
    if isinstance(decision, Terminate):
        return status.finished_unsuccessfully(
            run, decision.phase, decision.reason, decision.message, at
        )
    if isinstance(decision, Wait):
        return status.waiting(run, decision.reason.code, decision.reason.message, at)
    raise TypeError(f"not a decision: {decision!r}")  # pragma: no cover


class FakeStore:
    """Runs and Pods by key; every Run write bumps `metadata.resource_version`."""

    def __init__(self) -> None:
        self.runs: dict[RunKey, Run] = {}
        self.pods: dict[PodKey, RuntimePod] = {}
        self._version = 0

    def put_run(self, run: Run) -> Run:
        """Store `run` unconditionally (a client or an agent write); returns the stored version."""
        self._version += 1
        stored = evolve(run, metadata=evolve(run.metadata, resource_version=str(self._version)))
        self.runs[run.key] = stored
        return stored

    def write_if(self, key: RunKey, version: str, new: Run) -> Run | None:
        """Store `new` only if `key` is still at `version`; None is a conflict."""
        current = self.runs.get(key)
        if current is None or current.metadata.resource_version != version:
            return None
        return self.put_run(new)

    def delete_run(self, key: RunKey) -> bool:
        return self.runs.pop(key, None) is not None

    def put_pod(self, pod: RuntimePod) -> RuntimePod:
        self.pods[pod.key] = pod
        return pod

    def delete_pod(self, key: PodKey) -> RuntimePod | None:
        return self.pods.pop(key, None)


__all__ = ["FakeStore", "landed", "terminal_event"]
