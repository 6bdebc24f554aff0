"""The core against the reference model, through the public state machine of the kit."""

from __future__ import annotations

from hypothesis import settings

from kruntimes.core import SchedulerConfig
from kruntimes.testing.stateful import DEFAULT_SETTINGS, SchedulerMachine


class LeastLoadedMachine(SchedulerMachine):
    pass


class MostAllocatedMachine(SchedulerMachine):
    def config(self) -> SchedulerConfig:
        return SchedulerConfig(ordering="most-allocated", candidates_to_score=2)


TestLeastLoaded = LeastLoadedMachine.TestCase
TestLeastLoaded.settings = settings(DEFAULT_SETTINGS, max_examples=150)

TestMostAllocated = MostAllocatedMachine.TestCase
TestMostAllocated.settings = settings(DEFAULT_SETTINGS, max_examples=75)
