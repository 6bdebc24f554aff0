"""`AdmissionPolicyContract`: the tests every admission plugin must pass, to inherit.

An admission plugin implements `kruntimes_admit` (keep a Run waiting) and/or
`kruntimes_queue_share` (which queue goes next). Its test module subclasses the
contract::

    class TestTenantBudget(AdmissionPolicyContract):
        def plugins(self):
            return [TenantBudget(limit=3)]

and pytest checks: the hooks register; `kruntimes_admit` is pure (same answer
twice, the queue state it reads left untouched); a Run it refuses is not bound
and says why (`AdmissionRejected` with the plugin's message); `kruntimes_queue_share`
returns finite numbers that never fall as a queue's usage grows, and a saturated
pool is still shared among all queues; and the state machine with every built-in
invariant (quota, gangs, borrowing, bounded waiting for Runs the plugin admits)
holds with the plugin in place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from kruntimes.core import SchedulerConfig, Wait
from kruntimes.core.admission import QueueState
from kruntimes.core.scheduler import Scheduler
from kruntimes.model import Run, RunQueue, WaitCode
from kruntimes.plugin_manager import PluggyPolicy, create_plugin_manager, new_scheduler
from kruntimes.testing.builders import make_pod
from kruntimes.testing.fairness import saturate
from kruntimes.testing.stateful import SchedulerMachine, fresh_copy
from kruntimes.testing.strategies import run_queues, runs

_NOW = 1_000.0


class AdmissionPolicyContract:
    """Inherit, implement `plugins()`, and pytest checks your admission plugin."""

    max_examples = 25
    stateful_examples = 40
    stateful_steps = 35

    # ------------------------------------------------------------------ to override

    def plugins(self) -> Iterable[object]:
        """The plugins under test; fresh objects on every call."""
        raise NotImplementedError("an AdmissionPolicyContract subclass must define plugins()")

    def config(self) -> SchedulerConfig:
        return SchedulerConfig()

    def machine(self) -> type[SchedulerMachine]:
        return SchedulerMachine

    def hypothesis_settings(self, max_examples: int | None = None) -> settings:
        return settings(
            max_examples=max_examples or self.max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )

    # ------------------------------------------------------------------ helpers

    def _policy(self) -> PluggyPolicy:
        pm = create_plugin_manager([fresh_copy(p) for p in self.plugins()], load_entry_points=False)
        return PluggyPolicy(pm, self.config())

    def _scheduler(self) -> Scheduler:
        return new_scheduler(
            self.config(), [fresh_copy(p) for p in self.plugins()], load_entry_points=False
        )

    # ------------------------------------------------------------------ the contract

    def test_plugins_register_cleanly(self) -> None:
        policy = self._policy()
        assert policy.has_admission or policy.has_queue_share, (
            "the plugins implement neither kruntimes_admit nor kruntimes_queue_share"
        )

    def test_admit_is_pure(self) -> None:
        policy = self._policy()

        @given(run=runs(queues=("a", "b", None)), queue=run_queues(), used=st.integers(0, 8))
        @self.hypothesis_settings()
        def check(run: Run, queue: RunQueue, used: int) -> None:
            scheduler = Scheduler(policy, self.config())
            state = QueueState(queue.key)
            state.refresh(queue)
            state.usage = {"runs": used}
            first = policy.admit(run, state, scheduler)
            assert state.usage == {"runs": used}, "kruntimes_admit changed the queue state"
            assert policy.admit(run, state, scheduler) == first, "kruntimes_admit is not pure"
            assert first is None or (isinstance(first, str) and first), (
                f"kruntimes_admit must return None or a non-empty reason, got {first!r}"
            )

        check()

    def test_refused_runs_wait_with_the_plugins_reason(self) -> None:
        @given(batch=st.lists(runs(queues=(None,)), min_size=1, max_size=8, unique_by=_name))
        @self.hypothesis_settings()
        def check(batch: list[Run]) -> None:
            scheduler = self._scheduler()
            scheduler.pod_upserted(make_pod("p0", capacity={"runs": 64, "cpu": 64}, heartbeat=_NOW))
            for run in batch:
                scheduler.run_upserted(run)
            plan = scheduler.cycle(_NOW)
            for d in plan.decisions:
                if isinstance(d, Wait) and d.reason.code is WaitCode.ADMISSION_REJECTED:
                    assert d.reason.message, "a refusal must say why"
            bound = {d.run for d in plan.binds}
            refused = {
                d.run
                for d in plan.decisions
                if isinstance(d, Wait) and d.reason.code is WaitCode.ADMISSION_REJECTED
            }
            assert not bound & refused

        check()

    def test_queue_share_is_finite_and_grows_with_usage(self) -> None:
        policy = self._policy()
        if not policy.has_queue_share:
            return

        @given(queue=run_queues(), low=st.integers(0, 50), extra=st.integers(0, 50))
        @self.hypothesis_settings()
        def check(queue: RunQueue, low: int, extra: int) -> None:
            state = QueueState(queue.key)
            state.refresh(queue)
            capacity = {"runs": 100, "cpu": 64}
            a = policy.queue_share(state, capacity, {"runs": low})
            b = policy.queue_share(state, capacity, {"runs": low + extra})
            for share in (a, b):
                assert share is None or math.isfinite(share), f"share {share} is not finite"
            if a is not None and b is not None:
                assert a <= b, f"share fell from {a} to {b} as usage grew"

        check()

    def test_a_saturated_pool_is_shared_by_every_queue(self) -> None:
        shares = saturate(self._scheduler(), {"a": 1.0, "b": 2.0, "c": 1.0}, rounds=120)
        starved = [name for name, share in shares.items() if share == 0.0]
        assert not starved, f"queues {starved} got nothing of a saturated pool: {shares}"

    def test_invariants_hold_under_random_histories(self) -> None:
        base = self.machine()
        plugins_of = self.plugins
        config_of = self.config

        class Machine(base):  # type: ignore[valid-type,misc]
            def plugins(self) -> Iterable[object]:
                return [fresh_copy(p) for p in plugins_of()]

            def config(self) -> SchedulerConfig:
                return config_of()

        run_state_machine_as_test(
            Machine,
            settings=settings(
                self.hypothesis_settings(self.stateful_examples),
                stateful_step_count=self.stateful_steps,
            ),
        )


def _name(run: Run) -> str:
    return run.metadata.name


__all__ = ["AdmissionPolicyContract"]
