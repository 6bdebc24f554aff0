"""The checks of `ReferenceModel`: what each plan, and the core's bookkeeping, must satisfy.

Kept apart from the model's state so each file reads on its own: `reference`
says what the world looks like, this module what the scheduler owes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kruntimes.core import Bind, Decision, Plan, Requeue, RunKey, SchedulerConfig, Terminate, Wait
from kruntimes.core.state import PodKey
from kruntimes.model import CAPACITY_PHASES, FailureReason, LabelSelector, Phase, Run, WaitCode
from kruntimes.testing.admission_checks import AdmissionChecks

if TYPE_CHECKING:
    from kruntimes.core import Scheduler
    from kruntimes.testing.reference import RefPod, RefRun


_CAPACITY_WAITS = frozenset(
    {WaitCode.NO_CAPACITY, WaitCode.NO_AVAILABLE_POD, WaitCode.LOWER_PRIORITY}
)


class InvariantViolation(AssertionError):
    """The scheduler broke a guarantee; the message says which and for what."""


class InvariantChecks(AdmissionChecks):
    """Mixed into `ReferenceModel`; reads its state and derived answers."""

    def violation(self, message: str, *context: object) -> None:
        _violation(message, *context)

    config: SchedulerConfig
    runs: dict[RunKey, RefRun]
    pods: dict[PodKey, RefPod]
    finished: Mapping[RunKey, Phase]

    if TYPE_CHECKING:

        def holders(self, namespace: str) -> list[RefRun]: ...

        def usage(self, key: PodKey) -> dict[str, int]: ...

        def available(self, key: PodKey, now: float) -> str | None: ...

        def is_stale(self, ref: RefRun, now: float) -> FailureReason | None: ...

        def next_deadline(self, ref: RefRun, now: float) -> float | None: ...

        def expected_reap(self, ref: RefRun, reason: FailureReason, now: float) -> Decision: ...

    # ------------------------------------------------------------------ checks

    def check_plan(self, plan: Plan, now: float, scheduler: Scheduler, *, full: bool) -> None:
        """Every guarantee a single plan must keep. `full`: the cycle had no bind budget."""
        _fail = _violation
        seen: set[RunKey] = set()
        for d in plan.decisions:
            if d.run in seen:
                _fail("two decisions for one Run in a plan", d, plan)
            seen.add(d.run)
            ref = self.runs.get(d.run)
            if ref is None:
                _fail("decision for a Run that is deleted or terminal", d)
            assert ref is not None
            if ref.reserved or ref.inflight:
                _fail("a second decision while one that can still land is outstanding", d)
            if isinstance(d, Bind):
                self._check_bind(ref, d, now)
                self._check_priority(ref, d, plan, now, scheduler)
                ref.reserved = True  # later binds of this plan see the reservation
                ref.pod, ref.pod_uid = d.pod, d.pod_uid
            elif isinstance(d, Terminate) and self.check_arrival_refusal(ref, d, now):
                pass
            elif isinstance(d, Requeue | Terminate):
                self._check_end(ref, d, now)
            elif isinstance(d, Wait) and ref.holds:
                _fail("Wait for a Run that holds a Pod", d)
        for ref in self.runs.values():
            if ref.key in seen and not isinstance(_decision(plan, ref.key), Wait):
                continue
            if ref.phase in CAPACITY_PHASES and not ref.inflight:
                reason = self.is_stale(ref, now)
                if reason is not None:
                    _fail(f"a stale Run ({reason.value}) was not reaped", ref.key, ref)
            if ref.phase is not Phase.PENDING or ref.holds or ref.inflight:
                continue
            if ref.run.spec.cancel_requested:
                _fail("a cancelled Pending Run was not terminated", ref.key)
            if ref.invalid:
                _fail("a Run with invalid requests was not terminated", ref.key)
            why = scheduler.why_waiting(ref.key)
            if ref.not_before > now:
                if why is None or why.code is not WaitCode.BACKOFF or why.until != ref.not_before:
                    _fail(f"a Run backing off until {ref.not_before} reports {why}", ref.key, now)
            elif why is not None and why.code is WaitCode.BACKOFF:
                _fail(f"a Run past its backoff ({ref.not_before}) still backs off: {why}", ref.key)
            elif full and why is None:
                st = scheduler.run_state(ref.key)
                _fail(
                    "a Pending Run is neither bound nor told why it waits",
                    ref.key,
                    st,
                    st and (st.wait, st.queue_name, st.gang, st.not_before, st.reserved),
                )
        self._check_wakeup(plan, now)
        self.check_admission(plan)
        for d in plan.decisions:  # undo the provisional reservations; `decided` records them
            ref = self.runs.get(d.run)
            if ref is not None and isinstance(d, Bind):
                ref.reserved = False
                ref.pod = ref.pod_uid = None

    def _check_bind(self, ref: RefRun, d: Bind, now: float) -> None:
        _fail = _violation
        if ref.phase is not Phase.PENDING:
            _fail(f"Bind of a {ref.phase.value} Run", d)
        if d.attempt != ref.attempt:
            _fail(f"Bind at attempt {d.attempt}, the Run is at {ref.attempt}", d)
        if ref.run.spec.cancel_requested:
            _fail("Bind of a Run whose cancellation was requested", d)
        if ref.invalid:
            _fail("Bind of a Run with invalid requests", d)
        if now < ref.not_before:
            _fail(f"Bind during backoff (until {ref.not_before}, now {now})", d)
        key = (ref.key[0], d.pod)
        why = self.available(key, now)
        if why is not None:
            _fail(f"Bind to an unavailable Pod: {why}", d)
        pod_ref = self.pods[key]
        pod = pod_ref.pod
        assert pod is not None
        if pod.uid != d.pod_uid:
            _fail(f"Bind names uid {d.pod_uid}, the Pod is {pod.uid}", d)
        if pod.runtime != ref.run.spec.runtime:
            _fail(f"Bind of a {ref.run.spec.runtime} Run to a {pod.runtime} Pod", d)
        used = self.usage(key)
        for name, qty in ref.requests.items():
            if qty and used.get(name, 0) + qty > pod.capacity.get(name, 0):
                _fail(
                    f"capacity exceeded: {name} {used.get(name, 0)} + {qty} > "
                    f"{pod.capacity.get(name, 0)}",
                    d,
                )
        self._check_affinity(ref, d)

    def _check_priority(
        self, ref: RefRun, d: Bind, plan: Plan, now: float, scheduler: Scheduler
    ) -> None:
        """No Run of the pool with a higher priority waits *for capacity* while this one
        takes room on a Pod that it fits. (Affinity and plugins' filters may keep a Run off
        a Pod for other reasons; the core then says so, and such Runs are left out.)
        """
        key = (ref.key[0], d.pod)
        pod = self.pods[key].pod
        assert pod is not None
        used = self.usage(key)
        free = {n: pod.capacity.get(n, 0) - used.get(n, 0) for n in pod.capacity}
        policy_rank = scheduler.policy.run_priority

        def rank(run: Run) -> int:
            return policy_rank(run) or 0

        priority, runtime = rank(ref.run), ref.run.spec.runtime
        gang = self.gang_of(ref)
        if gang is not None:  # a gang goes when its first Run's turn comes: all of it
            priority = max(rank(r.run) for r in self.runs.values() if self.gang_of(r) == gang)
        for other in self.runs.values():
            spec = other.run.spec
            if (
                rank(other.run) <= priority
                or other.key[0] != ref.key[0]
                or spec.runtime != runtime
                or other.phase is not Phase.PENDING
                or other.holds
                or other.inflight
                or other.reserved
                or other.invalid
                or spec.cancel_requested
                or spec.affinity is not None
                or not self.same_queue(ref, other)
                or not self.admitted_gang(other)
                or other.not_before > now
                or isinstance(_decision(plan, other.key), Bind | Terminate | Requeue)
            ):
                continue
            fits = free.get("runs", 0) > 0 and all(
                free.get(n, 0) >= q for n, q in other.requests.items() if q
            )
            why = scheduler.why_waiting(other.key)
            if fits and why is not None and why.code in _CAPACITY_WAITS:
                _violation(
                    f"{other.key} (priority {rank(other.run)}) waits while {ref.key} (priority "
                    f"{priority}) takes room on {d.pod} that it fits",
                    d,
                    why,
                    plan,
                )

    def _check_affinity(self, ref: RefRun, d: Bind) -> None:
        others = [h for h in self.holders(ref.key[0]) if h.key != ref.key]
        labels = ref.run.metadata.labels
        for h in others:
            if h.pod != d.pod:
                continue
            anti = h.run.spec.affinity.run_anti_affinity if h.run.spec.affinity else None
            for t in anti.required if anti else ():
                if t.label_selector.matches(labels):
                    _violation(f"bound next to {h.key}, whose anti-affinity excludes it", d)
        aff = ref.run.spec.affinity
        if aff is None:
            return
        if aff.run_anti_affinity is not None:
            for t in aff.run_anti_affinity.required:
                clash = [h.key for h in others if h.pod == d.pod and _sel(t.label_selector, h)]
                if clash:
                    _violation(f"required anti-affinity broken by {clash}", d)
        if aff.run_affinity is not None:
            for t in aff.run_affinity.required:
                hosts = {h.pod for h in others if _sel(t.label_selector, h)}
                if hosts and d.pod not in hosts:
                    _violation(f"required affinity wants one of {sorted(map(str, hosts))}", d)
                if not hosts and not t.label_selector.matches(labels):
                    _violation("required affinity has no target and does not match itself", d)

    def _check_end(self, ref: RefRun, d: Requeue | Terminate, now: float) -> None:
        _fail = _violation
        if isinstance(d, Terminate) and d.reason is FailureReason.CANCELLED:
            if ref.phase is not Phase.PENDING or not ref.run.spec.cancel_requested:
                _fail("Cancelled without a pending cancellation request", d)
            if d.phase is not Phase.CANCELLED:
                _fail("a cancellation must end in Cancelled", d)
            return
        if isinstance(d, Terminate) and d.reason is FailureReason.INVALID_RESOURCES:
            if not ref.invalid:
                _fail("InvalidResources for valid requests", d)
            return
        if ref.phase not in CAPACITY_PHASES or ref.pod is None:
            _fail(f"{type(d).__name__} of a Run that holds no Pod", d, ref)
        reason = self.is_stale(ref, now)
        if reason is None:
            _fail("a Run was reaped from a healthy binding", d, ref)
        assert reason is not None
        if d.reason is not reason:
            _fail(f"reaped for {d.reason.value}, expected {reason.value}", d)
        expected = self.expected_reap(ref, reason, now)
        if type(expected) is not type(d):
            _fail(f"expected {expected}", d)
        if (
            isinstance(d, Requeue)
            and isinstance(expected, Requeue)
            and (d.attempt, d.not_before) != (expected.attempt, expected.not_before)
        ):
            _fail(
                f"retry at attempt {d.attempt} not before {d.not_before}, expected "
                f"attempt {expected.attempt} not before {expected.not_before}",
                d,
            )
        if isinstance(d, Terminate) and d.phase is not Phase.FAILED:
            _fail("a stale Run that is not retried must fail", d)

    def _check_wakeup(self, plan: Plan, now: float) -> None:
        wake = plan.next_wakeup
        if wake is not None and wake <= now:
            _violation(f"next_wakeup {wake} is not after the cycle's now {now}: the engine spins")
        deadlines: list[tuple[float, str]] = []
        decided = {d.run for d in plan.decisions if not isinstance(d, Wait)}
        for ref in self.runs.values():
            if ref.key in decided or ref.inflight:
                continue
            if ref.phase is Phase.PENDING and not ref.holds and ref.not_before > now:
                deadlines.append((ref.not_before, f"backoff of {ref.key}"))
            elif ref.phase in CAPACITY_PHASES and not ref.reserved:
                due = self.next_deadline(ref, now)
                if due is not None:
                    deadlines.append((due, f"{ref.key} turning stale"))
        if deadlines:
            first, what = min(deadlines)
            if wake is None or wake > first:
                _violation(f"next_wakeup {wake} sleeps past {first} ({what})")

    def check_scheduler(self, scheduler: Scheduler) -> None:
        """The core's bookkeeping agrees with the model: tracked Runs, holders, usage."""
        for key, ref in self.runs.items():
            st = scheduler.run_state(key)
            if st is None:
                _violation("a live Run vanished from the scheduler", key, ref)
            assert st is not None
            if ref.holds and st.pod != ref.pod:
                _violation(f"scheduler has {key} on {st.pod!r}, model on {ref.pod!r}", ref)
            if not ref.holds and st.holds:
                _violation(f"scheduler holds capacity for {key} on {st.pod}", ref)
        for key in self.finished:
            if scheduler.run_state(key) is not None:
                _violation("a terminal Run is still tracked", key)
        keys = {(k[0], r.pod) for k, r in self.runs.items() if r.holds and r.pod is not None}
        keys |= {k for k, p in self.pods.items() if p.pod is not None}
        for pod_key in sorted(keys, key=str):
            ps = scheduler.pod(*pod_key)
            used = {k: v for k, v in (ps.used if ps is not None else {}).items() if v}
            if used != self.usage(pod_key):
                _violation(f"usage of {pod_key}: scheduler {used}, model {self.usage(pod_key)}")
        stats = scheduler.statistics()
        holding = sum(1 for r in self.runs.values() if r.holds)
        reserved = sum(1 for r in self.runs.values() if r.reserved)
        if (stats.holding, stats.reserved) != (holding, reserved):
            _violation(f"statistics {stats} vs model holding={holding} reserved={reserved}")

    def check_settled(self, scheduler: Scheduler, now: float) -> None:
        """After long enough with no heartbeats, no Run may still hold a Pod, none is lost."""
        for key, ref in self.runs.items():
            if ref.holds:
                _violation(f"{key} still holds {ref.pod} after every Pod went stale", ref)
            if ref.phase is not Phase.PENDING:
                _violation(f"{key} is {ref.phase.value} after settling", ref)
            if scheduler.why_waiting(key) is None and ref.not_before <= now:
                _violation(f"{key} is Pending with no reason after settling", ref)


def _sel(selector: LabelSelector, holder: RefRun) -> bool:
    return selector.matches(holder.run.metadata.labels)


def _decision(plan: Plan, key: RunKey) -> Decision | None:
    for d in plan.decisions:
        if d.run == key:
            return d
    return None


def _violation(message: str, *context: object) -> None:
    detail = "".join(f"\n  {c!r}" for c in context)
    raise InvariantViolation(message + detail)
