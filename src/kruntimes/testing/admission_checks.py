"""What admission owes, checked on every plan: quota, gangs, borrowing, queue existence.

Mixed into `ReferenceModel` (see `kruntimes.testing.invariants` for the rest).
Quota is checked on the resources a plan's binds take: a queue whose quota was
lowered may hold more than it allows now, but it must not be given more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kruntimes.core import Bind, Plan, RunKey, SchedulerConfig, Terminate, Wait
from kruntimes.core.admission import LENT_OUT
from kruntimes.model import DEFAULT_QUEUE, FailureReason, Phase, RunQueue

if TYPE_CHECKING:
    from kruntimes.testing.reference import RefRun

QueueKey = tuple[str, str]
_ARRIVAL_REFUSALS = frozenset(
    {
        FailureReason.QUEUE_FULL,
        FailureReason.INVALID_GANG,
        FailureReason.GANG_TIMEOUT,
        FailureReason.UNKNOWN_PRIORITY_CLASS,
    }
)


class AdmissionChecks:
    """Reads the model's Runs and RunQueues; `violation` raises `InvariantViolation`."""

    config: SchedulerConfig
    runs: dict[RunKey, RefRun]
    queues: dict[QueueKey, RunQueue]
    formed_gangs: set[tuple[str, str]]
    submitted_at: dict[RunKey, float]
    may_be_full: set[RunKey]
    last_wait: dict[RunKey, Wait]

    if TYPE_CHECKING:

        def violation(self, message: str, *context: object) -> None: ...

        def hosts(self, ref: RefRun, now: float) -> int: ...

    # ------------------------------------------------------------------ what happens

    def queue_upserted(self, queue: RunQueue) -> None:
        self.queues[queue.key] = queue

    def queue_deleted(self, key: QueueKey) -> None:
        self.queues.pop(key, None)

    # ------------------------------------------------------------------ derived

    def queue_of(self, ref: RefRun) -> QueueKey:
        return (ref.key[0], ref.run.spec.queue or DEFAULT_QUEUE)

    def queue_exists(self, key: QueueKey) -> bool:
        return key in self.queues or key[1] == DEFAULT_QUEUE

    def queue_usage(self, key: QueueKey, *, extra: RefRun | None = None) -> dict[str, int]:
        used: dict[str, int] = {}
        for ref in self.runs.values():
            if (ref.holds or ref is extra) and self.queue_of(ref) == key:
                for name, qty in ref.requests.items():
                    if qty:
                        used[name] = used.get(name, 0) + qty
        return used

    def gang_of(self, ref: RefRun) -> tuple[tuple[str, str], int] | None:
        gang = ref.run.spec.gang
        return None if gang is None else ((ref.key[0], gang.name), gang.size)

    # ------------------------------------------------------------------ checks

    def check_admission(self, plan: Plan) -> None:
        """Run with the plan's binds provisionally reserved (`ref.holds`)."""
        if not self.config.admission:
            return
        gang_binds: dict[tuple[str, str], list[Bind]] = {}
        taken: dict[QueueKey, set[str]] = {}
        for d in plan.decisions:
            if not isinstance(d, Bind):
                continue
            ref = self.runs[d.run]
            queue = self.queue_of(ref)
            if not self.queue_exists(queue):
                self.violation(f"Bind of a Run of RunQueue {queue[1]}, which does not exist", d)
            taken.setdefault(queue, set()).update(n for n, q in ref.requests.items() if q)
            gang = self.gang_of(ref)
            if gang is not None and gang[0] not in self.formed_gangs:
                gang_binds.setdefault(gang[0], []).append(d)
        for queue, names in taken.items():
            self._check_quota(queue, names, plan)
        for gang_key, binds in gang_binds.items():
            size = self.gang_of(self.runs[binds[0].run])
            assert size is not None
            if len(binds) != size[1]:
                self.violation(
                    f"gang {gang_key[1]} partly bound: {len(binds)} of {size[1]} Runs", *binds
                )
        self._check_borrowing(plan)

    def _check_quota(self, queue: QueueKey, names: set[str], plan: Plan) -> None:
        spec = self.queues[queue].spec if queue in self.queues else None
        if spec is None:
            return
        used = self.queue_usage(queue)
        if spec.cohort is None:
            for name in sorted(names & set(spec.quota)):
                if used.get(name, 0) > spec.quota[name]:
                    self.violation(
                        f"queue {queue[1]} holds {used[name]} {name}, quota {spec.quota[name]}",
                        plan,
                    )
            return
        limit = spec.borrowing_limit or {}
        for name in sorted(names & set(spec.quota)):
            over = used.get(name, 0) - spec.quota[name]
            if name in limit and over > limit[name]:
                self.violation(
                    f"queue {queue[1]} borrows {over} {name}, borrowing limit {limit[name]}",
                    plan,
                )
            total, quota = self._cohort_totals(queue[0], spec.cohort, name)
            if total > quota:
                self.violation(
                    f"cohort {spec.cohort} holds {total} {name}, its queues' quota sum {quota}",
                    plan,
                )

    def _cohort_totals(self, namespace: str, cohort: str, name: str) -> tuple[int, int]:
        total = quota = 0
        for key, q in self.queues.items():
            if key[0] == namespace and q.spec.cohort == cohort and name in q.spec.quota:
                quota += q.spec.quota[name]
                total += self.queue_usage(key).get(name, 0)
        return total, quota

    def _check_borrowing(self, plan: Plan) -> None:
        """No queue borrows while another of its cohort waits for its own lent-out quota."""
        owed = {
            key: self.queue_of(self.runs[key])
            for key, wait in self.last_wait.items()
            if key in self.runs and LENT_OUT in wait.reason.message
        }
        held: dict[QueueKey, dict[str, int]] = {}
        for d in plan.decisions:
            if isinstance(d, Wait):
                if LENT_OUT not in d.reason.message:
                    owed.pop(d.run, None)
                continue
            if not isinstance(d, Bind):
                continue
            owed.pop(d.run, None)
            ref = self.runs[d.run]
            queue = self.queue_of(ref)
            spec = self.queues[queue].spec if queue in self.queues else None
            if spec is None or spec.cohort is None:
                continue
            if queue not in held:
                held[queue] = self._usage_before(queue, plan)
            used = held[queue]
            for name, qty in ref.requests.items():
                used[name] = used.get(name, 0) + qty
            borrowing = any(
                qty and n in spec.quota and used.get(n, 0) > spec.quota[n]
                for n, qty in ref.requests.items()
            )
            if not borrowing:
                continue
            for key, other in owed.items():
                other_spec = self.queues.get(other)
                if (
                    other != queue
                    and other_spec is not None
                    and other_spec.spec.cohort == spec.cohort
                ):
                    self.violation(
                        f"queue {queue[1]} borrows while {key} of queue {other[1]} waits for "
                        "its own lent-out quota",
                        d,
                    )

    def _usage_before(self, queue: QueueKey, plan: Plan) -> dict[str, int]:
        binds = {d.run for d in plan.decisions if isinstance(d, Bind)}
        used: dict[str, int] = {}
        for ref in self.runs.values():
            if ref.holds and ref.key not in binds and self.queue_of(ref) == queue:
                for name, qty in ref.requests.items():
                    used[name] = used.get(name, 0) + qty
        return used

    def check_arrival_refusal(self, ref: RefRun, d: Terminate, now: float) -> bool:
        """Whether `d` is an admission refusal, after checking that it is a fair one."""
        if d.reason not in _ARRIVAL_REFUSALS:
            return False
        if ref.phase is not Phase.PENDING or ref.holds or d.phase is not Phase.FAILED:
            self.violation(f"{d.reason.value} for a Run that is not waiting", d, ref)
        spec = ref.run.spec
        if d.reason is FailureReason.UNKNOWN_PRIORITY_CLASS:
            name = spec.priority_class_name
            if name is None or name in self.config.priority_classes:
                self.violation("UnknownPriorityClass for a known or absent class", d)
        elif d.reason is FailureReason.QUEUE_FULL:
            if ref.key not in self.may_be_full:
                self.violation("QueueFull for a Run that arrived when its queue had no limit", d)
        elif d.reason is FailureReason.INVALID_GANG:
            if spec.gang is None:
                self.violation("InvalidGang for a Run without a gang", d)
        elif spec.gang is None or spec.gang.timeout_seconds is None:
            self.violation("GangTimeout for a Run without a gang timeout", d)
        else:
            gang = self.gang_of(ref)
            first = min(
                (at for key, at in self.submitted_at.items() if self._same_gang(key, gang)),
                default=now,
            )
            if now < first + spec.gang.timeout_seconds:
                self.violation(f"GangTimeout at {now}, the gang arrived at {first}", d)
        return True

    def _same_gang(self, key: RunKey, gang: object) -> bool:
        ref = self.runs.get(key)
        return ref is not None and self.gang_of(ref) == gang

    def same_queue(self, a: RefRun, b: RefRun) -> bool:
        """Whether priority order applies between two Runs: with admission, within a queue."""
        return not self.config.admission or self.queue_of(a) == self.queue_of(b)

    def admitted_gang(self, ref: RefRun) -> bool:
        gang = self.gang_of(ref)
        return gang is None or gang[0] in self.formed_gangs

    def could_run(self, ref: RefRun, now: float) -> bool:
        """Whether `ref` is sure to be placeable once Runs finish: what bounded waiting owes.

        Conservative (False when unsure): a valid, uncancelled Pending Run without affinity,
        of an existing queue whose quota it fits, fitting an available Pod of its runtime
        on its own; a gang not yet formed also needs all its Runs, each of a runtime with as
        many such Pods as the gang has Runs there, and no quota.
        """
        spec = ref.run.spec
        if (
            ref.phase is not Phase.PENDING
            or ref.holds
            or ref.inflight
            or ref.invalid
            or spec.cancel_requested
            or spec.affinity is not None
        ):
            return False
        queue = self.queue_of(ref)
        if self.config.admission:
            if not self.queue_exists(queue):
                return False
            quota = self.queues[queue].spec.quota if queue in self.queues else {}
            if not quota_fits(quota, {}, ref.requests):
                return False
            gang = self.gang_of(ref)
            if gang is not None and gang[0] not in self.formed_gangs:
                return not quota and self._gang_could_run(ref, gang, now)
        return self.hosts(ref, now) > 0

    def _gang_could_run(self, ref: RefRun, gang: tuple[tuple[str, str], int], now: float) -> bool:
        spec = ref.run.spec.gang
        if spec is not None and spec.timeout_seconds is not None:
            return False  # it may time out first: not owed
        members = [r for r in self.runs.values() if self.gang_of(r) == gang]
        if len(members) != gang[1] or any(r.phase is not Phase.PENDING for r in members):
            return False
        per_runtime: dict[str, int] = {}
        for member in members:
            runtime = member.run.spec.runtime
            per_runtime[runtime] = per_runtime.get(runtime, 0) + 1
        return all(
            self.hosts(m, now) >= per_runtime[m.run.spec.runtime] and not m.invalid for m in members
        )

    def note_plan(self, plan: Plan) -> None:
        """After a plan: gangs it bound are formed; Runs it told to wait remember why."""
        for d in plan.decisions:
            if isinstance(d, Wait):
                self.last_wait[d.run] = d
            elif isinstance(d, Bind):
                self.last_wait.pop(d.run, None)
                ref = self.runs.get(d.run)
                gang = self.gang_of(ref) if ref is not None else None
                if gang is not None:
                    self.formed_gangs.add(gang[0])


def quota_fits(
    quota: Mapping[str, int], used: Mapping[str, int], request: Mapping[str, int]
) -> bool:
    return all(used.get(n, 0) + q <= quota[n] for n, q in request.items() if q and n in quota)


__all__ = ["AdmissionChecks", "quota_fits"]
