"""`PlacementPolicyContract`: the tests every placement plugin must pass, to inherit.

A plugin's test module subclasses it and says which plugins to register::

    class TestZoneSpread(PlacementPolicyContract):
        def plugins(self):
            return [ZoneSpread()]

and pytest runs every `test_*` below against a scheduler with the built-ins
plus those plugins: the filter judges each Pod on its own (batches are an
implementation detail of the core), scores come one per Pod, `unreserve` is
idempotent, plans are deterministic, and the full state machine
(`SchedulerMachine`) with all its invariants holds with the plugin in place.
Override `config()`, `pod_labels()`/`run_labels()` (to generate the labels
your policy reads), `machine()` (to add your own invariants) and
`hypothesis_settings()` as needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from attrs import evolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from kruntimes.core import SchedulerConfig
from kruntimes.core.policy import ScoreResult
from kruntimes.core.state import PodState
from kruntimes.model import Run
from kruntimes.plugin_manager import PluggyPolicy, PluginError, create_plugin_manager
from kruntimes.testing.harness import Harness
from kruntimes.testing.scenario import play
from kruntimes.testing.stateful import SchedulerMachine, fresh_copy
from kruntimes.testing.strategies import clusters, event_sequences, runs
from kruntimes.testing.strategies import pod_labels as default_pod_labels
from kruntimes.testing.strategies import run_labels as default_run_labels


class PlacementPolicyContract:
    """Inherit, implement `plugins()`, and pytest checks your policy against the contract."""

    max_examples = 25
    """Examples per property test; the state machine gets `stateful_examples`."""
    stateful_examples = 40
    stateful_steps = 35

    # ------------------------------------------------------------------ to override

    def plugins(self) -> Iterable[object]:
        """The plugins under test. Return fresh objects on every call: each scheduler the
        suite builds (and each replay) must own its plugin state."""
        raise NotImplementedError("a PlacementPolicyContract subclass must define plugins()")

    def config(self) -> SchedulerConfig:
        return SchedulerConfig()

    def pod_labels(self) -> st.SearchStrategy[dict[str, str]]:
        """Labels for generated Pods; override to draw the ones your policy reads."""
        return default_pod_labels()

    def run_labels(self) -> st.SearchStrategy[dict[str, str]]:
        """Labels for generated Runs; override to draw the ones your policy reads."""
        return default_run_labels()

    def machine(self) -> type[SchedulerMachine]:
        """The state machine base; subclass `SchedulerMachine` to add `check_plan` invariants."""
        return SchedulerMachine

    def hypothesis_settings(self, max_examples: int | None = None) -> settings:
        return settings(
            max_examples=max_examples or self.max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )

    # ------------------------------------------------------------------ helpers

    def fresh_plugins(self) -> list[object]:
        return list(self.plugins())

    def harness(self) -> Harness:
        """A harness with the plugins under test (fresh instances) and `config()`."""
        return Harness(self.fresh_plugins, self.config())

    def _check(self, strategy: st.SearchStrategy[Any], test: Callable[[Any], None]) -> None:
        @self.hypothesis_settings()
        @given(strategy)
        def run(value: Any) -> None:
            test(value)

        run()

    def _situation(self, data: st.DataObject) -> tuple[Harness, Run, list[PodState]]:
        """A cluster with some Runs already placed, a new Run, and its feasible Pods."""
        h = self.harness()
        h.add_pods(*data.draw(clusters(min_pods=2, runtimes=["bash"], labels=self.pod_labels())))
        holders = data.draw(st.lists(runs(runtimes=["bash"], labels=self.run_labels()), max_size=6))
        seen: set[str] = set()
        for run in holders:
            if run.metadata.name not in seen:
                seen.add(run.metadata.name)
                h.submit(run)
        h.settle()
        run = data.draw(runs("probe", runtimes=["bash"], labels=self.run_labels()))
        pods = [
            ps
            for ps in (h.scheduler.pod(p.namespace, p.name) for p in h.store.pods.values())
            if ps is not None and ps.available and ps.fits(_request(run))
        ]
        return h, run, sorted(pods, key=lambda p: p.key)

    # ------------------------------------------------------------------ the contract

    def test_plugins_register_cleanly(self) -> None:
        """Every hook implementation names a real hook; the scheduler builds."""
        try:
            pm = create_plugin_manager(self.fresh_plugins(), load_entry_points=False)
        except PluginError as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(str(exc)) from exc
        PluggyPolicy(pm, self.config())

    def test_filter_judges_each_pod_on_its_own(self) -> None:
        """Rejections do not depend on which other Pods share the batch."""

        def check(data: st.DataObject) -> None:
            h, run, pods = self._situation(data)
            if not pods:
                return
            policy = h.scheduler.policy
            whole = dict(policy.filter(run, pods, h.scheduler))
            alone: dict[str, str] = {}
            for ps in pods:
                alone.update(policy.filter(run, [ps], h.scheduler))
            assert set(whole) == set(alone), (
                f"the whole batch rejects {sorted(whole)}, one at a time {sorted(alone)}"
            )
            cut = data.draw(st.integers(0, len(pods)), label="batch split")
            split = dict(policy.filter(run, pods[:cut], h.scheduler))
            split.update(policy.filter(run, pods[cut:], h.scheduler))
            assert set(split) == set(whole), f"split at {cut}: {sorted(split)} != {sorted(whole)}"
            assert set(whole) <= {p.name for p in pods}, "rejected a Pod that was not offered"

        self._check(st.data(), check)

    def test_scores_come_one_per_pod(self) -> None:
        """Each score result has one finite value per offered Pod; normalized ones are 0..100."""

        def check(data: st.DataObject) -> None:
            h, run, pods = self._situation(data)
            if len(pods) < 2:
                return
            policy = h.scheduler.policy
            assert isinstance(policy, PluggyPolicy)
            results: list[ScoreResult] = policy.pm.hook.kruntimes_score(
                run=run, pods=pods, cluster=h.scheduler, config=policy.config
            )
            for result in results:
                assert len(result.scores) == len(pods), (
                    f"score {result.name!r}: {len(result.scores)} values for {len(pods)} Pods"
                )
                assert all(math.isfinite(v) for v in result.scores), result
                if result.normalized:
                    assert all(0.0 <= v <= 100.0 for v in result.scores), result
            again = policy.score(run, pods, h.scheduler)
            assert again == policy.score(run, pods, h.scheduler), "scores are not repeatable"

        self._check(st.data(), check)

    def test_unreserve_is_idempotent(self) -> None:
        """A failed bind write unreserved twice, or an unreserve for a reservation never
        made, leaves the policy exactly as one unreserve does."""

        def check(data: st.DataObject) -> None:
            steps = data.draw(self._sequences(max_size=10), label="history")
            cluster = data.draw(
                clusters(min_pods=1, max_pods=3, runtimes=["bash"], labels=self.pod_labels()),
                label="more pods",
            )
            probes = data.draw(
                st.lists(
                    runs(
                        st.sampled_from([f"probe{i}" for i in range(6)]),
                        runtimes=["bash"],
                        labels=self.run_labels(),
                    ),
                    min_size=1,
                    max_size=4,
                    unique_by=lambda r: r.key,
                ),
                label="probes",
            )
            once, twice = self.harness(), self.harness()
            for h in (once, twice):
                play(h, steps)
                h.add_pods(
                    *(evolve(p, name=f"q{i}", heartbeat=h.now) for i, p in enumerate(cluster))
                )
                h.submit(*(p for p in probes if p.key not in h.store.runs))
            first = once.cycle()
            assert first == twice.cycle(), "same history, different plans"
            policy = twice.scheduler.policy
            for bind in first.binds:
                once.fail_write(bind, unreserve_times=1)
                twice.fail_write(bind, unreserve_times=2)  # the core passes on one
                run = twice.run(bind.run)
                policy.unreserve(run, bind.pod, twice.scheduler)  # already released
            for probe in probes:  # never reserved there
                policy.unreserve(twice.run(probe.key), "never-reserved", twice.scheduler)
            once.apply()
            twice.apply()
            for _ in range(2):
                assert once.step() == twice.step(), "extra unreserve calls changed the next plan"

        self._check(st.data(), check)

    def test_plans_are_deterministic(self) -> None:
        """Two schedulers fed the same history decide the same plans, and so does a replay."""

        def check(steps: list[Any]) -> None:
            first, second = self.harness(), self.harness()
            plans = play(first, steps)
            assert plans == play(second, steps), "same history, different plans"
            first.assert_deterministic()

        self._check(self._sequences(), check)

    def test_invariants_hold_under_random_histories(self) -> None:
        """The full state machine (capacity, availability, affinity, backoff, stale reaping,
        no Run lost, determinism) with these plugins registered."""
        contract = self
        chosen = self.fresh_plugins()
        machine = type(
            f"{type(self).__name__}Machine",
            (self.machine(),),
            {
                "plugins": lambda _self: [fresh_copy(p) for p in chosen],
                "config": lambda _self: contract.config(),
                "pod_labels": lambda _self: contract.pod_labels(),
                "run_labels": lambda _self: contract.run_labels(),
            },
        )
        run_state_machine_as_test(
            machine,
            settings=settings(
                self.hypothesis_settings(self.stateful_examples),
                stateful_step_count=self.stateful_steps,
            ),
        )

    def _sequences(self, max_size: int = 30) -> st.SearchStrategy[list[Any]]:
        return event_sequences(
            runtimes=["bash"],
            max_size=max_size,
            pod_labels=self.pod_labels(),
            run_labels=self.run_labels(),
        )


def _request(run: Run) -> tuple[tuple[str, int], ...]:
    from kruntimes.core.resources import request_of

    return request_of(run.spec.resources.requests)


def _available(h: Harness) -> Sequence[PodState]:
    found = []
    for pod in sorted(h.store.pods.values(), key=lambda p: p.key):
        ps = h.scheduler.pod(pod.namespace, pod.name)
        if ps is not None and ps.available:
            found.append(ps)
    return found


__all__ = ["PlacementPolicyContract"]
