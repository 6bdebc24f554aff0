"""The admission contract passes for well-behaved plugins and catches broken ones."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from kruntimes import hookimpl
from kruntimes.core.admission import QueueState
from kruntimes.model import Run
from kruntimes.testing import AdmissionPolicyContract


class TenantCap:
    """Runs labelled tenant=a may hold at most one slot of their queue at a time."""

    @hookimpl
    def kruntimes_admit(self, run: Run, queue: QueueState) -> str | None:
        if run.metadata.labels.get("tenant") == "a" and queue.usage.get("runs", 0) >= 1:
            return "tenant a may run one Run at a time"
        return None


class UnweightedShare:
    """Ignore weights: the queue holding fewer Runs goes first."""

    @hookimpl
    def kruntimes_queue_share(self, usage: Mapping[str, int]) -> float:
        return float(usage.get("runs", 0))


class TestTenantCap(AdmissionPolicyContract):
    stateful_examples = 20

    def plugins(self) -> list[object]:
        return [TenantCap()]


class TestUnweightedShare(AdmissionPolicyContract):
    stateful_examples = 20

    def plugins(self) -> list[object]:
        return [UnweightedShare()]


class Forgetful:
    """Broken on purpose: admits every other call (impure)."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def kruntimes_admit(self) -> str | None:
        self.calls += 1
        return None if self.calls % 2 else "odd call"


class Greedy:
    """Broken on purpose: the fuller a queue, the earlier it goes."""

    @hookimpl
    def kruntimes_queue_share(self, usage: Mapping[str, int]) -> float:
        return -float(usage.get("runs", 0))


class _Broken(AdmissionPolicyContract):
    max_examples = 10

    def __init__(self, plugin: object) -> None:
        self.plugin = plugin

    def plugins(self) -> list[object]:
        return [self.plugin]


def test_the_contract_catches_an_impure_admit() -> None:
    with pytest.raises(AssertionError, match="not pure"):
        _Broken(Forgetful()).test_admit_is_pure()


def test_the_contract_catches_a_share_that_falls_with_usage() -> None:
    with pytest.raises(AssertionError, match="share fell"):
        _Broken(Greedy()).test_queue_share_is_finite_and_grows_with_usage()


def test_the_contract_catches_a_share_that_starves_queues() -> None:
    with pytest.raises(AssertionError, match="got nothing of a saturated pool"):
        _Broken(Greedy()).test_a_saturated_pool_is_shared_by_every_queue()
