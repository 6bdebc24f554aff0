"""The contract suite passes for the built-in policies and catches broken plugins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import Phase, settings

from kruntimes import hookimpl
from kruntimes.core import ClusterView, SchedulerConfig, ScoreResult
from kruntimes.core.state import PodState
from kruntimes.model import Run
from kruntimes.testing import PlacementPolicyContract


class TestBuiltinsSpread(PlacementPolicyContract):
    stateful_examples = 25

    def plugins(self) -> list[object]:
        return []


class TestBuiltinsBinPack(PlacementPolicyContract):
    stateful_examples = 25

    def plugins(self) -> list[object]:
        return []

    def config(self) -> SchedulerConfig:
        return SchedulerConfig(ordering="most-allocated", candidates_to_score=3)


class BatchSensitive:
    """Broken on purpose: rejects the second Pod of every batch."""

    @hookimpl
    def kruntimes_filter(self, pods: Sequence[PodState]) -> Mapping[str, str] | None:
        return {pods[1].name: "second in line"} if len(pods) > 1 else None


class ShortScores:
    """Broken on purpose: one score too few."""

    @hookimpl
    def kruntimes_score(self, pods: Sequence[PodState]) -> ScoreResult:
        return ScoreResult("short", [1.0] * (len(pods) - 1))


class CountingReservations:
    """Broken on purpose: unreserve is not idempotent (it frees what it never took)."""

    def __init__(self) -> None:
        self.free = 1

    @hookimpl
    def kruntimes_reserve(self, run: Run, pod: PodState, cluster: ClusterView) -> str | None:
        if self.free <= 0:
            return "no tokens left"
        self.free -= 1
        return None

    @hookimpl
    def kruntimes_unreserve(self, run: Run, pod: str, cluster: ClusterView) -> None:
        self.free += 1


def contract_for(plugin: type) -> PlacementPolicyContract:
    class Contract(PlacementPolicyContract):
        max_examples = 400  # generation only, and it stops at the first failure it finds

        def plugins(self) -> list[object]:
            return [plugin()]

        def hypothesis_settings(self, max_examples: int | None = None) -> settings:
            # finding the failure is the point; shrinking it would only cost time
            base = super().hypothesis_settings(max_examples)
            return settings(base, database=None, phases=[Phase.generate])

    return Contract()


def test_a_batch_sensitive_filter_breaks_the_contract() -> None:
    with pytest.raises(AssertionError, match="one at a time"):
        contract_for(BatchSensitive).test_filter_judges_each_pod_on_its_own()


def test_a_short_score_breaks_the_contract() -> None:
    with pytest.raises(AssertionError, match="values for"):
        contract_for(ShortScores).test_scores_come_one_per_pod()


def test_a_non_idempotent_unreserve_breaks_the_contract() -> None:
    with pytest.raises(AssertionError, match="extra unreserve"):
        contract_for(CountingReservations).test_unreserve_is_idempotent()


def test_a_contract_without_plugins_says_so() -> None:
    with pytest.raises(NotImplementedError, match="plugins"):
        PlacementPolicyContract().test_plugins_register_cleanly()
